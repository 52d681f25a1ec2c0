"""Distributed spraying and credential stuffing: one campaign across many IPs (T1110.003 / T1110.004).

Attack shape: the attacker rents hundreds of proxies and gives each one to three tries, so that no
per-IP counter ever fills, and walks one username list across them — real accounts of the tenant
for a spray, a breach dump of mostly non-existent names for credential stuffing — keeping attempts
per account under the lockout threshold, over hours or a week. The campaign is only visible over
the whole tenant, so this detector counts at tenant level:

1. Candidate failures: failed guesses from addresses that are not the tenant's own egress (an address
   from which ``min_egress_users`` accounts signed in) and whose account never signed in from there.
2. A candidate is *fresh* when its account had no candidate failure for ``fresh_hours`` before: the
   same scanner names tried all day are not fresh, a username list walked once is.
3. Over any sliding ``window_hours`` span, fresh existing accounts are counted against
   ``max(min_users, baseline_factor * background)`` and fresh non-existent names against
   ``max(min_unknown_users, baseline_factor * background)``, where background is the tenant's own
   rate of fresh targets outside the busiest window, scaled to one window (the input's baseline).
   An internet scanner's dictionary is a few dozen service names; a stuffing list is hundreds.
   A fast campaign is caught sooner: ``min_fast_targets`` fresh targets of either kind inside any
   ``fast_window_minutes`` (also raised by the background, scaled to that window).
4. Hot windows closer than one window merge into one campaign, starting where its burst does. Its
   IPs are those that tried a fresh account in it; its accounts, every account those IPs tried
   there; and the campaign follows its accounts for ``follow_days`` after (later rounds from new
   IPs join it).
5. It needs ``min_ips`` attributed addresses, none carrying more than ``max_top_ip_share`` of the
   attempts, and none that tried more than ``max_accounts_per_ip`` accounts on its own (those are
   single-source sprays, reported by ``password_spray``) or posted a nameless login form (whose
   accounts the log does not tell) at ``brute_force``'s pace (10 in 10 minutes, 5 in a minute: a
   brute force from that address, reported there). A bot that posts the form twenty times over six
   hours is a member: no per-address window ever fills.

Reported with the campaign: its IPs, accounts, unknown-name share, attempts per account, the share of
IPs new to the tenant, and the user agent, ASN and /16 shared by the most IPs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.detect.credential import _columns as cols
from shoreup.detect.credential import arrow, brute_force, evidence_refs, hosts_of, remembered, rows, utc
from shoreup.detect.credential._shared import (
    DOTTED_QUAD,
    GUESS,
    REDIRECTS,
    SUCCESS_PAIRS,
    net16,
    seconds,
    span_text,
    tally,
    top_share,
    untold_try,
)
from shoreup.findings import MAX_EVIDENCE, Finding, iso

NAME = "distributed_spray"
TECHNIQUE = "T1110.003"
TITLE = "Distributed password spraying / credential stuffing"


@dataclass
class Params:
    window_hours: float = field(default=24.0, metadata={"doc": "Sliding window over which fresh targets are counted."})
    fresh_hours: float = field(
        default=72.0, metadata={"doc": "An account is a fresh target when not targeted for this long before."}
    )
    min_users: int = field(
        default=20, metadata={"doc": "Fresh existing accounts in one window that make a spray campaign."}
    )
    min_unknown_users: int = field(
        default=50,
        metadata={"doc": "Fresh non-existent names (or nameless web-form attempts) in one window that make a stuffing "
                         "campaign; an internet scanner's dictionary is a few dozen service names."},
    )
    baseline_factor: float = field(
        default=4.0, metadata={"doc": "Thresholds are at least this times the tenant's background per window."}
    )
    fast_window_minutes: float = field(
        default=15.0, metadata={"doc": "Short sliding window for campaigns run at machine pace."}
    )
    min_fast_targets: int = field(
        default=25,
        metadata={"doc": "Fresh targets (existing or not) in the short window that make a campaign: a tenant's "
                         "background gives a handful a day."},
    )
    min_ips: int = field(default=5, metadata={"doc": "Attributed addresses needed (fewer: single-source spray)."})
    min_egress_users: int = field(
        default=3, metadata={"doc": "Accounts signing in from an address that make it the tenant's own egress."}
    )
    max_accounts_per_ip: int = field(
        default=10,
        metadata={"doc": "An IP trying more accounts than this on its own is a single-source spray, not a member."},
    )
    max_top_ip_share: float = field(
        default=0.5, metadata={"doc": "Above this share of the attempts from one IP, it is a single-source spray."}
    )
    max_tries_per_account: int = field(
        default=10, metadata={"doc": "An IP trying one account more often than this (a lockout threshold) is no member."}
    )
    follow_days: float = field(
        default=7.0, metadata={"doc": "How long after its hot window later tries on its accounts join a campaign."}
    )


def _sql(p: Params) -> str:
    return f"""
