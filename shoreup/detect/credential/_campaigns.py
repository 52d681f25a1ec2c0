"""The credential-attack campaigns of an input, as found by the attack detectors: the accounts and IPs
that the compromise and MFA-gap detectors follow up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from shoreup.findings import Finding

#: Detectors whose findings are attacks on accounts, in the order a shared account is attributed.
ATTACKS = ("distributed_spray", "password_spray", "brute_force", "mfa_fatigue")


@dataclass
class Campaign:
    """One attack finding reduced to what a follow-up needs."""

    finding: Finding
    users: set[str]
    ips: set[str]
    start: dt.datetime
    end: dt.datetime
    user_agents: set[str] = field(default_factory=set)
    asns: set[int] = field(default_factory=set)
    nets: set[str] = field(default_factory=set)


def campaigns(con: duckdb.DuckDBPyConnection) -> list[Campaign]:
    """Every attack finding of the input with default parameters, most specific first.

    The attack detectors remember their last run (``remembered``): after a hunt ran them, this costs
    no second search.
    """
    return _find(con)


def _find(con: duckdb.DuckDBPyConnection) -> list[Campaign]:
    from shoreup import detect as registry

    out: list[Campaign] = []
    for name in ATTACKS:
        module = registry.load(name)
        for f in module.detect(con, module.Params()):
            m = f.metrics
            out.append(Campaign(f, set(f.users), set(f.src_ips), f.start, f.end,
                                set(m.get("fleet_user_agents") or []), {int(a) for a in m.get("fleet_asns") or []},
                                set(m.get("fleet_net16s") or [])))
    return out
