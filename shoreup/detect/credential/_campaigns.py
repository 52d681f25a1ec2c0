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
    no second search. The campaigns are shared between callers: read them, do not change them.
    """
    return _find(con)


#: The last findings reduced, and their campaigns: the compromise and MFA-gap detectors ask for the
#: same ones in one hunt, and a campaign's set of 100,000 addresses is worth making once.
_LAST: list[tuple[list[Finding], list[Campaign]]] = []


def _find(con: duckdb.DuckDBPyConnection) -> list[Campaign]:
    from shoreup import detect as registry

    findings: list[Finding] = []
    for name in ATTACKS:
        module = registry.load(name)
        findings.extend(module.detect(con, module.Params()))
    if _LAST and len(_LAST[0][0]) == len(findings) and all(a is b for a, b in zip(_LAST[0][0], findings, strict=True)):
        return list(_LAST[0][1])
    out: list[Campaign] = []
    for f in findings:
        m = f.metrics
        out.append(Campaign(f, set(f.users), set(f.src_ips), f.start, f.end,
                            set(m.get("fleet_user_agents") or []), {int(a) for a in m.get("fleet_asns") or []},
                            set(m.get("fleet_net16s") or [])))
    _LAST[:] = [(findings, out)]
    return list(out)
