"""The normalized event tables, declared once: readers fill them, detectors read them.

Every table starts with the same provenance columns (``time``, ``host``, ``source_format``,
``ref_file``, ``ref_record``) so that any finding can point back at the raw record that made it.
Names follow ECS where ECS has one. Times are UTC, microsecond precision.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

TIME = pa.timestamp("us", tz="UTC")

#: Columns shared by every table, in this order, first.
_PROVENANCE: Final = [
    pa.field("time", TIME, nullable=False, metadata={"doc": "When the event happened (UTC)."}),
    pa.field("host", pa.string(), metadata={"doc": "Host that logged the event (syslog host, Computer, tenant)."}),
    pa.field("source_format", pa.string(), nullable=False, metadata={"doc": "Reader that produced it."}),
    pa.field("ref_file", pa.string(), nullable=False, metadata={"doc": "File the raw record came from."}),
    pa.field(
        "ref_record",
        pa.int64(),
        nullable=False,
        metadata={"doc": "Line number (text formats) or record number / id (EVTX, JSON) in ref_file."},
    ),
]


def _schema(name: str, doc: str, *fields: pa.Field) -> pa.Schema:
    return pa.schema([*_PROVENANCE, *fields], metadata={"table": name, "doc": doc})


AUTH: Final = _schema(
    "auth",
    "One authentication attempt or verdict.",
    pa.field("user", pa.string(), metadata={"doc": "Account, case-folded, without domain; null when unknown."}),
    pa.field("domain", pa.string(), metadata={"doc": "Domain / realm / tenant part of the account, case-folded."}),
    pa.field("src_ip", pa.string(), metadata={"doc": "Client address (no ::ffff: prefix)."}),
    pa.field("src_port", pa.int32(), metadata={"doc": "Client port."}),
    pa.field("outcome", pa.string(), nullable=False, metadata={"doc": "success | failure | unknown."}),
    pa.field(
        "reason",
        pa.string(),
        metadata={
            "doc": "bad_password | unknown_user | locked | disabled | expired | password_ok_mfa_required | "
            "mfa_denied | mfa_timeout | mfa_push_sent | restriction | other; null on plain success."
        },
    ),
    pa.field("raw_reason", pa.string(), metadata={"doc": "The source's own code or text for the reason."}),
    pa.field(
        "method",
        pa.string(),
        metadata={"doc": "password | publickey | keyboard-interactive | kerberos | ntlm | saml | oidc | mfa_push | …"},
    ),
    pa.field("mfa_used", pa.bool_(), metadata={"doc": "True/False when the source says; null when it cannot tell."}),
    pa.field("user_agent", pa.string(), metadata={"doc": "Client user agent or client application name."}),
    pa.field("application", pa.string(), metadata={"doc": "Service signed in to (sshd, app name, console)."}),
    pa.field("country", pa.string(), metadata={"doc": "ISO country code of src_ip when known."}),
    pa.field("asn", pa.int64(), metadata={"doc": "Autonomous system number of src_ip when known."}),
    pa.field("event_code", pa.string(), metadata={"doc": "Source event id / type (4625, ConsoleLogin, …)."}),
    pa.field("logon_type", pa.string(), metadata={"doc": "Windows logon type or the source's equivalent."}),
    pa.field("is_machine", pa.bool_(), metadata={"doc": "Machine or service account (e.g. ending in $)."}),
    pa.field("session_id", pa.string(), metadata={"doc": "Source's session / correlation / pid id."}),
)

PROCESS: Final = _schema(
    "process",
    "A process started (Sysmon 1, 4688, auditd execve).",
    pa.field("user", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("pid", pa.int64()),
    pa.field("image", pa.string(), metadata={"doc": "Full path of the executable."}),
    pa.field("command_line", pa.string()),
    pa.field("parent_pid", pa.int64()),
    pa.field("parent_image", pa.string()),
    pa.field("parent_command_line", pa.string()),
    pa.field("integrity_level", pa.string()),
    pa.field("hashes", pa.string()),
    pa.field("event_code", pa.string()),
)

FILE: Final = _schema(
    "file",
    "A file created, deleted, renamed or accessed (Sysmon 11/23/26, 4663).",
    pa.field("user", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("action", pa.string(), nullable=False, metadata={"doc": "create | delete | rename | access | write."}),
    pa.field("path", pa.string()),
    pa.field("image", pa.string(), metadata={"doc": "Process that acted on the file."}),
    pa.field("pid", pa.int64()),
    pa.field("event_code", pa.string()),
)

TAMPER: Final = _schema(
    "tamper",
    "Anti-forensics and defence tampering: logs cleared, audit policy changed.",
    pa.field("user", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("action", pa.string(), nullable=False, metadata={"doc": "log_cleared | audit_policy_changed | …"}),
    pa.field("target", pa.string(), metadata={"doc": "Log channel or policy affected."}),
    pa.field("detail", pa.string()),
    pa.field("event_code", pa.string()),
)

RAW: Final = _schema(
    "raw",
    "Every event's full field set, for Sigma rules.",
    pa.field("channel", pa.string(), metadata={"doc": "Windows channel or source log name."}),
    pa.field("provider", pa.string(), metadata={"doc": "Event provider / program."}),
    pa.field("event_id", pa.int32(), metadata={"doc": "Numeric event id when the source has one."}),
    pa.field("record_id", pa.int64(), metadata={"doc": "Source record id (EventRecordID)."}),
    pa.field(
        "fields",
        pa.string(),
        nullable=False,
        metadata={"doc": "JSON object: every field of the event, flat (EventData and System names as-is)."},
    ),
)

TABLES: Final[dict[str, pa.Schema]] = {
    "auth": AUTH,
    "process": PROCESS,
    "file": FILE,
    "tamper": TAMPER,
    "raw": RAW,
}

OUTCOMES: Final = frozenset({"success", "failure", "unknown"})
REASONS: Final = frozenset(
    {
        "bad_password",
        "unknown_user",
        "locked",
        "disabled",
        "expired",
        "password_ok_mfa_required",
        "mfa_denied",
        "mfa_timeout",
        "mfa_push_sent",
        "restriction",
        "other",
    }
)


def normalize_user(raw: str | None) -> tuple[str | None, str | None]:
    """Split and case-fold an account name: ``DOMAIN\\user`` and ``user@domain`` give (user, domain)."""
    if raw is None:
        return None, None
    name = raw.strip()
    if not name or name == "-":
        return None, None
    domain: str | None = None
    if "\\" in name:
        domain, _, name = name.partition("\\")
    elif "@" in name:
        name, _, domain = name.rpartition("@")
    name = name.casefold()
    return (name or None), (domain.casefold() if domain else None)


def empty(table: str) -> pa.Table:
    """An empty table of the named kind."""
    return TABLES[table].empty_table()
