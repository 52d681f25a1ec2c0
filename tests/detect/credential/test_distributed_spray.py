"""Distributed spraying and credential stuffing: cases that must fire and cases that must stay silent."""

from __future__ import annotations

import pytest

from tests.detect.credential._auth import (
    DAY,
    HARD_NEGATIVES,
    HOUR,
    Make,
    Row,
    check,
    daily_distributed,
    distributed,
    ev,
    hunt,
    nat_egress,
    normal_days,
    scanners,
)


def with_background(attack: list[Row], days: int = 3, n_users: int = 200) -> Make:
    return lambda: normal_days(n_users, days) + scanners(days) + attack


def across_midnight() -> list[Row]:  # 40 accounts from 40 IPs in 30 minutes straddling midnight
    return distributed(n_ips=40, tries=1, n_users=40, hours=0.5, at=2 * DAY - 0.25 * HOUR)


def web_posts(path: str, redirects: bool, n_ips: int = 600) -> list[Row]:
    """One login-form post from each of ``n_ips`` addresses in an hour, answered 200 (result not told);
    with ``redirects``, the site's own users' sign-ins answered with a redirect as well."""
    posts = [ev(DAY + 6 * i, None, f"45.{i // 250}.{i % 250}.9", "unknown", None, source_format="weblog",
                application=path) for i in range(n_ips)]
    ok = [ev(k * HOUR, None, f"192.0.2.{k}", "success", None, source_format="weblog", application=path)
          for k in range(1, 40)] if redirects else []
    return posts + ok


def web_fleet(n_ips: int, tries: int, minutes: float, path: str = "/login") -> list[Row]:
    """``n_ips`` addresses each posting a login form ``tries`` times, the posts spread evenly over
    ``minutes`` (answered 401: failures with no account name); the site's users sign in by redirect."""
    posts = [ev(DAY + (k * n_ips + i) * minutes * 60 / (n_ips * tries), None, f"45.{i // 250}.{i % 250}.7",
                "failure", "bad_password", source_format="weblog", application=path)
             for k in range(tries) for i in range(n_ips)]
    ok = [ev(k * HOUR, None, f"192.0.2.{k}", "success", None, source_format="weblog", application=path)
          for k in range(1, 40)]
    return posts + ok


FIRE: list[tuple[str, Make, dict[str, object]]] = [
    ("300 IPs x 2 tries over 6 h", with_background(distributed()),
     {"source_ips": 300, "accounts": 150, "technique": "T1110.003", "median_tries_per_ip": 2}),
    ("credential stuffing, mostly unknown names", with_background(distributed(400, 1, 400, 2.0, unknown=True)),
     {"technique": "T1110.004", "source_ips": 400, "unknown_share_min": 0.9}),
    ("one try per account per day for a week", with_background(daily_distributed(), days=16, n_users=100),
     {"source_ips": 420, "accounts": 60, "max_tries_per_account": 7}),
    ("campaign across a clock-bucket edge", with_background(across_midnight()), {"accounts": 40, "source_ips": 40}),
    ("campaign with no background at all", lambda: distributed(), {"accounts": 150}),
    ("a botnet posting a WordPress login form once per address, answered 200",
     with_background(web_posts("/wp-login.php", redirects=False)), {"source_ips": 600, "nameless_attempts": 600}),
    ("the same on a form that answers success with a redirect",
     with_background(web_posts("/login", redirects=True)), {"source_ips": 600, "nameless_attempts": 600}),
    # each bot posts 20 times, one post every 18 minutes: no per-address window ever fills
    ("a slow botnet: 300 addresses posting a login form 20 times each over 6 h",
     with_background(web_fleet(300, 20, 6 * 60)), {"source_ips": 300, "nameless_attempts": 6000}),
]

SILENT: list[tuple[str, Make]] = [
    *HARD_NEGATIVES,
    ("internet scanners trying service names", lambda: normal_days(200, 3) + scanners(3)),
    ("scanners for two weeks", lambda: scanners(14, 40)),
    ("NAT and ordinary days together", lambda: nat_egress() + normal_days(200, 2)),
    ("a spray from one IP is not distributed", lambda: [r | {"src_ip": "203.0.113.1"} for r in distributed()]),
    ("a morning rush on an API answering 200 with a token, no redirect anywhere",
     with_background(web_posts("/api/auth", redirects=False))),
    # each address posts 40 times in 10 minutes: eight brute forces (brute_force's), not one fleet
    ("eight addresses brute forcing a login form at machine pace", with_background(web_fleet(8, 40, 10))),
]


@pytest.mark.parametrize(("name", "make", "expect"), FIRE, ids=[c[0] for c in FIRE])
def test_fires(name: str, make: Make, expect: dict[str, object]) -> None:
    findings = hunt("distributed_spray", make())
    assert len(findings) == 1, [f.summary for f in findings]
    check(findings[0], expect)


@pytest.mark.parametrize(("name", "make"), SILENT, ids=[c[0] for c in SILENT])
def test_stays_silent(name: str, make: Make) -> None:
    assert [f.summary for f in hunt("distributed_spray", make())] == []
