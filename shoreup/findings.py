"""A finding: what one detector concluded, with the numbers and the raw evidence behind it."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import operator
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("informational", "low", "medium", "high", "critical")

#: At most this many evidence refs are kept per finding; ``metrics["evidence_total"]`` has the count.
MAX_EVIDENCE = 200


@dataclass(frozen=True, order=True)
class Ref:
    """Where a raw record lives: file and line / record number."""

    file: str
    record: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "record": self.record}


def _ref_key(r: Ref) -> tuple[str, int]:
    return (r.file, r.record)


@dataclass
class Finding:
    """One conclusion of one detector, in the ``shoreup.hunt/1`` JSON contract."""

    detector: str
    technique: str
    title: str
    severity: str
    confidence: float
    start: dt.datetime
    end: dt.datetime
    users: list[str] = field(default_factory=list)
    src_ips: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    evidence: list[Ref] = field(default_factory=list)
    summary: str = ""  # the sentence a person reads
    key: str = ""  # what makes this finding unique within its detector (user, IP, rule+group …)
    id: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        self.users = _distinct(self.users)
        self.src_ips = _distinct(self.src_ips)
        self.hosts = _distinct(self.hosts)
        refs = sorted(set(self.evidence), key=_ref_key)
        if len(refs) > MAX_EVIDENCE:
            self.metrics.setdefault("evidence_total", len(refs))
            refs = refs[:MAX_EVIDENCE]
        self.evidence = refs
        if not self.id:
            digest = hashlib.sha256(
                "|".join([self.detector, self.key, iso(self.start), iso(self.end)]).encode()
            ).hexdigest()
            self.id = f"F-{digest[:12]}"

    def sort_key(self) -> tuple[str, str, str]:
        return (iso(self.start), self.detector, self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "detector": self.detector,
            "technique": self.technique,
            "title": self.title,
            "summary": self.summary,
            "severity": self.severity,
            "confidence": round(self.confidence, 3),
            "start": iso(self.start),
            "end": iso(self.end),
            "users": self.users,
            "src_ips": self.src_ips,
            "hosts": self.hosts,
            "metrics": self.metrics,
            "evidence": [r.to_json() for r in self.evidence],
        }


def iso(t: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; naive datetimes are taken as UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"


def _distinct(values: list[str]) -> list[str]:
    """The truthy values, sorted and distinct (a list already so, such as a campaign's 100,000
    addresses handed over sorted, is checked in one pass instead of hashed and sorted again)."""
    kept = [v for v in values if v]
    if not any(map(operator.ge, kept, itertools.islice(kept, 1, None))):  # strictly increasing
        return kept
    return sorted(set(kept))
