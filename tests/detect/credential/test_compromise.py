"""Compromise after a credential attack, and the MFA gap: cases that must fire and stay silent."""

from __future__ import annotations

import pytest

from tests.detect.credential._auth import (
    DAY,
    HARD_NEGATIVES,
    HOUR,
    Make,
    Row,
    check,
    distributed,
    ev,
    home,
    hunt,
    normal_days,
    ok,
    spray_one_ip,
    travel,
)

ATTACK_AT = 2 * DAY + 2 * HOUR  # distributed() starts here and lasts 6 h


def tenant() -> list[Row]:
    return normal_days(200, 4)


def later_from_elsewhere() -> list[Row]:  # the spray's account signs in 10 h later from a new network and device
    return tenant() + distributed() + [ok(ATTACK_AT + 16 * HOUR, "user042", "91.240.118.7", user_agent="curl/8",
                                          country="RU", asn=48666, mfa_used=False)]


def password_ok_mfa_held() -> list[Row]:
    return tenant() + distributed() + [ev(ATTACK_AT + 30 * HOUR, "user017", "91.240.118.9",
                                          reason="password_ok_mfa_required", user_agent="curl/8", asn=48666)]


def from_campaign_infrastructure() -> list[Row]:  # a new proxy of the same fleet (same ASN and user agent)
    return tenant() + distributed() + [ok(ATTACK_AT + 7 * HOUR, "user003", "45.200.1.1",
                                          user_agent="Mozilla/5.0 (X11) Spray/1", asn=9009, country="NL")]


def brute_then_in() -> list[Row]:
    return [ev(k, "root", "203.0.113.5") for k in range(40)] + [ok(60, "root", "203.0.113.5")]


def first_ssh_sign_in() -> list[Row]:  # after a spray, the account's first SSH sign-in, from nowhere it knows
    cloud = [ok(d * DAY + 9 * HOUR, "user005", "82.10.5.15", user_agent="Browser/5") for d in range(3)]
    ssh = [ok(3 * DAY + 5 * HOUR, "user005", "77.88.55.1", source_format="sshd")]
    return cloud + spray_one_ip(30, at=3 * DAY) + ssh


def first_ssh_sign_in_from_home() -> list[Row]:  # the same, from the home address the person always uses
    return [r | {"src_ip": "82.10.5.15"} if r["source_format"] == "sshd" else r for r in first_ssh_sign_in()]


def impossible_travel() -> list[Row]:  # the owner at home at 9:00, a sign-in from abroad at 9:40 on the same UA
    return tenant() + distributed() + [
        ok(3 * DAY + 9 * HOUR, "user020", home(20), user_agent="Browser/0", country="US", asn=7922, mfa_used=True),
        ok(3 * DAY + 9 * HOUR + 2400, "user020", "5.45.207.1", user_agent="Browser/0", country="DE", asn=24940),
    ]


FIRE: list[tuple[str, Make, dict[str, object]]] = [
    ("a sign-in hours later from another network and device", later_from_elsewhere,
     {"users": ["user042"], "severity": "critical", "campaign_detector": "distributed_spray"}),
    ("password ok, MFA required, from a new network", password_ok_mfa_held,
     {"users": ["user017"], "severity": "high"}),
    ("from the campaign's infrastructure", from_campaign_infrastructure, {"users": ["user003"]}),
    ("brute force then a sign-in from the same IP", brute_then_in, {"users": ["root"], "src_ips": ["203.0.113.5"]}),
    ("first SSH sign-in from an address nobody knows", first_ssh_sign_in, {"users": ["user005"]}),
    ("impossible travel", impossible_travel, {"users": ["user020"]}),
]


def owners_sign_in_as_usual() -> list[Row]:  # the targeted people keep signing in from home during and after
    return tenant() + distributed() + normal_days(200, 6)[200 * 4:]


def targeted_traveller() -> list[Row]:  # a targeted person abroad with their own laptop, a day later
    return tenant() + distributed() + [ok(3 * DAY + 20 * HOUR, "user009", "81.2.69.160", user_agent="Browser/4",
                                          country="GB", asn=5089, mfa_used=True)]


SILENT: list[tuple[str, Make]] = [
    *HARD_NEGATIVES,
    ("targeted people sign in as usual", owners_sign_in_as_usual),
    ("a targeted person travels with their own device", targeted_traveller),
    ("a targeted person's first SSH sign-in, from home", first_ssh_sign_in_from_home),
    ("a new network with no attack at all", lambda: [*travel(), ok(3 * DAY, "frank", "9.9.9.9", user_agent="X")]),
    ("success a week after the attack", lambda: tenant() + distributed() + [
        ok(ATTACK_AT + 12 * DAY, "user042", "91.240.118.7", user_agent="curl/8", country="RU", asn=48666)]),
]


@pytest.mark.parametrize(("name", "make", "expect"), FIRE, ids=[c[0] for c in FIRE])
def test_compromise_fires(name: str, make: Make, expect: dict[str, object]) -> None:
    findings = hunt("compromise", make())
    assert len(findings) == 1, [f.summary for f in findings]
    check(findings[0], expect)
    assert findings[0].technique == "T1078"


@pytest.mark.parametrize(("name", "make"), SILENT, ids=[c[0] for c in SILENT])
def test_compromise_stays_silent(name: str, make: Make) -> None:
    assert [f.summary for f in hunt("compromise", make())] == []


def single_factor_targets() -> list[Row]:
    return normal_days(200, 3, mfa=False)[:150] + normal_days(200, 3)[150:] + distributed()


GAP_FIRE: list[tuple[str, Make, dict[str, object]]] = [
    ("targeted accounts that sign in with a password alone", single_factor_targets,
     {"users_include": ["user000", "user010"], "campaign_detector": "distributed_spray"}),
    ("an SSH password sign-in after a brute force",
     lambda: [r | {"source_format": "sshd"} for r in brute_then_in()], {"users": ["root"], "severity": "high"}),
    ("compromised account signs in without MFA", later_from_elsewhere, {"users": ["user042"]}),
]

GAP_SILENT: list[tuple[str, Make]] = [
    *HARD_NEGATIVES,
    ("targeted accounts all use MFA", lambda: tenant() + distributed()),
    ("single-factor accounts nobody targeted", lambda: normal_days(60, 3, mfa=False)),
]


@pytest.mark.parametrize(("name", "make", "expect"), GAP_FIRE, ids=[c[0] for c in GAP_FIRE])
def test_mfa_gap_fires(name: str, make: Make, expect: dict[str, object]) -> None:
    findings = hunt("mfa_gap", make())
    assert len(findings) == 1, [f.summary for f in findings]
    check(findings[0], expect)


@pytest.mark.parametrize(("name", "make"), GAP_SILENT, ids=[c[0] for c in GAP_SILENT])
def test_mfa_gap_stays_silent(name: str, make: Make) -> None:
    assert [f.summary for f in hunt("mfa_gap", make())] == []
