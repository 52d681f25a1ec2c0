"""MFA gap: accounts that an attack targeted or compromised and that sign in with a single factor.

Attack shape: a spray or brute force is only a near miss while the second factor holds; an account
that signs in with the password alone is one guessed password away from compromise, and a
compromised one is fully open. For every account targeted by an attack (brute force, spray,
distributed spray, MFA fatigue) this lists those with a successful sign-in that the source marks as
single-factor (``mfa_used`` false) — or an SSH password sign-in, single-factor by construction —
at any time in the input, up to ``within_days`` after the attack. One finding per attack; CISA's
first advice after a spray is to close exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from shoreup.detect.credential import rows, utc
from shoreup.detect.credential._campaigns import campaigns
from shoreup.findings import Finding, Ref, iso

NAME = "mfa_gap"
TECHNIQUE = "T1078"
TITLE = "Targeted accounts sign in without MFA"


@dataclass
class Params:
    within_days: float = field(
        default=3.0, metadata={"doc": "Single-factor sign-ins up to this long after the attack count."}
    )


_SINGLE = """
SELECT user, time, epoch(time) AS ts, src_ip, host, method, source_format, ref_file, ref_record
FROM auth
WHERE outcome = 'success' AND user IS NOT NULL
  AND (mfa_used = false OR (mfa_used IS NULL AND source_format = 'sshd' AND method = 'password'))
  AND array_contains($users, user) AND epoch(time) <= $until
ORDER BY time, ref_file, ref_record
"""


def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per attack whose targeted accounts sign in with a password alone."""
    camps = campaigns(con)
    if not camps:
        return []
    within = float(params.within_days) * 86400
    # Only the targeted accounts' sign-ins, up to the last moment that can count.
    single = rows(con, _SINGLE, {"users": sorted(set().union(*(c.users for c in camps))),
                                 "until": max(c.end.timestamp() for c in camps) + within})
    found: list[Finding] = []
    seen: set[str] = set()
    for c in camps:
        hits = [e for e in single if e["user"] in c.users and e["user"] not in seen
                and float(e["ts"]) <= c.end.timestamp() + within]
        if not hits:
            continue
        users = sorted({e["user"] for e in hits})
        seen.update(users)
        after = sorted({e["user"] for e in hits if float(e["ts"]) >= c.start.timestamp()})
        summary = (
            f"{len(users)} account(s) targeted by {c.finding.detector} {c.finding.id} sign in with a single factor "
            f"({', '.join(users[:10])}{' …' if len(users) > 10 else ''}); enforce MFA for them"
        )
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity="high" if after else "medium",
                confidence=0.9,
                start=utc(hits[0]["time"]),
                end=utc(hits[-1]["time"]),
                users=users,
                src_ips=[e["src_ip"] for e in hits if e["src_ip"]],
                hosts=[e["host"] for e in hits if e["host"]],
                metrics={
                    "campaign": c.finding.id,
                    "campaign_detector": c.finding.detector,
                    "accounts": len(users),
                    "accounts_single_factor_after_attack": after,
                    "methods": sorted({f"{e['source_format']}:{e['method']}" for e in hits}),
                    "detected_at": iso(utc(hits[0]["time"])),
                },
                evidence=[Ref(e["ref_file"], int(e["ref_record"])) for e in hits],
                summary=summary,
                key=c.finding.id,
            )
        )
    return found
