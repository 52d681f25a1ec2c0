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
attempts succeed: a guessing tool at a login form, spray or brute force (the log cannot tell) — the
patient kind. A session whose account-less failures ever came at machine pace (``brute_force``'s own
window thresholds, at their least: 10 in 10 minutes or 5 in a minute) is ``brute_force``'s finding,
not this one: one report per address and burst.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow.compute as pc

from shoreup.detect.credential import _columns as cols
from shoreup.detect.credential import arrow, brute_force, evidence_refs, hosts_of, remembered, rows, utc
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


#: The candidate rows: failed guesses and (for account-less sources) successful logins from an address,
#: each guess marked unexplained when its account never signed in from that address.
_ROWS = f"""
WITH ok AS ({SUCCESS_PAIRS})
SELECT time, epoch(time) AS ts, user, src_ip, host, reason, ref_file, ref_record,
       CASE WHEN {GUESS} THEN 1 ELSE 0 END AS guess,
       CASE WHEN {GUESS} AND user IS NOT NULL AND ok.ok_user IS NULL THEN 1 ELSE 0 END AS unexplained
FROM auth LEFT JOIN ok ON user = ok.ok_user AND src_ip = ok.ok_ip
WHERE src_ip IS NOT NULL AND ({GUESS} OR (user IS NULL AND outcome = 'success'))
"""

#: Who then signed in (or was asked for a second factor) from the sprayers' addresses?
_AFTER = f"""
SELECT user, time, src_ip FROM auth WHERE {PASSWORD_OK} AND array_contains($ips, src_ip)
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per source and session of spraying."""
    found: list[Finding] = []
    for r in _sessions(con, params):
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
                evidence=r["evidence"],
                summary=summary,
                key=f"{r['src_ip']}|{r['session']}",
            )
        )
    return found


def _sessions(con: duckdb.DuckDBPyConnection, params: Params) -> list[dict[str, Any]]:
    """Each source's sessions that crossed a threshold, in (start, source) order.

    Per address in time order (SQL's semantics exactly, see ``_columns``): a session starts after a
    gap of more than ``session_gap_hours``; an account's first unexplained failure in a session counts
    it once; the accounts counted in the ``RANGE`` frame of ``fast_window_seconds`` and so far in the
    session, and the account-less failures so far, run up to each row: the first row at which a
    threshold holds is when a streaming detector would fire."""
    t = arrow(con, _ROWS)
    if not t.num_rows:
        return []
    ip, ips = cols.codes(t, "src_ip")
    ts = cols.floats(t, "ts")
    order = cols.group_order(ip, ts)
    ip, ts = ip[order], ts[order]
    user, users, user_rank = cols.ranked_codes(t, "user")
    user = user[order]
    guess = cols.floats(t, "guess")[order] == 1
    unexplained = cols.floats(t, "unexplained")[order] == 1
    unknown = np.asarray(pc.fill_null(pc.equal(t.column("reason"), "unknown_user"), False), dtype=bool)[order]
    anonymous = (user < 0) & guess
    n = len(ts)

    first_ip = cols.starts(ip)
    new_s = first_ip.copy()
    new_s[1:] |= (ts[1:] - ts[:-1]) > float(params.session_gap_hours) * 3600
    session_id = np.cumsum(new_s) - 1
    session_no = cols.running(new_s, first_ip)  # numbered from 1 within the source, as SQL's sum(new_s)
    tried = np.flatnonzero(unexplained)
    first_try = np.zeros(n, dtype=bool)
    first_try[tried[cols.first_seen(cols.pair(session_id[tried], user[tried], len(users)))]] = True
    fast_users = cols.sliding(ts, int(params.fast_window_seconds), hit=first_try, group=session_id)
    users_so_far = cols.running(first_try, new_s)
    anon_so_far = cols.running(anonymous, new_s)
    users_at = cols.group_first((fast_users >= params.min_fast_users) | (users_so_far >= params.min_users), new_s)
    anon_at = cols.group_first(anon_so_far >= params.min_anonymous_failures, new_s)
    # Account-less failures at brute_force's pace: that detector reports the burst, with whether the
    # address then got in.
    paced = anonymous & brute_force.at_pace(ts, session_id, anonymous) if anonymous.any() else anonymous
    candidates = np.flatnonzero((users_at < n) | (anon_at < n))
    if not len(candidates):
        return []

    bounds = np.append(np.flatnonzero(new_s), n)
    times = t.column("time")

    def at(i: int) -> Any:
        return utc(times[int(order[i])].as_py())

    out: list[dict[str, Any]] = []
    for c in candidates:
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        u, g, x = user[lo:hi], guess[lo:hi], unexplained[lo:hi]
        n_users = len(np.unique(u[g & (u >= 0)]))
        targets = cols.distinct_sorted(u[x], users, user_rank)
        anon, anon_ok = int(anonymous[lo:hi].sum()), int(((u < 0) & ~g).sum())
        spray = users_at[c] < n and len(targets) >= float(params.min_unexplained_share) * n_users
        form = (anon_at[c] < n and anon_ok <= float(params.max_anonymous_success_share) * (anon + anon_ok)
                and not paced[lo:hi].any())
        if not (spray or form):
            continue
        rows_ = order[lo:hi]
        ev, total = evidence_refs(t, rows_[g])
        out.append({
            "src_ip": ips[int(ip[lo])], "session": int(session_no[lo]),
            "start": at(lo), "end": at(hi - 1), "attempts": int(g.sum()),
            "users": n_users, "unexplained_users": len(targets),
            "unknown_users": len(np.unique(u[x & unknown[lo:hi]])),
            "anonymous": anon, "anonymous_ok": anon_ok,
            "peak_fast": int(fast_users[lo:hi].max()),
            "users_at": at(int(users_at[c])) if users_at[c] < n else None,
            "anon_at": at(int(anon_at[c])) if anon_at[c] < n else None,
            "targets": targets, "failed": cols.distinct_sorted(u[g], users, user_rank),
            "hosts": hosts_of(t, rows_),
            "evidence": ev, "evidence_total": total,
        })
    out.sort(key=lambda r: (r["start"], r["src_ip"]))
    _after(con, out)
    return out


def _after(con: duckdb.DuckDBPyConnection, sessions: list[dict[str, Any]]) -> None:
    """For each session: who signed in from its address from its start to a day after its end."""
    if not sessions:
        return
    by_ip: dict[str, list[tuple[Any, Any]]] = {}
    for r in rows(con, _AFTER, {"ips": sorted({r["src_ip"] for r in sessions})}):
        by_ip.setdefault(r["src_ip"], []).append((utc(r["time"]), r["user"]))
    day = dt.timedelta(days=1)
    for r in sessions:
        r["users_after"] = sorted({u for when, u in by_ip.get(r["src_ip"], [])
                                   if u is not None and r["start"] <= when <= r["end"] + day})
