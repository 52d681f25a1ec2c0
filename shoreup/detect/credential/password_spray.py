"""Password spraying from one source: one password tried across many accounts, at any pace (T1110.003).

Attack shape: a sprayer tries one or two passwords per account across many accounts so that no
account locks; patient ones pace it at one try every few minutes or hours, down to one try per
account per day for a week — below every per-IP counter in fixed buckets (fail2ban: 5 in 10 min;
Splunk: 30 users in 5 min). Failures from one source chain into one session while they are less
than ``session_gap_hours`` apart (sessions, never clock buckets), and the session fires when it
holds ``min_users`` failing accounts that never signed in from that source; or, at machine pace,
``min_fast_users`` such accounts inside any ``fast_window_seconds`` (a person does not fail as five
people in a minute).

Quiet by construction on a corporate NAT or VPN egress: the people behind it sign in from it, so
their typos are explained, and a session fires only when at least ``min_unexplained_share`` of its
failing accounts are unexplained — a trickle of typos among hundreds of users stays far below.
A stale password on a device is one account, never a spray.

Sources that log no account (web logs: user null) fire on ``min_anonymous_failures`` failed logins
from one source in a session, when fewer than ``max_anonymous_success_share`` of its login
attempts succeed: a guessing tool at a login form, spray or brute force (the log cannot tell).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from shoreup.detect.credential import refs, remembered, rows, utc
from shoreup.detect.credential._shared import GUESS, PASSWORD_OK, SUCCESS_PAIRS, span_text
from shoreup.findings import MAX_EVIDENCE, Finding, iso

NAME = "password_spray"
TECHNIQUE = "T1110.003"
TITLE = "Password spraying from one source"


@dataclass
class Params:
    session_gap_hours: float = field(
        default=26.0,
        metadata={"doc": "Failures of one source less than this apart are one session (covers one try per "
                         "account per day)."},
    )
    min_users: int = field(
        default=10, metadata={"doc": "Unexplained failing accounts in one session that make a spray."}
    )
    fast_window_seconds: int = field(default=60, metadata={"doc": "Short sliding window (machine pace)."})
    min_fast_users: int = field(
        default=5, metadata={"doc": "Unexplained failing accounts inside the short window that make a spray."}
    )
    min_unexplained_share: float = field(
        default=0.5,
        metadata={"doc": "Share of a session's failing accounts that never signed in from the source (NAT guard)."},
    )
    min_anonymous_failures: int = field(
        default=30, metadata={"doc": "Failed logins without an account name (web logs) in one session."}
    )
    max_anonymous_success_share: float = field(
        default=0.2, metadata={"doc": "Above this share of successful logins, an account-less source is a busy one."}
    )


def _sql(p: Params) -> str:
    gap, fast = float(p.session_gap_hours) * 3600, int(p.fast_window_seconds)
    return f"""
WITH a AS (
    SELECT time, epoch(time) AS ts, user, src_ip, host, reason, outcome, ref_file, ref_record,
           CASE WHEN {GUESS} THEN 1 ELSE 0 END AS guess
    FROM auth WHERE src_ip IS NOT NULL AND ({GUESS} OR (user IS NULL AND outcome = 'success'))
),
ok AS ({SUCCESS_PAIRS}),
e AS (
    SELECT a.*, CASE WHEN a.guess = 1 AND a.user IS NOT NULL AND ok.ok_user IS NULL THEN 1 ELSE 0 END AS unexplained
    FROM a LEFT JOIN ok ON a.user = ok.ok_user AND a.src_ip = ok.ok_ip
),
s AS (
    SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY src_ip ORDER BY ts) <= {gap} THEN 0 ELSE 1 END AS new_s
    FROM e
),
s2 AS (SELECT *, sum(new_s) OVER (PARTITION BY src_ip ORDER BY ts ROWS UNBOUNDED PRECEDING) AS session FROM s),
-- Each account's first unexplained failure in the session: counting those counts accounts, not tries.
fu AS (
    SELECT *, CASE WHEN unexplained = 1 AND row_number() OVER (
                  PARTITION BY src_ip, session, user, unexplained ORDER BY ts) = 1 THEN 1 ELSE 0 END AS first_try
    FROM s2
),
fw AS (
    SELECT *,
        sum(first_try) OVER (PARTITION BY src_ip, session ORDER BY ts
                             RANGE BETWEEN {fast} PRECEDING AND CURRENT ROW) AS fast_users,
        sum(first_try) OVER (PARTITION BY src_ip, session ORDER BY ts ROWS UNBOUNDED PRECEDING) AS users_so_far,
        sum(CASE WHEN user IS NULL AND guess = 1 THEN 1 ELSE 0 END)
            OVER (PARTITION BY src_ip, session ORDER BY ts ROWS UNBOUNDED PRECEDING) AS anon_so_far
    FROM fu
),
g AS (
    SELECT src_ip, session, min(time) AS start, max(time) AS "end",
           sum(guess) AS attempts,
           count(DISTINCT CASE WHEN guess = 1 THEN user END) AS users,
           count(DISTINCT CASE WHEN unexplained = 1 THEN user END) AS unexplained_users,
           count(DISTINCT CASE WHEN unexplained = 1 AND reason = 'unknown_user' THEN user END) AS unknown_users,
           sum(CASE WHEN user IS NULL AND guess = 1 THEN 1 ELSE 0 END) AS anonymous,
           sum(CASE WHEN user IS NULL AND guess = 0 THEN 1 ELSE 0 END) AS anonymous_ok,
           max(fast_users) AS peak_fast,
           min(CASE WHEN fast_users >= {int(p.min_fast_users)} OR users_so_far >= {int(p.min_users)}
                    THEN time END) AS users_at,
           min(CASE WHEN anon_so_far >= {int(p.min_anonymous_failures)} THEN time END) AS anon_at,
           array_agg(DISTINCT user) FILTER (WHERE unexplained = 1) AS targets,
           array_agg(DISTINCT user) FILTER (WHERE guess = 1 AND user IS NOT NULL) AS failed,
           array_agg(DISTINCT host) FILTER (WHERE host IS NOT NULL) AS hosts
    FROM fw GROUP BY src_ip, session
),
hits AS (
    SELECT * FROM g
    WHERE (users_at IS NOT NULL AND unexplained_users >= {float(p.min_unexplained_share)} * users)
       OR (anon_at IS NOT NULL AND anonymous_ok <= {float(p.max_anonymous_success_share)} * (anonymous + anonymous_ok))
),
-- The evidence of each hit (its failed guesses): the first {MAX_EVIDENCE} distinct refs and how many.
ev AS (
    SELECT fw.src_ip AS e_ip, fw.session AS e_session, ref_file, ref_record,
           dense_rank() OVER (PARTITION BY fw.src_ip, fw.session ORDER BY ref_file, ref_record) AS rk
    FROM fw JOIN hits ON fw.src_ip = hits.src_ip AND fw.session = hits.session
    WHERE fw.guess = 1
),
refs AS (
    SELECT e_ip, e_session, max(rk) AS evidence_total,
           array_agg(ref_file ORDER BY ref_file, ref_record) FILTER (WHERE rk <= {MAX_EVIDENCE}) AS files,
           array_agg(ref_record ORDER BY ref_file, ref_record) FILTER (WHERE rk <= {MAX_EVIDENCE}) AS records
    FROM ev GROUP BY e_ip, e_session
),
-- Who then signed in (or was asked for a second factor) from the address within a day.
ok_after AS (SELECT user AS o_user, time AS o_time, src_ip AS o_ip FROM auth
             WHERE {PASSWORD_OK} AND src_ip IN (SELECT src_ip FROM hits)),
after AS (
    SELECT h.src_ip AS a_ip, h.session AS a_session,
           array_agg(DISTINCT o.o_user) FILTER (WHERE o.o_user IS NOT NULL) AS users_after
    FROM hits h LEFT JOIN ok_after o
        ON o.o_ip = h.src_ip AND o.o_time >= h.start AND o.o_time <= h."end" + INTERVAL 1 DAY
    GROUP BY h.src_ip, h.session
)
SELECT hits.*, refs.evidence_total, refs.files, refs.records, after.users_after
FROM hits LEFT JOIN refs ON hits.src_ip = refs.e_ip AND hits.session = refs.e_session
JOIN after ON hits.src_ip = after.a_ip AND hits.session = after.a_session
ORDER BY start, src_ip
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per source and session of spraying."""
    found: list[Finding] = []
    for r in rows(con, _sql(params)):
        hit = sorted(set(u for u in r["users_after"] or [] if u) & set(r["failed"] or []))
        targets = sorted(set(r["targets"] or []) | set(hit))
        hours = max((r["end"] - r["start"]).total_seconds() / 3600, 1 / 3600)
        n = len(r["targets"] or [])
        if n:
            unknown_share = r["unknown_users"] / n
            summary = (
                f"{r['src_ip']} failed to sign in as {n} accounts ({r['unknown_users']} that do not exist) in "
                f"{r['attempts']} tries over {span_text(r['start'], r['end'])}, about {r['attempts'] / n:.1f} per account"
            )
        else:
            unknown_share = 0.0
            summary = (
                f"{r['src_ip']} failed {r['anonymous']} logins without an account name over {span_text(r['start'], r['end'])} "
                f"({r['anonymous_ok']} succeeded)"
            )
        if hit:
            summary += f"; then signed in as {', '.join(hit)}"
        detected = r["users_at"] or r["anon_at"]
        strength = max(n / (3 * params.min_users), (r["peak_fast"] or 0) / (3 * params.min_fast_users),
                       r["anonymous"] / (3 * params.min_anonymous_failures))
        severity = "high" if hit else ("low" if n and unknown_share > 0.8 else "medium")
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity=severity,
                confidence=min(0.99, 0.55 + 0.45 * min(1.0, strength)),
                start=utc(r["start"]),
                end=utc(r["end"]),
                users=targets,
                src_ips=[r["src_ip"]],
                hosts=list(r["hosts"] or []),
                metrics={
                    "attempts": int(r["attempts"]),
                    "accounts": n,
                    "unknown_accounts": int(r["unknown_users"]),
                    "unknown_share": round(unknown_share, 3),
                    "failing_accounts": int(r["users"]),
                    "attempts_per_account": round(r["attempts"] / n, 2) if n else None,
                    "peak_accounts_in_fast_window": int(r["peak_fast"] or 0),
                    "anonymous_failures": int(r["anonymous"]),
                    "hours": round(hours, 2),
                    "signed_in_after": hit,
                    "detected_at": iso(utc(detected)),
                    **({"evidence_total": int(r["evidence_total"])} if (r["evidence_total"] or 0) > MAX_EVIDENCE else {}),
                },
                evidence=refs(r["files"], r["records"]),
                summary=summary,
                key=f"{r['src_ip']}|{r['session']}",
            )
        )
    return found
