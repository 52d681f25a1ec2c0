"""Detectors, listed here explicitly and imported only when a hunt runs them.

A detector module declares ``NAME``, ``TECHNIQUE`` (ATT&CK id), ``TITLE``, ``Params`` (a dataclass whose
fields are its tunable parameters, each with a default and a ``metadata={"doc": …}``), and
``detect(con, params) -> list[Finding]`` running SQL over the normalized tables in DuckDB.
Its module docstring's first line is its help text. A test fails when a detector module exists
but is not listed here.
"""

from __future__ import annotations

from shoreup._registry import Registry

_DETECTORS: list[tuple[str, str]] = [
    ("sigma", "shoreup.detect.sigma"),
    ("brute_force", "shoreup.detect.credential.brute_force"),
    ("password_spray", "shoreup.detect.credential.password_spray"),
    ("distributed_spray", "shoreup.detect.credential.distributed_spray"),
    ("mfa_fatigue", "shoreup.detect.credential.mfa_fatigue"),
    ("compromise", "shoreup.detect.credential.compromise"),
    ("mfa_gap", "shoreup.detect.credential.mfa_gap"),
]


_REGISTRY = Registry("detector", "NAME", _DETECTORS)
REGISTRY: dict[str, str] = _REGISTRY.modules
#: Every detector's name, in the order a hunt runs them.
names = _REGISTRY.names
#: Import the detector listed under a name.
load = _REGISTRY.load
