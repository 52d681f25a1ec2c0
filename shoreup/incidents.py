"""Incidents: findings joined along the chain — phish, password attack, compromise, logons, wiper.

An incident follows one account (phishing delivered to it → credential attacks that targeted it →
its compromise → its sign-ins to hosts and cloud apps afterwards → tampering and destruction on
those hosts) or, when no account leads there, one host (its tampering and destruction), one
credential campaign (findings sharing source IPs), or one phishing message. Its severity rises with
the depth of the chain; it carries a title a person reads, a timeline, its findings, the refs of its
evidence, and the actions to take now.

Everything is deterministic: ids come from content, every list is sorted, no clock is read.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import ipaddress
import itertools
import operator
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from shoreup.findings import MAX_EVIDENCE, SEVERITIES, Finding, Ref, iso
from shoreup.schema import normalize_user

__all__ = [
    "ACTION_KINDS",
    "STAGES",
    "TECHNIQUE_NAMES",
    "Action",
    "Analysis",
    "Incident",
    "MailVerdict",
    "Step",
    "build",
    "hostile_networks",
    "is_mail_input",
    "load_mail",
    "mail_findings",
    "mail_verdicts",
    "stage_of",
]

#: The links of the chain, in attack order.
STAGES = ("phishing", "credential_attack", "compromise", "logon", "tampering", "destruction")
STAGE_LABELS = {
    "phishing": "Phishing delivered",
    "credential_attack": "Credential attack",
    "compromise": "Compromise",
    "logon": "Logons",
    "tampering": "Tampering",
    "destruction": "Destruction",
}
_HOST_STAGES = ("tampering", "destruction")

#: Action kinds, in the order a responder works through them.
ACTION_KINDS = (
    "block_network",
    "reset_password",
    "revoke_sessions",
    "enforce_mfa",
    "isolate_host",
    "verify_backups",
    "purge_mail",
)

# ---------------------------------------------------------------------------------------------------
# How a finding becomes a link of the chain — the one table. A detector named here wins; otherwise
# every ATT&CK technique of the finding (its own and, for Sigma, all its rule's tags) is looked up by
# prefix, and the deepest stage found is the finding's stage. ``None``: not a link of the attack.
_BY_DETECTOR: dict[str, str | None] = {
    "mail": "phishing",
    "compromise": "compromise",
    "mfa_fatigue": "credential_attack",
    "mfa_gap": None,  # a posture gap, not an attacker step: it feeds "enforce MFA"
}
_BY_TECHNIQUE: tuple[tuple[str, str], ...] = (
    ("T1566", "phishing"),  # phishing
    ("T1110", "credential_attack"),  # brute force, spraying, stuffing
    ("T1621", "credential_attack"),  # MFA request generation (push fatigue)
    ("T1078", "compromise"),  # valid accounts
    ("T1070", "tampering"),  # indicator removal: logs cleared, USN journal deleted
    ("T1562", "tampering"),  # impair defenses: audit policy, crash dumps
    ("T1490", "destruction"),  # inhibit system recovery: shadow copies, backups, boot recovery
    ("T1485", "destruction"),  # data destruction
    ("T1486", "destruction"),  # data encrypted for impact
    ("T1561", "destruction"),  # disk wipe
)

#: ATT&CK names of the techniques shoreup reports (for titles, the HTML report and STIX).
TECHNIQUE_NAMES: dict[str, str] = {
    "T1566": "Phishing",
    "T1566.001": "Spearphishing Attachment",
    "T1566.002": "Spearphishing Link",
    "T1110": "Brute Force",
    "T1110.001": "Password Guessing",
    "T1110.003": "Password Spraying",
    "T1110.004": "Credential Stuffing",
    "T1621": "Multi-Factor Authentication Request Generation",
    "T1078": "Valid Accounts",
    "T1078.004": "Cloud Accounts",
    "T1070": "Indicator Removal",
    "T1070.001": "Clear Windows Event Logs",
    "T1070.004": "File Deletion",
    "T1562": "Impair Defenses",
    "T1562.001": "Disable or Modify Tools",
    "T1562.002": "Disable Windows Event Logging",
    "T1112": "Modify Registry",
    "T1490": "Inhibit System Recovery",
    "T1485": "Data Destruction",
    "T1486": "Data Encrypted for Impact",
    "T1561": "Disk Wipe",
    "T1561.001": "Disk Content Wipe",
    "T1561.002": "Disk Structure Wipe",
    "T1006": "Direct Volume Access",
    "T1543.003": "Windows Service",
}

# What a title says for a stage reached through a technique (first matching prefix).
_PHRASES: tuple[tuple[str, str], ...] = (
    ("T1110.001", "brute force"),
    ("T1110.003", "password spraying"),
    ("T1110.004", "credential stuffing"),
    ("T1110", "password guessing"),
    ("T1621", "MFA push fatigue"),
    ("T1070", "logs cleared"),
    ("T1562", "defences impaired"),
    ("T1490", "recovery inhibited"),
    ("T1485", "data destroyed"),
    ("T1486", "data encrypted"),
    ("T1561", "disk wiped"),
)

#: Readers whose ``host`` column is the machine signed in to; cloud readers put a tenant there.
_HOST_FORMATS = frozenset({"evtx", "winjson", "winxml", "sshd"})
#: Clocks of different hosts disagree by up to this much.
_CLOCK_SKEW = dt.timedelta(minutes=5)
#: Phishing and credential attacks join an account's chain when they came at most this long before
#: its compromise: a campaign weeks earlier is another story.
LOOKBACK = dt.timedelta(days=14)
#: Sign-ins of a compromised account are followed this long after the compromise.
HORIZON = dt.timedelta(days=7)
#: Tampering or destruction on a host joins the chain when it starts within this long after the
#: attacker's own sign-in there (from an attacking address, or a remote-desktop logon).
PIVOT_WINDOW = dt.timedelta(hours=24)
#: Credential attacks that name no account (web login forms: the log tells only the address), or no
#: source address (a Windows host logging only the workstation), against the same target join one
#: campaign while each starts less than this after the ones before ended: a fleet's addresses take
#: their turns minutes apart, as one address's tries chain into one run (``brute_force``'s
#: ``run_gap_minutes``), and a tool walks its list of accounts one after the other.
FLEET_GAP = dt.timedelta(hours=1)
#: Windows logon types of a person at the keyboard of the host or on remote desktop.
_REMOTE_INTERACTIVE = frozenset({"10"})
#: At most this many sign-ins are read per compromised account.
_MAX_LOGONS = 5000
_NON_ROUTABLE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "::/128",
    )
)  # fmt: skip
#: The IPv4 ones as integer ranges: checking an address against them is the hot path of a blocklist.
_NON_ROUTABLE_V4 = tuple(
    (int(n.network_address), int(n.broadcast_address)) for n in _NON_ROUTABLE if n.version == 4
)


def _techniques(f: Finding) -> list[str]:
    out = [f.technique] if f.technique else []
    rule = f.metrics.get("rule") if isinstance(f.metrics, dict) else None
    if isinstance(rule, dict):
        out += [str(t) for t in rule.get("techniques") or [] if t]
    return [t.upper() for t in out]


def stage_of(f: Finding) -> str | None:
    """The link of the chain a finding stands for, or None when it is not an attacker step."""
    if f.detector in _BY_DETECTOR:
        return _BY_DETECTOR[f.detector]
    found = [stage for t in _techniques(f) for prefix, stage in _BY_TECHNIQUE if t.startswith(prefix)]
    return max(found, key=STAGES.index) if found else None


def _phrase(f: Finding) -> str:
    for t in _techniques(f):
        for prefix, words in _PHRASES:
            if t.startswith(prefix):
                return words
    return f.title.lower()


# ---------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Action:
    """What to do now: ``kind`` (one of ACTION_KINDS), on what, and why."""

    kind: str
    targets: tuple[str, ...]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "targets": list(self.targets), "why": self.why}


@dataclass(frozen=True)
class Step:
    """One line of an incident's timeline: a finding, or a group of sign-ins of the logon stage."""

    time: dt.datetime
    end: dt.datetime
    stage: str
    what: str
    severity: str
    finding_id: str = ""
    technique: str = ""
    users: tuple[str, ...] = ()
    src_ips: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    count: int = 1
    refs: tuple[Ref, ...] = ()

    def sort_key(self) -> tuple[str, int, str, str]:
        return (iso(self.time), STAGES.index(self.stage), self.finding_id, self.what)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "end": iso(self.end),
            "stage": self.stage,
            "what": self.what,
            "finding_id": self.finding_id or None,
            "count": self.count,
            "evidence": [r.to_json() for r in self.refs],
        }


