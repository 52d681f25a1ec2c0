"""Microsoft Entra ID (Azure AD) sign-in logs: Graph API JSON, Azure Monitor / Log Analytics exports, portal CSV.

Shapes read (reference: Microsoft Graph ``signIn`` resource; Azure Monitor ``SignInLogs`` diagnostic
schema; Log Analytics ``SigninLogs`` table; Entra admin center "Download" CSV):

* Graph API: ``{"value": [signIn, …]}`` pages, a bare array, or one signIn per line;
* Azure Monitor diagnostic settings (storage account / Event Hub): NDJSON or ``{"records": […]}``
  where each record wraps the signIn in ``properties`` and names its ``category``
  (SignInLogs, NonInteractiveUserSignInLogs, ServicePrincipalSignInLogs, ManagedIdentitySignInLogs…);
* Log Analytics exports of the SigninLogs tables (PascalCase names, dynamic columns as JSON text);
* the portal's CSV download ("Date (UTC)", "Sign-in error code", "Client app", …).

``status.errorCode`` gives outcome and reason (0 success, 50126 bad_password, 50034 unknown_user,
50053 locked, 50055 expired, 50057 disabled, 50074/50076/50079 password_ok_mfa_required, 500121
mfa_denied or mfa_timeout, 53003 restriction, …); interrupts that are neither a success nor a
failure (50140 "keep me signed in", 50058 silent sign-in, consent and device prompts) have outcome
``unknown``. The code itself is kept in ``raw_reason``. Legacy-protocol clients (IMAP4, POP3,
Authenticated SMTP, Exchange ActiveSync, "Other clients", …) give ``method = "legacy:<client>"``.
Application and managed-identity sign-ins are marked ``is_machine``. Records of other categories
(AuditLogs, RiskyUsers, …) are skipped as "not_signin_event".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO, Any, Final

import orjson

from shoreup.schema import normalize_user
from shoreup.sources import _cloudjson as cj
from shoreup.sources._base import Batch, ReadContext, RowBuilder

FORMAT: Final = "entra"

_WRAPPERS: Final = ("value", "records")

#: Sign-in categories of the diagnostic export and the Log Analytics table names, case-folded.
_USER_CATEGORIES: Final = frozenset(
    {"signinlogs", "noninteractiveusersigninlogs", "aadnoninteractiveusersigninlogs"}
)
_MACHINE_CATEGORIES: Final = frozenset(
    {
        "serviceprincipalsigninlogs",
        "aadserviceprincipalsigninlogs",
        "managedidentitysigninlogs",
        "aadmanagedidentitysigninlogs",
        "microsoftserviceprincipalsigninlogs",
    }
)
_SIGNIN_CATEGORIES: Final = _USER_CATEGORIES | _MACHINE_CATEGORIES | {"adfssigninlogs"}

# Reference: Microsoft Entra authentication and authorization error codes (AADSTS).
_REASONS: Final[dict[int, str]] = {
    50126: "bad_password",  # invalid username or password
    50064: "bad_password",  # credential validation failed
    50034: "unknown_user",  # user account does not exist in the directory
    50020: "unknown_user",  # user from the identity provider does not exist in the tenant
    50053: "locked",  # account locked (smart lockout) or sign-in from a malicious IP blocked
    50055: "expired",  # password expired
    50144: "expired",  # Active Directory password expired
    50057: "disabled",  # account disabled
    50074: "password_ok_mfa_required",  # strong authentication required
    50076: "password_ok_mfa_required",  # MFA required (location or policy change)
    50079: "password_ok_mfa_required",  # user must register for MFA
    50072: "password_ok_mfa_required",  # user must enroll for a second factor
    500121: "mfa_denied",  # strong authentication request failed (mfa_timeout when no answer)
    53003: "restriction",  # blocked by Conditional Access
    53000: "restriction",  # device not compliant
    53001: "restriction",  # device not domain joined
    53002: "restriction",  # application not approved
    53004: "restriction",  # MFA registration blocked by policy
    530032: "restriction",  # blocked by security policy
    50105: "restriction",  # user not assigned to the application
    50005: "restriction",  # unsupported platform blocked by Conditional Access
}

#: Interrupts: the sign-in stopped on a prompt, it neither succeeded nor failed.
_INTERRUPTS: Final = frozenset({50140, 50058, 50097, 50125, 50129, 50199, 65001, 16000, 16001, 50127})

_TIMEOUT: Final = re.compile(r"did not respond|no response|timed? ?out|not answered", re.I)

# Reference: Entra "clientAppUsed" values; every one but Browser and "Mobile Apps and Desktop
# clients" is a legacy (basic) authentication client that cannot do MFA.
_MODERN_CLIENTS: Final = frozenset({"browser", "mobile apps and desktop clients"})
_PASSWORD_METHODS: Final = frozenset(
    {"password", "password hash sync", "pass-through authentication", "federated", "previously satisfied"}
)


def sniff(head: bytes, name: str) -> bool:
    """Entra sign-ins: Graph signIn fields, a sign-in category, or the portal CSV header."""
    low = head[:65536].lower()
    if low.startswith(b"\xef\xbb\xbf"):
        low = low[3:]
    stripped = low.lstrip()
    if stripped[:1] in (b"{", b"["):
        if b"auditlogs/signins" in low or b'signinlogs"' in low:
            return True
        return b'"clientappused"' in low and (b'"appdisplayname"' in low or b'"userprincipalname"' in low)
    header = stripped.split(b"\n", 1)[0]
    return b"sign-in error code" in header or (
        b"request id" in header and b"correlation id" in header and b"ip address" in header
    )


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read one input of Entra sign-ins into ``auth`` and ``raw``."""
    head = cj.first_line(stream)
    if not head:
        return
    if head.lstrip()[:1] not in (b"{", b"["):
        yield from _read_csv(head, stream, ctx)
        return
    if not head.lstrip().startswith(b"[") and cj.is_ndjson_start(head):
        from shoreup.sources import _entra_fast

        yield from _entra_fast.read_ndjson(head, stream, ctx)
        return
    yield from read_records(cj.iter_records(stream, ctx, _WRAPPERS, head=head), ctx)


