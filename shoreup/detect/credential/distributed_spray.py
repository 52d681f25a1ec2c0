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
   single-source sprays, reported by ``password_spray``).

Reported with the campaign: its IPs, accounts, unknown-name share, attempts per account, the share of
IPs new to the tenant, and the user agent, ASN and /16 shared by the most IPs.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from shoreup.detect.credential import remembered, rows, utc
from shoreup.detect.credential._shared import GUESS, SUCCESS_PAIRS, net16, seconds, span_text, top_share
from shoreup.findings import Finding, Ref, iso

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
    fresh, window = float(p.fresh_hours) * 3600, float(p.window_hours) * 3600
    fast = float(p.fast_window_minutes) * 60
    return f"""
WITH ok AS ({SUCCESS_PAIRS}),
egress AS (
    SELECT src_ip AS e_ip FROM auth
    WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
    GROUP BY src_ip HAVING count(DISTINCT user) >= {int(p.min_egress_users)}
),
-- Addresses where a nameless login (web form) succeeded: their nameless failures are the owners' typos.
anon_ok AS (SELECT DISTINCT src_ip AS a_ip FROM auth WHERE outcome = 'success' AND user IS NULL AND src_ip IS NOT NULL),
c AS (
    SELECT time, epoch(time) AS ts, user, src_ip, host, reason, user_agent, asn, country, source_format,
           ref_file, ref_record,
           CASE WHEN user IS NULL OR reason = 'unknown_user' THEN 1 ELSE 0 END AS unknown
    FROM auth
    LEFT JOIN ok ON user = ok.ok_user AND src_ip = ok.ok_ip
    LEFT JOIN egress ON src_ip = egress.e_ip
    LEFT JOIN anon_ok ON src_ip = anon_ok.a_ip AND user IS NULL
    WHERE {GUESS} AND src_ip IS NOT NULL AND ok.ok_user IS NULL AND egress.e_ip IS NULL AND anon_ok.a_ip IS NULL
),
-- An address that tries many accounts (or a web form many times) alone is a single-source spray,
-- reported by password_spray; a distributed campaign is made of the many that each try a few.
solo AS (
    SELECT src_ip AS s_ip FROM c GROUP BY src_ip
    HAVING count(DISTINCT user) > {int(p.max_accounts_per_ip)}
        OR sum(CASE WHEN user IS NULL THEN 1 ELSE 0 END) > {int(p.max_accounts_per_ip)}
),
f AS (
    SELECT *, CASE WHEN user IS NULL
                     OR lag(ts) OVER (PARTITION BY source_format, user ORDER BY ts) IS NULL
                     OR ts - lag(ts) OVER (PARTITION BY source_format, user ORDER BY ts) > {fresh}
                   THEN 1 ELSE 0 END AS fresh
    FROM c LEFT JOIN solo ON c.src_ip = solo.s_ip WHERE solo.s_ip IS NULL
)
SELECT *,
    sum(CASE WHEN fresh = 1 AND unknown = 0 THEN 1 ELSE 0 END)
        OVER (PARTITION BY source_format ORDER BY ts RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS fresh_known,
    sum(CASE WHEN fresh = 1 AND unknown = 1 THEN 1 ELSE 0 END)
        OVER (PARTITION BY source_format ORDER BY ts RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS fresh_unknown,
    sum(fresh) OVER (PARTITION BY source_format ORDER BY ts RANGE BETWEEN {fast} PRECEDING AND CURRENT ROW) AS fresh_fast
FROM f
ORDER BY source_format, ts, ref_file, ref_record
"""


_TENANT_IPS = """
SELECT DISTINCT src_ip FROM auth WHERE outcome = 'success' AND src_ip IS NOT NULL AND time < $before
"""


_TENANT_FEATURES = """
SELECT 'ua' AS k, user_agent AS v FROM auth WHERE outcome = 'success' AND user_agent IS NOT NULL
GROUP BY user_agent HAVING count(DISTINCT user) >= $n
UNION ALL
SELECT 'asn' AS k, CAST(asn AS VARCHAR) AS v FROM auth WHERE outcome = 'success' AND asn IS NOT NULL
GROUP BY asn HAVING count(DISTINCT user) >= $n
"""


