"""Brute force: a burst of failed passwords against one account, from one IP or many (T1110.001).

Attack shapes and the thresholds that target them:

* Machine pace: a guessing tool tries passwords for one account at tens of tries a minute, where a
  person who mistypes fails once or twice and then succeeds or gives up. A burst is a sliding window
  (any ``window_minutes`` span, never a clock bucket) holding ``min_failures`` failures, or any
  ``fast_window_seconds`` span holding ``min_fast_failures`` (five wrong passwords in a minute is
  beyond typing).
* Low and slow, many IPs: one try every few minutes for hours, each from another address, so that
  no per-IP counter (fail2ban, CrowdSec) fills. Failures of an account chain into one run while
  they are less than ``run_gap_minutes`` apart; a run fires when it holds ``min_slow_failures``
  failures from at least ``min_slow_ips`` addresses the account never signed in from before.
  A device with a stale password retries from one or two addresses the account uses: it stays quiet.

Every run that fires is one finding naming every source IP and pointing at every failed attempt.
The window thresholds also rise with the input's own baseline: never below ``baseline_factor``
times the median per-account peak, once there are ``min_accounts`` accounts to learn it from, so a
tenant whose ordinary churn is high (shared kiosks, stale passwords on many devices) does not fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from shoreup.detect.credential import refs, remembered, rows, utc
from shoreup.detect.credential._shared import GUESS, PASSWORD_OK, span_text
from shoreup.findings import MAX_EVIDENCE, Finding, iso

NAME = "brute_force"
TECHNIQUE = "T1110.001"
TITLE = "Brute force against one account"


@dataclass
class Params:
    window_minutes: int = field(default=10, metadata={"doc": "Sliding window length (fast brute force)."})
    min_failures: int = field(
        default=10, metadata={"doc": "Failures for one account inside one window that make a burst."}
    )
    fast_window_seconds: int = field(
        default=60, metadata={"doc": "Short sliding window: guesses faster than a person types."}
    )
    min_fast_failures: int = field(
        default=5, metadata={"doc": "Failures for one account inside the short window that make a burst."}
    )
    run_gap_minutes: int = field(
        default=60, metadata={"doc": "Failures of one account less than this apart belong to one run."}
    )
    min_slow_failures: int = field(
        default=20, metadata={"doc": "Failures in one run, from addresses new to the account, for low-and-slow."}
    )
    min_slow_ips: int = field(
        default=5, metadata={"doc": "Distinct addresses new to the account needed for low-and-slow."}
    )
    min_accounts: int = field(
        default=20, metadata={"doc": "Accounts needed before the input's own baseline is used."}
    )
    baseline_factor: float = field(
        default=3.0,
        metadata={"doc": "The thresholds are at least this times the median per-account peak in a window."},
    )


def _sql(p: Params) -> str:
    window, fast, gap = p.window_minutes * 60, p.fast_window_seconds, p.run_gap_minutes * 60
    return f"""
WITH f AS (
    SELECT time, epoch(time) AS ts, user, src_ip, host, reason, ref_file, ref_record
    FROM auth WHERE {GUESS} AND user IS NOT NULL
),
-- When each account first signed in from each address: failures from there later are the owner's.
firsts AS (
    SELECT user AS k_user, src_ip AS k_ip, min(epoch(time)) AS k_ts
    FROM auth WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
    GROUP BY user, src_ip
),
w AS (
    SELECT f.*,
        count(*) OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS in_window,
        count(*) OVER (PARTITION BY user ORDER BY ts RANGE BETWEEN {fast} PRECEDING AND CURRENT ROW) AS in_fast,
        CASE WHEN ts - lag(ts) OVER (PARTITION BY user ORDER BY ts) <= {gap} THEN 0 ELSE 1 END AS new_run,
        CASE WHEN k.k_ts IS NOT NULL AND k.k_ts < f.ts THEN 0 ELSE 1 END AS new_ip
    FROM f LEFT JOIN firsts k ON f.user = k.k_user AND f.src_ip = k.k_ip
),
peaks AS (
    SELECT a.user, coalesce(max(w.in_window), 0) AS peak, coalesce(max(w.in_fast), 0) AS peak_fast
    FROM (SELECT DISTINCT user FROM auth WHERE user IS NOT NULL) a LEFT JOIN w ON a.user = w.user
    GROUP BY a.user
),
-- Learn the baseline only from enough accounts to have one (a median of a few is the attack itself).
baseline AS (
    SELECT CASE WHEN count(*) >= {int(p.min_accounts)}
                THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY peak) ELSE 0 END AS typical,
           CASE WHEN count(*) >= {int(p.min_accounts)}
                THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY peak_fast) ELSE 0 END AS typical_fast
    FROM peaks
),
r0 AS (SELECT *, sum(new_run) OVER (PARTITION BY user ORDER BY ts ROWS UNBOUNDED PRECEDING) AS run FROM w),
r1 AS (
    SELECT *, CASE WHEN new_ip = 1 AND row_number() OVER (PARTITION BY user, run, src_ip, new_ip ORDER BY ts) = 1
                   AND src_ip IS NOT NULL THEN 1 ELSE 0 END AS first_new_ip
    FROM r0
),
-- Running counts within a run: when low-and-slow crossed its thresholds.
r AS (
    SELECT *, sum(new_ip) OVER (PARTITION BY user, run ORDER BY ts ROWS UNBOUNDED PRECEDING) AS new_so_far,
              sum(first_new_ip) OVER (PARTITION BY user, run ORDER BY ts ROWS UNBOUNDED PRECEDING) AS ips_so_far
    FROM r1
),
-- The first moment a run crossed a threshold: when a streaming detector would have raised it.
g AS (
    SELECT r.user, r.run,
           min(r.time) AS start, max(r.time) AS "end", count(*) AS failures,
           max(in_window) AS peak, max(in_fast) AS peak_fast,
           count(DISTINCT src_ip) AS n_ips,
           count(DISTINCT CASE WHEN new_ip = 1 THEN src_ip END) AS new_ips,
           sum(new_ip) AS new_ip_failures,
           array_agg(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL) AS ips,
           array_agg(DISTINCT host) FILTER (WHERE host IS NOT NULL) AS hosts,
           count(*) FILTER (WHERE reason = 'unknown_user') AS unknown_user,
           min(CASE WHEN in_window >= greatest({int(p.min_failures)}, {p.baseline_factor} * b.typical)
                      OR in_fast >= greatest({int(p.min_fast_failures)}, {p.baseline_factor} * b.typical_fast)
                    THEN time END) AS burst_at,
           min(CASE WHEN new_so_far >= {int(p.min_slow_failures)} AND ips_so_far >= {int(p.min_slow_ips)}
                    THEN time END) AS slow_at,
           max(b.typical) AS typical
    FROM r CROSS JOIN baseline b
    GROUP BY r.user, r.run
),
hits AS (SELECT * FROM g WHERE burst_at IS NOT NULL OR slow_at IS NOT NULL),
-- The evidence of each hit: its first {MAX_EVIDENCE} distinct refs (what a finding keeps) and how many.
ev AS (
    SELECT r.user AS e_user, r.run AS e_run, ref_file, ref_record,
           dense_rank() OVER (PARTITION BY r.user, r.run ORDER BY ref_file, ref_record) AS rk
    FROM r JOIN hits ON r.user = hits.user AND r.run = hits.run
),
refs AS (
    SELECT e_user, e_run, max(rk) AS evidence_total,
           array_agg(ref_file ORDER BY ref_file, ref_record) FILTER (WHERE rk <= {MAX_EVIDENCE}) AS files,
           array_agg(ref_record ORDER BY ref_file, ref_record) FILTER (WHERE rk <= {MAX_EVIDENCE}) AS records
    FROM ev GROUP BY e_user, e_run
),
-- Did the account then sign in (or get asked for a second factor) within a day, and from where?
ok AS (SELECT user AS o_user, time AS o_time, src_ip AS o_ip FROM auth
       WHERE {PASSWORD_OK} AND user IN (SELECT user FROM hits)),