def read_records(records: Iterator[tuple[int, Any]], ctx: ReadContext) -> Iterator[Batch]:
    """Map decoded records (``(ref_record, value)``) to ``auth`` and ``raw`` rows."""
    auth = RowBuilder("auth", FORMAT, ctx.path)
    raw = RowBuilder("raw", FORMAT, ctx.path)
    for ref, rec in records:
        row = signin_row(rec)
        if isinstance(row, str):
            ctx.skip(row)
            continue
        channel = row.pop("_channel")
        auth.add(ref_record=ref, **row)
        raw.add(
            time=row["time"],
            host=row["host"],
            ref_record=ref,
            channel=channel,
            provider="Microsoft.aadiam",
            fields=cj.fields_json(rec),
        )
        ctx.parsed()
        if auth.full():
            yield from auth.flush()
            yield from raw.flush()
    yield from auth.flush()
    yield from raw.flush()


def _get(body: dict[str, Any], *names: str) -> Any:
    """The first present value among ``names`` and their PascalCase forms (Log Analytics)."""
    for name in names:
        value = body.get(name)
        if value is None:
            value = body.get(name[:1].upper() + name[1:])
        if value is not None:
            if isinstance(value, str) and value[:1] in ("{", "["):
                try:
                    return orjson.loads(value)  # Log Analytics dynamic column exported as text
                except orjson.JSONDecodeError:
                    return value
            return value
    return None


