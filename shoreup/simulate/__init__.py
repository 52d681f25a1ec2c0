"""Realistic logs with attack scenarios and their ground truth, for the demo, tests and drills."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

#: Simulated time starts here (a Monday), so files are the same whatever the day they are made.
EPOCH = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)


def generate(
    out: Path, seed: int = 1, users: int = 200, days: int = 2, scanners_per_day: int = 30
) -> dict[str, Any]:
    """Write every simulated log into ``out`` and ``out/truth.json``; returns the truth."""
    from shoreup.simulate import scenarios, sshd
    from shoreup.simulate.model import Org

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    org = Org.make(rng, users)
    days = max(days, 1)
    attempts = scenarios.background(rng, org, EPOCH, days, scanners_per_day)
    attack_day = EPOCH + dt.timedelta(days=days - 1)
    bf, bf_truth = scenarios.fast_brute_force(rng, org, attack_day + dt.timedelta(hours=3, minutes=12))
    spray, spray_truth = scenarios.password_spray(rng, org, attack_day + dt.timedelta(hours=1, minutes=40))
    attempts += bf + spray
    known = set(org.users) | {"root"}
    n_lines = sshd.write(out / "auth.log", attempts, known, rng)
    truth: dict[str, Any] = {
        "schema": "shoreup.truth/1",
        "seed": seed,
        "org": {"domain": org.domain, "users": len(org.users)},
        "files": ["auth.log"],
        "lines": {"auth.log": n_lines},
        "scenarios": [s.to_json() for s in (bf_truth, spray_truth)],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth
