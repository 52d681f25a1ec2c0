"""Posture: MFA coverage and legacy-authentication exposure, per source and overall.

CISA's first advice against password spraying is multi-factor authentication. This module answers,
from the sign-ins the logs hold: who signs in, how often with MFA, who never uses it, who sometimes
skips it, which protocols bypass it (IMAP/POP/SMTP AUTH/ActiveSync, NTLMv1, Kerberos RC4, SSH
passwords where keys are the norm) — and, first of all, which accounts an attack targeted that lack
MFA. A source that does not record MFA (Windows, sshd, web logs) says so instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from shoreup.findings import Finding

SCHEMA = "shoreup.posture/1"

#: Reader formats grouped into the sources a person thinks in.
FAMILIES: dict[str, str] = {
    "entra": "entra",
    "okta": "okta",
    "cloudtrail": "cloudtrail",
    "evtx": "windows",
    "winjson": "windows",
    "winxml": "windows",
    "sshd": "sshd",
    "weblog": "web",
}
#: Sources whose records say whether MFA was used.
RECORDS_MFA = frozenset({"entra", "okta", "cloudtrail"})
#: An Okta sign-in counts as MFA when a factor was verified for the account this close to it.
OKTA_FACTOR_WINDOW_MINUTES = 10

_FAMILY_SQL = "CASE source_format " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in FAMILIES.items()) + " ELSE source_format END"

# One row per successful interactive sign-in of a person (machine accounts and factor events out).
_SIGNINS = f"""
CREATE OR REPLACE TEMP VIEW posture_signins AS
SELECT {_FAMILY_SQL} AS source, a.user, a.time, a.method, a.host, a.ref_file, a.ref_record,
       CASE
         WHEN a.source_format = 'okta' THEN
           CASE WHEN NOT EXISTS (SELECT 1 FROM auth f WHERE f.source_format = 'okta' AND f.mfa_used) THEN NULL
                WHEN EXISTS (
                  SELECT 1 FROM auth f
                  WHERE f.source_format = 'okta' AND f.user = a.user AND f.outcome = 'success' AND f.mfa_used
                    AND f.time BETWEEN a.time - INTERVAL {OKTA_FACTOR_WINDOW_MINUTES} MINUTE
                                   AND a.time + INTERVAL {OKTA_FACTOR_WINDOW_MINUTES} MINUTE)
                THEN TRUE ELSE FALSE END
         ELSE a.mfa_used
       END AS mfa
FROM auth a
WHERE a.outcome = 'success' AND a.user IS NOT NULL AND NOT coalesce(a.is_machine, FALSE)
  AND NOT (a.source_format = 'okta' AND a.event_code <> 'user.session.start')
  AND NOT (a.source_format IN ('evtx', 'winjson', 'winxml')
           AND (a.event_code <> '4624' OR coalesce(a.logon_type, '') IN ('0', '4', '5')))
"""

_PER_SOURCE = """
SELECT source, count(*) AS signins, count(DISTINCT user) AS accounts,
       count(*) FILTER (WHERE mfa IS NOT NULL) AS known, count(*) FILTER (WHERE mfa) AS with_mfa
FROM posture_signins GROUP BY source ORDER BY source
"""

_PER_ACCOUNT = """
SELECT source, user, count(*) FILTER (WHERE mfa) AS with_mfa, count(*) FILTER (WHERE mfa = FALSE) AS without
FROM posture_signins WHERE mfa IS NOT NULL GROUP BY source, user ORDER BY source, user
"""

# Protocols that skip MFA, with the successful sign-ins that used them.
_LEGACY = """
WITH win AS (
    SELECT a.user, json_extract_string(r.fields, '$.LmPackageName') AS lm,
           json_extract_string(r.fields, '$.TicketEncryptionType') AS etype, a.event_code
    FROM auth a JOIN raw r USING (ref_file, ref_record)
    WHERE a.source_format IN ('evtx', 'winjson', 'winxml') AND a.outcome = 'success' AND a.user IS NOT NULL
      AND NOT coalesce(a.is_machine, FALSE) AND a.event_code IN ('4624', '4768', '4769')
),
ssh_norm AS (
    SELECT host, avg(CASE WHEN method = 'publickey' THEN 1.0 ELSE 0.0 END) AS key_share
    FROM auth WHERE source_format = 'sshd' AND outcome = 'success' GROUP BY host
)
SELECT 'entra' AS source, user AS account, replace(substr(method, 8), '_', ' ') AS client, count(*) AS n
FROM auth WHERE source_format = 'entra' AND outcome = 'success' AND method LIKE 'legacy:%' AND user IS NOT NULL
GROUP BY ALL
UNION ALL
SELECT 'windows', user, 'ntlm v1', count(*) FROM win WHERE event_code = '4624' AND upper(lm) = 'NTLM V1' GROUP BY ALL
UNION ALL
SELECT 'windows', user, 'kerberos rc4', count(*) FROM win
WHERE event_code IN ('4768', '4769') AND lower(etype) IN ('0x17', '0x18') GROUP BY ALL
UNION ALL
SELECT 'sshd', a.user, 'ssh password', count(*)
FROM auth a JOIN ssh_norm n ON a.host IS NOT DISTINCT FROM n.host
WHERE a.source_format = 'sshd' AND a.outcome = 'success' AND a.method IN ('password', 'keyboard-interactive')
  AND n.key_share >= 0.5 AND a.user IS NOT NULL
GROUP BY ALL
ORDER BY 1, 2, 3
"""


@dataclass
class SourcePosture:
    """What one source says about MFA and legacy authentication."""

    source: str
    accounts: int = 0
    signins: int = 0
    mfa_signin_share: float | None = None
    accounts_never_mfa: list[str] = field(default_factory=list)
    accounts_mixed_mfa: list[str] = field(default_factory=list)
    legacy_auth: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.source,
            "accounts": self.accounts,
            "signins": self.signins,
            "mfa_signin_share": None if self.mfa_signin_share is None else round(self.mfa_signin_share, 4),
            "accounts_never_mfa": self.accounts_never_mfa,
            "accounts_mixed_mfa": self.accounts_mixed_mfa,
            "legacy_auth": self.legacy_auth,
            "note": self.note,
        }


@dataclass
class PostureReport:
    sources: list[SourcePosture]
    overall: SourcePosture
    targeted_without_mfa: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "sources": [s.to_json() for s in self.sources],
            "overall": self.overall.to_json(),
            "targeted_without_mfa": self.targeted_without_mfa,
        }


def assess(con: duckdb.DuckDBPyConnection, findings: list[Finding]) -> PostureReport:
    """Posture from the normalized tables, and the accounts that ``findings`` say were attacked."""
    con.execute(_SIGNINS)
    sources: dict[str, SourcePosture] = {}
    for source, signins, accounts, known, with_mfa in con.execute(_PER_SOURCE).fetchall():
        sp = SourcePosture(source, accounts=int(accounts), signins=int(signins))
        if known:
            sp.mfa_signin_share = with_mfa / known
            if known < signins:
                sp.note = f"MFA is not recorded for {signins - known} of {signins} sign-ins"
        else:
            sp.note = (
                "this source does not record whether MFA was used"
                if source not in RECORDS_MFA
                else "no sign-in in this source says whether MFA was used"
            )
        sources[source] = sp
    for source, user, with_mfa, without in con.execute(_PER_ACCOUNT).fetchall():
        sp = sources[source]
        if without and not with_mfa:
            sp.accounts_never_mfa.append(user)
        elif without and with_mfa:
            sp.accounts_mixed_mfa.append(user)
    for source, account, client, n in con.execute(_LEGACY).fetchall():
        sp = sources.setdefault(source, SourcePosture(source, note="no interactive sign-ins"))
        sp.legacy_auth.append({"account": account, "client": client, "count": int(n)})
    overall = _overall(con, list(sources.values()))
    targeted = _targeted(findings, sources)
    return PostureReport(sorted(sources.values(), key=lambda s: s.source), overall, targeted)


def _overall(con: duckdb.DuckDBPyConnection, sources: list[SourcePosture]) -> SourcePosture:
    row = con.execute(
        "SELECT count(*), count(DISTINCT user), count(*) FILTER (WHERE mfa IS NOT NULL), "
        "count(*) FILTER (WHERE mfa) FROM posture_signins"
    ).fetchone()
    signins, accounts, known, with_mfa = row if row else (0, 0, 0, 0)
    per_user = con.execute(
        "SELECT user, count(*) FILTER (WHERE mfa), count(*) FILTER (WHERE mfa = FALSE) "
        "FROM posture_signins WHERE mfa IS NOT NULL GROUP BY user ORDER BY user"
    ).fetchall()
    never = [u for u, w, wo in per_user if wo and not w]
    mixed = [u for u, w, wo in per_user if wo and w]
    legacy: dict[tuple[str, str], int] = {}
    for s in sources:
        for item in s.legacy_auth:
            key = (item["account"], item["client"])
            legacy[key] = legacy.get(key, 0) + item["count"]
    return SourcePosture(
        "overall",
        accounts=int(accounts),
        signins=int(signins),
        mfa_signin_share=(with_mfa / known) if known else None,
        accounts_never_mfa=never,
        accounts_mixed_mfa=mixed,
        legacy_auth=[{"account": a, "client": c, "count": n} for (a, c), n in sorted(legacy.items())],
        note="" if known else "no source here records MFA",
    )


def _targeted(findings: list[Finding], sources: dict[str, SourcePosture]) -> list[dict[str, Any]]:
    """Accounts a credential attack targeted that lack MFA somewhere or use a protocol that skips it."""
    attacked: dict[str, set[str]] = {}
    for f in findings:
        if f.technique.startswith("T1110"):
            for u in f.users:
                attacked.setdefault(u, set()).add(f.id)
    out: list[dict[str, Any]] = []
    for user in sorted(attacked):
        why: list[str] = []
        for s in sorted(sources.values(), key=lambda s: s.source):
            if user in s.accounts_never_mfa:
                why.append(f"{s.source}: never signed in with MFA")
            elif user in s.accounts_mixed_mfa:
                why.append(f"{s.source}: sometimes signs in without MFA")
            clients = sorted({i["client"] for i in s.legacy_auth if i["account"] == user})
            if clients:
                why.append(f"{s.source}: signs in with {', '.join(clients)}, which skips MFA")
        if why:
            out.append(
                {
                    "account": user,
                    "why": why,
                    "findings": sorted(attacked[user]),
                    "action": "enforce MFA for this account, block legacy authentication for it, "
                    "reset its password and revoke its sessions",
                }
            )
    return out