def signin_row(rec: Any) -> dict[str, Any] | str:
    """The ``auth`` row of one sign-in record, or the skip reason when it is not a sign-in."""
    if not isinstance(rec, dict):
        return "not_json_object"
    props = rec.get("properties")
    body: dict[str, Any] = props if isinstance(props, dict) else rec
    category = rec.get("category") or rec.get("Category") or rec.get("Type")
    cat = category.casefold() if isinstance(category, str) else None
    if cat is not None and cat not in _SIGNIN_CATEGORIES:
        return "not_signin_event"
    status = _get(body, "status")
    if not isinstance(status, dict):
        status = {}
    code = cj.as_int(status.get("errorCode"))
    if code is None:
        code = cj.as_int(_get(rec, "resultType")) if body is not rec else cj.as_int(_get(body, "resultType"))
    time = cj.parse_time(_get(body, "createdDateTime")) or cj.parse_time(_get(rec, "time", "timeGenerated"))
    if cat is None and (code is None or time is None or _get(body, "appId", "userPrincipalName") is None):
        return "not_signin_event"
    if time is None:
        return "no_timestamp"
    details = _get(body, "authenticationDetails")
    details = details if isinstance(details, list) else []
    failure_text = " ".join(
        t
        for t in (
            cj.text(status.get("failureReason")),
            cj.text(status.get("additionalDetails")),
            *(cj.text(d.get("authenticationStepResultDetail")) for d in details if isinstance(d, dict)),
        )
        if t
    )
    outcome, reason = outcome_reason(code, failure_text)
    machine = cat in _MACHINE_CATEGORIES
    if machine:
        user, domain = cj.text(_get(body, "servicePrincipalName", "appDisplayName")), None
        user = user.casefold() if user else None
    else:
        user, domain = normalize_user(cj.text(_get(body, "userPrincipalName", "signInIdentifier")))
    location = _get(body, "location", "locationDetails")
    if not isinstance(location, dict):
        location = _get(body, "locationDetails")
    country = (
        cj.text(location.get("countryOrRegion")) if isinstance(location, dict) else cj.text(_get(body, "location"))
    )
    if country is not None and len(country) != 2:
        country = None
    client_app = cj.text(_get(body, "clientAppUsed"))
    mfa_detail = _get(body, "mfaDetail")
    interactive = _get(body, "isInteractive")
    if cat is not None:
        logon_type = "interactive" if cat == "signinlogs" else cat.removeprefix("aad").removesuffix("signinlogs")
    elif isinstance(interactive, bool):
        logon_type = "interactive" if interactive else "noninteractiveuser"
    else:
        logon_type = None
    return {
        "time": time,
        "host": cj.text(_get(rec, "tenantId") or _get(body, "resourceTenantId", "homeTenantId")),
        "user": user,
        "domain": domain,
        "src_ip": cj.clean_ip(_get(body, "ipAddress", "IPAddress") or _get(rec, "callerIpAddress")),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": None if code is None else str(code),
        "method": auth_method(client_app, cj.text(_get(body, "authenticationProtocol")), details),
        "mfa_used": mfa_used(
            cj.text(_get(body, "authenticationRequirement")),
            mfa_detail if isinstance(mfa_detail, dict) else None,
            details,
            outcome,
        ),
        "user_agent": cj.text(_get(body, "userAgent")) or client_app,
        "application": cj.text(_get(body, "appDisplayName")),
        "country": country,
        "asn": cj.as_int(_get(body, "autonomousSystemNumber")),
        "event_code": category if isinstance(category, str) else "signIn",
        "logon_type": logon_type,
        "is_machine": machine,
        "session_id": cj.text(_get(body, "correlationId", "sessionId")),
        "_channel": category if isinstance(category, str) else "signIns",
    }


def outcome_reason(code: int | None, failure_text: str) -> tuple[str, str | None]:
    """Outcome and reason of an Entra error code (``failure_text`` tells an MFA timeout apart)."""
    if code is None:
        return "unknown", None
    if code == 0:
        return "success", None
    if code in _INTERRUPTS:
        return "unknown", "other"
    reason = _REASONS.get(code, "other")
    if reason == "mfa_denied" and _TIMEOUT.search(failure_text):
        reason = "mfa_timeout"
    return "failure", reason


def legacy_method(client_app: str | None) -> str | None:
    if client_app is None or client_app.casefold() in _MODERN_CLIENTS:
        return None
    slug = re.sub(r"[^a-z0-9]+", "_", client_app.casefold()).strip("_")
    return f"legacy:{slug}" if slug else None


def auth_method(client_app: str | None, protocol: str | None, details: list[Any]) -> str | None:
    """``legacy:<client>``, else the authentication protocol, else the first step's method."""
    legacy = legacy_method(client_app)
    if legacy:
        return legacy
    if protocol and protocol.casefold() not in ("none", "unknownfuturevalue"):
        return protocol.casefold()
    for step in details:
        if isinstance(step, dict):
            method = cj.text(step.get("authenticationMethod"))
            if method:
                return method.casefold()
    return None


def mfa_used(
    requirement: str | None, mfa_detail: dict[str, Any] | None, details: list[Any], outcome: str
) -> bool | None:
    """True when a second factor was used or satisfied by a token claim, False for single factor."""
    if mfa_detail and cj.text(mfa_detail.get("authMethod")):
        return True
    for step in details:
        if not isinstance(step, dict):
            continue
        method = (cj.text(step.get("authenticationMethod")) or "").casefold()
        result = (cj.text(step.get("authenticationStepResultDetail")) or "").casefold()
        if "mfa" in result and ("completed" in result or "satisfied" in result):
            return True
        if method and method not in _PASSWORD_METHODS and step.get("succeeded") is True:
            return True
    req = (requirement or "").casefold().replace("-", "").replace(" ", "")
    if req.startswith("multifactor"):
        return True if outcome == "success" else None
    if req.startswith("singlefactor"):
        return False
    return None


