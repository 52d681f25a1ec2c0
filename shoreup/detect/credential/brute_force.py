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

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow.compute as pc

from shoreup.detect.credential import _columns as cols
from shoreup.detect.credential import arrow, evidence_refs, hosts_of, remembered, rows, utc
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


#: The candidate failures, with when the account first signed in from the address (null: never) and how
#: many accounts the input has (the baseline's population). The windows are computed on these columns.
_FAILURES = f"""
WITH firsts AS (
    SELECT user AS k_user, src_ip AS k_ip, min(epoch(time)) AS k_ts
    FROM auth WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
    GROUP BY user, src_ip
)
SELECT time, epoch(time) AS ts, user, src_ip, host, reason, ref_file, ref_record, firsts.k_ts AS known_since,
       (SELECT count(DISTINCT user) FROM auth WHERE user IS NOT NULL) AS accounts
FROM auth LEFT JOIN firsts ON user = firsts.k_user AND src_ip = firsts.k_ip
WHERE {GUESS} AND user IS NOT NULL
"""

#: Did the accounts hit then sign in (or get asked for a second factor), and from where?
_AFTER = f"""
SELECT user, time, src_ip FROM auth WHERE {PASSWORD_OK} AND array_contains($users, user)
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per account and run of failures that crossed a threshold."""
    found: list[Finding] = []
    for r in _runs(con, params):
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
                evidence=r["evidence"],
                summary=summary,
                key=f"{r['user']}|{r['run']}",
            )
        )
    return found


def _runs(con: duckdb.DuckDBPyConnection, params: Params) -> list[dict[str, Any]]:
    """Each account's runs of failures that crossed a threshold, in (start, user) order.

    The windows, SQL's semantics exactly (see ``_columns``): per account in time order, ``in_window``
    and ``in_fast`` count the failures in the ``RANGE`` frame ending at each; a run starts after a gap
    of more than ``run_gap_minutes``; ``new_ip`` marks a failure from an address the account had not
    signed in from before it; a run's counts of those failures and of their distinct addresses run up
    to each row, so the first row at which a threshold holds is when a streaming detector would fire."""
    t = arrow(con, _FAILURES)
    if not t.num_rows:
        return []
    user, users = cols.codes(t, "user")
    ts = cols.floats(t, "ts")
    order = cols.group_order(user, ts)
    user, ts = user[order], ts[order]
    ip, ips, ip_rank = cols.ranked_codes(t, "src_ip")
    ip = ip[order]
    known = cols.floats(t, "known_since")[order]
    unknown = np.asarray(pc.fill_null(pc.equal(t.column("reason"), "unknown_user"), False), dtype=bool)[order]
    n = len(ts)

    first_user = cols.starts(user)
    in_window = cols.sliding(ts, params.window_minutes * 60, group=user)
    in_fast = cols.sliding(ts, params.fast_window_seconds, group=user)
    new_run = first_user.copy()
    new_run[1:] |= (ts[1:] - ts[:-1]) > params.run_gap_minutes * 60
    run_id = np.cumsum(new_run) - 1
    run_no = cols.running(new_run, first_user)  # numbered from 1 within the account, as SQL's sum(new_run)
    new_ip = ~(known < ts)  # never signed in from there, or only later
    fresh = np.flatnonzero(new_ip & (ip >= 0))
    first_new_ip = np.zeros(n, dtype=bool)
    first_new_ip[fresh[cols.first_seen(cols.pair(run_id[fresh], ip[fresh], len(ips)))]] = True
    new_so_far = cols.running(new_ip, new_run)
    ips_so_far = cols.running(first_new_ip, new_run)

    # The baseline: the median per-account peak, over every account of the input (no failures: 0).
    accounts = int(t.column("accounts")[0].as_py() or 0)
    typical = typical_fast = 0.0
    if accounts >= params.min_accounts:
        pad = np.zeros(max(0, accounts - int(first_user.sum())), dtype=np.int64)
        typical = float(np.median(np.concatenate((cols.group_max(in_window, first_user), pad))))
        typical_fast = float(np.median(np.concatenate((cols.group_max(in_fast, first_user), pad))))
    burst = (in_window >= max(params.min_failures, params.baseline_factor * typical)) | (
        in_fast >= max(params.min_fast_failures, params.baseline_factor * typical_fast))
    slow = (new_so_far >= params.min_slow_failures) & (ips_so_far >= params.min_slow_ips)
    run_starts = np.flatnonzero(new_run)
    run_ends = np.append(run_starts[1:], n)
    burst_at, slow_at = cols.group_first(burst, new_run), cols.group_first(slow, new_run)
    hit = np.flatnonzero((burst_at < n) | (slow_at < n))
    if not len(hit):
        return []

    times = t.column("time")

    def at(i: int) -> Any:
        return utc(times[int(order[i])].as_py())

    out: list[dict[str, Any]] = []
    for h in hit:
        lo, hi = int(run_starts[h]), int(run_ends[h])
        rows_ = order[lo:hi]
        ev, total = evidence_refs(t, rows_)
        run_ips = ip[lo:hi]
        fresh_ips = run_ips[new_ip[lo:hi] & (run_ips >= 0)]
        out.append({
            "user": users[int(user[lo])], "run": int(run_no[lo]),
            "start": at(lo), "end": at(hi - 1), "failures": hi - lo,
            "peak": int(in_window[lo:hi].max()), "peak_fast": int(in_fast[lo:hi].max()),
            "new_ips": len(np.unique(fresh_ips)), "new_ip_failures": int(new_ip[lo:hi].sum()),
            "ips": cols.distinct_sorted(run_ips, ips, ip_rank),
            "hosts": hosts_of(t, rows_),
            "unknown_user": int(unknown[lo:hi].sum()),
            "burst_at": at(int(burst_at[h])) if burst_at[h] < n else None,
            "slow_at": at(int(slow_at[h])) if slow_at[h] < n else None,
            "typical": typical, "evidence": ev, "evidence_total": total,
        })
    out.sort(key=lambda r: (r["start"], r["user"]))
    _after(con, out)
    return out


def _after(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """For each run: the sign-ins of its account from its start to a day after its end, and their addresses."""
    by_user: dict[str, list[tuple[Any, Any]]] = {}
    for r in rows(con, _AFTER, {"users": sorted({r["user"] for r in runs})}):
        by_user.setdefault(r["user"], []).append((utc(r["time"]), r["src_ip"]))
    day = dt.timedelta(days=1)
    for r in runs:
        later = [(when, ip) for when, ip in by_user.get(r["user"], []) if r["start"] <= when <= r["end"] + day]
        r["n_after"] = len(later)
        r["ips_after"] = sorted({ip for _, ip in later if ip is not None})