WITH ok AS ({SUCCESS_PAIRS}),
egress AS (
    SELECT src_ip AS e_ip FROM auth
    WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
    GROUP BY src_ip HAVING count(DISTINCT user) >= {int(p.min_egress_users)}
),
-- Addresses where a nameless login (web form) succeeded: their nameless failures are the owners' typos.
anon_ok AS (SELECT DISTINCT src_ip AS a_ip FROM auth WHERE outcome = 'success' AND user IS NULL AND src_ip IS NOT NULL),
-- Formats whose nameless sign-ins succeed by redirect: their nameless posts answered otherwise are tries.
redirects AS ({REDIRECTS}),
-- When anyone first signed in from each address: an address is the tenant's own from then on.
first_ok AS (
    SELECT src_ip AS f_ip, min(epoch(time)) AS f_ts FROM auth WHERE outcome = 'success' AND src_ip IS NOT NULL
    GROUP BY src_ip
),
c AS (
    {_candidates("", f"{GUESS} AND src_ip IS NOT NULL")}
    UNION ALL
    -- Nameless posts answered without a result (a branch of their own: only they meet redirects)
    {_candidates("LEFT JOIN redirects ON source_format = redirects.r_fmt", untold_try("redirects.r_fmt"))}
),
-- An address that tries many accounts alone is a single-source spray, reported by password_spray; a
-- distributed campaign is made of the many that each try a few. (An address posting a web form at
-- machine pace is a brute force of its own: see _paced.)
solo AS (
    SELECT src_ip AS s_ip FROM c GROUP BY src_ip
    HAVING count(DISTINCT user) > {int(p.max_accounts_per_ip)}
),
f AS (SELECT c.* FROM c LEFT JOIN solo ON c.src_ip = solo.s_ip WHERE solo.s_ip IS NULL)
SELECT * FROM f
"""


def _candidates(join: str, where: str) -> str:
    """Candidate failures: ``where``, from no egress of the tenant and no pair that signed in."""
    return f"""SELECT time, epoch(time) AS ts, user, src_ip, host, reason, user_agent, asn, country, source_format,
           ref_file, ref_record,
           CASE WHEN user IS NULL OR reason = 'unknown_user' THEN 1 ELSE 0 END AS unknown,
           first_ok.f_ts AS ip_first_ok
    FROM auth
    LEFT JOIN first_ok ON src_ip = first_ok.f_ip
    {join}
    WHERE {where}
      -- Anti-joins as subqueries: the engine then builds its hash tables on the small side.
      AND NOT EXISTS (SELECT 1 FROM ok WHERE ok.ok_user = auth.user AND ok.ok_ip = auth.src_ip)
      AND src_ip NOT IN (SELECT e_ip FROM egress)
      AND NOT (user IS NULL AND src_ip IN (SELECT a_ip FROM anon_ok))"""


_TENANT_FEATURES = """
SELECT 'ua' AS k, user_agent AS v FROM auth WHERE outcome = 'success' AND user_agent IS NOT NULL
GROUP BY user_agent HAVING count(DISTINCT user) >= $n
UNION ALL
SELECT 'asn' AS k, CAST(asn AS VARCHAR) AS v FROM auth WHERE outcome = 'success' AND asn IS NOT NULL
GROUP BY asn HAVING count(DISTINCT user) >= $n
"""


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per campaign: every attributed IP and account, with the signals that tied them."""
    table = arrow(con, _sql(params))
    found: list[Finding] = []
    if table.num_rows and table.column("user").null_count:
        paced = _paced(table)
        if paced.any():
            table = table.filter(pa.array(~paced))
    if not table.num_rows:
        return found
    # In (format, time, ref) order: each format is the tenant as one identity source sees it.
    fmt, formats, fmt_rank = cols.ranked_codes(table, "source_format")
    ref_file, _, file_rank = cols.ranked_codes(table, "ref_file")
    ts = cols.floats(table, "ts")
    order = np.lexsort((cols.floats(table, "ref_record"), cols.sort_key(ref_file, file_rank), ts,
                        cols.sort_key(fmt, fmt_rank)))
    table, fmt, ts = table.take(pa.array(order)), fmt[order], ts[order]
    fresh = _fresh(fmt, cols.codes(table, "user")[0], ts, float(params.fresh_hours) * 3600)
    bounds = [*np.flatnonzero(cols.starts(fmt)).tolist(), table.num_rows]
    for lo, hi in itertools.pairwise(bounds):
        events = _Events(table.slice(lo, hi - lo), fresh[lo:hi], float(params.window_hours) * 3600,
                         float(params.fast_window_minutes) * 60)
        found.extend(_campaigns(con, params, str(formats[int(fmt[lo])] if fmt[lo] >= 0 else None), events))
    return found


