"""An explicit, lazily imported registry of plug-in modules (readers, detectors).

Every entry is listed by name in one place; a name listed twice raises at import; a module that
fails to import, or declares another name than the one it is listed under, is an error — never
silently skipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from shoreup.errors import UsageError


class Registry:
    """Names → module paths, in a meaningful order; modules imported on first use."""

    def __init__(self, kind: str, name_attr: str, entries: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.name_attr = name_attr
        self.modules: dict[str, str] = {}
        for name, module in entries:
            if name in self.modules:
                raise ValueError(f"{kind} {name!r} is listed twice ({self.modules[name]} and {module})")
            self.modules[name] = module
        self._loaded: dict[str, ModuleType] = {}

    def names(self) -> list[str]:
        """Every name, in registry order."""
        return list(self.modules)

    def load(self, name: str) -> ModuleType:
        """Import the module listed as ``name``."""
        if name in self._loaded:
            return self._loaded[name]
        try:
            path = self.modules[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}; known: {', '.join(self.modules)}") from None
        module = importlib.import_module(path)
        declared = getattr(module, self.name_attr, None)
        if declared != name:
            raise ValueError(f"{path} declares {self.name_attr}={declared!r}, listed as {name!r}")
        self._loaded[name] = module
        return module

    def describe(self, name: str) -> str:
        """First line of the module's docstring: its help text."""
        doc = (self.load(name).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else name
