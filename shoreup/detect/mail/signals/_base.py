"""Helpers shared by signal modules."""

from __future__ import annotations

from ..model import Reason
from . import Code


def reason(codes: dict[str, Code], code: str, detail: str, weight: float | None = None) -> Reason:
    """A Reason for ``code`` with its declared weight (or an instance weight for graded signals)."""
    return Reason(code, detail, codes[code].weight if weight is None else weight)


def q(text: str, limit: int = 80) -> str:
    """Quote attacker text in a sentence, shortened."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"“{text}”"
