"""A self-contained HTML report: opens offline, loads nothing, runs no script.

One file with inline CSS and an inline SVG timeline chart; a section per incident with its chain,
the actions to take, its timeline and an evidence table pointing at the raw records (file and
line or record number). Jinja2 autoescapes every value, and a Content-Security-Policy forbids any
script, so a username such as ``<img src=x onerror=alert(1)>`` shows as text.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from shoreup import __version__
from shoreup.findings import SEVERITIES, Finding, iso
from shoreup.incidents import (
    ACTION_KINDS,
    STAGE_LABELS,
    STAGES,
    TECHNIQUE_NAMES,
    Analysis,
    Incident,
    stage_of,
)
from shoreup.pipeline import IngestReport
from shoreup.report.actions import account_actions, blocklist
from shoreup.report.text import safe

TEMPLATES = Path(__file__).with_name("templates")
SEVERITY_COLORS = {
    "critical": "#b91c1c",
    "high": "#ea580c",
    "medium": "#ca8a04",
    "low": "#0284c7",
    "informational": "#64748b",
}
ACTION_LABELS = {
    "block_network": "Block networks",
    "reset_password": "Reset passwords",
    "revoke_sessions": "Revoke sessions",
    "enforce_mfa": "Enforce MFA",
    "isolate_host": "Isolate hosts",
    "verify_backups": "Verify backups",
    "purge_mail": "Purge mail",
}
#: Rows shown per evidence table and targets shown per action; the JSON document has them all.
MAX_EVIDENCE_ROWS = 200
MAX_TARGETS = 40

# Chart geometry (SVG user units).
_W, _LEFT, _RIGHT, _TOP, _LANE, _AXIS = 1160, 150, 24, 12, 34, 34
_STEPS = [dt.timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200)]


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _when(t: dt.datetime) -> str:
    return _utc(t).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class _Mark:
    lane: str
    start: dt.datetime
    end: dt.datetime
    severity: str
    label: str
    href: str


def _chart(marks: list[_Mark]) -> dict[str, Any] | None:
    if not marks:
        return None
    lanes = [s for s in STAGES] + (["other"] if any(m.lane == "other" for m in marks) else [])
    t0 = min(_utc(m.start) for m in marks)
    t1 = max(_utc(m.end) for m in marks)
    if t1 - t0 < dt.timedelta(minutes=10):
        t0, t1 = t0 - dt.timedelta(minutes=5), t1 + dt.timedelta(minutes=5)
    pad = (t1 - t0) * 0.03
    t0, t1 = t0 - pad, t1 + pad
    span = (t1 - t0).total_seconds()
    width = _W - _LEFT - _RIGHT

    def x(t: dt.datetime) -> float:
        return round(_LEFT + width * (_utc(t) - t0).total_seconds() / span, 1)

    step = next((s for s in _STEPS if span / s.total_seconds() <= 8), None)
    if step is None:  # months or years: whole days, at most 8 ticks
        step = dt.timedelta(days=-(-span // (8 * 86400)))
    first = dt.datetime.fromtimestamp((t0.timestamp() // step.total_seconds() + 1) * step.total_seconds(), dt.UTC)
    fmt = "%Y-%m-%d" if step >= dt.timedelta(days=1) else "%m-%d %H:%M"
    ticks = []
    t = first
    while t < t1:
        ticks.append({"x": x(t), "label": t.strftime(fmt)})
        t += step
    height = _TOP + _LANE * len(lanes) + _AXIS
    shapes = []
    for m in sorted(marks, key=lambda m: (SEVERITIES.index(m.severity), _utc(m.start), m.label)):
        y = _TOP + _LANE * lanes.index(m.lane) + _LANE / 2
        x0, x1 = x(m.start), x(m.end)
        shapes.append({
            "bar": x1 - x0 >= 8, "x": x0, "w": round(max(x1 - x0, 0), 1), "y": round(y, 1),
            "color": SEVERITY_COLORS[m.severity], "label": m.label, "href": m.href,
        })  # fmt: skip
    return {
        "width": _W, "height": height, "left": _LEFT, "right": _W - _RIGHT, "top": _TOP,
        "axis_y": _TOP + _LANE * len(lanes),
        "lanes": [{"label": STAGE_LABELS.get(s, "Other"), "y": _TOP + _LANE * i, "mid": _TOP + _LANE * i + _LANE / 2}
                  for i, s in enumerate(lanes)],
        "lane_h": _LANE, "ticks": ticks, "shapes": shapes,
    }  # fmt: skip


def _targets(items: tuple[str, ...]) -> tuple[list[str], int]:
    return list(items[:MAX_TARGETS]), max(0, len(items) - MAX_TARGETS)


def _incident_view(inc: Incident, by_id: dict[str, Finding]) -> dict[str, Any]:
    steps = []
    evidence: list[dict[str, Any]] = []
    total = 0
    for s in inc.timeline:
        f = by_id.get(s.finding_id) if s.finding_id else None
        refs = list(f.evidence) if f else list(s.refs)
        n = int(f.metrics.get("evidence_total", len(f.evidence))) if f else s.count
        total += n
        steps.append({
            "time": _when(s.time), "stage": STAGE_LABELS.get(s.stage, s.stage), "stage_key": s.stage, "what": s.what,
            "severity": s.severity, "finding_id": s.finding_id, "technique": s.technique,
            "technique_name": TECHNIQUE_NAMES.get(s.technique, ""), "evidence": n,
        })  # fmt: skip
        for r in refs:
            if len(evidence) < MAX_EVIDENCE_ROWS:
                evidence.append({"time": _when(s.time), "stage": STAGE_LABELS.get(s.stage, s.stage),
                                 "file": r.file, "record": r.record, "finding_id": s.finding_id})  # fmt: skip
    actions = []
    for a in inc.actions:
        shown, more = _targets(a.targets)
        actions.append({"kind": a.kind, "label": ACTION_LABELS.get(a.kind, a.kind), "targets": shown, "more": more,
                        "why": a.why})  # fmt: skip
    return {
        "id": inc.id, "title": inc.title, "severity": inc.severity, "kind": inc.kind, "start": _when(inc.start),
        "end": _when(inc.end), "stages": inc.stages, "users": inc.users, "src_ips": inc.src_ips, "hosts": inc.hosts,
        "actions": actions, "steps": steps, "evidence": evidence, "evidence_more": max(0, total - len(evidence)),
        "findings": len(inc.finding_ids),
    }  # fmt: skip


def context(
    report: IngestReport | None,
    analysis: Analysis,
    title: str = "shoreup hunt report",
    posture: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template escapes them).

    ``posture`` is a ``shoreup.posture/1`` document; when given, the report has an MFA section.
    """
    by_id = analysis.by_id
    in_incident: dict[str, str] = {}
    for inc in analysis.incidents:
        for fid in inc.finding_ids:
            in_incident.setdefault(fid, inc.id)
    marks: list[_Mark] = []
    seen: set[str] = set()
    for inc in analysis.incidents:
        for s in inc.timeline:
            key = s.finding_id or f"{inc.id}|{iso(s.time)}|{s.what}"
            if key in seen:
                continue
            seen.add(key)
            marks.append(_Mark(s.stage, s.time, s.end, s.severity, f"{_when(s.time)} {s.what}", inc.id))
    for f in analysis.findings:
        if f.id not in seen:
            marks.append(_Mark(stage_of(f) or "other", f.start, f.end, f.severity,
                               f"{_when(f.start)} {f.summary or f.title}", f.id))  # fmt: skip
    sev_counts = Counter(i.severity for i in analysis.incidents)
    accounts = account_actions(analysis.incidents)
    isolate = sorted({h for i in analysis.incidents for a in i.actions if a.kind == "isolate_host" for h in a.targets},
                     key=str.casefold)  # fmt: skip
    times = [_utc(f.start) for f in analysis.findings] + [_utc(f.end) for f in analysis.findings]
    files = []
    if report is not None:
        for fs in report.files:
            files.append({"name": fs.path,
                          "format": fs.format or "-", "records": fs.records_read, "events": fs.events,
                          "skipped": sum(fs.skipped.values())})  # fmt: skip
    return {
        "title": title,
        "version": __version__,
        "period": (_when(min(times)), _when(max(times))) if times else None,
        "files": sorted(files, key=lambda f: f["name"]),
        "records": report.records_read if report else 0,
        "events": report.events if report else 0,
        "errors": [str(p) for p in report.problems()] if report else [],
        "severities": [{"name": s, "count": sev_counts.get(s, 0), "color": SEVERITY_COLORS[s]}
                       for s in reversed(SEVERITIES) if sev_counts.get(s)],
        "colors": SEVERITY_COLORS,
        "stage_order": STAGES,
        "stage_labels": STAGE_LABELS,
        "chart": _chart(marks),
        "incidents": [_incident_view(i, by_id) for i in analysis.incidents],
        "findings": [
            {"id": f.id, "time": _when(f.start), "severity": f.severity, "technique": f.technique,
             "technique_name": TECHNIQUE_NAMES.get(f.technique, ""), "detector": f.detector,
             "stage": STAGE_LABELS.get(stage_of(f) or "", "—"), "what": f.summary or f.title,
             "incident": in_incident.get(f.id, ""), "evidence": [f"{r.file}:{r.record}" for r in f.evidence[:5]],
             "evidence_total": int(f.metrics.get("evidence_total", len(f.evidence)))}
            for f in sorted(analysis.findings, key=lambda f: (-SEVERITIES.index(f.severity), f.sort_key()))
        ],
        "todo": {
            "block": blocklist(analysis.incidents),
            "reset": sorted({a.account for a in accounts if a.action == "reset_password"}),
            "mfa": sorted({a.account for a in accounts if a.action == "enforce_mfa"}),
            "isolate": isolate,
            "backups": sorted({h for i in analysis.incidents for a in i.actions if a.kind == "verify_backups"
                               for h in a.targets}, key=str.casefold),
        },
        "action_kinds": ACTION_KINDS,
        "posture": _posture_view(posture) if posture else None,
    }


def _posture_view(doc: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for s in [*doc["sources"], doc["overall"]]:
        share = s["mfa_signin_share"]
        rows.append({
            "source": s["format"], "accounts": s["accounts"], "signins": s["signins"],
            "share": "not recorded" if share is None else f"{share:.0%}",
            "never": len(s["accounts_never_mfa"]), "mixed": len(s["accounts_mixed_mfa"]),
            "legacy": sum(i["count"] for i in s["legacy_auth"]), "note": s.get("note", ""),
        })  # fmt: skip
    return {"rows": rows, "targeted": doc["targeted_without_mfa"], "legacy": doc["overall"]["legacy_auth"][:50]}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Attacker text also loses control and bidi-override characters, which could disguise it.
    env.filters["clean"] = lambda v, n=400: safe(v, n)
    return env


def render(
    report: IngestReport | None,
    analysis: Analysis,
    title: str = "shoreup hunt report",
    posture: dict[str, Any] | None = None,
) -> str:
    """The report as one HTML document."""
    return _environment().get_template("report.html.j2").render(**context(report, analysis, title, posture))
