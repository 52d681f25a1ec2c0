"""Okta System Log events (JSON array from the API, or NDJSON) — every event to raw, sign-ins to auth.

Reference: Okta System Log API, ``LogEvent`` object (actor, client, outcome, securityContext,
authenticationContext, debugContext, target) and its event type catalog.

Events that become ``auth`` rows: ``user.session.start`` (primary sign-in), ``user.authentication.*``
(auth_via_mfa, sso, verify, auth_via_IDP, …), ``system.push.send_factor_verify_push`` (reason
``mfa_push_sent``, outcome ``unknown``), ``user.mfa.okta_verify.deny_push`` (``mfa_denied``) and
ThreatInsight's ``security.threat.detected``. ``outcome.result`` SUCCESS/ALLOW → success,
FAILURE/DENY → failure, anything else → unknown; ``outcome.reason`` gives the reason
(INVALID_CREDENTIALS bad_password, LOCKED_OUT locked, unknown user, push timeouts mfa_timeout …),
kept as-is in ``raw_reason``. Every valid event also goes to ``raw``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any, Final

from shoreup.schema import normalize_user
from shoreup.sources import _cloudjson as cj
from shoreup.sources._base import Batch, ReadContext, RowBuilder
from shoreup.sources._countries import country_code

FORMAT: Final = "okta"

_PUSH_SENT: Final = "system.push.send_factor_verify_push"
_DENY_PUSH: Final = "user.mfa.okta_verify.deny_push"
_THREAT: Final = "security.threat.detected"

_SUCCESS: Final = frozenset({"SUCCESS", "ALLOW"})
_FAILURE: Final = frozenset({"FAILURE", "DENY"})

# outcome.reason values (and the words of free-text ones) mapped to reasons.
_REASON_CODES: Final[dict[str, str]] = {
    "INVALID_CREDENTIALS": "bad_password",
    "LOCKED_OUT": "locked",
    "USER_LOCKED_OUT": "locked",
    "PASSWORD_EXPIRED": "expired",
    "USER_NOT_FOUND": "unknown_user",
    "UNKNOWN_USER": "unknown_user",
    "USER_SUSPENDED": "disabled",
    "USER_DEACTIVATED": "disabled",
    "MFA_ENROLL_REQUIRED": "password_ok_mfa_required",
}
_TIMEOUT: Final = re.compile(r"time(?:d)?[ _-]?out|expired challenge|not answered|no response", re.I)
_DENIED: Final = re.compile(r"denied|rejected|reject", re.I)
_RESTRICTION: Final = re.compile(r"policy|network zone|not assigned|blocked|blacklist|blocklist", re.I)


def sniff(head: bytes, name: str) -> bool:
    """Okta LogEvent: an ``actor`` with ``alternateId`` next to Okta's own event fields."""
    head = head[:65536]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"["):
        return False
    return b'"alternateId"' in head and (
        b'"eventType"' in head or b'"legacyEventType"' in head or b'"displayMessage"' in head
    )


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read one input of Okta System Log events into ``raw`` and (sign-ins) ``auth``."""
    auth = RowBuilder("auth", FORMAT, ctx.path)
    raw = RowBuilder("raw", FORMAT, ctx.path)
    for ref, event in cj.iter_records(stream, ctx, ()):
        if not isinstance(event, dict):
            ctx.skip("not_json_object")
            continue
        event_type = event.get("eventType")
        time = cj.parse_time(event.get("published"))
        if not isinstance(event_type, str) or ("outcome" not in event and "actor" not in event):
            ctx.skip("not_okta_event")
            continue
        if time is None:
            ctx.skip("no_timestamp")
            continue
        raw.add(time=time, ref_record=ref, channel="okta:system", provider="okta",
                fields=cj.fields_json(event))
        row = auth_row(event, event_type)
        if row is not None:
            auth.add(time=time, ref_record=ref, **row)
        ctx.parsed()
        if raw.full() or auth.full():
            yield from auth.flush()
            yield from raw.flush()
    yield from auth.flush()
    yield from raw.flush()


def is_signin(event_type: str) -> bool:
    return (
        event_type == "user.session.start" or event_type.startswith("user.authentication.") or event_type in (_PUSH_SENT, _THREAT) or event_type.startswith(_DENY_PUSH)
    )


def auth_row(event: dict[str, Any], event_type: str) -> dict[str, Any] | None:
    """The ``auth`` columns of a sign-in event (without time and ref); None for other events."""
    if not is_signin(event_type):
        return None
    actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    assert isinstance(actor, dict)
    result = (cj.text(cj.dig(event, "outcome", "result")) or "").upper()
    raw_reason = cj.text(cj.dig(event, "outcome", "reason"))
    factor = (cj.text(cj.dig(event, "debugContext", "debugData", "factor")) or "").upper()
    credential = (cj.text(cj.dig(event, "authenticationContext", "credentialType")) or "").upper()
    push = "PUSH" in factor or event_type in (_PUSH_SENT,) or event_type.startswith(_DENY_PUSH)
    is_mfa = push or event_type == "user.authentication.auth_via_mfa" or "user.mfa." in event_type

    if result in _SUCCESS:
        outcome = "success"
    elif result in _FAILURE:
        outcome = "failure"
    else:
        outcome = "unknown"
    reason: str | None = None
    if event_type == _PUSH_SENT:
        outcome, reason = "unknown", "mfa_push_sent"
    elif event_type.startswith(_DENY_PUSH):
        outcome = "failure"
        reason = "mfa_timeout" if raw_reason and _TIMEOUT.search(raw_reason) else "mfa_denied"
    elif event_type == _THREAT:
        reason = "restriction" if outcome == "failure" else "other"
    elif outcome != "success":
        reason = _reason(raw_reason, is_mfa, push, actor)

    actor_type = cj.text(actor.get("type"))
    user_name = cj.text(actor.get("alternateId")) if actor_type in (None, "User") else None
    if user_name is None:
        user_name = _target_user(event)
    if user_name is not None and user_name.casefold() == "unknown":
        user_name = None
    user, domain = normalize_user(user_name)

    if push:
        method = "mfa_push"
    elif is_mfa:
        method = f"mfa:{factor.casefold()}" if factor else "mfa"
    elif event_type == "user.authentication.sso":
        method = "sso"
    elif event_type in ("user.session.start", "user.authentication.verify") and credential in ("", "PASSWORD"):
        method = "password"
    else:
        method = credential.casefold() or event_type.removeprefix("user.authentication.").casefold()

    return {
        "user": user,
        "domain": domain,
        "src_ip": cj.clean_ip(cj.dig(event, "client", "ipAddress")),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": raw_reason,
        "method": method,
        "mfa_used": True if is_mfa and outcome == "success" else None,
        "user_agent": cj.text(cj.dig(event, "client", "userAgent", "rawUserAgent")),
        "application": _application(event),
        "country": country_code(cj.dig(event, "client", "geographicalContext", "country")),
        "asn": cj.as_int(cj.dig(event, "securityContext", "asNumber")),
        "event_code": event_type,
        "logon_type": cj.text(cj.dig(event, "client", "device")),
        "is_machine": actor_type not in (None, "User"),
        "session_id": cj.text(cj.dig(event, "authenticationContext", "externalSessionId")),
    }


def _reason(raw_reason: str | None, is_mfa: bool, push: bool, actor: dict[str, Any]) -> str:
    if cj.text(actor.get("id")) == "unknown" or cj.text(actor.get("displayName")) == "unknown":
        return "unknown_user"  # Okta logs a sign-in for a user name it does not know with actor "unknown"
    if raw_reason is None:
        return "other"
    code = raw_reason.strip().upper().replace(" ", "_")
    if code in _REASON_CODES:
        return _REASON_CODES[code]
    if is_mfa:
        if _TIMEOUT.search(raw_reason):
            return "mfa_timeout"
        if push or _DENIED.search(raw_reason):
            return "mfa_denied"
        return "other"
    if _RESTRICTION.search(raw_reason):
        return "restriction"
    low = raw_reason.casefold()
    if "locked" in low:
        return "locked"
    if "not found" in low or "does not exist" in low or "unknown user" in low:
        return "unknown_user"
    return "other"


def _target_user(event: dict[str, Any]) -> str | None:
    targets = event.get("target")
    if isinstance(targets, list):
        for target in targets:
            if isinstance(target, dict) and target.get("type") == "User":
                return cj.text(target.get("alternateId"))
    return None


def _application(event: dict[str, Any]) -> str:
    targets = event.get("target")
    if isinstance(targets, list):
        for target in targets:
            if isinstance(target, dict) and target.get("type") == "AppInstance":
                name = cj.text(target.get("displayName")) or cj.text(target.get("alternateId"))
                if name:
                    return name
    return "okta"
