"""MFA fatigue: cases that must fire and cases that must stay silent."""

from __future__ import annotations

import pytest

from tests.detect.credential._auth import DAY, HARD_NEGATIVES, HOUR, Make, Row, check, ev, hunt, ok

IP = "185.220.101.4"


def prompts(n: int, gap: float, reason: str, user: str = "grace", at: float = DAY) -> list[Row]:
    return [ev(at + k * gap, user, IP, reason=reason, method="mfa_push") for k in range(n)]


FIRE: list[tuple[str, Make, dict[str, object]]] = [
    ("12 denials in 10 minutes", lambda: prompts(12, 50, "mfa_denied"), {"denied": 12, "severity": "high"}),
    ("a timeout every 40 minutes through the night", lambda: prompts(8, 2400, "mfa_timeout"), {"timeouts": 8}),
    ("password ok, MFA required, never answered, over 3 h",
     lambda: [ev(DAY + k * 1800, "grace", IP, reason="password_ok_mfa_required") for k in range(7)],
     {"rejected": 7}),
    ("bombing until the owner accepts",
     lambda: [*prompts(9, 120, "mfa_denied"), ok(DAY + 9 * 120, "grace", IP, method="mfa_push", mfa_used=True)],
     {"severity": "critical"}),
    ("mixed denials and timeouts across an hour edge",
     lambda: prompts(3, 60, "mfa_denied", at=HOUR - 100) + prompts(3, 60, "mfa_timeout", at=HOUR + 90),
     {"rejected": 6}),
]


def phone_off() -> list[Row]:  # two timeouts, then the person finds the phone
    return [*prompts(2, 60, "mfa_timeout"), ok(DAY + 200, "grace", "100.64.0.1", mfa_used=True)]


def answered_prompts() -> list[Row]:  # every sign-in asks for MFA and the person answers
    return [r for d in range(10) for r in (ev(d * DAY, "hank", "100.64.0.2", reason="password_ok_mfa_required"),
                                           ok(d * DAY + 20, "hank", "100.64.0.2", mfa_used=True))]


SILENT: list[tuple[str, Make]] = [
    *HARD_NEGATIVES,
    ("phone off: two timeouts then success", phone_off),
    ("every sign-in asks for MFA and is answered", answered_prompts),
    ("one stray denial a day for a week", lambda: prompts(7, DAY, "mfa_denied")),
]


@pytest.mark.parametrize(("name", "make", "expect"), FIRE, ids=[c[0] for c in FIRE])
def test_fires(name: str, make: Make, expect: dict[str, object]) -> None:
    findings = hunt("mfa_fatigue", make())
    assert len(findings) == 1, [f.summary for f in findings]
    check(findings[0], expect)
    assert findings[0].technique == "T1621"


@pytest.mark.parametrize(("name", "make"), SILENT, ids=[c[0] for c in SILENT])
def test_stays_silent(name: str, make: Make) -> None:
    assert [f.summary for f in hunt("mfa_fatigue", make())] == []
