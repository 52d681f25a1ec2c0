"""Hostile structure: limits hit while reading (header bombs, 100-deep MIME), repeated From headers."""

from __future__ import annotations

from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import reason

CODES = {
    "HOSTILE_STRUCTURE": Code(4.0, "a size or nesting limit was hit: built to crash or blind a scanner"),
    "FROM_REPEATED": Code(3.0, "several From headers: the client shows one, filters check another"),
    "FROM_UNREADABLE": Code(1.5, "the From header has no readable address"),
}

_LIMIT_CODES = ("LIMIT_HEADER_BLOCK", "LIMIT_HEADER_LINE", "LIMIT_MIME_DEPTH", "LIMIT_MIME_PARTS", "LIMIT_MESSAGE_SIZE")


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    for note in msg.notes:
        if note.code in _LIMIT_CODES:
            out.append(reason(CODES, "HOSTILE_STRUCTURE", note.detail[0].upper() + note.detail[1:] + "."))
        elif note.code == "FROM_REPEATED":
            out.append(reason(CODES, "FROM_REPEATED", "The message carries more than one From header."))
    if not msg.from_ and msg.from_raw:
        out.append(reason(CODES, "FROM_UNREADABLE", "The From header names no readable sender address."))
    return out
