"""The simulator is deterministic and its truth matches what it wrote."""

from __future__ import annotations

from pathlib import Path

from shoreup.simulate import generate


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ta, tb = generate(a, seed=11), generate(b, seed=11)
    assert ta == tb
    assert (a / "auth.log").read_bytes() == (b / "auth.log").read_bytes()
    assert (a / "truth.json").read_bytes() == (b / "truth.json").read_bytes()
    c = tmp_path / "c"
    generate(c, seed=12)
    assert (a / "auth.log").read_bytes() != (c / "auth.log").read_bytes()


def test_truth_describes_the_attacks(tmp_path: Path) -> None:
    truth = generate(tmp_path, seed=5)
    kinds = {s["kind"] for s in truth["scenarios"]}
    assert kinds == {"brute_force", "password_spray"}
    text = (tmp_path / "auth.log").read_text()
    assert sum(1 for _ in text.splitlines()) == truth["lines"]["auth.log"]
    for sc in truth["scenarios"]:
        for ip in sc["src_ips"]:
            assert f"from {ip} port" in text
