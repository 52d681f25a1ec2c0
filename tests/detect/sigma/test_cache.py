"""The compiled-rule cache: a hit gives the rules and findings of a cold load; anything stale,
corrupt, foreign or switched off is never used, and the cache never makes a load fail."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
from sigma_rawload import load_files, raw_con
from test_pack import CASES

from shoreup.detect import sigma
from shoreup.detect.sigma import Params, run
from shoreup.detect.sigma import cache as rule_cache
from shoreup.detect.sigma.loader import BUILTIN_DIR, RuleSet, load
from shoreup.engine.duckdb import Store


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache home for the test; the cache on (whatever the environment says)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(rule_cache.ENV_DISABLE, raising=False)
    return tmp_path / "xdg" / "shoreup"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of shoreup's own pack (plain rules and correlations), free to edit."""
    dst = tmp_path / "rules"
    shutil.copytree(BUILTIN_DIR, dst)
    return dst


class _Gone:
    """Pickled, then renamed to a module that does not exist."""


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("sigma-*.pickle")) if folder.is_dir() else []


def _no_load(*_: Any, **__: Any) -> RuleSet:
    raise AssertionError("the rules were loaded afresh: the cache was not used")


def _shape(rs: RuleSet) -> list[Any]:
    """Everything a run reads of a RuleSet (the pySigma objects included)."""
    plain = [(r.meta, r.source, r.sql, r.needs, r.atoms, r.output, r.plan, r.rule) for r in rs.rules]
    corr = [(c.meta, c.kind, c.refs, c.group_by, c.aliases, c.timespan_s, c.op, c.threshold, c.output) for c in rs.correlations]
    return [plain, corr, rs.skipped, rs.files]


def _findings(rs: RuleSet, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f.to_json() for f in run(raw_con(events), Params(include_builtin=False), rs).findings]


def _pack_events() -> list[dict[str, Any]]:
    """Every firing case of the pack, one after the other (correlations included)."""
    out: list[dict[str, Any]] = []
    for fires, _ in CASES.values():
        out += fires
    return out


