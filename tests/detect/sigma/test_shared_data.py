"""On real data (../shared/data): SigmaHQ's regression suite, and the pack on public attack samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sigma_rawload import load_files

from shoreup.detect.sigma import Params, run, runner
from shoreup.detect.sigma.loader import RuleSet, load
from shoreup.engine.duckdb import Store

pytestmark = [pytest.mark.shared, pytest.mark.slow]

#: Cases where the suite's expectation contradicts its own sample, with why.
KNOWN = {
    "c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e": "sample holds two events that both satisfy the rule "
    "(AutoShareServer and AutoShareWks set to 0); info.yml says match_count 1",
}


def _cases(shared: Path) -> list[tuple[str, Path, int | None]]:
    out = []
    for info in sorted((shared / "sigmahq" / "regression_data").rglob("info.yml")):
        d = yaml.safe_load(info.read_text())
        test = d["regression_tests_info"][0]
        out.append((d["rule_metadata"][0]["id"], info.parent / Path(test["path"]).name, test.get("match_count")))
    return out


@pytest.mark.parametrize("mode", ["vector", "sql"])
def test_sigmahq_regression_suite(shared_data: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule on its sample: exactly ``match_count`` matches, or at least one when none is stated.

    Both ways: the vectorized evaluator (the default) and the SQL reference.
    """
    monkeypatch.setattr(runner, "MODE", mode)
    sh = shared_data / "sigmahq"
    rs = load([sh / "rules", sh / "rules-emerging-threats", sh / "rules-threat-hunting"])
    by_id = {r.meta.id: r for r in rs.rules}
    failures = []
    cases = _cases(shared_data)
    for rid, sample, expected in cases:
        if rid not in by_id:
            failures.append(f"{rid}: not loaded")
            continue
        store = Store()
        load_files(store, [sample])
        got = len(run(store.con, Params(include_builtin=False), RuleSet(rules=[by_id[rid]])).findings)
        bad = (expected is None and got < 1) or (expected is not None and got != expected)
        if bad and rid not in KNOWN:
            failures.append(f"{rid}: expected {expected or '>= 1'}, got {got}")
    assert len(cases) == 101 and not failures, failures


def test_pack_on_attack_samples(shared_data: Path) -> None:
    samples = shared_data / "evtx-attack-samples"
    store = Store()
    load_files(
        store,
        [
            next(samples.rglob("PanacheSysmon_vs_AtomicRedTeam01.evtx")),
            next(samples.rglob("DE_1102*.evtx")),
            next(samples.rglob("DE_104*.evtx")),
        ],
    )
    titles = {(f.title, Path(f.evidence[0].file).name.split("_")[0]) for f in run(store.con, Params()).findings}
    for title in (
        "Shadow Copies Deleted or Shrunk",
        "Windows Backup Catalog or Backups Deleted",
        "Boot Recovery Disabled",
        "Secure Deletion Tool Run (SDelete, cipher /w)",
    ):
        assert (title, "PanacheSysmon") in titles
    assert ("Security Event Log Cleared", "DE") in titles
    assert ("Event Log Cleared (System 104)", "DE") in titles


def test_vssadmin_create_in_mordor_is_not_a_deletion(shared_data: Path) -> None:
    store = Store()
    load_files(store, sorted((shared_data / "mordor").rglob("*.zip")))
    titles = {f.title for f in run(store.con, Params()).findings}
    assert "Shadow Copies Deleted or Shrunk" not in titles
