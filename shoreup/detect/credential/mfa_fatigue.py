"""MFA fatigue: push prompts denied, ignored or repeated for one account, over minutes or hours (T1621).

Attack shape: an attacker who has the password triggers push after push until the owner, tired or
confused, accepts — fast (dozens in minutes) or patient (one every twenty minutes through the night,
or spread over days). Prompts of one account chain into one episode while they are less than
``episode_gap_hours`` apart; the episode fires when it holds ``min_rejected`` refused or unanswered
prompts (denied, timed out, or a "password ok, MFA required" with no success within
``answer_minutes``). A person whose phone was off sees two or three timeouts and then gets in:
below the threshold. An accepted prompt after the refusals makes it critical: the fatigue worked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from shoreup.detect.credential import refs, remembered, rows, utc
from shoreup.detect.credential._shared import span_text
from shoreup.findings import Finding, iso

NAME = "mfa_fatigue"
TECHNIQUE = "T1621"
TITLE = "MFA fatigue (push bombing)"


@dataclass
class Params:
    episode_gap_hours: float = field(
        default=6.0, metadata={"doc": "Prompts of one account less than this apart are one episode."}
    )
    min_rejected: int = field(
        default=4, metadata={"doc": "Denied or unanswered prompts in one episode that make it fatigue."}
    )
    answer_minutes: int = field(
        default=5, metadata={"doc": "A 'password ok, MFA required' with a success this soon was answered."}
    )


def _sql(p: Params) -> str:
    gap, answer = float(p.episode_gap_hours) * 3600, int(p.answer_minutes) * 60
    return f"""
WITH ok AS (SELECT user AS s_user, epoch(time) AS s_ts FROM auth WHERE outcome = 'success' AND user IS NOT NULL),
p AS (
    SELECT time, epoch(time) AS ts, user, src_ip, host, reason, ref_file, ref_record
    FROM auth
    WHERE user IS NOT NULL
      AND reason IN ('mfa_denied', 'mfa_timeout', 'password_ok_mfa_required', 'mfa_push_sent')
),
-- A prompt is answered when the account signs in within the answer time.
a AS (
    SELECT p.time, p.ts, p.user, p.src_ip, p.host, p.reason, p.ref_file, p.ref_record,
           CASE WHEN p.reason IN ('mfa_denied', 'mfa_timeout') THEN 1
                WHEN p.reason = 'password_ok_mfa_required' AND count(ok.s_ts) = 0 THEN 1 ELSE 0 END AS rejected
    FROM p LEFT JOIN ok ON ok.s_user = p.user AND ok.s_ts >= p.ts AND ok.s_ts <= p.ts + {answer}
    GROUP BY p.time, p.ts, p.user, p.src_ip, p.host, p.reason, p.ref_file, p.ref_record
),
e AS (
    SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY user ORDER BY ts) <= {gap} THEN 0 ELSE 1 END AS new_e FROM a
),
e2 AS (
    SELECT *, sum(new_e) OVER (PARTITION BY user ORDER BY ts ROWS UNBOUNDED PRECEDING) AS episode
    FROM e
),
g AS (
    SELECT user, episode, min(time) AS start, max(time) AS "end", count(*) AS prompts,
           sum(rejected) AS rejected,
           sum(CASE WHEN reason = 'mfa_denied' THEN 1 ELSE 0 END) AS denied,
           sum(CASE WHEN reason = 'mfa_timeout' THEN 1 ELSE 0 END) AS timeouts,
           sum(CASE WHEN reason = 'mfa_push_sent' THEN 1 ELSE 0 END) AS pushes,
           array_agg(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL AND rejected = 1) AS ips,
           array_agg(DISTINCT host) FILTER (WHERE host IS NOT NULL) AS hosts,
           array_agg(ref_file ORDER BY time, ref_file, ref_record) AS files,
           array_agg(ref_record ORDER BY time, ref_file, ref_record) AS records
    FROM e2 GROUP BY user, episode
),
hits AS (SELECT * FROM g WHERE rejected >= {int(p.min_rejected)}),
-- When the episode crossed the threshold: its k-th refused (or unanswered) prompt.
nth AS (
    SELECT h.user AS n_user, h.episode AS n_episode, x.time AS n_time,
           row_number() OVER (PARTITION BY h.user, h.episode ORDER BY x.time) AS n
    FROM hits h JOIN auth x ON x.user = h.user AND x.time >= h.start AND x.time <= h."end"
    WHERE x.reason IN ('mfa_denied', 'mfa_timeout', 'password_ok_mfa_required')
),
-- Accepted: a sign-in within the hour after, from where the refused prompts came (the owner's own is
-- not one), or any sign-in when the prompts carried no address.
acc AS (
    SELECT h.user AS c_user, h.episode AS c_episode, min(x.time) AS accepted
    FROM hits h JOIN auth x ON x.user = h.user AND x.outcome = 'success'
        AND x.time > h.start AND x.time <= h."end" + INTERVAL 1 HOUR
    WHERE h.ips IS NULL OR array_contains(h.ips, x.src_ip)
    GROUP BY h.user, h.episode
)
SELECT hits.*, nth.n_time AS detected, acc.accepted
FROM hits
LEFT JOIN nth ON hits.user = nth.n_user AND hits.episode = nth.n_episode AND nth.n = {int(p.min_rejected)}
LEFT JOIN acc ON hits.user = acc.c_user AND hits.episode = acc.c_episode
ORDER BY start, user
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per account and episode of refused prompts."""
    found: list[Finding] = []
    for r in rows(con, _sql(params)):
        ips = sorted(r["ips"] or [])
        accepted = {"first": r["accepted"]}
        hours = max((r["end"] - r["start"]).total_seconds() / 3600, 1 / 60)
        summary = (
            f"{r['user']} got {r['prompts']} MFA prompts in {span_text(r['start'], r['end'])}: {r['denied']} denied, "
            f"{r['timeouts']} timed out, {int(r['rejected']) - r['denied'] - r['timeouts']} left unanswered"
        )
        if accepted["first"] is not None:
            summary += f"; then a prompt was accepted and the account signed in at {iso(utc(accepted['first']))}"
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity="critical" if accepted["first"] is not None else "high",
                confidence=min(0.99, 0.6 + 0.4 * min(1.0, r["rejected"] / (3 * params.min_rejected))),
                start=utc(r["start"]),
                end=utc(r["end"]),
                users=[r["user"]],
                src_ips=ips,
                hosts=list(r["hosts"] or []),
                metrics={
                    "prompts": int(r["prompts"]),
                    "rejected": int(r["rejected"]),
                    "denied": int(r["denied"]),
                    "timeouts": int(r["timeouts"]),
                    "pushes_sent": int(r["pushes"]),
                    "hours": round(hours, 2),
                    "accepted_after": iso(utc(accepted["first"])) if accepted["first"] is not None else None,
                    "detected_at": iso(utc(r["detected"] or r["end"])),
                },
                evidence=refs(r["files"], r["records"]),
                summary=summary,
                key=f"{r['user']}|{r['episode']}",
            )
        )
    return found
