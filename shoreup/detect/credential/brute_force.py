"""Brute force: a burst of failed passwords against one account, from one IP or many (T1110.001).

Attack shape: a guessing tool tries passwords for one account at machine pace — tens of tries in
minutes — where a person who mistypes fails once or twice and then succeeds or gives up. A burst
is a sliding window (any ``window_minutes`` span, not a clock bucket) holding ``min_failures``
failures for the account; overlapping and adjacent bursts of the account (gaps under the window)
merge into one finding that names every source IP and points at every failed attempt.
The threshold also rises with the input's own baseline: it is never below three times the median
of the per-account peak failures in a window, so a tenant whose ordinary churn is high (shared
kiosks, stale passwords on many devices) does not fire it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from shoreup.detect.credential import refs, rows, utc
from shoreup.findings import Finding

NAME = "brute_force"
TECHNIQUE = "T1110.001"
TITLE = "Brute force against one account"


@dataclass
class Params:
    window_minutes: int = field(default=10, metadata={"doc": "Sliding window length."})
    min_failures: int = field(
        default=10, metadata={"doc": "Failures for one account inside one window that make a burst."}
    )
    min_accounts: int = field(
        default=20, metadata={"doc": "Accounts needed before the input's own baseline is used."}
    )
    baseline_factor: float = field(
        default=3.0,
        metadata={"doc": "The threshold is at least this times the median per-account peak in a window."},
    )


# Failures that are guesses: password-type failures (a client offering several keys is no attack).
_FAILURES = """
    SELECT time, user, src_ip, host, reason, ref_file, ref_record
    FROM auth
    WHERE outcome = 'failure' AND user IS NOT NULL AND coalesce(method, '') <> 'publickey'
"""

_SQL = f"""
WITH f AS ({_FAILURES}),
w AS (
    SELECT *,
        count(*) OVER (PARTITION BY user ORDER BY time
                       RANGE BETWEEN INTERVAL (CAST($window AS INTEGER)) MINUTE PRECEDING AND CURRENT ROW) AS in_window,
        CASE WHEN time - lag(time) OVER (PARTITION BY user ORDER BY time)
                  <= INTERVAL (CAST($window AS INTEGER)) MINUTE THEN 0 ELSE 1 END AS new_run
    FROM f
),
peaks AS (
    SELECT a.user, coalesce(max(w.in_window), 0) AS peak
    FROM (SELECT DISTINCT user FROM auth WHERE user IS NOT NULL) a LEFT JOIN w USING (user)
    GROUP BY a.user
),
-- Learn the baseline only from enough accounts to have one (a median of a few is the attack itself).
baseline AS (SELECT CASE WHEN count(*) >= $min_accounts THEN median(peak) ELSE 0 END AS typical FROM peaks),
r AS (SELECT *, sum(new_run) OVER (PARTITION BY user ORDER BY time ROWS UNBOUNDED PRECEDING) AS run FROM w)
SELECT user, run,
       min(time) AS start, max(time) AS "end", count(*) AS failures, max(in_window) AS peak,
       count(DISTINCT src_ip) AS n_ips, list(DISTINCT src_ip) FILTER (WHERE src_ip IS NOT NULL) AS ips,
       list(DISTINCT host) FILTER (WHERE host IS NOT NULL) AS hosts,
       count(*) FILTER (WHERE reason = 'unknown_user') AS unknown_user,
       list(ref_file ORDER BY time, ref_file, ref_record) AS files,
       list(ref_record ORDER BY time, ref_file, ref_record) AS records,
       any_value(typical) AS typical
FROM r, baseline
GROUP BY user, run
HAVING max(in_window) >= greatest($min_failures, $factor * any_value(typical))
ORDER BY start, user
"""

_SUCCESS_AFTER = """
SELECT count(*) AS n, min(time) AS first, list(DISTINCT src_ip) AS ips
FROM auth
WHERE outcome = 'success' AND user = $user AND time >= $start AND time <= $end + INTERVAL 1 DAY
"""


def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per account and burst run."""
    found: list[Finding] = []
    args = {"window": params.window_minutes, "min_failures": params.min_failures, "factor": params.baseline_factor,
            "min_accounts": params.min_accounts}
    for r in rows(con, _SQL, args):
        after = rows(con, _SUCCESS_AFTER, {"user": r["user"], "start": r["start"], "end": r["end"]})[0]
        ips = sorted(r["ips"] or [])
        compromised = bool(after["n"]) and bool(set(after["ips"] or []) & set(ips))
        span = r["end"] - r["start"]
        minutes = max(span.total_seconds() / 60, 1 / 60)
        unknown = r["unknown_user"] == r["failures"]
        summary = (
            f"{r['failures']} failed sign-ins against {'non-existent account' if unknown else 'account'} "
            f"{r['user']} from {len(ips)} IP(s) in {minutes:.0f} min (peak {r['peak']} in "
            f"{params.window_minutes} min)"
        )
        if after["n"]:
            summary += f"; the account then signed in successfully from {', '.join(sorted(after['ips']))}"
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity="high" if compromised else ("low" if unknown else "medium"),
                confidence=min(0.99, 0.6 + 0.4 * min(1.0, r["peak"] / (4 * params.min_failures))),
                start=utc(r["start"]),
                end=utc(r["end"]),
                users=[r["user"]],
                src_ips=ips,
                hosts=list(r["hosts"] or []),
                metrics={
                    "failures": int(r["failures"]),
                    "peak_in_window": int(r["peak"]),
                    "window_minutes": params.window_minutes,
                    "source_ips": len(ips),
                    "unknown_user_failures": int(r["unknown_user"]),
                    "baseline_median_peak": float(r["typical"]),
                    "successes_after": int(after["n"]),
                },
                evidence=refs(r["files"], r["records"]),
                summary=summary,
                key=f"{r['user']}|{r['run']}",
            )
        )
    return found
