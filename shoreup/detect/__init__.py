"""Detectors, listed here explicitly and imported only when a hunt runs them.

A detector module declares ``NAME``, ``TECHNIQUE`` (ATT&CK id), ``TITLE``, ``Params`` (a dataclass whose
fields are its tunable parameters, each with a default and a ``metadata={"doc": …}``), and
``detect(con, params) -> list[Finding]`` running SQL over the normalized tables in DuckDB.
Its module docstring's first line is its help text. A test fails when a detector module exists
but is not listed here.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from shoreup.errors import UsageError

_DETECTORS: list[tuple[str, str]] = [
    ("sigma", "shoreup.detect.sigma"),
    ("brute_force", "shoreup.detect.credential.brute_force"),
    ("password_spray", "shoreup.detect.credential.password_spray"),
    ("distributed_spray", "shoreup.detect.credential.distributed_spray"),
    ("mfa_fatigue", "shoreup.detect.credential.mfa_fatigue"),
    ("compromise", "shoreup.detect.credential.compromise"),
    ("mfa_gap", "shoreup.detect.credential.mfa_gap"),
]


def _build(entries: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, module in entries:
        if name in out:
            raise ValueError(f"detector {name!r} is listed twice")
        out[name] = module
    return out


REGISTRY: dict[str, str] = _build(_DETECTORS)


def names() -> list[str]:
    return list(REGISTRY)


@cache
def load(name: str) -> ModuleType:
    try:
        module = importlib.import_module(REGISTRY[name])
    except KeyError:
        raise UsageError(f"unknown detector {name!r}; known: {', '.join(REGISTRY)}") from None
    if getattr(module, "NAME", None) != name:
        raise ValueError(f"{REGISTRY[name]} declares NAME={getattr(module, 'NAME', None)!r}, listed as {name!r}")
    return module
