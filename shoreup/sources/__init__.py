"""Readers, one per input format, listed here explicitly and imported only when used.

To add a format: write ``shoreup/sources/<name>.py`` (see :mod:`shoreup.sources._base` for the
contract), list it in ``_READERS`` below, add samples and tests under ``tests/sources/``. A test fails
when a reader module exists but is not listed, so a new reader can never silently go missing.
Order matters for sniffing: the most specific formats come first.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from shoreup.errors import UsageError

# name -> module, in sniffing order (most specific first).
_READERS: list[tuple[str, str]] = [
    ("evtx", "shoreup.sources.evtx"),
    ("winxml", "shoreup.sources.winxml"),
    ("winjson", "shoreup.sources.winjson"),
    ("entra", "shoreup.sources.entra"),
    ("okta", "shoreup.sources.okta"),
    ("cloudtrail", "shoreup.sources.cloudtrail"),
    ("weblog", "shoreup.sources.weblog"),
    ("sshd", "shoreup.sources.sshd"),
]


def _build_registry(entries: list[tuple[str, str]]) -> dict[str, str]:
    registry: dict[str, str] = {}
    for name, module in entries:
        if name in registry:
            raise ValueError(f"reader {name!r} is listed twice ({registry[name]} and {module})")
        registry[name] = module
    return registry


REGISTRY: dict[str, str] = _build_registry(_READERS)


def names() -> list[str]:
    """Every reader's format name, in sniffing order."""
    return list(REGISTRY)


@cache
def load(name: str) -> ModuleType:
    """Import the reader for ``name``; a reader that fails to import is an error, never skipped."""
    try:
        module_name = REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown format {name!r}; known formats: {', '.join(REGISTRY)}") from None
    module = importlib.import_module(module_name)
    if getattr(module, "FORMAT", None) != name:
        raise ValueError(f"{module_name} declares FORMAT={getattr(module, 'FORMAT', None)!r}, listed as {name!r}")
    return module


def sniff(head: bytes, name: str) -> str | None:
    """The first reader (in registry order) that recognises ``head``; None when none does."""
    for fmt in REGISTRY:
        if load(fmt).sniff(head, name):
            return fmt
    return None


def describe(name: str) -> str:
    """First line of the reader's docstring: its help text."""
    doc = load(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else name
