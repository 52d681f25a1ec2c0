"""The terminal view: what was read, what was found, what to do first."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoreup.findings import Finding
from shoreup.pipeline import IngestReport
from shoreup.report.text import safe

_SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}
_ORDER = {s: i for i, s in enumerate(["critical", "high", "medium", "low", "informational"])}


def render(console: Console, report: IngestReport, findings: list[Finding], verbose: bool = False) -> None:
    _ingest(console, report, verbose)
    _findings(console, findings)


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
            f.technique,
            Text(safe(f.summary or f.title, 300)),
        )
    console.print(table)
    if len(findings) > 50:
        console.print(Text(f"… {len(findings) - 50} more in --json", style="dim"))
