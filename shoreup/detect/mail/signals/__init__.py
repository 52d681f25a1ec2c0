"""Signals: each module looks at a parsed message and returns reasons (a code, a sentence, a weight).

Signal modules are listed here explicitly and run in this order; a test fails when a module in this
package is not listed. A module declares ``CODES`` (code -> weight and what it means) and
``check(msg, ctx) -> list[Reason]``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

SIGNAL_MODULES: tuple[str, ...] = (
    "structure",
    "auth",
    "addresses",
    "impersonation",
    "lookalike",
    "links",
    "content",
    "attachments",
    "lures",
)


@dataclass(frozen=True)
class Code:
    """A reason code: the weight it adds to the score and the attack shape it describes."""

    weight: float
    means: str


@cache
def modules() -> tuple[ModuleType, ...]:
    out = tuple(importlib.import_module(f"{__name__}.{name}") for name in SIGNAL_MODULES)
    seen: dict[str, str] = {}
    for mod in out:
        for code in mod.CODES:
            if code in seen:
                raise ValueError(f"reason code {code} declared by {seen[code]} and {mod.__name__}")
            seen[code] = mod.__name__
    return out


@cache
def all_codes() -> dict[str, Code]:
    codes: dict[str, Code] = {}
    for mod in modules():
        codes.update(mod.CODES)
    return codes
