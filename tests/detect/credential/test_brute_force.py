"""Brute force: cases that must fire and cases that must stay silent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
import pytest

from shoreup.detect.credential import brute_force
from shoreup.engine.duckdb import Store
from shoreup.schema import AUTH

T0 = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)


def ev(sec: float, user: str | None, ip: str | None, outcome: str = "failure", method: str = "password",
       reason: str | None = "bad_password") -> dict[str, object]:
    return {"time": T0 + dt.timedelta(seconds=sec), "host": "h", "source_format": "test", "ref_file": "f",
            "ref_record": int(sec * 10), "user": user, "src_ip": ip, "outcome": outcome,
            "reason": reason if outcome == "failure" else None, "method": method}


def hunt(events: list[dict[str, object]]) -> list[brute_force.Finding]:
    with Store() as store:
        rows = [{f.name: e.get(f.name) for f in AUTH} for e in events]
        store.append("auth", pa.RecordBatch.from_pylist(rows, schema=AUTH))
        return brute_force.detect(store.con, brute_force.Params())


def many_users_typos() -> list[dict[str, object]]:
    out = []
    for u in range(300):  # a NAT: hundreds of people, each a typo then success
        out.append(ev(u * 30, f"user{u}", "198.51.100.1"))
        out.append(ev(u * 30 + 5, f"user{u}", "198.51.100.1", "success"))
    return out


FIRE: list[tuple[str, Callable[[], list[dict[str, object]]], dict[str, object]]] = [
    ("fast, one IP", lambda: [ev(i, "root", "203.0.113.5") for i in range(60)],
     {"users": ["root"], "src_ips": ["203.0.113.5"], "failures": 60}),
    ("many IPs, one account", lambda: [ev(i * 5, "alice", f"203.0.113.{i % 20}") for i in range(40)],
     {"users": ["alice"], "failures": 40, "source_ips": 20}),
    ("burst across a clock-bucket edge", lambda: [ev(590 + i, "bob", "203.0.113.7") for i in range(12)],
     {"users": ["bob"], "failures": 12}),
    ("then success", lambda: [ev(i, "carol", "203.0.113.8") for i in range(30)]
     + [ev(40, "carol", "203.0.113.8", "success")], {"severity": "high", "successes_after": 1}),
    ("machine pace, five tries in 30 s", lambda: [ev(i * 6, "admmig", "203.0.113.10") for i in range(5)],
     {"users": ["admmig"], "failures": 5, "peak_in_fast_window": 5}),
    ("low and slow: one try every 5 min, each from a new IP",
     lambda: [ev(i * 300, "frank", f"198.18.{i}.7") for i in range(40)],
     {"users": ["frank"], "failures": 40, "low_and_slow": True, "new_source_ips": 40}),
    ("source address not logged (Windows 4625)", lambda: [ev(i * 0.01, "administrator", None) for i in range(8)],
     {"users": ["administrator"], "src_ips": [], "failures": 8}),
    ("WordPress login flood: wrong passwords answered 200",
     lambda: [{**ev(i * 2, None, "203.0.113.20", "unknown"), "application": "/wp-login.php"} for i in range(100)],
     {"users": [], "src_ips": ["203.0.113.20"], "tries": 100, "result_not_logged": 100, "severity": "medium",
      "account_logged": False}),
    ("web login 401s from one address", lambda: [ev(i * 20, None, "203.0.113.21") for i in range(30)],
     {"src_ips": ["203.0.113.21"], "tries": 30, "failures": 30, "result_not_logged": 0}),
    ("web login flood, then a redirect: the password guessed",
     lambda: [ev(i, None, "203.0.113.22", "unknown") for i in range(60)] + [ev(70, None, "203.0.113.22", "success")],
     {"severity": "high", "successes_after": 1, "tries": 60}),
    ("login form flood on a site that answers success with a redirect",
     lambda: [ev(i * 3, None, "203.0.113.25", "unknown") for i in range(40)]
     + [ev(500, None, "198.51.100.30", "success")], {"src_ips": ["203.0.113.25"], "result_not_logged": 40}),
    ("console sign-ins with the name withheld", lambda: [ev(i * 3, None, "203.0.113.23", reason="unknown_user")
                                                         for i in range(20)],
     {"users": [], "unknown_user_failures": 20, "tries": 20}),
]

SILENT: list[tuple[str, Callable[[], list[dict[str, object]]]]] = [
    ("typos then success", lambda: [ev(0, "dave", "198.51.100.2"), ev(5, "dave", "198.51.100.2"),
                                    ev(9, "dave", "198.51.100.2", "success")]),
    ("publickey failures from a key agent", lambda: [ev(i, "erin", "198.51.100.3", method="publickey",
                                                        reason="other") for i in range(30)]),
    ("stale password on a device, every 15 min for days", lambda: [ev(i * 900, "svc", "198.51.100.4")
                                                                    for i in range(300)]),
    ("NAT with hundreds of typing users", many_users_typos),
    ("spray: one try per account", lambda: [ev(i, f"u{i}", "203.0.113.9") for i in range(200)]),
    ("stale device roaming between two addresses it knows",
     lambda: [ev(0, "gina", "198.51.100.5", "success"), ev(1, "gina", "198.51.100.6", "success")]
     + [ev(600 + i * 300, "gina", f"198.51.100.{5 + i % 2}") for i in range(200)]),
    ("MFA steps are not password guesses",
     lambda: [ev(i, "hank", "203.0.113.11", reason="mfa_denied", method="mfa_push") for i in range(30)]),
    ("a person posting the login form twice, then in",
     lambda: [ev(0, None, "198.51.100.7", "unknown"), ev(20, None, "198.51.100.7", "unknown"),
              ev(30, None, "198.51.100.7", "success")]),
    ("WordPress sign-ins far apart from one address",
     lambda: [{**ev(i * 1200, None, "198.51.100.8", "unknown"), "application": "/wp-login.php"} for i in range(40)]),
    ("many addresses posting the WordPress form a few times each",
     lambda: [{**ev(i * 7, None, f"198.51.100.{i % 90}", "unknown"), "application": "/wp-login.php"}
              for i in range(270)]),
    ("an office NAT signing in to an API that answers 200 with a token (no redirect anywhere)",
     lambda: [{**ev(i * 10, None, "198.51.100.9", "unknown"), "application": "/api/auth"} for i in range(60)]),
    ("sshd PAM lines without a user: companions of named failures, not tries of their own",
     lambda: [{**ev(i, None, "203.0.113.24", "unknown"), "reason": "bad_password"} for i in range(50)]),
]


@pytest.mark.parametrize(("name", "make", "expect"), FIRE, ids=[c[0] for c in FIRE])
def test_fires(name: str, make: Callable[[], list[dict[str, object]]], expect: dict[str, object]) -> None:
    findings = hunt(make())
    assert len(findings) == 1, name
    f = findings[0].to_json()
    for k, v in expect.items():
        assert (f[k] if k in f else f["metrics"][k]) == v
    assert f["technique"] == "T1110.001" and f["evidence"]


@pytest.mark.parametrize(("name", "make"), SILENT, ids=[c[0] for c in SILENT])
def test_stays_silent(name: str, make: Callable[[], list[dict[str, object]]]) -> None:
    assert hunt(make()) == [], name