after AS (
    SELECT h.user AS a_user, h.run AS a_run, count(o.o_user) AS n_after,
           array_agg(DISTINCT o.o_ip) FILTER (WHERE o.o_ip IS NOT NULL) AS ips_after
    FROM hits h LEFT JOIN ok o ON o.o_user = h.user AND o.o_time >= h.start AND o.o_time <= h."end" + INTERVAL 1 DAY
    GROUP BY h.user, h.run
)
SELECT hits.*, refs.evidence_total, refs.files, refs.records, after.n_after, after.ips_after
FROM hits JOIN refs ON hits.user = refs.e_user AND hits.run = refs.e_run
JOIN after ON hits.user = after.a_user AND hits.run = after.a_run
ORDER BY start, user
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per account and run of failures that crossed a threshold."""
    found: list[Finding] = []
    for r in rows(con, _sql(params)):
        ips = sorted(r["ips"] or [])
        after_ips = sorted(r["ips_after"] or [])
        compromised = bool(r["n_after"]) and bool(set(after_ips) & set(ips))
        unknown = r["unknown_user"] == r["failures"]
        slow = r["burst_at"] is None
        pace = (
            f"from {r['new_ips']} new addresses, never more than {r['peak']} in {params.window_minutes} min"
            if slow
            else f"peak {r['peak']} in {params.window_minutes} min, {r['peak_fast']} in {params.fast_window_seconds} s"
        )
        summary = (
            f"{r['failures']} failed sign-ins against {'non-existent account' if unknown else 'account'} "
            f"{r['user']} " + (f"from {len(ips)} IP(s)" if ips else "(source address not logged)")
            + f" in {span_text(r['start'], r['end'])} ({pace})"
        )
        if r["n_after"]:
            summary += f"; the account then signed in from {', '.join(i for i in after_ips if i)}"
        strength = max(r["peak"] / (2 * params.min_failures), r["peak_fast"] / (2 * params.min_fast_failures),
                       r["new_ip_failures"] / (2 * params.min_slow_failures))
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity="high" if compromised else ("low" if unknown else "medium"),
                confidence=min(0.99, 0.6 + 0.4 * min(1.0, strength)),
                start=utc(r["start"]),
                end=utc(r["end"]),
                users=[r["user"]],
                src_ips=ips,
                hosts=list(r["hosts"] or []),
                metrics={
                    "failures": int(r["failures"]),
                    "peak_in_window": int(r["peak"]),
                    "peak_in_fast_window": int(r["peak_fast"]),
                    "window_minutes": params.window_minutes,
                    "source_ips": len(ips),
                    "new_source_ips": int(r["new_ips"]),
                    "low_and_slow": slow,
                    "unknown_user_failures": int(r["unknown_user"]),
                    "baseline_median_peak": float(r["typical"] or 0),
                    "successes_after": int(r["n_after"]),
                    "detected_at": iso(utc(r["burst_at"] or r["slow_at"])),
                    **({"evidence_total": int(r["evidence_total"])} if r["evidence_total"] > MAX_EVIDENCE else {}),
                },
                evidence=refs(r["files"], r["records"]),
                summary=summary,
                key=f"{r['user']}|{r['run']}",
            )
        )
    return found
