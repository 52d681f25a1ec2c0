"""Terminal table (rich) and JSON for mail triage; attacker text is stripped of escapes and markup."""

from __future__ import annotations

import re
import sys
from typing import TextIO

from .model import MailReport

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe(text: str, limit: int = 200) -> str:
    """Text from a message made harmless for a terminal: no control, escape or bidi characters."""
    text = _UNSAFE.sub("", text.replace("\t", " ").replace("\n", " ").replace("\r", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_table(report: MailReport, file: TextIO | None = None, width: int | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file or sys.stdout, width=width, highlight=False, soft_wrap=False)
    table = Table(title="shoreup mail", show_lines=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Score", justify="right")
    table.add_column("Message", overflow="fold")
    table.add_column("Why", overflow="fold")
    style = {"phishing": "bold red", "suspicious": "yellow", "clean": "green"}
    for r in report.results:
        m = r.message
        where = m.path + (f" ({m.position})" if m.position else "")
        sender = str(m.from_[0]) if m.from_ else m.from_raw
        message = (
            f"[dim]{escape(safe(where, 120))}[/dim]\n"
            f"From: {escape(safe(sender, 120))}\nSubject: {escape(safe(m.subject, 160))}"
        )
        why = "\n".join(f"[bold]{x.code}[/bold] {escape(safe(x.detail, 300))}" for x in r.reasons[:8])
        if len(r.reasons) > 8:
            why += f"\n… and {len(r.reasons) - 8} more"
        table.add_row(f"[{style[r.verdict]}]{r.verdict}[/]", f"{r.score:g}", message, why or "-")
    console.print(table)
    counts = {v: sum(1 for r in report.results if r.verdict == v) for v in ("phishing", "suspicious", "clean")}
    console.print(
        f"{len(report.results)} message(s): {counts['phishing']} phishing, {counts['suspicious']} suspicious, "
        f"{counts['clean']} clean."
    )
    recipients = report.recipients_of_flagged()
    if recipients:
        console.print("Recipients of flagged mail: " + escape(safe(", ".join(recipients), 2000)))


def render_json(report: MailReport, file: TextIO | None = None) -> None:
    import orjson

    out = file or sys.stdout
    out.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n")