def test_a_hit_gives_the_rules_and_findings_of_a_cold_load(
    cache_dir: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = load([rules])
    first = rule_cache.load_cached([rules])  # a miss: loads and writes
    assert len(_entries(cache_dir)) == 1
    monkeypatch.setattr(rule_cache, "load", _no_load)
    warm = rule_cache.load_cached([rules])  # a hit
    assert warm is not first
    assert _shape(warm) == _shape(cold) == _shape(first)
    assert cold.correlations and warm.loaded == cold.loaded
    events = _pack_events()
    expected = _findings(cold, events)
    assert expected and _findings(warm, events) == expected
    # a second run over the same warm set (its automata now built) finds the same
    assert _findings(warm, events) == expected


def test_a_changed_rule_file_invalidates(cache_dir: Path, rules: Path) -> None:
    before = rule_cache.load_cached([rules])
    victim = sorted(rules.rglob("*.yml"))[0]
    text = victim.read_text(encoding="utf-8")
    st = victim.stat()
    # the same size and the same mtime: only the content tells
    edited = text.replace("level: high", "level: low ") if "level: high" in text else text.replace("level: ", "level:  ", 1)
    assert len(edited.encode()) == len(text.encode()) and edited != text
    victim.write_text(edited, encoding="utf-8")
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = rule_cache.load_cached([rules])
    assert _shape(after) == _shape(load([rules])) != _shape(before)
    assert len(_entries(cache_dir)) == 2


def test_an_added_or_removed_rule_file_invalidates(cache_dir: Path, rules: Path) -> None:
    base = rule_cache.load_cached([rules])
    extra = rules / "extra.yml"
    extra.write_text(
        "title: extra rule\nid: 6b2c1f0e-0000-4000-8000-000000000001\nstatus: test\n"
        "logsource: {product: windows, category: process_creation}\n"
        "detection: {sel: {CommandLine|contains: zzz-extra}, condition: sel}\nlevel: low\n",
        encoding="utf-8",
    )
    grown = rule_cache.load_cached([rules])
    assert grown.loaded == base.loaded + 1
    assert _findings(grown, [{"fields": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "CommandLine": "a zzz-extra b"}}])
    extra.unlink()
    assert _shape(rule_cache.load_cached([rules])) == _shape(base)


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "garbage",
        "truncated",
        "other key",
        "other format",
        "not a RuleSet",
        "unknown class",
    ],
)
def test_a_corrupt_or_incompatible_cache_file_is_ignored_and_rewritten(
    cache_dir: Path, rules: Path, damage: str
) -> None:
    good = rule_cache.load_cached([rules])
    (entry,) = _entries(cache_dir)
    key = rule_cache.cache_key([str(rules)])
    blob = entry.read_bytes()
    proto = pickle.HIGHEST_PROTOCOL
    head = pickle.dumps(rule_cache.head_of(key, good), protocol=proto)
    payload = pickle.dumps(good, protocol=proto)
    assert blob == head + payload  # the layout these cases damage
    gone = pickle.dumps(_Gone(), protocol=proto)
    assert b"test_cache" in gone
    bad = {
        "empty": b"",
        "garbage": b"\x00not a pickle at all\xff" * 10,
        "truncated": blob[: len(blob) // 2],
        "other key": pickle.dumps({"format": rule_cache.FORMAT, "key": "0" * 64}, protocol=proto) + payload,
        "other format": pickle.dumps({"format": rule_cache.FORMAT + 1, "key": key}, protocol=proto) + payload,
        "not a RuleSet": head + pickle.dumps({"rules": []}, protocol=proto),
        # a class this build does not have (as written by another shoreup version)
        "unknown class": head + gone.replace(b"test_cache", b"test_cachX"),
    }[damage]
    entry.write_bytes(bad)
    again = rule_cache.load_cached([rules])
    assert _shape(again) == _shape(good)
    assert rule_cache.read(entry, key) is not None  # rewritten whole
    assert [p.name for p in entry.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_file_others_can_write_is_not_trusted(cache_dir: Path, rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule_cache.load_cached([rules])
    (entry,) = _entries(cache_dir)
    entry.chmod(0o666)
    key = rule_cache.cache_key([str(rules)])
    assert rule_cache.read(entry, key) is None
    entry.chmod(0o600)
    assert rule_cache.read(entry, key) is not None


def test_shoreup_no_cache_is_honoured(cache_dir: Path, rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rule_cache.ENV_DISABLE, "1")
    rs = rule_cache.load_cached([rules])
    assert _entries(cache_dir) == [] and not cache_dir.exists()  # nothing written
    # nor read: a (valid) entry holding other rules under this key is not used
    monkeypatch.delenv(rule_cache.ENV_DISABLE)
    key = rule_cache.cache_key([str(rules)])
    assert rule_cache.write(cache_dir / f"sigma-{key[:40]}.pickle", key, RuleSet())
    assert rule_cache.load_cached([rules]).loaded == 0  # the cache is on: the planted entry is used
    monkeypatch.setenv(rule_cache.ENV_DISABLE, "1")
    assert _shape(rule_cache.load_cached([rules])) == _shape(rs)
    for off in ("", "0", "false", "No"):
        monkeypatch.setenv(rule_cache.ENV_DISABLE, off)
        assert rule_cache.enabled()


def test_cache_folder_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert rule_cache.cache_dir() == tmp_path / "c" / "shoreup"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    assert rule_cache.cache_dir() == Path.home() / ".cache" / "shoreup"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert rule_cache.cache_dir() == Path.home() / ".cache" / "shoreup"


def test_an_unwritable_cache_never_fails_a_load(tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder cannot be made
    monkeypatch.delenv(rule_cache.ENV_DISABLE, raising=False)
    assert _shape(rule_cache.load_cached([rules])) == _shape(load([rules]))

    def broken_dump(*_: Any, **__: Any) -> None:
        raise pickle.PicklingError("cannot")

    folder = tmp_path / "ok"
    monkeypatch.setattr(rule_cache.pickle, "dump", broken_dump)
    assert rule_cache.load_cached([rules], directory=folder).loaded == load([rules]).loaded
    assert list(folder.iterdir()) == []  # no entry, no temporary file left behind


def test_old_entries_are_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    for i in range(rule_cache.KEEP + 3):
        assert rule_cache.write(folder / f"sigma-{i:040d}.pickle", str(i), RuleSet())
        os.utime(folder / f"sigma-{i:040d}.pickle", (1_000_000 + i, 1_000_000 + i))
    rule_cache._prune(folder)
    kept = sorted(p.name for p in _entries(folder))
    assert kept == [f"sigma-{i:040d}.pickle" for i in range(3, rule_cache.KEEP + 3)]


def test_hunt_loads_through_the_cache(cache_dir: Path, rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sigma._load_cached.cache_clear()
    params = Params(rule_dirs=[str(rules)], include_builtin=False)
    first = sigma.load_rules(params)
    assert len(_entries(cache_dir)) == 1
    sigma._load_cached.cache_clear()  # a new process, as far as the in-memory copy goes
    monkeypatch.setattr(rule_cache, "load", _no_load)
    assert _shape(sigma.load_rules(params)) == _shape(first)
    sigma._load_cached.cache_clear()


@pytest.mark.shared
@pytest.mark.slow
def test_sigmahq_rules_cached_find_the_same_on_attack_samples(shared_data: Path, cache_dir: Path) -> None:
    """SigmaHQ rules (a slice, for time) over evtx-attack-samples: cold and cached load, same findings."""
    rules = [shared_data / "sigmahq" / "rules" / "windows" / d for d in ("builtin", "image_load", "registry")]
    cold = rule_cache.load_cached(rules)
    warm = rule_cache.load_cached(rules)
    assert warm is not cold and warm.loaded == cold.loaded > 300
    store = Store()
    load_files(store, sorted((shared_data / "evtx-attack-samples").rglob("*.evtx")))
    got = [[f.to_json() for f in run(store.con, Params(include_builtin=False), rs).findings] for rs in (cold, warm)]
    assert got[0] and got[0] == got[1]


def _summary(s: sigma.LoadSummary) -> dict[str, Any]:
    return {**s.to_json(), "skipped": [(k.path, k.id, k.reason, k.title) for k in s.skipped]}


@pytest.fixture
def flawed(rules: Path) -> Path:
    """The pack plus a rule that cannot be used, so that the summary has a skipped rule."""
    (rules / "broken.yml").write_text("title: broken\nid: 6b2c1f0e-0000-4000-8000-0000000000aa\nlogsource: {}\n")
    return rules


def test_no_raw_events_reads_the_summary_from_the_cache_head(
    cache_dir: Path, flawed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hunt whose inputs gave no ``raw`` rows reports the same rule summary, from the entry's head,
    without loading the rules (nor unpickling the RuleSet)."""
    sigma._load_cached.cache_clear()
    params = Params(rule_dirs=[str(flawed)], include_builtin=False)
    empty = Store()
    cold = run(empty.con, params)  # no entry yet: the rules load, the entry is written
    assert len(_entries(cache_dir)) == 1
    assert cold.findings == [] and cold.summary.loaded > 0 and cold.summary.correlations > 0
    assert cold.summary.skipped and cold.summary.ran == cold.summary.events == 0
    sigma._load_cached.cache_clear()
    monkeypatch.setattr(rule_cache, "load", _no_load)
    monkeypatch.setattr(rule_cache, "read", _no_load)
    warm = run(empty.con, params)
    assert warm.findings == [] and _summary(warm.summary) == _summary(cold.summary)
    # with raw rows the rules do run (through the whole entry)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir.parent))
    assert run(raw_con(_pack_events()), params).findings


@pytest.mark.parametrize("summary", [None, "text", {"files": 1}, {"files": 1, "loaded": 2, "correlations": 0, "skipped": [1]}])
def test_a_head_without_a_usable_summary_means_a_whole_load(
    cache_dir: Path, flawed: Path, summary: Any
) -> None:
    sigma._load_cached.cache_clear()
    params = Params(rule_dirs=[str(flawed)], include_builtin=False)
    expected = _summary(run(Store().con, params).summary)
    (entry,) = _entries(cache_dir)
    key = rule_cache.cache_key([str(flawed)])
    blob = entry.read_bytes()
    head = pickle.dumps(rule_cache.head_of(key, load([flawed])), protocol=pickle.HIGHEST_PROTOCOL)
    assert blob.startswith(head)
    planted = {"format": rule_cache.FORMAT, "key": key}
    if summary is not None:
        planted["summary"] = summary
    entry.write_bytes(pickle.dumps(planted, protocol=pickle.HIGHEST_PROTOCOL) + blob[len(head) :])
    assert rule_cache.cached_summary([str(flawed)]) is None
    sigma._load_cached.cache_clear()
    assert _summary(run(Store().con, params).summary) == expected


def test_importing_the_detector_does_not_import_pysigma() -> None:
    """``hunt`` imports every detector; pySigma (~0.2 s) is imported only when rules load."""
    import subprocess
    import sys

    code = (
        "import sys, shoreup.detect.sigma, shoreup.detect.sigma.cache\n"
        "heavy = sorted(m for m in sys.modules if m == 'sigma' or m.startswith('sigma.')"
        " or m in ('shoreup.detect.sigma.loader', 'shoreup.detect.sigma.runner', 'yaml'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
