"""The terminal view: what was read, what was found, what to do first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoreup.findings import Finding
from shoreup.pipeline import IngestReport
from shoreup.report.text import safe

if TYPE_CHECKING:
    from shoreup.incidents import Incident

_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}
_ORDER = {s: i for i, s in enumerate(["critical", "high", "medium", "low", "informational"])}
_ACTION_WORDS = {
    "block_network": "block",
    "reset_password": "reset password",
    "revoke_sessions": "revoke sessions",
    "enforce_mfa": "enforce MFA",
    "isolate_host": "isolate",
    "verify_backups": "verify backups",
    "purge_mail": "purge mail",
}
_STAGE_WORDS = {
    "phishing": "phishing",
    "credential_attack": "credential attack",
    "compromise": "compromise",
    "logon": "logons",
    "tampering": "tampering",
    "destruction": "destruction",
}
#: Incidents listed in the table; the rest are in --json and the HTML report.
MAX_INCIDENTS = 20


def render_ingest(console: Console, report: IngestReport, verbose: bool = False) -> None:
    """What was read, skipped and damaged, per format."""
    _ingest(console, report, verbose)


def render(
    console: Console,
    report: IngestReport,
    findings: list[Finding],
    verbose: bool = False,
    incidents: Sequence[Incident] = (),
) -> None:
    """Read summary, findings, then incidents — the most severe one last, in full, with its actions."""
    _ingest(console, report, verbose)
    _findings(console, findings)
    if incidents:
        _incidents(console, incidents)


def _ingest(console: Console, report: IngestReport, verbose: bool) -> None:
    by_format: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for f in report.files:
        agg = by_format[f.format or "-"]
        agg[0] += 1
        agg[1] += f.records_read
        agg[2] += f.events
        agg[3] += sum(f.skipped.values())
    table = Table(title="Read", title_justify="left", show_edge=False)
    for col in ("format", "files", "records", "events", "skipped"):
        table.add_column(col, justify="right" if col != "format" else "left")
    for fmt, (files, read, events, skipped) in sorted(by_format.items()):
        table.add_row(Text(safe(fmt)), f"{files:,}", f"{read:,}", f"{events:,}", f"{skipped:,}")
    table.add_row(
        Text("total", style="bold"),
        f"{len(report.files):,}",
        f"{report.records_read:,}",
        f"{report.events:,}",
        f"{sum(report.skipped.values()):,}",
    )
    console.print(table)
    if report.skipped:
        reasons = ", ".join(f"{safe(k)} {v:,}" for k, v in sorted(report.skipped.items(), key=lambda kv: -kv[1]))
        console.print(Text(f"skipped: {reasons}", style="dim"))
    console.print(Text(f"{report.seconds:.1f} s", style="dim"))
    for w in report.warnings()[: None if verbose else 10]:
        console.print(Text(f"note: {safe(w, 400)}", style="dim yellow"))
    if not verbose and len(report.warnings()) > 10:
        console.print(Text(f"… {len(report.warnings()) - 10} more notes (--verbose shows all)", style="dim"))
    for p in report.problems():
        console.print(Text(f"error: {safe(p, 400)}", style="bold red"))


def _findings(console: Console, findings: list[Finding]) -> None:
    if not findings:
        console.print(Text("No findings.", style="green"))
        return
    table = Table(title=f"Findings ({len(findings)})", title_justify="left", show_lines=False, expand=False)
    table.add_column("severity")
    table.add_column("when (UTC)")
    table.add_column("technique")
    table.add_column("what")
    ranked = sorted(findings, key=lambda f: (_ORDER.get(f.severity, 9), f.sort_key()))
    for f in ranked[:50]:
        table.add_row(
            Text(f.severity, style=_SEVERITY_STYLE.get(f.severity, "")),
            f.start.strftime("%Y-%m-%d %H:%M"),
            Text(safe(f.technique, 20)),
            Text(safe(f.summary or f.title, 300)),
        )
    console.print(table)
    if len(findings) > 50:
        console.print(Text(f"… {len(findings) - 50} more in --json", style="dim"))


def _action_summary(inc: Incident) -> str:
    counts: dict[str, int] = {}
    for a in inc.actions:
        counts[a.kind] = counts.get(a.kind, 0) + len(a.targets)
    return ", ".join(f"{_ACTION_WORDS.get(k, k)} {n}" for k, n in counts.items())


def _incidents(console: Console, incidents: Sequence[Incident]) -> None:
    console.print()
    table = Table(title=f"Incidents ({len(incidents)})", title_justify="left", expand=False)
    table.add_column("severity")
    table.add_column("id")
    table.add_column("when (UTC)")
    table.add_column("chain")
    table.add_column("incident")
    table.add_column("actions")
    for inc in incidents[:MAX_INCIDENTS]:
        table.add_row(
            Text(inc.severity, style=_SEVERITY_STYLE.get(inc.severity, "")),
            inc.id,
            inc.start.strftime("%Y-%m-%d %H:%M"),
            " → ".join(_STAGE_WORDS[s] for s in inc.stages),
            Text(safe(inc.title, 200)),
            Text(safe(_action_summary(inc), 200)),
        )
    console.print(table)
    if len(incidents) > MAX_INCIDENTS:
        console.print(Text(f"… {len(incidents) - MAX_INCIDENTS} more in --json and --html", style="dim"))
    _detail(console, incidents[0])


def _detail(console: Console, inc: Incident) -> None:
    """The incident to start with, in full: its chain, its timeline in brief, and what to do."""
    console.print()
    head = Text()
    head.append(f" {inc.severity.upper()} ", style=_SEVERITY_STYLE.get(inc.severity, ""))
    head.append(f" Start here: {safe(inc.title, 300)}", style="bold")
    console.print(head)
    console.print(Text(f"{inc.id} · {inc.start:%Y-%m-%d %H:%M:%S} – {inc.end:%Y-%m-%d %H:%M:%S} UTC · "
                       f"{len(inc.finding_ids)} finding(s) · {inc.evidence_total:,} evidence record(s)", style="dim"))  # fmt: skip
    steps = inc.timeline
    shown = steps if len(steps) <= 12 else [*steps[:6], *steps[-6:]]
    for s in shown:
        if len(steps) > 12 and s is steps[-6]:
            console.print(Text(f"  … {len(steps) - 12} more steps", style="dim"))
        line = Text("  ")
        line.append(f"{s.time:%m-%d %H:%M:%S} ", style="dim")
        line.append(f"{_STAGE_WORDS.get(s.stage, s.stage):<17} ", style=_SEVERITY_STYLE.get(s.severity, ""))
        line.append(safe(s.what, 160))
        console.print(line)
    if inc.actions:
        console.print(Text("  Do now:", style="bold"))
        for a in inc.actions:
            targets = ", ".join(safe(t, 60) for t in a.targets[:8]) + (
                f" and {len(a.targets) - 8} more" if len(a.targets) > 8 else ""
            )
            line = Text("  → ")
            line.append(f"{_ACTION_WORDS.get(a.kind, a.kind)}: ", style="bold")
            line.append(targets)
            line.append(f" — {safe(a.why, 300)}", style="dim")
            console.print(line)