@dataclass
class Incident:
    """Findings joined along the chain, with the sign-ins that tie them, and what to do."""

    id: str
    kind: str  # account | host | campaign | phishing
    title: str
    severity: str
    start: dt.datetime
    end: dt.datetime
    stages: list[str]
    finding_ids: list[str]
    users: list[str]
    src_ips: list[str]
    hosts: list[str]
    actions: list[Action]
    timeline: list[Step] = field(default_factory=list)
    evidence: list[Ref] = field(default_factory=list)
    evidence_total: int = 0

    def sort_key(self) -> tuple[int, int, str, str]:
        """Most severe first; among equals the deepest chain, then the earliest."""
        return (-SEVERITIES.index(self.severity), -len(self.stages), iso(self.start), self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "start": iso(self.start),
            "end": iso(self.end),
            "stages": self.stages,
            "finding_ids": self.finding_ids,
            "users": self.users,
            "src_ips": self.src_ips,
            "hosts": self.hosts,
            "actions": [a.to_json() for a in self.actions],
            "kind": self.kind,
            "timeline": [s.to_json() for s in self.timeline],
            "evidence": [r.to_json() for r in self.evidence],
            "evidence_total": self.evidence_total,
        }


@dataclass
class Analysis:
    """What a hunt concluded: every finding (detectors' and mail's) and the incidents joining them."""

    findings: list[Finding]
    incidents: list[Incident]

    @property
    def by_id(self) -> dict[str, Finding]:
        return {f.id: f for f in self.findings}


# ---------------------------------------------------------------------------------------------------
# Mail verdicts


@dataclass(frozen=True)
class MailVerdict:
    """A flagged message as the chain needs it, from a mail report or its ``shoreup.mail/1`` JSON."""

    path: str
    position: str
    message_id: str
    sender: str
    subject: str
    verdict: str
    score: float
    recipients: tuple[str, ...]
    urls: tuple[str, ...]
    domains: tuple[str, ...]
    reasons: tuple[str, ...]
    attachments: int
    time: dt.datetime | None


def _mail_time(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, str) and value.strip():
        try:
            t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                t = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
    else:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _verdict_from_json(m: dict[str, Any], header_date: object = None) -> MailVerdict:
    ind = m.get("indicators") or {}
    return MailVerdict(
        path=str(m.get("path") or ""),
        position=str(m.get("position") or ""),
        message_id=str(m.get("message_id") or ""),
        sender=str(m.get("from") or ""),
        subject=str(m.get("subject") or ""),
        verdict=str(m.get("verdict") or "clean"),
        score=float(m.get("score") or 0.0),
        recipients=tuple(sorted({str(r).lower() for r in m.get("recipients") or [] if r})),
        urls=tuple(sorted({str(u) for u in ind.get("urls") or [] if u})),
        domains=tuple(sorted({str(d).lower() for d in ind.get("domains") or [] if d})),
        reasons=tuple(str(r.get("code", "")) for r in m.get("reasons") or [] if isinstance(r, dict)),
        attachments=len(ind.get("attachments") or []),
        time=_mail_time(m.get("date") or m.get("time") or header_date),
    )