def _paced(table: pa.Table) -> np.ndarray:
    """The rows of addresses that posted nameless tries (web forms) at machine pace on their own
    (``brute_force.at_pace``). Each is a brute force of its own (``brute_force`` reports it), not one
    of a fleet whose members try a few times each, however many tries a slow member makes over hours."""
    nameless = np.flatnonzero(np.asarray(table.column("user").is_null()))
    ip, _ = cols.codes(table, "src_ip")
    ts = cols.floats(table, "ts")[nameless]
    order = np.lexsort((ts, ip[nameless]))
    by_ip = ip[nameless][order]
    return np.isin(ip, np.unique(by_ip[brute_force.at_pace(ts[order], by_ip)]))


def _fresh(fmt: np.ndarray, user: np.ndarray, ts: np.ndarray, hours: float) -> np.ndarray:
    """A nameless try, or an account's first in its format, or its first after ``hours`` without one:
    ``lag(ts) OVER (PARTITION BY source_format, user ORDER BY ts)`` is null or further back than that."""
    by_user = np.lexsort((ts, user, fmt))  # stable: ties keep the (time, ref) order
    t = ts[by_user]
    first = cols.starts(fmt[by_user], user[by_user])
    first[1:] |= (t[1:] - t[:-1]) > hours
    out = np.empty(len(ts), dtype=bool)
    out[by_user] = first
    out |= user < 0
    return out


class _Events:
    """One format's candidate failures as columns (in time order); strings as dictionary codes.

    With, for each, the fresh targets in the ``window`` (and the ``fast`` window) up to it: existing
    accounts (``fresh_known``), non-existent names (``fresh_unknown``) and both (``fresh_fast``)."""

    def __init__(self, t: pa.Table, fresh: np.ndarray, window: float, fast: float) -> None:
        self.table = t
        self.n = t.num_rows
        self._features: list[dict[str, Any]] | None = None
        self.ts = cols.floats(t, "ts")
        self.fresh = fresh
        self.unknown = cols.floats(t, "unknown") == 1
        self.fresh_known = cols.sliding(self.ts, window, self.fresh & ~self.unknown).astype(np.float64)
        self.fresh_unknown = cols.sliding(self.ts, window, self.fresh & self.unknown).astype(np.float64)
        self.fresh_fast = cols.sliding(self.ts, fast, self.fresh).astype(np.float64)
        self.user, self.users = cols.codes(t, "user")
        self.ip, self.ips, self.ip_rank = cols.ranked_codes(t, "src_ip")
        # Truthy names (neither null nor empty): what the attribution counts as an account.
        self.named = np.zeros(len(self.users) + 1, dtype=bool)
        self.named[:-1] = [bool(u) for u in self.users]
        self.user_named = self.named[self.user]  # code -1 reads the last slot: False
        # Per address (by code): when anyone first signed in from it (inf: never).
        self.ip_first_ok = np.full(len(self.ips), np.inf)
        first_ok = np.nan_to_num(cols.floats(t, "ip_first_ok"), nan=np.inf)
        self.ip_first_ok[self.ip[self.ip >= 0]] = first_ok[self.ip >= 0]

    def tenant_features(self, con: duckdb.DuckDBPyConnection, params: Params) -> list[dict[str, Any]]:
        """The user agents and ASNs the tenant's own people sign in with (queried once, when needed)."""
        if self._features is None:
            self._features = rows(con, _TENANT_FEATURES, {"n": params.min_egress_users})
        return self._features

    def value(self, column: str, i: int) -> Any:
        return self.table.column(column)[int(i)].as_py()


