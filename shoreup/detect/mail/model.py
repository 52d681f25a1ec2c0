"""The records mail triage passes between reading, signals, scoring and rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "shoreup.mail/1"
VERDICTS = ("clean", "suspicious", "phishing")


@dataclass(frozen=True)
class Address:
    """One mailbox: what the display name says and where mail really goes."""

    display: str
    addr: str

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2].lower() if "@" in self.addr else ""

    def __str__(self) -> str:
        return f"{self.display} <{self.addr}>" if self.display else self.addr


@dataclass(frozen=True)
class Link:
    """A URL found in a body, an attachment or a QR code; ``text`` is what a reader sees for it."""

    url: str
    host: str
    text: str = ""
    origin: str = "body"


@dataclass(frozen=True)
class Form:
    """An HTML form: where it posts and whether it asks for a password."""

    action: str
    has_password: bool
    origin: str


@dataclass
class HtmlDoc:
    """What an HTML body or attachment contains that matters for phishing."""

    origin: str
    links: list[Link] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    password_fields: int = 0
    scripts: list[str] = field(default_factory=list)
    data_uris: list[str] = field(default_factory=list)
    download_attrs: int = 0
    meta_refresh: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Attachment:
    """A file carried by the message (or found inside an archive it carries)."""

    name: str
    content_type: str
    data: bytes
    sha256: str
    inline: bool = False
    container: str = ""  # the archive it came out of, if any

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Note:
    """Something wrong with the input itself; ``damaged`` when content was lost or unreadable."""

    code: str
    detail: str
    damaged: bool = False


@dataclass
class ParsedMessage:
    """One message, decoded defensively; fields are empty when the header was absent or unreadable."""

    path: str
    position: str = ""
    message_id: str = ""
    subject: str = ""
    from_: list[Address] = field(default_factory=list)
    from_raw: str = ""
    reply_to: list[Address] = field(default_factory=list)
    sender: list[Address] = field(default_factory=list)
    return_path: str = ""
    envelope_from: str = ""
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    envelope_to: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: list[HtmlDoc] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    #: What looking inside attachments found: (fact code, attachment name, sentence).
    file_facts: list[tuple[str, str, str]] = field(default_factory=list)

    def header(self, name: str) -> str:
        """First value of header ``name`` (case-insensitive), or ''."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return ""

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    def note(self, code: str, detail: str, damaged: bool = False) -> None:
        if not any(n.code == code and n.detail == detail for n in self.notes):
            self.notes.append(Note(code, detail, damaged))

    @property
    def damaged(self) -> bool:
        return any(n.damaged for n in self.notes)

    @property
    def recipients(self) -> list[str]:
        seen: dict[str, None] = {}
        for a in [*self.to, *self.cc]:
            if a.addr:
                seen.setdefault(a.addr.lower(), None)
        for addr in self.envelope_to:
            seen.setdefault(addr.lower(), None)
        return list(seen)


@dataclass(frozen=True)
class Reason:
    """One signal that fired: a stable code, the sentence a person reads, and its weight in the score."""

    code: str
    detail: str
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail}


@dataclass
class MessageResult:
    """The verdict on one message, with its reasons and indicators."""

    message: ParsedMessage
    verdict: str
    score: float
    reasons: list[Reason]

    @property
    def flagged(self) -> bool:
        return self.verdict != "clean"

    def to_json(self) -> dict[str, Any]:
        m = self.message
        domains: dict[str, None] = {}
        for link in m.links:
            if link.host:
                domains.setdefault(link.host, None)
        for a in [*m.from_, *m.reply_to, *m.sender]:
            if a.domain:
                domains.setdefault(a.domain, None)
        if "@" in m.return_path:
            domains.setdefault(m.return_path.rpartition("@")[2].lower(), None)
        urls: dict[str, None] = {}
        for link in m.links:
            urls.setdefault(link.url, None)
        return {
            "path": m.path,
            "position": m.position,
            "message_id": m.message_id,
            "date": _iso_date(m.header("Date")),
            "from": str(m.from_[0]) if m.from_ else m.from_raw,
            "subject": m.subject,
            "verdict": self.verdict,
            "score": self.score,
            "reasons": [r.to_json() for r in self.reasons],
            "recipients": m.recipients,
            "indicators": {
                "urls": list(urls),
                "domains": list(domains),
                "attachments": [
                    {"name": a.name, "sha256": a.sha256} for a in m.attachments if not a.inline or a.name
                ],
            },
            "notes": [{"code": n.code, "detail": n.detail} for n in m.notes],
        }


@dataclass
class InputProblem:
    """An input that could not be read at all (missing, unreadable, not mail)."""

    path: str
    position: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}{f' ({self.position})' if self.position else ''}: {self.detail}"


@dataclass
class MailReport:
    """Every message triaged in one run, in input order, plus the inputs that could not be read."""

    results: list[MessageResult] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "messages": [r.to_json() for r in self.results]}

    def flagged(self) -> list[MessageResult]:
        return [r for r in self.results if r.flagged]

    def recipients_of_flagged(self) -> list[str]:
        """Recipients of phishing or suspicious mail, sorted: the accounts the incident chain watches."""
        out: set[str] = set()
        for r in self.flagged():
            out.update(r.message.recipients)
        return sorted(out)

    @property
    def damaged(self) -> list[tuple[str, str]]:
        """(where, why) for every input that was unreadable or lost content."""
        out = [(p.path + (f" ({p.position})" if p.position else ""), p.detail) for p in self.problems]
        for r in self.results:
            for n in r.message.notes:
                if n.damaged:
                    m = r.message
                    out.append((m.path + (f" ({m.position})" if m.position else ""), n.detail))
        return out

    @property
    def exit_code(self) -> int:
        if self.damaged:
            return 2
        return 1 if self.flagged() else 0


def _iso_date(value: str) -> str | None:
    """The Date header in ISO 8601 UTC, or None when absent or unreadable (it is attacker-written)."""
    import datetime as dt
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    try:
        t = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