def mail_verdicts(mail: object) -> list[MailVerdict]:
    """Flagged messages from a MailReport, its ``shoreup.mail/1`` JSON, or a list of either."""
    if mail is None:
        return []
    out: list[MailVerdict] = []
    if isinstance(mail, MailVerdict):
        out = [mail]
    elif isinstance(mail, dict):
        out = [_verdict_from_json(m) for m in mail.get("messages") or [] if isinstance(m, dict)]
    elif hasattr(mail, "results"):
        for r in mail.results:
            header = r.message.header("Date") if hasattr(r.message, "header") else None
            out.append(_verdict_from_json(r.to_json(), header))
    elif isinstance(mail, Iterable) and not isinstance(mail, str | bytes):
        for item in mail:
            out.extend(mail_verdicts(item))
    else:
        raise TypeError(f"not mail verdicts: {type(mail).__name__}")
    return [v for v in out if v.verdict in ("phishing", "suspicious")]


_MAIL_SUFFIXES = (".eml", ".msg", ".mbox", ".mbx")
_MAIL_SCHEMA = b"shoreup.mail/1"


def _is_verdict_file(path: Path) -> bool:
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and _MAIL_SCHEMA in head


def is_mail_input(path: str) -> bool:
    """A path ``hunt`` hands to mail triage instead of the log readers: .eml, .msg, mbox, a Maildir,
    or the ``shoreup mail --json`` output (``shoreup.mail/1``)."""
    p = Path(path)
    if p.is_dir():
        if all((p / sub).is_dir() for sub in ("cur", "new")):
            return True
        suffixes = {q.suffix.lower() for q in p.iterdir() if q.is_file()} - {".toml"}  # the org config may sit there
        return bool(suffixes) and suffixes <= set(_MAIL_SUFFIXES)
    return p.suffix.lower() in _MAIL_SUFFIXES or _is_verdict_file(p)


def load_mail(paths: Sequence[str], org: str | None = None) -> tuple[list[object], list[str]]:
    """Mail verdicts for the chain: ``shoreup.mail/1`` JSON files are read, other paths triaged.

    Returns what ``build`` takes as ``mail_report`` and the problems met (file: why), each to be
    reported as damaged input.
    """
    import orjson

    verdicts: list[object] = []
    problems: list[str] = []
    to_triage: list[str] = []
    for path in paths:
        p = Path(path)
        if _is_verdict_file(p):
            try:
                doc = orjson.loads(p.read_bytes())
            except (OSError, orjson.JSONDecodeError) as e:
                problems.append(f"{path}: not readable as shoreup.mail/1 JSON: {e}")
                continue
            if not isinstance(doc, dict) or doc.get("schema") != _MAIL_SCHEMA.decode():
                problems.append(f"{path}: not a shoreup.mail/1 document")
                continue
            verdicts.append(doc)
        else:
            to_triage.append(path)
    if to_triage:
        from shoreup.detect import mail

        report = mail.triage(to_triage, org)
        problems += [f"{where}: {why}" for where, why in report.damaged]
        verdicts.append(report)
    return verdicts, problems


def _record_number(position: str) -> int:
    m = re.search(r"\d+", position)
    return int(m.group()) if m else 0


def mail_findings(mail: object, fallback_time: dt.datetime | None = None) -> list[Finding]:
    """One finding per flagged message (T1566): its recipients are the accounts the chain watches.

    A verdict without a readable ``Date`` is placed at ``fallback_time`` (the start of the hunt's
    data) and says so in ``metrics["time_known"]``.
    """
    found: list[Finding] = []
    fallback = fallback_time or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for v in mail_verdicts(mail):
        when = v.time or fallback
        technique = "T1566.001" if v.attachments else ("T1566.002" if v.urls else "T1566")
        users = [u for u in (normalize_user(r)[0] for r in v.recipients) if u]
        subject = v.subject if len(v.subject) <= 120 else v.subject[:119] + "…"
        found.append(
            Finding(
                detector="mail",
                technique=technique,
                title="Phishing mail delivered" if v.verdict == "phishing" else "Suspicious mail delivered",
                severity="medium" if v.verdict == "phishing" else "low",
                confidence=min(0.99, 0.5 + v.score / 20),
                start=when,
                end=when,
                users=users,
                metrics={
                    "verdict": v.verdict,
                    "score": v.score,
                    "from": v.sender,
                    "subject": v.subject,
                    "message_id": v.message_id,
                    "recipients": list(v.recipients),
                    "urls": list(v.urls),
                    "domains": list(v.domains),
                    "reasons": list(v.reasons),
                    "time_known": v.time is not None,
                },
                evidence=[Ref(v.path, _record_number(v.position))] if v.path else [],
                summary=f"{v.verdict.capitalize()} mail from {v.sender} to {len(v.recipients)} recipient(s): "
                f"{subject!r}",
                key=v.message_id or f"{v.path}|{v.position}",
            )
        )
    return found


# ---------------------------------------------------------------------------------------------------
# Sign-ins of a compromised account


@dataclass(frozen=True)
class _Logon:
    time: dt.datetime
    host: str
    cloud: bool
    source_format: str
    src_ip: str
    event_code: str
    logon_type: str
    application: str
    ref: Ref


# Successful sign-ins: Windows logons (4624: the host column is the machine logged on to; a DC's
# 4768/4776 name only the authenticator), ssh, and cloud sign-ins.
_LOGONS = f"""
SELECT time, host, source_format, src_ip, event_code, logon_type, application, ref_file, ref_record
FROM auth
WHERE outcome = 'success' AND user = $user AND time >= $since AND time <= $until
  AND (source_format NOT IN ('evtx', 'winjson', 'winxml') OR event_code = '4624')
  AND NOT coalesce(is_machine, false)
ORDER BY time, ref_file, ref_record
LIMIT {_MAX_LOGONS}
"""