def _background(ev: _Events, key: np.ndarray, unknown: bool, window: float) -> float:
    """Fresh targets of one kind per window outside the busiest window: the tenant's own background."""
    fresh = ev.ts[ev.fresh & (ev.unknown == unknown)]
    if not len(fresh):
        return 0.0
    peak = float(ev.ts[int(np.argmax(key))])
    lo, hi = peak - window, peak
    outside = int(np.count_nonzero((fresh < lo) | (fresh > hi)))
    span = float(ev.ts[-1]) - float(ev.ts[0]) - window
    if span <= window:  # too short an input to learn a background from what lies outside one window
        return 0.0
    return outside * window / span


def _campaigns(con: duckdb.DuckDBPyConnection, params: Params, fmt: str, ev: _Events) -> list[Finding]:
    """The campaigns against one identity source (one format's events: the tenant as that source sees it)."""
    window = float(params.window_hours) * 3600
    bg_known = _background(ev, ev.fresh_known, False, window)
    bg_unknown = _background(ev, ev.fresh_unknown, True, window)
    thr_known = max(params.min_users, params.baseline_factor * bg_known)
    thr_unknown = max(params.min_unknown_users, params.baseline_factor * bg_unknown)
    fast_share = float(params.fast_window_minutes) * 60 / window
    thr_fast = max(params.min_fast_targets, params.baseline_factor * (bg_known + bg_unknown) * fast_share)

    # Hot windows: [ts - window, ts] for each event where a threshold is met; merge those that touch.
    hot_ts = ev.ts[(ev.fresh_known >= thr_known) | (ev.fresh_unknown >= thr_unknown) | (ev.fresh_fast >= thr_fast)]
    found: list[Finding] = []
    if not len(hot_ts):
        return found
    starts = np.flatnonzero(np.concatenate(([True], hot_ts[1:] - window > hot_ts[:-1])))
    ends = [*(int(s) - 1 for s in starts[1:]), len(hot_ts) - 1]
    follow = float(params.follow_days) * 86400
    fresh_ts = ev.ts[ev.fresh]
    n_users, n_ips = len(ev.users), len(ev.ips)
    for n, (s, e) in enumerate(zip(starts, ends, strict=True)):
        first_hot, hi = float(hot_ts[s]), float(hot_ts[e])
        lo = first_hot - window
        # The campaign starts where its burst does, not a whole window of background earlier: walk back
        # from the first hot moment while fresh targets come at least at the pace the threshold implies.
        before = fresh_ts[(fresh_ts >= lo) & (fresh_ts <= first_hot)]
        pace = window / max(1.0, min(thr_known, thr_unknown))
        if len(before):
            gaps = np.flatnonzero(np.diff(before) > pace)
            lo = float(before[gaps[-1] + 1] if len(gaps) else before[0])
        inside = (ev.ts >= lo) & (ev.ts <= hi)
        fresh_users = _present(ev.user[inside & ev.fresh & ev.user_named], n_users)
        # Its addresses: those that tried a fresh target; every try of theirs in the window is the campaign's
        # (an account tried before, by a typo or a scanner, is no less a target of this list).
        fleet = _present(ev.ip[inside & _member(ev.user, fresh_users)], n_ips)
        targets = fresh_users | _present(ev.user[inside & _member(ev.ip, fleet) & ev.user_named], n_users)
        # Later rounds from new IPs against the campaign's accounts join it, chained by gaps < window.
        span = (ev.ts >= lo) & (ev.ts <= hi + follow)
        targeted = span & _member(ev.user, targets)
        later = np.flatnonzero(targeted & (ev.ts > hi))
        cut = ev.n
        if len(later):
            chain = np.diff(np.concatenate(([hi], ev.ts[later])))
            broken = np.flatnonzero(chain > window)
            if len(broken):
                cut = int(later[broken[0]])
        members = targeted | (span & (ev.user < 0) & (ev.ts <= hi))
        members[cut:] = False
        finding = _finding(con, params, fmt, ev, np.flatnonzero(members), n, thr_known, thr_unknown, first_hot,
                           bg_known, bg_unknown)
        if finding is not None:
            found.append(finding)
    return found


def _present(codes: np.ndarray, size: int) -> np.ndarray:
    """A membership mask over a dictionary (size + 1 slots: the last is null's and stays False)."""
    mask = np.zeros(size + 1, dtype=bool)
    mask[codes[codes >= 0]] = True
    return mask


