"""AWS CloudTrail events (``{"Records": […]}`` files or NDJSON) — every event to raw, console sign-ins to auth.

Reference: AWS CloudTrail record contents and "CloudTrail log file examples" for ConsoleLogin
(``responseElements.ConsoleLogin`` Success / Failure, ``errorMessage`` "Failed authentication",
``additionalEventData.MFAUsed``) and the AWS sign-in events of IAM Identity Center
(``UserAuthentication``, ``CredentialVerification`` with ``serviceEventDetails``).

``auth`` rows: user = ``userName`` for IAM users, ``root`` for the root user, the session name of an
assumed role or federated user; domain = the account id. A failed console sign-in whose user name
AWS replaced with ``HIDDEN_DUE_TO_SECURITY_REASONS`` (the name typed does not exist) has reason
``unknown_user`` and user null. Compressed files (``.json.gz``) are decompressed by the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Final

from shoreup.sources import _cloudjson as cj
from shoreup.sources._base import Batch, ReadContext, RowBuilder

FORMAT: Final = "cloudtrail"

_HIDDEN: Final = "HIDDEN_DUE_TO_SECURITY_REASONS"
_SIGNIN_SOURCE: Final = "signin.amazonaws.com"
#: Sign-in events whose result is in responseElements / serviceEventDetails under their own name.
_SIGNIN_EVENTS: Final = frozenset({"ConsoleLogin", "UserAuthentication", "CredentialVerification"})

# errorMessage of failed console sign-ins.
_ERRORS: Final[dict[str, str]] = {
    "failed authentication": "bad_password",
    "no username found in supplied account": "unknown_user",
    "user is disabled": "disabled",
    "password expired": "expired",
}


def sniff(head: bytes, name: str) -> bool:
    """CloudTrail: ``awsRegion`` / ``eventSource`` with ``userIdentity`` or ``eventName``."""
    head = head[:65536]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"["):
        return False
    aws = b'"awsRegion"' in head or (b'"eventSource"' in head and b"amazonaws.com" in head)
    return aws and (b'"userIdentity"' in head or b'"eventName"' in head)


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read one CloudTrail input into ``raw`` and (console sign-ins) ``auth``."""
    auth = RowBuilder("auth", FORMAT, ctx.path)
    raw = RowBuilder("raw", FORMAT, ctx.path)
    for ref, event in cj.iter_records(stream, ctx, ("Records",)):
        if not isinstance(event, dict):
            ctx.skip("not_json_object")
            continue
        name = event.get("eventName")
        if not isinstance(name, str) or not ("eventSource" in event or "userIdentity" in event):
            ctx.skip("not_cloudtrail_event")
            continue
        time = cj.parse_time(event.get("eventTime")) or cj.parse_time(event.get("@timestamp"))
        if time is None:
            ctx.skip("no_timestamp")
            continue
        identity = event.get("userIdentity") if isinstance(event.get("userIdentity"), dict) else {}
        assert isinstance(identity, dict)
        host = cj.text(event.get("recipientAccountId")) or cj.text(identity.get("accountId"))
        raw.add(time=time, host=host, ref_record=ref, channel="cloudtrail",
                provider=cj.text(event.get("eventSource")), fields=cj.fields_json(event))
        if name in _SIGNIN_EVENTS and event.get("eventSource", _SIGNIN_SOURCE) == _SIGNIN_SOURCE:
            auth.add(time=time, host=host, ref_record=ref, **auth_row(event, name, identity))
        ctx.parsed()
        if raw.full() or auth.full():
            yield from auth.flush()
            yield from raw.flush()
    yield from auth.flush()
    yield from raw.flush()


def auth_row(event: dict[str, Any], name: str, identity: dict[str, Any]) -> dict[str, Any]:
    """The ``auth`` columns of a sign-in event (without time, host and ref)."""
    result = cj.text(cj.dig(event, "responseElements", name)) or cj.text(
        cj.dig(event, "serviceEventDetails", name)
    )
    error = cj.text(event.get("errorMessage"))
    if result is not None:
        outcome = {"success": "success", "failure": "failure"}.get(result.casefold(), "unknown")
    else:
        outcome = "failure" if error or event.get("errorCode") else "unknown"

    id_type = cj.text(identity.get("type"))
    user = identity_user(identity)
    hidden = (user is not None and user.upper() == _HIDDEN) or _HIDDEN in (cj.text(identity.get("arn")) or "")
    reason: str | None = None
    if outcome == "failure":
        reason = "unknown_user" if hidden else _ERRORS.get((error or "").casefold().rstrip("."), "other")
    if hidden:
        user = None
    mfa = cj.text(cj.dig(event, "additionalEventData", "MFAUsed"))
    if id_type in ("Root", "IAMUser"):
        method = "password"
    elif id_type in ("AssumedRole", "FederatedUser", "SAMLUser", "WebIdentityUser"):
        method = "federated"
    elif name != "ConsoleLogin":
        method = (cj.text(cj.dig(event, "additionalEventData", "CredentialType")) or "sso").casefold()
    else:
        method = None
    return {
        "user": user.casefold() if user else None,
        "domain": cj.text(identity.get("accountId")) or cj.text(event.get("recipientAccountId")),
        "src_ip": cj.clean_ip(event.get("sourceIPAddress")),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": error or result,
        "method": method,
        "mfa_used": {"yes": True, "no": False}.get((mfa or "").casefold()),
        "user_agent": cj.text(event.get("userAgent")),
        "application": "aws-console" if name == "ConsoleLogin" else "aws-signin",
        "country": None,
        "asn": None,
        "event_code": name,
        "logon_type": id_type,
        "is_machine": False,
        "session_id": None,
    }


def identity_user(identity: dict[str, Any]) -> str | None:
    """The account name of a CloudTrail ``userIdentity`` (root, IAM user, role session, federated user)."""
    id_type = cj.text(identity.get("type"))
    if id_type == "Root":
        return "root"
    name = cj.text(identity.get("userName"))
    if id_type in ("IAMUser", "IdentityCenterUser") and name:
        return name
    arn = cj.text(identity.get("arn"))
    if arn and "/" in arn and id_type in ("AssumedRole", "FederatedUser"):
        return arn.rsplit("/", 1)[1]
    return name or (cj.text(cj.dig(identity, "onBehalfOf", "userId")))
