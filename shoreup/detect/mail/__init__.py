"""Spear-phishing triage: score saved mail offline and explain every verdict.

Reads .eml, Outlook .msg, mbox and Maildir; never executes, renders or fetches anything. Heavy
modules load only when a triage runs, so importing this package is cheap.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import MailReport, MessageResult, Reason
    from .org import Org

__all__ = ["MailReport", "MessageResult", "Org", "Reason", "run", "triage"]


def triage(paths: list[str], org: str | Org | None = None) -> MailReport:
    """Triage every message under ``paths``; ``org`` is the path of an organization TOML file (or an Org)."""
    from .pipeline import triage as _triage

    return _triage(paths, org)


def run(paths: list[str], org: str | None, json_out: bool, console_width: int | None = None) -> int:
    """The ``shoreup mail`` command: print the table (or JSON) and return the exit code.

    0: nothing flagged; 1: some message is phishing or suspicious; 2: bad usage, or an input was
    unreadable or damaged (reported on stderr with its file and position, after the rest was processed).
    """
    from shoreup.errors import UsageError

    from .render import render_json, render_table, safe

    if not paths:
        print("shoreup mail: give at least one file or folder", file=sys.stderr)
        return 2
    try:
        report = triage(paths, org)
    except UsageError as e:
        print(f"shoreup mail: {safe(str(e), 2000)}", file=sys.stderr)
        return 2
    if json_out:
        render_json(report)
    else:
        render_table(report, width=console_width)
    for where, why in report.damaged:
        print(f"{safe(where, 500)}: {safe(why, 500)}", file=sys.stderr)
    return report.exit_code


def __getattr__(name: str) -> object:
    if name in ("MailReport", "MessageResult", "Reason"):
        from . import model

        return getattr(model, name)
    if name == "Org":
        from .org import Org

        return Org
    raise AttributeError(name)