def _member(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return mask[codes]  # code -1 reads the last slot


def _finding(
    con: duckdb.DuckDBPyConnection,
    params: Params,
    fmt: str,
    ev: _Events,
    idx: np.ndarray,
    n: int,
    thr_known: float,
    thr_unknown: float,
    detected_ts: float,
    bg_known: float,
    bg_unknown: float,
) -> Finding | None:
    # A campaign keeps its tries per account under the lockout threshold: an address that hammers one
    # account (a brute force, a stale device) is no member of it.
    n_users = len(ev.users) + 1
    named = idx[ev.user_named[idx]]
    pairs, per_pair = np.unique(ev.ip[named] * n_users + ev.user[named], return_counts=True)
    hammer = _present(np.unique(pairs[per_pair > params.max_tries_per_account] // n_users), len(ev.ips))
    idx = idx[~hammer[ev.ip[idx]]]
    if not len(idx):
        return None
    ip_codes, per_ip_counts = np.unique(ev.ip[idx], return_counts=True)
    if len(ip_codes) < params.min_ips:
        return None
    if int(per_ip_counts.max()) > params.max_top_ip_share * len(idx):  # one source carries it: single-source spray
        return None
    start, end = ev.value("time", idx[0]), ev.value("time", idx[-1])
    new = ~(ev.ip_first_ok[ip_codes] < ev.ts[idx[0]])  # no one had signed in from there before it began
    by_name = np.argsort(ev.ip_rank[ip_codes])  # the addresses in sorted order, without sorting strings
    ips = cols.pick(ev.ips, ip_codes[by_name])
    new_ips = cols.pick(ev.ips, ip_codes[by_name][new[by_name]])
    named = idx[ev.user_named[idx]]
    user_codes, per_user_counts = np.unique(ev.user[named], return_counts=True)
    users = sorted(u for u in (ev.users[c] for c in user_codes) if u != "(no name)")
    unknown = sorted({ev.users[c] for c in np.unique(ev.user[named[ev.unknown[named]]])})
    nameless = len(idx) - len(named) + int(sum(k for c, k in zip(user_codes, per_user_counts, strict=True)
                                               if ev.users[c] == "(no name)"))
    # Infrastructure the campaign shares: among its IPs new to the tenant, and never the tenant's own
    # (a user agent or ASN that several of the tenant's people sign in with identifies nobody).
    own = ev.tenant_features(con, params)
    own_uas = {r["v"] for r in own if r["k"] == "ua"}
    own_asns = {int(r["v"]) for r in own if r["k"] == "asn"}
    fleet_idx = idx[new[np.searchsorted(ip_codes, ev.ip[idx])]]
    ip_uas = [v for v in _ip_value(ev, fleet_idx, "user_agent") if v not in own_uas]
    ip_asns = [v for v in _ip_value(ev, fleet_idx, "asn") if v not in own_asns]
    ip_nets = _nets(new_ips)
    ua_counts, asn_counts, net_counts = tally(ip_uas), tally(ip_asns), tally(ip_nets)
    ua, ua_ips = top_share(ua_counts)
    asn, asn_ips = top_share(asn_counts)
    net, net_ips = top_share(net_counts)
    floor = max(3, len(new_ips) // 20)  # a feature of at least 5 % of the fleet (and 3 IPs) marks it
    fleet_uas = _shared(ua_counts, floor)
    fleet_asns = _shared(asn_counts, floor)
    fleet_nets = _shared(net_counts, floor)
    per_ip = np.sort(per_ip_counts).tolist()
    per_user = sorted(int(k) for c, k in zip(user_codes, per_user_counts, strict=True)
                      if ev.users[c] != "(no name)") or [0]
    unknown_share = (len(unknown) + nameless) / max(1, len(users) + nameless)
    stuffing = unknown_share >= 0.5
    hours = max((end - start).total_seconds() / 3600, 1 / 3600)
    what = "Credential stuffing" if stuffing else "Distributed password spray"
    tried = [f"{len(users)} accounts ({len(unknown)} non-existent)"] if users else []
    if nameless:
        tried.append(f"{nameless} logins without an account name")
    summary = (
        f"{what}: {len(ips)} IPs tried {' and '.join(tried)} in {len(idx)} attempts over "
        f"{span_text(start, end)} in {fmt} sign-ins, a median {per_ip[len(per_ip) // 2]} tries per IP"
        + (f" and at most {per_user[-1]} per account" if users else "")
    )
    shared = []
    if ua and ua_ips >= max(3, len(ips) // 3):
        shared.append(f"{ua_ips} IPs share user agent {ua!r}")
    if asn and asn_ips >= max(3, len(ips) // 3):
        shared.append(f"{asn_ips} IPs share AS{asn}")
    if net and net_ips >= max(3, len(ips) // 3):
        shared.append(f"{net_ips} IPs share {net}")
    if shared:
        summary += "; " + "; ".join(shared)
    peak_known = float(ev.fresh_known[idx].max())
    peak_unknown = float(ev.fresh_unknown[idx].max())
    strength = max(peak_known / thr_known, peak_unknown / thr_unknown)
    evidence, evidence_total = evidence_refs(ev.table, idx)
    return Finding(
        detector=NAME,
        technique="T1110.004" if stuffing else TECHNIQUE,
        title=TITLE,
        severity="medium" if stuffing else "high",
        confidence=min(0.99, 0.6 + 0.2 * min(2.0, strength - 1) + (0.05 if shared else 0)),
        start=utc(start),
        end=utc(end),
        users=users,
        src_ips=ips,
        hosts=hosts_of(ev.table, idx),
        metrics={
            "attempts": len(idx),
            "accounts": len(users),
            "unknown_accounts": len(unknown),
            "unknown_share": round(unknown_share, 3),
            "nameless_attempts": nameless,
            "source_format": fmt,
            "source_ips": len(ips),
            "ips_new_to_tenant": len(new_ips),
            "median_tries_per_ip": per_ip[len(per_ip) // 2],
            "max_tries_per_account": per_user[-1],
            "median_tries_per_account": per_user[len(per_user) // 2],
            "peak_fresh_accounts_in_window": int(peak_known),
            "peak_fresh_unknown_in_window": int(peak_unknown),
            "threshold_accounts": round(thr_known, 1),
            "threshold_unknown": round(thr_unknown, 1),
            "background_accounts_per_window": round(bg_known, 2),
            "background_unknown_per_window": round(bg_unknown, 2),
            "window_hours": params.window_hours,
            "shared_user_agent": [ua, ua_ips] if ua else None,
            "shared_asn": [asn, asn_ips] if asn else None,
            "shared_net16": [net, net_ips] if net else None,
            "hours": round(hours, 2),
            "fleet_user_agents": fleet_uas,
            "fleet_asns": fleet_asns,
            "fleet_net16s": fleet_nets,
            "detected_at": iso(dt.datetime.fromtimestamp(detected_ts, dt.UTC)),
            **({"evidence_total": evidence_total} if evidence_total > MAX_EVIDENCE else {}),
        },
        evidence=evidence,
        summary=summary,
        key=f"{fmt}|{n}|{seconds(start):.0f}",
    )


def _shared(counts: Counter[Any], floor: int) -> list[Any]:
    """Values (a :func:`tally` of them) carried by at least ``floor`` of the campaign's IPs (at most 20,
    most common first)."""
    kept = [(v, k) for v, k in counts.items() if k >= floor]
    return [v for v, _ in sorted(kept, key=lambda kv: (-kv[1], str(kv[0])))][:20]


def _ip_value(ev: _Events, idx: np.ndarray, column: str) -> list[Any]:
    """Each IP's most common value of a column (one vote per IP; ties to the least as text); IPs without
    a value give none."""
    values = ev.table.column(column).take(pa.array(idx))
    keep = pc.fill_null(pc.not_equal(pc.cast(values, pa.string()), ""), False)
    enc = pc.dictionary_encode(values.filter(keep).combine_chunks())
    names = enc.dictionary.to_pylist()
    if not names:
        return []
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=[str(n) for n in names].__getitem__)] = np.arange(len(names))
    ip = ev.ip[idx][np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)]
    v = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    pairs, counts = np.unique(ip * len(names) + v, return_counts=True)
    pair_ip, pair_v = pairs // len(names), pairs % len(names)
    order = np.lexsort((pair_v, -counts, pair_ip))
    first = order[np.concatenate(([True], pair_ip[order][1:] != pair_ip[order][:-1]))]
    byrank = cols.pick(names, np.argsort(rank))
    return cols.pick(byrank, pair_v[first])


def _nets(ips: list[str]) -> list[str | None]:
    """:func:`net16` of many addresses: dotted quads in Arrow, anything else one by one."""
    arr = pa.array(ips, pa.string())
    quad = pc.fill_null(pc.match_substring_regex(arr, DOTTED_QUAD), False)
    nets = pc.replace_substring_regex(arr, r"^([0-9]+)\.([0-9]+)\..*$", r"\1.\2.0.0/16").to_pylist()
    if pc.all(quad).as_py() is not False:  # every one a dotted quad (or none at all)
        return nets
    return [n if q else net16(ip) for ip, n, q in zip(ips, nets, quad.to_pylist(), strict=True)]