# --- portal CSV download ---------------------------------------------------------------------

# Column names of the admin center download (current and older spellings), case-folded.
_CSV_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "time": ("date (utc)", "date", "created date time"),
    "user": ("username", "user principal name", "sign-in identifier", "user"),
    "ip": ("ip address", "ip"),
    "code": ("sign-in error code", "error code"),
    "status": ("status",),
    "failure": ("failure reason",),
    "client_app": ("client app",),
    "ua": ("user agent",),
    "app": ("application", "app display name"),
    "location": ("location",),
    "requirement": ("authentication requirement", "mfa required"),
    "mfa_result": ("multifactor authentication result", "mfa result"),
    "mfa_method": ("multifactor authentication auth method", "mfa auth method"),
    "asn": ("autonomous system number",),
    "tenant": ("resource tenant id", "home tenant id", "tenant id"),
    "correlation": ("correlation id",),
    "protocol": ("authentication protocol",),
}


def _read_csv(head: bytes, stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    lines = _chain_lines(head.decode("utf-8-sig", "replace"), text)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    index = {name.strip().casefold(): i for i, name in enumerate(header)}
    cols = {key: next((index[n] for n in names if n in index), None) for key, names in _CSV_COLUMNS.items()}
    auth = RowBuilder("auth", FORMAT, ctx.path)
    raw = RowBuilder("raw", FORMAT, ctx.path)
    width = len(header)
    line_no = reader.line_num
    try:
        for values in reader:
            ref = line_no + 1
            line_no = reader.line_num
            if not values or not any(v.strip() for v in values):
                continue
            if len(values) != width:
                ctx.skip("malformed_csv_row")
                continue
            row = _csv_row(values, cols)
            if isinstance(row, str):
                ctx.skip(row)
                continue
            auth.add(ref_record=ref, **row)
            record = {name: value for name, value in zip(header, values, strict=True) if value != ""}
            raw.add(
                time=row["time"],
                host=row["host"],
                ref_record=ref,
                channel="SignInLogs",
                provider="Microsoft.aadiam",
                fields=orjson.dumps(record).decode(),
            )
            ctx.parsed()
            if auth.full():
                yield from auth.flush()
                yield from raw.flush()
    except csv.Error as exc:
        ctx.damage(f"unreadable CSV: {exc}", f"line {reader.line_num}")
    yield from auth.flush()
    yield from raw.flush()


def _chain_lines(first: str, rest: IO[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_row(values: list[str], cols: dict[str, int | None]) -> dict[str, Any] | str:
    def col(key: str) -> str | None:
        i = cols[key]
        return cj.text(values[i]) if i is not None else None

    time = cj.parse_time(col("time"))
    if time is None:
        return "no_timestamp"
    code = cj.as_int(col("code"))
    status = (col("status") or "").casefold()
    if code is None:
        code = 0 if status == "success" else None
    failure = " ".join(t for t in (col("failure"), col("mfa_result")) if t)
    outcome, reason = outcome_reason(code, failure)
    if code is None and status in ("failure", "interrupted"):
        outcome, reason = ("failure", "other") if status == "failure" else ("unknown", "other")
    user, domain = normalize_user(col("user"))
    location = col("location")
    country = location.rsplit(",", 1)[-1].strip() if location else None
    if country is not None and len(country) != 2:
        country = None
    client_app = col("client_app")
    requirement = col("requirement")
    if requirement and requirement.casefold() in ("yes", "no"):  # older "MFA required" column
        requirement = "multiFactorAuthentication" if requirement.casefold() == "yes" else "singleFactorAuthentication"
    mfa_method = col("mfa_method")
    mfa_result = (col("mfa_result") or "").casefold()
    mfa: bool | None
    if mfa_method or ("mfa" in mfa_result and ("completed" in mfa_result or "satisfied" in mfa_result)):
        mfa = True
    else:
        mfa = mfa_used(requirement, None, [], outcome)
    return {
        "time": time,
        "host": col("tenant"),
        "user": user,
        "domain": domain,
        "src_ip": cj.clean_ip(col("ip")),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": None if code is None else str(code),
        "method": auth_method(client_app, col("protocol"), []),
        "mfa_used": mfa,
        "user_agent": col("ua") or client_app,
        "application": col("app"),
        "country": country,
        "asn": cj.as_int(col("asn")),
        "event_code": "SignInLogs",
        "logon_type": None,
        "is_machine": False,
        "session_id": col("correlation"),
    }
