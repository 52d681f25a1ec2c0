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

* No account named: a web login form or a console sign-in whose name the log withholds. Such tries
  (see ``nameless_try``) are counted per source address instead, with the same windows. A post whose
  result the log does not tell (WordPress answers a wrong password with 200) counts as one where the
  site tells success by redirect, as fail2ban's and CrowdSec's WordPress rules count every login post;
  where it does not (an API answering 200 with a token), its 200s are sign-ins, not tries. A later
  sign-in from the address (the redirect after the form post) marks the password as possibly guessed.

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
from shoreup.detect.credential._shared import GUESS, PASSWORD_OK, REDIRECTS, nameless_try, span_text
from shoreup.findings import MAX_EVIDENCE, Finding, iso

NAME = "brute_force"
TECHNIQUE = "T1110.001"
TITLE = "Brute force against one account"
#: The title of a run of tries from one address whose account the log does not name.
NAMELESS_TITLE = "Brute force from one address (account not logged)"


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


#: The candidate failures, with when the account first signed in from the address (null: never), and how
#: many accounts the input has and how many addresses its nameless events come from (the baselines'
#: populations). The windows are computed on these columns.
_FAILURES = f"""
WITH firsts AS (
    SELECT user AS k_user, src_ip AS k_ip, min(epoch(time)) AS k_ts
    FROM auth WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
    GROUP BY user, src_ip
),
redirects AS ({REDIRECTS}),
population AS (
    SELECT (SELECT count(DISTINCT user) FROM auth WHERE user IS NOT NULL) AS accounts,
           (SELECT count(DISTINCT src_ip) FROM auth WHERE user IS NULL AND src_ip IS NOT NULL) AS sources
)
SELECT time, epoch(time) AS ts, user, src_ip, host, reason, outcome, ref_file, ref_record,
       firsts.k_ts AS known_since, population.accounts, population.sources
FROM auth CROSS JOIN population LEFT JOIN firsts ON user = firsts.k_user AND src_ip = firsts.k_ip
WHERE {GUESS} AND user IS NOT NULL
UNION ALL
-- Tries whose account the log does not name (a branch of their own: the join with redirects then
-- sees only them)
SELECT time, epoch(time) AS ts, user, src_ip, host, reason, outcome, ref_file, ref_record,
       CAST(NULL AS DOUBLE) AS known_since, population.accounts, population.sources
FROM auth CROSS JOIN population LEFT JOIN redirects ON source_format = redirects.r_fmt
WHERE {nameless_try("redirects.r_fmt")}
"""

#: Did the accounts hit then sign in (or get asked for a second factor), and from where?
_AFTER = f"""
SELECT user, time, src_ip FROM auth WHERE {PASSWORD_OK} AND array_contains($users, user)
"""

#: Did the addresses of the runs without an account then sign in (any account, or none named)?
_AFTER_IPS = f"""
SELECT src_ip, time FROM auth WHERE {PASSWORD_OK} AND array_contains($ips, src_ip)
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per account (or, when the log names none, per address) and run of failures that
    crossed a threshold."""
    found: list[Finding] = []
    for r in _runs(con, params):
        if r["user"] is None:
            found.append(_nameless(r, params))
            continue
        ips = sorted(r["ips"] or [])
        after_ips = sorted(r["ips_after"] or [])
        compromised = bool(r["n_after"]) and bool(set(after_ips) & set(ips))
        unknown = r["unknown_user"] == r["failures"]
        slow = r["burst_at"] is None
        pace = _pace(r, params)
        summary = (
            f"{r['failures']} failed sign-ins against {'non-existent account' if unknown else 'account'} "
            f"{r['user']} " + (f"from {len(ips)} IP(s)" if ips else "(source address not logged)")
            + f" in {span_text(r['start'], r['end'])} ({pace})"
        )
        if r["n_after"]:
            summary += f"; the account then signed in from {', '.join(i for i in after_ips if i)}"
        found.append(
            Finding(
                detector=NAME,
                technique=TECHNIQUE,
                title=TITLE,
                severity="high" if compromised else ("low" if unknown else "medium"),
                confidence=_confidence(r, params),
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
                    **_outcome_metrics(r),
                },
                evidence=r["evidence"],
                summary=summary,
                key=f"{r['user']}|{r['run']}",
            )
        )
    return found