# The account's password-correct events among a compromise finding's evidence (which also holds the
# campaign's failures): when and whence it was taken.
_COMPROMISE_EVENTS = """
SELECT min(time) AS t0, list(DISTINCT src_ip ORDER BY src_ip) FILTER (WHERE src_ip IS NOT NULL) AS ips
FROM auth
WHERE user = $user AND (outcome = 'success' OR reason = 'password_ok_mfa_required')
  AND list_contains($keys, ref_file || '#' || CAST(ref_record AS VARCHAR))
"""

_SINGLE_FACTOR = """
SELECT user, count(*) AS n,
       list(DISTINCT coalesce(application, event_code, source_format) ORDER BY coalesce(application, event_code, source_format)) AS via
FROM auth
WHERE outcome = 'success' AND user IN (SELECT unnest($users))
  AND (mfa_used = false OR (mfa_used IS NULL AND source_format = 'sshd' AND method = 'password'))
GROUP BY user ORDER BY user
"""


def _naive(t: dt.datetime) -> dt.datetime:
    """Times in the store are naive UTC."""
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _logons(con: duckdb.DuckDBPyConnection | None, user: str, since: dt.datetime) -> list[_Logon]:
    if con is None:
        return []
    try:
        cur = con.execute(_LOGONS, {"user": user, "since": _naive(since), "until": _naive(since + HORIZON)})
    except duckdb.CatalogException:
        return []
    out: list[_Logon] = []
    for time, host, fmt, ip, code, ltype, app, rfile, rrec in cur.fetchall():
        out.append(
            _Logon(
                _utc(time), str(host or ""), fmt not in _HOST_FORMATS, str(fmt), str(ip or ""),
                str(code or ""), str(ltype or ""), str(app or ""), Ref(str(rfile), int(rrec)),
            )
        )  # fmt: skip
    return out


def _compromise_of(
    con: duckdb.DuckDBPyConnection | None, user: str, comp: Sequence[Finding]
) -> tuple[dt.datetime, list[str]]:
    """When and from where ``user`` was taken: its own events among the findings' evidence, else the findings'."""
    fallback = (min(f.start for f in comp), sorted({ip for f in comp for ip in f.src_ips}))
    if con is None:
        return fallback
    keys = sorted({f"{r.file}#{r.record}" for f in comp for r in f.evidence})
    try:
        row = con.execute(_COMPROMISE_EVENTS, {"user": user, "keys": keys}).fetchone()
    except duckdb.Error:
        return fallback
    if not row or row[0] is None:
        return fallback
    return _utc(row[0]), [str(ip) for ip in row[1] or []] or fallback[1]


def _single_factor(con: duckdb.DuckDBPyConnection | None, users: Sequence[str]) -> dict[str, tuple[int, list[str]]]:
    if con is None or not users:
        return {}
    try:
        rows = con.execute(_SINGLE_FACTOR, {"users": sorted(users)}).fetchall()
    except duckdb.CatalogException:
        return {}
    return {str(u): (int(n), [str(v) for v in via or []]) for u, n, via in rows}


def _earliest_auth(con: duckdb.DuckDBPyConnection | None) -> dt.datetime | None:
    if con is None:
        return None
    try:
        row = con.execute("SELECT min(time) FROM auth").fetchone()
    except duckdb.CatalogException:
        return None
    return _utc(row[0]) if row and row[0] is not None else None


# ---------------------------------------------------------------------------------------------------
# Networks


