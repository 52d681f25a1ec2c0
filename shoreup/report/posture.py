"""The terminal view of ``shoreup posture``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoreup.posture import PostureReport
from shoreup.report.text import safe


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(safe(n, 60) for n in names[:limit])
    return shown + (f" … (+{len(names) - limit})" if len(names) > limit else "")


def render(console: Console, report: PostureReport) -> None:
    if report.targeted_without_mfa:
        t = Table(title="Attacked accounts without MFA — act on these first", title_justify="left",
                  title_style="bold red")
        t.add_column("account")
        t.add_column("why")
        for item in report.targeted_without_mfa:
            t.add_row(Text(safe(item["account"], 80)), Text("; ".join(safe(w, 120) for w in item["why"])))
        console.print(t)
        console.print(Text(f"action: {report.targeted_without_mfa[0]['action']}", style="bold"))
    table = Table(title="MFA coverage", title_justify="left")
    for col in ("source", "accounts", "sign-ins", "with MFA", "never MFA", "mixed", "legacy auth"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for s in [*report.sources, report.overall]:
        share = "not recorded" if s.mfa_signin_share is None else f"{s.mfa_signin_share:.0%}"
        legacy = sum(i["count"] for i in s.legacy_auth)
        table.add_row(
            Text(safe(s.source), style="bold" if s.source == "overall" else ""),
            f"{s.accounts:,}", f"{s.signins:,}", share,
            f"{len(s.accounts_never_mfa):,}", f"{len(s.accounts_mixed_mfa):,}",
            f"{legacy:,}" if legacy else "-",
        )
    console.print(table)
    for s in report.sources:
        if s.note:
            console.print(Text(f"{s.source}: {s.note}", style="dim"))
        if s.accounts_never_mfa:
            console.print(Text(f"{s.source}: never MFA: {_names(s.accounts_never_mfa)}"))
    if report.overall.legacy_auth:
        t = Table(title="Legacy authentication (skips MFA)", title_justify="left")
        for col in ("account", "client", "sign-ins"):
            t.add_column(col)
        for item in report.overall.legacy_auth[:40]:
            t.add_row(Text(safe(item["account"], 80)), Text(safe(item["client"])), f"{item['count']:,}")
        console.print(t)
