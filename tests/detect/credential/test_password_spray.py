"""Password spraying from one source: cases that must fire and cases that must stay silent."""

from __future__ import annotations

import pytest

from tests.detect.credential._auth import (
    DAY,
    HARD_NEGATIVES,
    HOUR,
    Make,
    check,
    ev,
    hunt,
    nat_egress,
    normal_days,
    ok,
    spray_one_ip,
)


def slow_spray() -> list[dict[str, object]]:  # one try every 10 minutes, 100 accounts, 16 hours
    return normal_days(120) + spray_one_ip(100, gap=600, at=DAY)


def week_of_daily_tries() -> list[dict[str, object]]:  # every account once a day, for a week
    return [ev(d * DAY + k * 2000 + (d * 37) % 900, f"user{k:03d}", "203.0.113.50") for d in range(7) for k in range(25)]


def kerberos_like() -> list[dict[str, object]]:  # nine accounts in a few milliseconds, mostly unknown
    return [ev(k * 0.002, f"svc{k}", "172.16.66.1", reason="unknown_user" if k < 7 else "bad_password")
            for k in range(9)]


def web_form(gap: float = 240) -> list[dict[str, object]]:  # a web login form: no account name, only the address
    return [ev(k * gap, None, "203.0.113.77", reason="other") for k in range(60)]


def spray_then_success() -> list[dict[str, object]]:
    return [*spray_one_ip(40), ok(2 * DAY + 3 * HOUR + 900, "user007", "203.0.113.9")]


def spray_through_nat() -> list[dict[str, object]]:  # the attacker sits behind the company's own egress
    return nat_egress() + [ev(DAY + 13 * HOUR + k * 60, f"ghost{k}", "198.51.100.1", reason="unknown_user")
                           for k in range(300)]


FIRE: list[tuple[str, Make, dict[str, object]]] = [
    ("fast spray, 50 accounts", lambda: spray_one_ip(50), {"src_ips": ["203.0.113.9"], "accounts": 50}),
    ("slow spray, one try every 10 min", slow_spray, {"accounts": 100}),
    ("one try per account per day for a week", week_of_daily_tries, {"accounts": 25, "attempts": 175}),
    ("machine pace, nine accounts", kerberos_like, {"accounts": 9, "unknown_accounts": 7}),
    ("spray across a clock-bucket edge", lambda: spray_one_ip(12, gap=20, at=HOUR - 120), {"accounts": 12}),
    ("web login form, no account names, one guess every 4 minutes", web_form,
     {"anonymous_failures": 60, "accounts": 0}),
    ("spray then a sign-in from the same IP", spray_then_success, {"severity": "high", "signed_in_after": ["user007"]}),
    ("spray from behind the tenant's NAT", spray_through_nat, {"src_ips": ["198.51.100.1"], "accounts_min": 300}),
]

SILENT: list[tuple[str, Make]] = [
    # 15 guesses a minute: brute_force's finding (see test_one_report_per_address_and_burst)
    ("web login form guessed at machine pace", lambda: web_form(4)),
    *HARD_NEGATIVES,
    ("a shared kiosk: three people mistype", lambda: [ev(k * 300, f"user{k:03d}", "100.99.0.1") for k in range(3)]),
    ("brute force on one account is not a spray", lambda: [ev(k, "root", "203.0.113.5") for k in range(100)]),
    ("busy web form: a few failures among many logins",
     lambda: [ev(k * 30, None, "198.51.100.80", outcome="success" if k % 8 else "failure", reason="other")
              for k in range(400)]),
]


@pytest.mark.parametrize(("name", "make", "expect"), FIRE, ids=[c[0] for c in FIRE])
def test_fires(name: str, make: Make, expect: dict[str, object]) -> None:
    findings = hunt("password_spray", make())
    assert len(findings) == 1, [f.summary for f in findings]
    check(findings[0], expect)
    assert findings[0].technique == "T1110.003"


@pytest.mark.parametrize(("name", "make"), SILENT, ids=[c[0] for c in SILENT])
def test_stays_silent(name: str, make: Make) -> None:
    assert [f.summary for f in hunt("password_spray", make())] == []


@pytest.mark.parametrize(("gap", "detector"), [(4, "brute_force"), (240, "password_spray")])
def test_one_report_per_address_and_burst(gap: float, detector: str) -> None:
    """A login form guessed from one address, no account logged: a burst is brute_force's, a patient
    guesser password_spray's — never both."""
    both = [f for name in ("brute_force", "password_spray") for f in hunt(name, web_form(gap))]
    assert [f.detector for f in both] == [detector]
