"""Readers, one per input format, listed here explicitly and imported only when used.

To add a format: write ``shoreup/sources/<name>.py`` (see :mod:`shoreup.sources._base` for the
contract), list it in ``_READERS`` below, add samples and tests under ``tests/sources/``. A test fails
when a reader module exists but is not listed, so a new reader can never silently go missing.
Order matters for sniffing: the most specific formats come first.
"""

from __future__ import annotations

from shoreup._registry import Registry

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


_REGISTRY = Registry("format", "FORMAT", _READERS)
REGISTRY: dict[str, str] = _REGISTRY.modules
#: Every reader's format name, in sniffing order.
names = _REGISTRY.names
#: Import the reader for a format name (a reader that fails to import is an error, never skipped).
load = _REGISTRY.load
#: First line of a reader's docstring: its help text.
describe = _REGISTRY.describe


def sniff(head: bytes, name: str) -> str | None:
    """The first reader (in registry order) that recognises ``head``; None when none does."""
    for fmt in REGISTRY:
        if load(fmt).sniff(head, name):
            return fmt
    return None
