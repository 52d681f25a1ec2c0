"""One exception tree for shoreup.

    ShoreupError                 every error shoreup raises on purpose
    ├── UsageError               bad arguments or options (exit code 2)
    ├── InputError               a file cannot be read or is damaged (names file and position)
    └── RuleError                a detection rule cannot be used (named with its reason)
"""

from __future__ import annotations


class ShoreupError(Exception):
    """Root of every error shoreup raises on purpose."""


class UsageError(ShoreupError):
    """The user asked for something that cannot be done as asked."""


class InputError(ShoreupError):
    """An input file is unreadable or damaged; ``path`` and ``position`` say where."""

    def __init__(self, message: str, path: str = "", position: str | None = None) -> None:
        self.path = path
        self.position = position
        where = path + (f" ({position})" if position else "")
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message


class RuleError(ShoreupError):
    """A detection rule cannot be loaded or compiled."""
