"""Make attacker-controlled text safe to show: no terminal control sequences, no markup."""

from __future__ import annotations

import re

# C0 controls except tab, DEL, C1 controls, and the Unicode bidi overrides that reorder text.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: object, limit: int = 200) -> str:
    """One line of plain text: control and escape characters shown as ``\\xNN``, long text cut."""
    s = "" if value is None else str(value)
    s = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def message(value: object) -> str:
    """A whole message for the terminal (it may name a file or a field an attacker chose): :func:`safe`
    with room for long paths."""
    return safe(value, limit=4000)


def csv_cell(value: object) -> str:
    """A CSV cell that no spreadsheet reads as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s
