"""Timelines for the tools analysts already use: CSV for Timeline Explorer, JSONL for Timesketch.

One row per finding (at its start) and per group of sign-ins that an incident's logon stage found,
in time order. Timesketch needs ``message``, ``datetime`` (ISO 8601) and ``timestamp_desc`` on
every line (and takes ``timestamp`` in microseconds); Timeline Explorer opens any CSV with a
header row and types a ``yyyy-MM-dd HH:mm:ss.ffffff`` column as a time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import orjson

from shoreup.findings import Ref
from shoreup.incidents import Analysis, stage_of
from shoreup.report.text import csv_cell, safe

#: Columns of the CSV, in order (Timesketch's three required ones included, so it imports it too).
CSV_COLUMNS = (
    "Timestamp",
    "datetime",
    "timestamp_desc",
    "message",
    "severity",
    "stage",
    "technique",
    "detector",
    "incident_ids",
    "finding_id",
    "users",
    "src_ips",
    "hosts",
    "count",
    "evidence",
)
#: Evidence refs written per row; the JSON document has them all.
MAX_REFS = 20


@dataclass(frozen=True)
class Row:
    """One timeline entry."""

    time: dt.datetime
    desc: str
    message: str
    severity: str
    stage: str
    technique: str
    detector: str
    incident_ids: tuple[str, ...]
    finding_id: str
    users: tuple[str, ...]
    src_ips: tuple[str, ...]
    hosts: tuple[str, ...]
    count: int
    refs: tuple[Ref, ...]

    def sort_key(self) -> tuple[dt.datetime, str, str, str]:
        return (self.time, self.finding_id, self.desc, self.message)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def rows(analysis: Analysis) -> list[Row]:
    """Every finding and every incident sign-in group, in time order."""
    in_incidents: dict[str, list[str]] = {}
    for inc in analysis.incidents:
        for fid in inc.finding_ids:
            in_incidents.setdefault(fid, []).append(inc.id)
    out: list[Row] = []
    for f in analysis.findings:
        desc = "Mail received" if f.detector == "mail" else "Activity start"
        out.append(
            Row(_utc(f.start), desc, f.summary or f.title, f.severity, stage_of(f) or "", f.technique, f.detector,
                tuple(sorted(in_incidents.get(f.id, []))), f.id, tuple(f.users), tuple(f.src_ips), tuple(f.hosts),
                int(f.metrics.get("evidence_total", len(f.evidence))), tuple(f.evidence))
        )  # fmt: skip
    logons: dict[tuple[dt.datetime, str, tuple[Ref, ...]], Row] = {}
    for inc in analysis.incidents:
        for s in inc.timeline:
            if s.finding_id:
                continue
            key = (_utc(s.time), s.what, s.refs)
            prev = logons.get(key)
            ids = tuple(sorted({inc.id, *(prev.incident_ids if prev else ())}))
            logons[key] = Row(_utc(s.time), "Sign-in", s.what, s.severity, s.stage, "", "auth", ids, "",
                              s.users, s.src_ips, s.hosts, s.count, s.refs)  # fmt: skip
    out.extend(logons.values())
    return sorted(out, key=Row.sort_key)


def _dt(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _us(t: dt.datetime) -> int:
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _refs(refs: tuple[Ref, ...]) -> list[str]:
    return [f"{r.file}:{r.record}" for r in refs[:MAX_REFS]]


def to_csv(analysis: Analysis) -> str:
    """Timeline Explorer CSV (UTF-8, header row, CRLF); cells escaped against formulas and control codes."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows(analysis):
        cells: list[Any] = [
            r.time.strftime("%Y-%m-%d %H:%M:%S.%f"),
            _dt(r.time),
            r.desc,
            r.message,
            r.severity,
            r.stage,
            r.technique,
            r.detector,
            " ".join(r.incident_ids),
            r.finding_id,
            ", ".join(r.users),
            ", ".join(r.src_ips),
            ", ".join(r.hosts),
            r.count,
            " ".join(_refs(r.refs)),
        ]
        w.writerow([csv_cell(safe(c, 8000)) if isinstance(c, str) else c for c in cells])
    return buf.getvalue()


def to_jsonl(analysis: Analysis) -> bytes:
    """Timesketch JSONL: one object per line with ``message``, ``datetime``, ``timestamp_desc``."""
    lines = []
    for r in rows(analysis):
        doc = {
            "message": r.message,
            "datetime": _dt(r.time),
            "timestamp": _us(r.time),
            "timestamp_desc": r.desc,
            "severity": r.severity,
            "stage": r.stage,
            "technique": r.technique,
            "detector": r.detector,
            "incident_ids": list(r.incident_ids),
            "finding_id": r.finding_id,
            "users": list(r.users),
            "src_ips": list(r.src_ips),
            "hosts": list(r.hosts),
            "count": r.count,
            "evidence": _refs(r.refs),
            "data_type": "shoreup:finding" if r.finding_id else "shoreup:signin",
        }
        lines.append(orjson.dumps(doc))
    return b"".join(line + b"\n" for line in lines)


def render(analysis: Analysis, path: str) -> bytes:
    """The timeline in the format the file name asks for: ``.jsonl``/``.ndjson``/``.json`` or CSV."""
    if path.lower().endswith((".jsonl", ".ndjson", ".json")):
        return to_jsonl(analysis)
    return to_csv(analysis).encode("utf-8")