def _outcome_metrics(r: dict[str, Any]) -> dict[str, Any]:
    """The metrics every run's finding ends with, in this order."""
    return {
        "unknown_user_failures": int(r["unknown_user"]),
        "baseline_median_peak": float(r["typical"] or 0),
        "successes_after": int(r["n_after"]),
        "detected_at": iso(utc(r["burst_at"] or r["slow_at"])),
        **({"evidence_total": int(r["evidence_total"])} if r["evidence_total"] > MAX_EVIDENCE else {}),
    }


def _pace(r: dict[str, Any], params: Params) -> str:
    if r["burst_at"] is None:
        return f"from {r['new_ips']} new addresses, never more than {r['peak']} in {params.window_minutes} min"
    return f"peak {r['peak']} in {params.window_minutes} min, {r['peak_fast']} in {params.fast_window_seconds} s"


def _confidence(r: dict[str, Any], params: Params) -> float:
    strength = max(r["peak"] / (2 * params.min_failures), r["peak_fast"] / (2 * params.min_fast_failures),
                   r["new_ip_failures"] / (2 * params.min_slow_failures))
    return min(0.99, 0.6 + 0.4 * min(1.0, strength))


def at_pace(ts: np.ndarray, group: np.ndarray, hit: np.ndarray | None = None) -> np.ndarray:
    """The rows (sorted by ``group``, then ``ts``; ``hit`` the tries among them) at which a group's tries
    reach this detector's burst thresholds at their least — ``min_failures`` in ``window_minutes`` or
    ``min_fast_failures`` in ``fast_window_seconds`` of the defaults, before any baseline raises them.

    The other detectors leave such a burst of account-less tries from one address to this one (one
    report per address and burst): ``password_spray`` reports only a patient guesser at a form,
    ``distributed_spray`` counts an address in a fleet only when it never went this fast."""
    p = Params()
    return np.asarray(
        (cols.sliding(ts, float(p.window_minutes) * 60, hit=hit, group=group) >= p.min_failures)
        | (cols.sliding(ts, float(p.fast_window_seconds), hit=hit, group=group) >= p.min_fast_failures),
        dtype=bool,
    )