def _background(events: list[dict[str, Any]], key: str, unknown: int, window: float) -> float:
    """Fresh targets of one kind per window outside the busiest window: the tenant's own background."""
    fresh = [e["ts"] for e in events if e["fresh"] == 1 and e["unknown"] == unknown]
    if not fresh:
        return 0.0
    peak = max(events, key=lambda e: e[key])
    lo, hi = peak["ts"] - window, peak["ts"]
    outside = sum(1 for t in fresh if not lo <= t <= hi)
    span = events[-1]["ts"] - events[0]["ts"] - window
    if span <= window:  # too short an input to learn a background from what lies outside one window
        return 0.0
    return outside * window / span


@remembered
def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per campaign: every attributed IP and account, with the signals that tied them."""
    streams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in rows(con, _sql(params)):
        streams[e["source_format"]].append(e)
    found: list[Finding] = []
    for fmt in sorted(streams):
        found.extend(_campaigns(con, params, fmt, streams[fmt]))
    return found


def _campaigns(
    con: duckdb.DuckDBPyConnection, params: Params, fmt: str, events: list[dict[str, Any]]
) -> list[Finding]:
    """The campaigns against one identity source (one format's events: the tenant as that source sees it)."""
    window = float(params.window_hours) * 3600
    bg_known = _background(events, "fresh_known", 0, window)
    bg_unknown = _background(events, "fresh_unknown", 1, window)
    thr_known = max(params.min_users, params.baseline_factor * bg_known)
    thr_unknown = max(params.min_unknown_users, params.baseline_factor * bg_unknown)
    fast_share = float(params.fast_window_minutes) * 60 / window
    thr_fast = max(params.min_fast_targets, params.baseline_factor * (bg_known + bg_unknown) * fast_share)

    # Hot windows: [ts - window, ts] for each event where a threshold is met; merge those that touch.
    hot: list[list[float]] = []
    for e in events:
        if e["fresh_known"] >= thr_known or e["fresh_unknown"] >= thr_unknown or e["fresh_fast"] >= thr_fast:
            lo = e["ts"] - window
            if hot and lo <= hot[-1][1]:
                hot[-1][1] = e["ts"]
            else:
                hot.append([lo, e["ts"], e["ts"]])
    found: list[Finding] = []
    follow = float(params.follow_days) * 86400
    fresh_ts = [e["ts"] for e in events if e["fresh"] == 1]
    for n, (lo, hi, first_hot) in enumerate(hot):
        # The campaign starts where its burst does, not a whole window of background earlier: walk back
        # from the first hot moment while fresh targets come at least at the pace the threshold implies.
        before = [t for t in fresh_ts if lo <= t <= first_hot]
        pace = window / max(1.0, min(thr_known, thr_unknown))
        k = len(before) - 1
        while k > 0 and before[k] - before[k - 1] <= pace:
            k -= 1
        if before:
            lo = before[k]
        inside = [e for e in events if lo <= e["ts"] <= hi]
        fresh_users = {e["user"] for e in inside if e["fresh"] == 1 and e["user"]}
        # Its addresses: those that tried a fresh target; every try of theirs in the window is the campaign's
        # (an account tried before, by a typo or a scanner, is no less a target of this list).
        fleet = {e["src_ip"] for e in inside if e["user"] in fresh_users}
        targets = fresh_users | {e["user"] for e in inside if e["src_ip"] in fleet and e["user"]}
        # Later rounds from new IPs against the campaign's accounts join it, chained by gaps < window.
        members: list[dict[str, Any]] = []
        last = hi
        for e in events:
            if e["ts"] < lo or e["ts"] > hi + follow:
                continue
            if e["user"] is None and e["ts"] <= hi:
                members.append(e)  # a nameless attempt (web form) inside the hot window
                continue
            if e["user"] not in targets:
                continue
            if e["ts"] > hi and e["ts"] - last > window:
                break
            members.append(e)
            last = max(last, e["ts"])
        finding = _finding(con, params, fmt, members, n, thr_known, thr_unknown, first_hot, bg_known, bg_unknown)
        if finding is not None:
            found.append(finding)
    return found


def _finding(
    con: duckdb.DuckDBPyConnection,
    params: Params,
    fmt: str,
    members: list[dict[str, Any]],
    n: int,
    thr_known: float,
    thr_unknown: float,
    detected_ts: float,
    bg_known: float,
    bg_unknown: float,
) -> Finding | None:
    # A campaign keeps its tries per account under the lockout threshold: an address that hammers one
    # account (a brute force, a stale device) is no member of it.
    per_pair: dict[tuple[str, str], int] = defaultdict(int)
    for e in members:
        if e["user"]:
            per_pair[(e["src_ip"], e["user"])] += 1
    hammer = {ip for (ip, _), k in per_pair.items() if k > params.max_tries_per_account}
    members = [e for e in members if e["src_ip"] not in hammer]
    if not members:
        return None
    by_ip: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_user: dict[str, int] = defaultdict(int)
    for e in members:
        by_ip[e["src_ip"]].append(e)
        by_user[e["user"] or "(no name)"] += 1
    if len(by_ip) < params.min_ips:
        return None
    top_ip = max(len(v) for v in by_ip.values())
    if top_ip > params.max_top_ip_share * len(members):  # one source carries it: a single-source spray
        return None
    start, end = members[0]["time"], members[-1]["time"]
    tenant_ips = {r["src_ip"] for r in rows(con, _TENANT_IPS, {"before": start})}
    ips = sorted(by_ip)
    new_ips = [ip for ip in ips if ip not in tenant_ips]
    fleet = {ip: by_ip[ip] for ip in new_ips}
    users = sorted(u for u in by_user if u != "(no name)")
    unknown = sorted({e["user"] for e in members if e["unknown"] == 1 and e["user"]})
    nameless = by_user.get("(no name)", 0)
    # Infrastructure the campaign shares: among its IPs new to the tenant, and never the tenant's own
    # (a user agent or ASN that several of the tenant's people sign in with identifies nobody).
    own = rows(con, _TENANT_FEATURES, {"n": params.min_egress_users})
    own_uas = {r["v"] for r in own if r["k"] == "ua"}
    own_asns = {int(r["v"]) for r in own if r["k"] == "asn"}
    ip_uas = [v for v in _ip_value(fleet, "user_agent") if v not in own_uas]
    ip_asns = [v for v in _ip_value(fleet, "asn") if v not in own_asns]
    ip_nets = [net16(ip) for ip in new_ips]
    ua, ua_ips = top_share(ip_uas)
    asn, asn_ips = top_share(ip_asns)
    net, net_ips = top_share(ip_nets)
    floor = max(3, len(new_ips) // 20)  # a feature of at least 5 % of the fleet (and 3 IPs) marks it
    fleet_uas = _shared(ip_uas, floor)
    fleet_asns = _shared(ip_asns, floor)
    fleet_nets = _shared(ip_nets, floor)
    per_ip = sorted(len(v) for v in by_ip.values())
    per_user = sorted(k for u, k in by_user.items() if u != "(no name)") or [0]
    unknown_share = (len(unknown) + nameless) / max(1, len(users) + nameless)
    stuffing = unknown_share >= 0.5
    hours = max((end - start).total_seconds() / 3600, 1 / 3600)
    what = "Credential stuffing" if stuffing else "Distributed password spray"
    tried = [f"{len(users)} accounts ({len(unknown)} non-existent)"] if users else []
    if nameless:
        tried.append(f"{nameless} logins without an account name")
    summary = (
        f"{what}: {len(ips)} IPs tried {' and '.join(tried)} in {len(members)} attempts over "
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
    peak_known = max(e["fresh_known"] for e in members)
    peak_unknown = max(e["fresh_unknown"] for e in members)
    strength = max(peak_known / thr_known, peak_unknown / thr_unknown)
    evidence = [Ref(e["ref_file"], int(e["ref_record"])) for e in members]
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
        hosts=sorted({e["host"] for e in members if e["host"]}),
        metrics={
            "attempts": len(members),
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
        },
        evidence=evidence,
        summary=summary,
        key=f"{fmt}|{n}|{seconds(start):.0f}",
    )


def _shared(values: Iterable[Any], floor: int) -> list[Any]:
    """Values carried by at least ``floor`` of the campaign's IPs (at most 20, most common first)."""
    counts = Counter(v for v in values if v not in (None, ""))
    return [v for v, k in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))) if k >= floor][:20]


def _ip_value(by_ip: dict[str, list[dict[str, Any]]], column: str) -> list[Any]:
    """Each IP's most common value of a column (one vote per IP)."""
    return [evs[0][column] if len(evs) == 1 else top_share(e[column] for e in evs)[0] for evs in by_ip.values()]