@functools.lru_cache(maxsize=1 << 17)
def _routable(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address if a perimeter block can mean anything for it (not private, loopback, link-local)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        n = int(addr)
        if any(lo <= n <= hi for lo, hi in _NON_ROUTABLE_V4):
            return None
    elif any(addr in net for net in _NON_ROUTABLE if net.version == 6):
        return None
    return addr


def hostile_networks(items: Iterable[str]) -> list[str]:
    """Addresses and networks, collapsed: a CIDR only where every address of it is in the set.

    ``ipaddress.collapse_addresses`` merges only complete, aligned ranges, so no address outside
    the hostile set is ever blocked. Private and loopback addresses are left out (isolate those hosts).
    """
    return list(_hostile_networks(frozenset(items)))


@functools.lru_cache(maxsize=64)
def _hostile_networks(items: frozenset[str]) -> tuple[str, ...]:
    listed, is_quad, numbers = _quads_of(items)
    others = [listed[i] for i in np.flatnonzero(~is_quad).tolist()]
    ints = numbers[is_quad]
    private = np.zeros(len(ints), dtype=bool)
    for lo, hi in _NON_ROUTABLE_V4:
        private |= (ints >= lo) & (ints <= hi)
    ints = ints[~private]
    if not others:  # only IPv4 addresses: collapse them as integers (distinct texts, distinct numbers)
        return tuple(_v4_blocks(np.sort(ints)))
    v4_ints = ints.tolist()
    v4: list[ipaddress.IPv4Network | ipaddress.IPv4Address] = [ipaddress.IPv4Address(n) for n in v4_ints]
    v6: list[ipaddress.IPv6Network | ipaddress.IPv6Address] = []
    for item in sorted(others):
        if "/" not in item:
            addr = _routable(item)
            if addr is not None:
                (v4 if isinstance(addr, ipaddress.IPv4Address) else v6).append(addr)  # type: ignore[arg-type]
            continue
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            continue
        if net.num_addresses == 1:
            single = _routable(str(net.network_address))
            if single is not None:
                (v4 if isinstance(single, ipaddress.IPv4Address) else v6).append(single)  # type: ignore[arg-type]
            continue
        if any(net.version == n.version and net.subnet_of(n) for n in _NON_ROUTABLE):  # type: ignore[arg-type]
            continue
        (v4 if isinstance(net, ipaddress.IPv4Network) else v6).append(net)  # type: ignore[arg-type]
    nets: list[Any] = [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]  # type: ignore[type-var]
    return tuple(n.with_prefixlen if n.num_addresses > 1 else str(n.network_address) for n in nets)


def _dotted_quad(s: str) -> int | None:
    """An IPv4 address written as a.b.c.d (ASCII digits, no leading zeros), as an integer; None otherwise."""
    parts = s.split(".")
    if len(parts) != 4:
        return None
    n = 0
    for p in parts:
        if not (p.isascii() and p.isdigit()) or len(p) > 3 or (len(p) > 1 and p[0] == "0"):
            return None
        v = int(p)
        if v > 255:
            return None
        n = n << 8 | v
    return n


def _dotted_quads(items: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dotted_quad` of many strings at once: which are dotted quads (a mask) and their numbers
    (0 where not), in Arrow and NumPy (a campaign can hold 100,000 addresses)."""
    if len(items) < 64:
        got = [_dotted_quad(s) for s in items]
        return (np.array([n is not None for n in got], dtype=bool),
                np.array([n or 0 for n in got], dtype=np.int64))
    import pyarrow as pa
    import pyarrow.compute as pc

    from shoreup.detect.credential._shared import DOTTED_QUAD

    arr = pa.array(items, pa.string())
    ok = pc.fill_null(pc.match_substring_regex(arr, DOTTED_QUAD), False)
    octets = pc.list_flatten(pc.split_pattern(arr.filter(ok), ".")).cast(pa.int64()).to_numpy()
    quads = octets.reshape(-1, 4)
    mask = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    ints = np.zeros(len(items), dtype=np.int64)
    ints[mask] = (quads[:, 0] << 24) | (quads[:, 1] << 16) | (quads[:, 2] << 8) | quads[:, 3]
    return mask, ints


@functools.lru_cache(maxsize=16)
def _quads_of(items: frozenset[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``items`` listed, with :func:`_dotted_quads` of them: an incident's addresses are sorted and
    collapsed into networks, one conversion serving both."""
    listed = list(items)
    return (listed, *_dotted_quads(listed))


def _quad_text(n: int) -> str:
    """``str(ipaddress.IPv4Address(n))`` without building the object."""
    return f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _v4_blocks(addresses: Sequence[int] | np.ndarray) -> list[str]:
    """Sorted distinct IPv4 addresses (integers) as the fewest aligned blocks that hold only them."""
    ints = np.asarray(addresses, dtype=np.int64)
    if not len(ints):
        return []
    breaks = np.flatnonzero(np.diff(ints) != 1) + 1
    first_at = np.concatenate(([0], breaks))
    firsts = ints[first_at]
    lasts = ints[np.concatenate((breaks - 1, [len(ints) - 1]))]
    # A lone address is its own block; only runs of consecutive addresses are cut into aligned ones.
    counts = np.ones(len(firsts), dtype=np.int64)
    cut: dict[int, tuple[list[int], list[int]]] = {}
    for k in np.flatnonzero(lasts > firsts).tolist():
        start, end = int(firsts[k]), int(lasts[k])
        starts: list[int] = []
        sizes: list[int] = []
        while start <= end:
            size = start & -start if start else 1 << 32
            while size > end - start + 1:
                size >>= 1
            starts.append(start)
            sizes.append(size)
            start += size
        cut[k] = (starts, sizes)
        counts[k] = len(starts)
    at = np.concatenate(([0], np.cumsum(counts)[:-1]))
    block_starts = np.repeat(firsts, counts)
    block_sizes = np.ones(len(block_starts), dtype=np.int64)
    for k, (starts, sizes) in cut.items():
        block_starts[at[k] : at[k] + len(starts)] = starts
        block_sizes[at[k] : at[k] + len(sizes)] = sizes
    texts = _quad_texts(block_starts)
    for i in np.flatnonzero(block_sizes > 1).tolist():
        texts[i] = f"{texts[i]}/{33 - int(block_sizes[i]).bit_length()}"
    return texts


def _quad_texts(ints: np.ndarray) -> list[str]:
    """:func:`_quad_text` of many addresses at once."""
    if len(ints) < 64:
        return [_quad_text(int(n)) for n in ints]
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [pa.array((ints >> shift) & 255).cast(pa.string()) for shift in (24, 16, 8, 0)]
    texts: list[str] = pc.binary_join_element_wise(*parts, ".").to_pylist()
    return texts


# ---------------------------------------------------------------------------------------------------
# Building incidents


def _host_key(host: str) -> str:
    """Hosts compare by their short, case-folded name: ``FS01`` and ``fs01.corp.local`` are one."""
    return host.strip().casefold().split(".")[0] if host and not _is_ip(host) else host.strip().casefold()


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _clip(s: str, n: int = 48) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _names(items: Sequence[str], n: int = 3) -> str:
    shown = [_clip(x, 40) for x in items[:n]]
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(shown) + more


def _max_sev(*sevs: str) -> str:
    return max(sevs, key=SEVERITIES.index)


def _severity(stages: Sequence[str], findings: Sequence[Finding]) -> str:
    """Deeper chains are worse: 1 stage low, 2 medium, 3 high, 4+ critical; a compromise is at least
    high, and a compromise that reaches a host's tampering or destruction is critical."""
    depth = {0: "informational", 1: "low", 2: "medium", 3: "high"}.get(len(stages), "critical")
    floor = "informational"
    if "compromise" in stages or "destruction" in stages:
        floor = "high"
    if "compromise" in stages and any(s in stages for s in _HOST_STAGES):
        floor = "critical"
    return _max_sev(depth, floor, *(f.severity for f in findings))


def _finding_step(f: Finding, stage: str) -> Step:
    return Step(
        time=f.start, end=f.end, stage=stage, what=f.summary or f.title, severity=f.severity, finding_id=f.id,
        technique=f.technique, users=tuple(f.users), src_ips=tuple(f.src_ips), hosts=tuple(f.hosts),
    )  # fmt: skip


def _logon_steps(user: str, logons: Sequence[_Logon], hostile: set[str]) -> list[Step]:
    groups: dict[tuple[str, bool, str, str, str], list[_Logon]] = defaultdict(list)
    for lg in logons:
        where = lg.application or lg.host or lg.source_format if lg.cloud else lg.host or "?"
        groups[(where, lg.cloud, lg.src_ip, lg.event_code, lg.logon_type)].append(lg)
    steps: list[Step] = []
    for (where, cloud, ip, code, ltype), items in groups.items():
        first, last = items[0].time, items[-1].time
        how = f"event {code}" + (f", logon type {ltype}" if ltype else "") if code else items[0].source_format
        src = f" from {ip}" + (" (an attacking address)" if ip in hostile else "") if ip else ""
        where_words = f"cloud app {where}" if cloud else where
        times = f" ×{len(items)}" if len(items) > 1 else ""
        steps.append(
            Step(
                time=first, end=last, stage="logon", severity="high" if ip in hostile else "medium",
                what=f"{user} signed in to {where_words}{src} ({how}){times}", users=(user,),
                src_ips=(ip,) if ip else (), hosts=() if cloud else (where,), count=len(items),
                refs=tuple(lg.ref for lg in items[:MAX_EVIDENCE]),
            )
        )  # fmt: skip
    return steps


class _Builder:
    def __init__(self, findings: list[Finding], con: duckdb.DuckDBPyConnection | None) -> None:
        self.con = con
        self.findings = findings
        self.stage = {f.id: stage_of(f) for f in findings}
        self.used: set[str] = set()
        self._ips: dict[str, frozenset[str]] = {}
        self._single: dict[str, tuple[int, list[str]]] | None = None

    def single_factor(self, users: Sequence[str]) -> dict[str, tuple[int, list[str]]]:
        """:func:`_single_factor` of ``users``, asked once for every account any attack targeted (one
        scan of the sign-ins, not one per incident)."""
        if self._single is None:
            every = {u for f in self.findings if self.stage[f.id] in ("credential_attack", "compromise") for u in f.users}
            self._single = _single_factor(self.con, sorted(every))
        return {u: self._single[u] for u in users if u in self._single}

    def ips(self, f: Finding) -> frozenset[str]:
        """``f``'s source addresses as a set, made once (a campaign names 100,000 of them)."""
        got = self._ips.get(f.id)
        if got is None:
            got = self._ips[f.id] = frozenset(f.src_ips)
        return got

    def of_stage(self, *stages: str) -> list[Finding]:
        return [f for f in self.findings if self.stage[f.id] in stages]

    # -- per compromised account ---------------------------------------------------------------
    def account(self, user: str) -> Incident:
        comp = [f for f in self.of_stage("compromise") if user in f.users]
        t0, comp_ips = _compromise_of(self.con, user, comp)
        # Upstream, in the weeks before it was taken: what reached the account, the campaign the
        # compromise names (``metrics["campaign"]``: a spray lists the accounts that failed, not the
        # one whose password it guessed), and attacks from the address that got in.
        named = {str(f.metrics.get("campaign")) for f in comp if f.metrics.get("campaign")}
        upstream = [
            f for f in self.of_stage("phishing", "credential_attack")
            if f.id in named or (
                (user in f.users or not self.ips(f).isdisjoint(comp_ips))
                and t0 - LOOKBACK <= f.end and f.start <= t0 + _CLOCK_SKEW
            )
        ]  # fmt: skip
        hostile = set(comp_ips).union(*(self.ips(f) for f in upstream if self.stage[f.id] == "credential_attack"))
        comp_refs = {r for f in comp for r in f.evidence}
        every = _logons(self.con, user, t0)  # the compromise's own sign-in to a host included
        logons = [lg for lg in every if lg.ref not in comp_refs]
        # Where the attacker went: hosts signed in to from an attacking address or over remote desktop.
        pivots: dict[str, list[dt.datetime]] = defaultdict(list)
        for lg in every:
            if not lg.cloud and lg.host and (lg.src_ip in hostile or lg.logon_type in _REMOTE_INTERACTIVE):
                pivots[_host_key(lg.host)].append(lg.time)
        downstream = []
        for f in self.of_stage(*_HOST_STAGES):
            by_user = user in f.users and t0 - _CLOCK_SKEW <= f.start <= t0 + HORIZON
            after_pivot = any(
                t - _CLOCK_SKEW <= f.start <= t + PIVOT_WINDOW for h in f.hosts for t in pivots.get(_host_key(h), [])
            )
            if by_user or after_pivot:
                downstream.append(f)
        members = sorted({f.id: f for f in upstream + comp + downstream}.values(), key=Finding.sort_key)
        steps = [_finding_step(f, self.stage[f.id] or "") for f in members]
        steps += _logon_steps(user, logons, hostile)
        pivot_hosts = sorted({lg.host for lg in every if _host_key(lg.host) in pivots and not lg.cloud}, key=str.casefold)
        return self._incident("account", user, members, steps, [user], pivot_hosts)

    # -- leftovers -------------------------------------------------------------------------------
    def hosts(self) -> list[Incident]:
        groups: dict[str, list[Finding]] = defaultdict(list)
        for f in self.of_stage(*_HOST_STAGES):
            if f.id not in self.used:
                groups[_host_key(f.hosts[0]) if f.hosts else ""].append(f)
        return [
            self._incident("host", key, fs, [_finding_step(f, self.stage[f.id] or "") for f in fs], [], [])
            for key, fs in sorted(groups.items())
        ]

    def campaigns(self) -> list[Incident]:
        """Credential attacks that led to no compromise, joined when they share a source IP, or when they
        name no account (or no address) and come from one detector against one target less than
        ``FLEET_GAP`` apart (a botnet whose every address brute-forces a web form in turn is one
        campaign, not hundreds)."""
        left = [f for f in self.of_stage("credential_attack") if f.id not in self.used]
        parent = list(range(len(left)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in [*_sharing([self.ips(f) for f in left]), *_fleets(left)]:
            parent[find(i)] = find(j)
        groups: dict[int, list[Finding]] = defaultdict(list)
        for i, f in enumerate(left):
            groups[find(i)].append(f)
        out = []
        for fs in groups.values():
            upstream = [p for p in self.of_stage("phishing") if set(p.users) & {u for f in fs for u in f.users}]
            members = sorted({f.id: f for f in fs + upstream}.values(), key=Finding.sort_key)
            steps = [_finding_step(f, self.stage[f.id] or "") for f in members]
            out.append(self._incident("campaign", fs[0].id, members, steps, [], []))
        return out

    def phishing(self) -> list[Incident]:
        return [
            self._incident("phishing", f.id, [f], [_finding_step(f, "phishing")], [], [])
            for f in self.of_stage("phishing")
            if f.id not in self.used
        ]

    # -- one incident ----------------------------------------------------------------------------
    def _incident(
        self, kind: str, anchor: str, members: list[Finding], steps: list[Step], compromised: list[str],
        pivots: list[str],
    ) -> Incident:
        self.used.update(f.id for f in members)
        steps = sorted(steps, key=Step.sort_key)
        stages = [s for s in STAGES if any(st.stage == s for st in steps)]
        # An account's incident is about that account; the others a campaign targeted are in its findings.
        users = sorted(compromised) if compromised else sorted({u for st in steps for u in st.users})
        ips = _sorted_ips(frozenset().union(*(st.src_ips for st in steps)))
        # An account's hosts are those it reached (a cloud finding's "host" is a tenant, not a machine).
        host_steps = [st for st in steps if kind != "account" or st.stage in ("logon", *_HOST_STAGES)]
        hosts = sorted({h for st in host_steps for h in st.hosts}, key=str.casefold)
        refs = sorted({r for f in members for r in f.evidence} | {r for st in steps for r in st.refs}, key=_REF_ORDER)
        digest = hashlib.sha256("|".join([kind, anchor, *sorted(f.id for f in members)]).encode()).hexdigest()
        inc = Incident(
            id=f"I-{digest[:12]}",
            kind=kind,
            title="",
            severity=_severity(stages, members),
            start=min(st.time for st in steps),
            end=max(st.end for st in steps),
            stages=stages,
            finding_ids=[f.id for f in members],
            users=users,
            src_ips=ips,
            hosts=hosts,
            actions=[],
            timeline=steps,
            evidence=refs[:MAX_EVIDENCE],
            evidence_total=len(refs),
        )
        inc.title = _title(kind, anchor, inc, members, self.stage, pivots)
        inc.actions = self._actions(inc, members, compromised, pivots)
        return inc

    def _actions(self, inc: Incident, members: list[Finding], compromised: list[str], pivots: list[str]) -> list[Action]:
        actions: list[Action] = []
        attack = [f for f in members if self.stage[f.id] in ("credential_attack", "compromise")]
        blocked = list(_hostile_networks(frozenset().union(*(self.ips(f) for f in attack))))
        if blocked:
            what = sorted({_phrase(f) for f in attack if self.stage[f.id] == "credential_attack"})
            why = "sources of " + (", ".join(what) if what else "the attack")
            if any(self.stage[f.id] == "compromise" for f in members):
                why += " and of the sign-in that compromised " + _names(compromised)
            actions.append(Action("block_network", tuple(blocked), why))
        if compromised:
            actions.append(Action("reset_password", tuple(compromised),
                                  f"password known to the attacker ({inc.id}): reset it and check its recovery settings"))  # fmt: skip
            actions.append(Action("revoke_sessions", tuple(compromised),
                                  "sessions and refresh tokens issued since the compromise may be the attacker's"))  # fmt: skip
        targeted = sorted({u for f in members if self.stage[f.id] in ("credential_attack", "compromise") for u in f.users})
        single = self.single_factor(targeted)
        gap = {u for f in self.findings if f.detector == "mfa_gap" for u in f.users if u in targeted}
        mfa = sorted(set(single) | gap)
        if mfa:
            n = sum(single.get(u, (0, []))[0] for u in mfa)
            via = sorted({v for u in mfa for v in single.get(u, (0, []))[1]})
            why = "attacked accounts that signed in with a password alone"
            if n:
                why += f" ({n} sign-in(s) via {_names(via, 4)})"
            actions.append(Action("enforce_mfa", tuple(mfa), why))
        host_stage: dict[str, set[str]] = defaultdict(set)
        for f in members:
            st = self.stage[f.id]
            if st in _HOST_STAGES:
                for h in f.hosts:
                    host_stage[h].add(st or "")
        logon_hosts = sorted(set(pivots) - set(host_stage), key=str.casefold)
        if host_stage:
            actions.append(Action("isolate_host", tuple(sorted(host_stage, key=str.casefold)),
                                  "logs cleared, defences impaired or data destroyed there: take it off the network "
                                  "before the wiper runs, keep it powered for forensics"))  # fmt: skip
        if logon_hosts:
            actions.append(Action("isolate_host", tuple(logon_hosts),
                                  f"the attacker signed in there as {_names(compromised)} (from an attacking address "
                                  "or over remote desktop)"))  # fmt: skip
        wiped = sorted((h for h, s in host_stage.items() if "destruction" in s), key=str.casefold)
        if wiped:
            actions.append(Action("verify_backups", tuple(wiped),
                                  "recovery was inhibited (shadow copies, backups or boot recovery) or data "
                                  "destroyed: check offline backups are intact before restoring"))  # fmt: skip
        if inc.kind == "phishing":
            rcpts = sorted({r for f in members for r in f.metrics.get("recipients", [])})
            if rcpts:
                actions.append(Action("purge_mail", tuple(rcpts),
                                      "remove the message from these mailboxes and warn the recipients"))  # fmt: skip
        return sorted(actions, key=lambda a: (ACTION_KINDS.index(a.kind), a.targets))


#: Refs in their dataclass order (file, record), compared as tuples built in C.
_REF_ORDER = operator.attrgetter("file", "record")


def _sharing(sets: Sequence[frozenset[str]]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``j < i``: set ``j`` is the first to hold an element that set ``i`` holds too.

    Joining every such pair joins every two sets that share an element. Counted in Arrow and NumPy
    (a campaign's findings name 300,000 addresses between them, most of them shared).
    """
    sizes = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))
    if sizes.sum() == 0:
        return []
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pc.dictionary_encode(pa.array(list(itertools.chain.from_iterable(sets)), pa.string())).indices
    code = codes.to_numpy().astype(np.int64)
    which = np.repeat(np.arange(len(sets), dtype=np.int64), sizes)
    first = np.full(int(code.max()) + 1, len(sets), dtype=np.int64)
    np.minimum.at(first, code, which)
    owner = first[code]
    pairs = np.unique(which[owner != which] * len(sets) + owner[owner != which])
    return [(int(k // len(sets)), int(k % len(sets))) for k in pairs.tolist()]


def _fleets(findings: Sequence[Finding]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of findings that name no account (or no source address), of one detector and
    title against one target (hosts and evidence files), chained in time order while each starts less
    than ``FLEET_GAP`` after the latest end before it."""
    def target(i: int) -> tuple[bool, str, str, tuple[str, ...], tuple[str, ...]]:
        f = findings[i]
        return bool(f.users), f.detector, f.title, tuple(sorted(f.hosts)), tuple(sorted({r.file for r in f.evidence}))

    nameless = sorted((i for i, f in enumerate(findings) if not f.users or not f.src_ips),
                      key=lambda i: (target(i), findings[i].start))
    pairs: list[tuple[int, int]] = []
    for _, group in itertools.groupby(nameless, key=target):
        head, *rest = group
        end = findings[head].end
        for i in rest:
            if findings[i].start - end < FLEET_GAP:
                pairs.append((i, head))
            else:
                head = i  # a new campaign against this target
            end = max(end, findings[i].end)
    return pairs


def _sorted_ips(ips: Iterable[str]) -> list[str]:
    """Addresses in numeric order (IPv4, then IPv6, then what is no address, as text)."""
    listed, is_quad, numbers = _quads_of(ips if isinstance(ips, frozenset) else frozenset(ips))
    if is_quad.all():  # IPv4 only (distinct texts, so distinct numbers): one argsort
        order = np.argsort(numbers, kind="stable")
        return [listed[i] for i in order.tolist()]
    quads = np.flatnonzero(is_quad)
    others = sorted(_ip_order(listed[i]) for i in np.flatnonzero(~is_quad).tolist())
    if others and others[0][0] == 4:  # (never: only a dotted quad parses as IPv4) interleave them all
        keys = [(4, int(n), ip) if q else _ip_order(ip) for ip, q, n in zip(listed, is_quad.tolist(), numbers.tolist(), strict=True)]
        return [k[2] for k in sorted(keys)]
    order = quads[np.argsort(numbers[quads], kind="stable")]
    return [listed[i] for i in order.tolist()] + [k[2] for k in others]


def _ip_order(ip: str) -> tuple[int, int, str]:
    n = _dotted_quad(ip)  # the common case, without ipaddress's cost
    if n is not None:
        return (4, n, ip)
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0, ip)
    return (a.version, int(a), ip)


def _title(
    kind: str, anchor: str, inc: Incident, members: list[Finding], stage: dict[str, str | None], pivots: list[str]
) -> str:
    def words(st: str) -> list[str]:
        return sorted({_phrase(f) for f in members if stage[f.id] == st})

    host_names = _names(sorted({h for f in members if stage[f.id] in _HOST_STAGES for h in f.hosts}, key=str.casefold))
    parts: list[str] = []
    for st in inc.stages:
        if st == "phishing":
            parts.append("phishing mail delivered")
        elif st == "credential_attack":
            parts.append(" and ".join(words(st)))
        elif st == "compromise":
            parts.append("account compromised")
        elif st == "logon":
            hosts = pivots or [h for h in inc.hosts if any(s.stage == "logon" and h in s.hosts for s in inc.timeline)]
            parts.append("signed in to " + (_names(hosts) if hosts else "cloud apps"))
    # Tampering and destruction on the same hosts read as one link: "logs cleared and recovery inhibited on FS01".
    on_hosts = [w for st in _HOST_STAGES if st in inc.stages for w in words(st)]
    if on_hosts:
        parts.append(" and ".join(on_hosts) + (f" on {host_names}" if host_names and kind != "host" else ""))
    chain = " → ".join(parts)
    if kind == "account":
        return f"Account {_clip(anchor)}: {chain}"
    if kind == "host":
        return f"Host {_clip(host_names or 'unknown')}: {chain}"
    if kind == "campaign":
        targets = {u for f in members if stage[f.id] == "credential_attack" for u in f.users}
        against = f" against {len(targets)} account(s)" if targets else ""
        if inc.src_ips:
            source = f" from {len(inc.src_ips)} IP(s)"
        else:
            source = (f" on {_names(inc.hosts)}" if inc.hosts else "") + " (source address not logged)"
        return f"{chain[:1].upper()}{chain[1:]}{against}{source}"
    f = members[0]
    return f"{f.title} to {len(f.metrics.get('recipients', []))} recipient(s): {_clip(str(f.metrics.get('subject', '')), 60)!r}"


def build(
    findings: Sequence[Finding], con: duckdb.DuckDBPyConnection | None, mail_report: object = None
) -> Analysis:
    """Join findings (and flagged mail) into incidents; ``con`` is the store's connection (table ``auth``)."""
    base = sorted(findings, key=Finding.sort_key)
    fallback = min((f.start for f in base), default=None) or _earliest_auth(con)
    everything = sorted([*base, *mail_findings(mail_report, fallback)], key=Finding.sort_key)
    b = _Builder(everything, con)
    compromised = sorted({u for f in b.of_stage("compromise") for u in f.users})
    incidents = [b.account(u) for u in compromised]
    incidents += b.hosts()
    incidents += b.campaigns()
    incidents += b.phishing()
    return Analysis(everything, sorted(incidents, key=Incident.sort_key))