def _nameless(r: dict[str, Any], params: Params) -> Finding:
    """The finding of a run of tries from one address whose account the log does not name."""
    ip = r["ips"][0]
    untold = r["untold"]
    summary = (
        f"{r['failures']} sign-in tries from {ip}, the account not logged, in {span_text(r['start'], r['end'])} "
        f"({_pace(r, params)})"
    )
    if untold:
        summary += f"; {'all' if untold == r['failures'] else untold} answered without saying whether the password was right"
    if r["n_after"]:
        summary += f"; the address then signed in ({r['n_after']}×): the password may have been guessed"
    return Finding(
        detector=NAME,
        technique=TECHNIQUE,
        title=NAMELESS_TITLE,
        severity="high" if r["n_after"] else "medium",
        confidence=_confidence(r, params),
        start=utc(r["start"]),
        end=utc(r["end"]),
        users=[],
        src_ips=[ip],
        hosts=list(r["hosts"] or []),
        metrics={
            "tries": int(r["failures"]),
            "failures": int(r["failures"]) - untold,
            "result_not_logged": untold,
            "peak_in_window": int(r["peak"]),
            "peak_in_fast_window": int(r["peak_fast"]),
            "window_minutes": params.window_minutes,
            "source_ips": 1,
            "account_logged": False,
            **_outcome_metrics(r),
        },
        evidence=r["evidence"],
        summary=summary,
        key=f"ip|{ip}|{r['run']}",
    )


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
    ip, ips, ip_rank = cols.ranked_codes(t, "src_ip")
    by_ip = user < 0  # a try whose account the log does not name: counted per address
    group = np.where(by_ip, len(users) + ip, user)
    ts = cols.floats(t, "ts")
    order = cols.group_order(group, ts)
    group, user, ts, ip, by_ip = group[order], user[order], ts[order], ip[order], by_ip[order]
    known = cols.floats(t, "known_since")[order]
    unknown = np.asarray(pc.fill_null(pc.equal(t.column("reason"), "unknown_user"), False), dtype=bool)[order]
    untold = np.asarray(pc.fill_null(pc.equal(t.column("outcome"), "unknown"), False), dtype=bool)[order]
    n = len(ts)

    first_user = cols.starts(group)
    in_window = cols.sliding(ts, params.window_minutes * 60, group=group)
    in_fast = cols.sliding(ts, params.fast_window_seconds, group=group)
    new_run = first_user.copy()
    new_run[1:] |= (ts[1:] - ts[:-1]) > params.run_gap_minutes * 60
    run_id = np.cumsum(new_run) - 1
    run_no = cols.running(new_run, first_user)  # numbered from 1 within the account, as SQL's sum(new_run)
    new_ip = ~(known < ts) & ~by_ip  # never signed in from there, or only later (an address alone: no)
    fresh = np.flatnonzero(new_ip & (ip >= 0))
    first_new_ip = np.zeros(n, dtype=bool)
    first_new_ip[fresh[cols.first_seen(cols.pair(run_id[fresh], ip[fresh], len(ips)))]] = True
    new_so_far = cols.running(new_ip, new_run)
    ips_so_far = cols.running(first_new_ip, new_run)

    # The baseline: the median per-account peak, over every account of the input (no failures: 0);
    # for the tries without an account, the median per-address peak over the addresses such tries come from.
    group_ip = by_ip[first_user]
    peaks, fast_peaks = cols.group_max(in_window, first_user), cols.group_max(in_fast, first_user)
    population = int(t.column("accounts")[0].as_py() or 0), int(t.column("sources")[0].as_py() or 0)
    typical = np.zeros(2)
    typical_fast = np.zeros(2)
    for k, mine in enumerate((~group_ip, group_ip)):
        if population[k] >= params.min_accounts:
            pad = np.zeros(max(0, population[k] - int(mine.sum())), dtype=np.int64)
            typical[k] = float(np.median(np.concatenate((peaks[mine], pad))))
            typical_fast[k] = float(np.median(np.concatenate((fast_peaks[mine], pad))))
    kind = by_ip.astype(np.int64)
    burst = (in_window >= np.maximum(params.min_failures, params.baseline_factor * typical[kind])) | (
        in_fast >= np.maximum(params.min_fast_failures, params.baseline_factor * typical_fast[kind]))
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
        nameless = bool(by_ip[lo])
        out.append({
            "user": None if nameless else users[int(user[lo])], "run": int(run_no[lo]),
            "start": at(lo), "end": at(hi - 1), "failures": hi - lo,
            "peak": int(in_window[lo:hi].max()), "peak_fast": int(in_fast[lo:hi].max()),
            "new_ips": len(np.unique(fresh_ips)), "new_ip_failures": int(new_ip[lo:hi].sum()),
            "ips": cols.distinct_sorted(run_ips, ips, ip_rank),
            "hosts": hosts_of(t, rows_),
            "unknown_user": int(unknown[lo:hi].sum()),
            "untold": int(untold[lo:hi].sum()),
            "burst_at": at(int(burst_at[h])) if burst_at[h] < n else None,
            "slow_at": at(int(slow_at[h])) if slow_at[h] < n else None,
            "typical": float(typical[int(nameless)]), "evidence": ev, "evidence_total": total,
        })
    out.sort(key=lambda r: (r["start"], r["user"] is None, r["user"] or "", r["ips"]))
    _after(con, [r for r in out if r["user"] is not None])
    _after_ips(con, [r for r in out if r["user"] is None])
    return out


def _after_ips(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """For each run without an account: the sign-ins from its address from its start to a day after its end."""
    if not runs:
        return
    by_ip: dict[str, list[Any]] = {}
    for row in rows(con, _AFTER_IPS, {"ips": sorted({ip for r in runs for ip in r["ips"]})}):
        by_ip.setdefault(row["src_ip"], []).append(utc(row["time"]))
    day = dt.timedelta(days=1)
    for r in runs:
        later = [when for ip in r["ips"] for when in by_ip.get(ip, []) if r["start"] <= when <= r["end"] + day]
        r["n_after"] = len(later)
        r["ips_after"] = sorted(r["ips"]) if later else []


def _after(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    """For each run: the sign-ins of its account from its start to a day after its end, and their addresses."""
    if not runs:
        return
    by_user: dict[str, list[tuple[Any, Any]]] = {}
    for r in rows(con, _AFTER, {"users": sorted({r["user"] for r in runs})}):
        by_user.setdefault(r["user"], []).append((utc(r["time"]), r["src_ip"]))
    day = dt.timedelta(days=1)
    for r in runs:
        later = [(when, ip) for when, ip in by_user.get(r["user"], []) if r["start"] <= when <= r["end"] + day]
        r["n_after"] = len(later)
        r["ips_after"] = sorted({ip for _, ip in later if ip is not None})
