"""The simulator is deterministic, writes what is asked, and its truth matches what it wrote."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shoreup.errors import UsageError
from shoreup.simulate import ATTACKS, BENIGN, FILES, generate
from tests.simulate.conftest import load_truth

ATTACK_KINDS = {"brute_force", "password_spray", "distributed_spray", "credential_stuffing", "mfa_fatigue",
                "full_chain"}
BENIGN_KINDS = {"benign_shared_egress", "benign_typo_then_success", "benign_stale_password", "benign_travel",
                "benign_service_account", "benign_backup_shadow_copy"}
ENTRY_KEYS = {"id", "kind", "technique", "formats", "start", "end", "users", "src_ips", "compromised", "hosts",
              "expect", "notes"}


def _tree(root: Path) -> dict[str, bytes]:
    # mail/ is written by shoreup.simulate.mail, which has its own determinism test.
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != "mail"}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ta, tb = generate(a, seed=11), generate(b, seed=11)
    assert ta == tb
    files_a = _tree(a)
    assert files_a == _tree(b)
    assert {"auth.log", "entra_signins.json", "okta_system_log.json", "windows_security.jsonl", "access.log",
            "truth.json"} <= set(files_a)
    assert any(name.startswith("cloudtrail/") for name in files_a)
    generate(c, seed=12)
    files_c = _tree(c)
    for name in ta["files"]:
        if name in files_c:
            assert files_a[name] != files_c[name], name


def test_truth_describes_the_attacks(sim: tuple[Path, dict[str, Any]]) -> None:
    out, truth = sim
    assert truth == load_truth(out)
    assert truth["schema"] == "shoreup.truth/1" and truth["seed"] == 5
    assert {"schema", "seed", "files", "lines", "scenarios", "org"} <= set(truth)
    kinds = {s["kind"] for s in truth["scenarios"]}
    assert kinds == ATTACK_KINDS | BENIGN_KINDS
    ids = [s["id"] for s in truth["scenarios"]]
    assert len(ids) == len(set(ids))
    for sc in truth["scenarios"]:
        assert ENTRY_KEYS <= set(sc), sc["id"]
        assert sc["start"] <= sc["end"] and sc["formats"], sc["id"]
        assert set(sc["compromised"]) <= set(sc["users"]), sc["id"]
        if sc["kind"].startswith("benign_"):
            assert sc["expect"] == [] and sc["compromised"] == [], sc["id"]
        else:
            assert sc["expect"] and sc["technique"].startswith("T"), sc["id"]
    text = (out / "auth.log").read_text()
    assert sum(1 for _ in text.splitlines()) == truth["lines"]["auth.log"]
    for sc in truth["scenarios"]:
        if sc["formats"] == ["sshd"]:
            for ip in sc["src_ips"]:
                assert f"from {ip} port" in text or f"rhost={ip}" in text


def test_scenario_shapes(sim: tuple[Path, dict[str, Any]]) -> None:
    _, truth = sim
    by_id = {s["id"]: s for s in truth["scenarios"]}
    bf = by_id["brute-force-1"]
    assert len(bf["src_ips"]) == 1 and len(bf["users"]) == 1 and bf["compromised"] == bf["users"]
    spray = by_id["spray-1"]
    assert len(spray["src_ips"]) == 1 and len(spray["users"]) == 200
    for sid, fmt in (("dspray-ssh-1", "sshd"), ("dspray-entra-1", "entra")):
        d = by_id[sid]
        assert d["formats"] == [fmt] and len(d["src_ips"]) == 301 and len(d["compromised"]) == 1  # 300 + the login
        assert d["compromise_ip"] in d["src_ips"]
    stuffing = by_id["stuffing-okta-1"]
    assert len(stuffing["users"]) == 500 and len(stuffing["src_ips"]) > 100
    mfa = by_id["mfa-fatigue-1"]
    assert len(mfa["src_ips"]) == 1 and mfa["compromised"] == mfa["users"]
    chain = by_id["chain-1"]
    assert chain["formats"] == ["entra", "mail", "windows"]
    assert chain["hosts"] == ["FS01.corp.example.com"] and len(chain["compromised"]) == 1
    stages = [s["stage"] for s in chain["stages"]]
    assert stages == ["phish", "spray", "compromise", "logon", "shadow_copy_deletion", "event_log_cleared"]
    assert chain["stages"][0]["recipient"].split("@")[0] == chain["compromised"][0]
    assert chain["compromised"][0] in truth["mail"]["recipients_of_phish"][0]


def test_choose_formats_and_scenarios(tmp_path: Path) -> None:
    truth = generate(tmp_path, seed=2, formats=["sshd"])
    assert truth["files"] == ["auth.log"] and truth["formats"] == ["sshd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.log", "truth.json"]
    assert {s["id"] for s in truth["scenarios"]} == {"brute-force-1", "spray-1", "dspray-ssh-1"}
    only = generate(tmp_path / "b", seed=2, scenarios=["mfa_push_bombing", "benign_travel"])
    assert [s["kind"] for s in only["scenarios"]] == ["mfa_fatigue", "benign_travel"]
    assert set(only["files"]) >= {"okta_system_log.json", "entra_signins.json"}
    with pytest.raises(UsageError, match="unknown format"):
        generate(tmp_path / "c", formats=["syslog-ng"])
    with pytest.raises(UsageError, match="unknown scenario"):
        generate(tmp_path / "c", scenarios=["nope"])
    assert set(ATTACKS) | set(BENIGN) and set(FILES) >= {"sshd", "entra", "okta", "cloudtrail", "windows", "weblog"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 3}, "at least 10 users"),
        ({"days": 100_000}, "at most 366"),  # would have run for hours
        ({"days": -1}, "cannot be negative"),
        ({"scanners_per_day": -1}, "cannot be negative"),  # a randrange traceback before
    ],
)
def test_impossible_sizes_are_usage_errors(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        generate(tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_out_must_be_a_folder_it_can_make(tmp_path: Path) -> None:
    a_file = tmp_path / "auth.log"
    a_file.write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        generate(a_file)
    with pytest.raises(UsageError, match="cannot create the folder"):
        generate(a_file / "below")


def test_default_set_is_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate(tmp_path, seed=3)
    assert time.perf_counter() - started < 6.0  # ~1 s on a 2-core machine; generous for CI
