"""Compromise after a credential attack: the password of a targeted account worked (T1078).

Attack shape: after a spray or brute force the attacker signs in with the guessed password — often
hours or days later and from another address than the guessing, which defeats the peers' "failures
then success from the same IP within 15 seconds". For every account an attack targeted (brute force,
single-source or distributed spray, MFA fatigue), this detector looks at every password-correct
outcome (a success, or "password ok, MFA required / denied") from any IP, from the attack's start to
``within_days`` after its end, and keeps those that are not the owner's:

* from an address of the campaign, or with its infrastructure (a user agent, ASN or /16 shared by
  its fleet of IPs and foreign to the tenant); or
* from a public address and network (/16, ASN) the account never signed in from before on that
  identity source (history is kept per account and source format), and not the tenant's own egress
  (an address two other accounts signed in from), when the evidence weighs enough (score >= 3):
  the new network 1, a new country 1 (+1 where no one in the tenant signs in), a user agent the
  account never used and few of the tenant's people use 2, a sign-in method the account never
  used 1 (admins mix keys and passwords), an impossible journey (another country less than ``travel_hours`` after the previous
  sign-in, from another network) 2, and the account's own user agent -1. A traveller with their
  own laptop weighs 1-2: quiet. Where the source logs no user agent (sshd), the campaign's
  addresses and infrastructure, or the first-sign-in rule below, tell the attacker.

An address the person signed in from before is theirs, whatever it shares with a campaign; a /16
where three of the tenant's people sign in is nobody's infrastructure.

An account's first sign-in to a service (no history there) is judged by the person's other sources:
it counts when it comes from an address and /16 they never used anywhere and no one else in the
tenant used either, with no user agent or one foreign to the person and the tenant, provided the
person has public addresses elsewhere to compare with. An account with no sign-in anywhere before has no baseline: only the first rule
applies to it.
One finding per campaign names every compromised account and the addresses that signed in.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.detect.credential import arrow, utc
from shoreup.detect.credential._campaigns import Campaign, campaigns
from shoreup.detect.credential._shared import PASSWORD_OK, net16
from shoreup.findings import Finding, Ref, iso

NAME = "compromise"
TECHNIQUE = "T1078"
TITLE = "Account compromised after a credential attack"


@dataclass
class Params:
    within_days: float = field(
        default=3.0, metadata={"doc": "How long after an attack a password-correct outcome still counts."}
    )
    travel_hours: float = field(
        default=2.0,
        metadata={"doc": "A sign-in from another country and network sooner than this after the last one is "
                         "impossible travel."},
    )


#: Password-correct outcomes.
_PASSWORD_OK = f"""
SELECT time, epoch(time) AS ts, user, src_ip, outcome, reason, method, user_agent, country, asn, host, source_format,
       ref_file, ref_record
FROM auth
WHERE user IS NOT NULL AND ({PASSWORD_OK})
"""

#: In one statement (each part read once: an engine that does not keep a CTE computes it per use): the
#: targeted accounts' outcomes, whole, up to the last moment that can matter — their history and the
#: candidates (``is_event``) —, and the successes at the first moment of each (address, account) and
#: (user agent, account) pair and each country (``*_first``), of which the first in order is when that
#: pair or country first signed in. ``k`` is a place in the order of (time, ref, user, address, outcome,
#: reason); only the outcomes whose places are compared get one, which orders them as numbering every
#: outcome of the tenant would, for a fraction of the sort.
_MARKED = f"""
WITH p AS ({_PASSWORD_OK}),
-- Each reads the table itself (the engine would otherwise hold a copy of every outcome for them).
fi AS (SELECT src_ip AS fi_ip, user AS fi_user, min(time) AS fi_time FROM auth
       WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL AND src_ip <> '' GROUP BY src_ip, user),
fu AS (SELECT user_agent AS fu_ua, user AS fu_user, min(time) AS fu_time FROM auth
       WHERE outcome = 'success' AND user IS NOT NULL AND user_agent IS NOT NULL AND user_agent <> ''
       GROUP BY user_agent, user),
fc AS (SELECT country AS fc_country, min(time) AS fc_time FROM auth
       WHERE outcome = 'success' AND user IS NOT NULL AND country IS NOT NULL AND country <> '' GROUP BY country),
m AS (
    SELECT p.*,
           CASE WHEN array_contains($users, p.user) AND p.ts <= $until THEN 1 ELSE 0 END AS is_event,
           CASE WHEN fi.fi_ip IS NOT NULL AND p.outcome = 'success' THEN 1 ELSE 0 END AS ip_first,
           CASE WHEN fu.fu_ua IS NOT NULL AND p.outcome = 'success' THEN 1 ELSE 0 END AS ua_first,
           CASE WHEN fc.fc_country IS NOT NULL AND p.outcome = 'success' THEN 1 ELSE 0 END AS country_first
    FROM p
    LEFT JOIN fi ON p.src_ip = fi.fi_ip AND p.user = fi.fi_user AND p.time = fi.fi_time
    LEFT JOIN fu ON p.user_agent = fu.fu_ua AND p.user = fu.fu_user AND p.time = fu.fu_time
    LEFT JOIN fc ON p.country = fc.fc_country AND p.time = fc.fc_time
),
e AS (
    SELECT *, row_number() OVER (ORDER BY time, ref_file, ref_record, user, src_ip, outcome, reason) AS k
    FROM m WHERE is_event = 1 OR ip_first = 1 OR ua_first = 1 OR country_first = 1
)
SELECT * FROM e
"""


class _Firsts:
    """When each (key, account) pair first signed in: how many accounts had, for a key, before a place."""

    def __init__(self, keys: list[Any], users: list[Any], places: np.ndarray) -> None:
        self.first: dict[tuple[Any, Any], int] = {}
        for key, user, place in zip(keys, users, places.tolist(), strict=True):
            if place < self.first.get((key, user), place + 1):
                self.first[(key, user)] = place
        key_enc = pc.dictionary_encode(pa.array([k for k, _ in self.first], pa.string()))
        self.key_code = {k: i for i, k in enumerate(key_enc.dictionary.to_pylist())}
        codes = np.asarray(key_enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        firsts = np.fromiter(self.first.values(), dtype=np.int64, count=len(self.first))
        order = np.lexsort((firsts, codes))
        self.codes, self.places = codes[order], firsts[order]

    def before(self, key: Any, place: int, but: str | None = None) -> int:
        """Accounts that signed in with ``key`` before ``place`` (not counting ``but``)."""
        code = self.key_code.get(key)
        if code is None:
            return 0
        lo, hi = np.searchsorted(self.codes, [code, code + 1])
        n = int(np.searchsorted(self.places[lo:hi], place))
        if but is not None and self.first.get((key, but), place) < place:
            n -= 1
        return n


class _Tenant:
    """The tenant's sign-ins as of any place in the order: who used an address, network, user agent."""

    def __init__(self, table: pa.Table) -> None:
        kind = table.column("kind").to_pylist()
        values = table.column("v").to_pylist()
        users = table.column("user").to_pylist()
        places = np.asarray(table.column("k").to_numpy(zero_copy_only=False), dtype=np.int64)

        def pick(name: str) -> np.ndarray:
            return np.array([i for i, x in enumerate(kind) if x == name], dtype=np.int64)

        ip, ua, country = pick("ip"), pick("ua"), pick("country")
        ips = [values[i] for i in ip]
        self.ips = _Firsts(ips, [users[i] for i in ip], places[ip])
        nets = {v: net16(v) or "" for v in set(ips)}
        self.nets = _Firsts([nets[v] for v in ips], [users[i] for i in ip], places[ip])
        self.uas = _Firsts([values[i] for i in ua], [users[i] for i in ua], places[ua])
        self.countries = {values[i]: int(places[i]) for i in country}

    def country_seen(self, country: str, place: int) -> bool:
        return self.countries.get(country, place) < place


@dataclass
class _History:
    ips: set[str] = field(default_factory=set)
    nets: set[str] = field(default_factory=set)
    asns: set[int] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    uas: set[str] = field(default_factory=set)
    methods: set[str] = field(default_factory=set)
    last: dict[str, Any] | None = None

    def add(self, e: dict[str, Any]) -> None:
        self.add_values(e["src_ip"], e["asn"], e["country"], e["user_agent"], e["method"])
        self.last = e

    def add_values(self, ip: str | None, asn: int | None, country: str | None, ua: str | None, method: str | None) -> None:
        if ip:
            self.ips.add(ip)
            self.nets.add(net16(ip) or ip)
        if asn is not None:
            self.asns.add(asn)
        if country is not None:
            self.countries.add(country)
        if ua is not None:
            self.uas.add(ua)
        if method is not None:
            self.methods.add(method)


def _why(e: dict[str, Any], h: _History, person: _History, tenant: _Tenant, c: Campaign, travel: float) -> list[str]:
    """The reasons this sign-in is not the owner's (empty when it looks like the owner)."""
    if e["src_ip"] in c.ips:
        return ["from an address of the attack"]
    if e["src_ip"] and (e["src_ip"] in h.ips or e["src_ip"] in person.ips):
        return []  # where the person signed in before: theirs, whatever it shares with a campaign
    if e["user_agent"] and e["user_agent"] in c.user_agents:
        return ["with the attack's user agent"]
    if e["asn"] is not None and e["asn"] in c.asns:
        return [f"from the attack's network AS{e['asn']}"]
    if e["src_ip"] and net16(e["src_ip"]) in c.nets and tenant.nets.before(net16(e["src_ip"]) or "", e["k"]) < 3:
        return [f"from the attack's network {net16(e['src_ip'])}"]
    if not e["src_ip"] or not _public(e["src_ip"]) or e["src_ip"] in h.ips or e["src_ip"] in person.ips:
        return []
    others = tenant.ips.before(e["src_ip"], e["k"], but=e["user"])
    if others >= 2:
        return []  # the tenant's own egress (office NAT, VPN): many of its people sign in from there
    if not h.ips:
        # The account's first sign-in to this service: judge it by where the person signs in elsewhere.
        if (not any(_public(ip) for ip in person.ips) or (net16(e["src_ip"]) or "") in person.nets or others
                or e["outcome"] != "success"):
            return []
        ua = e["user_agent"]
        if ua and (ua in person.uas or tenant.uas.before(ua, e["k"]) >= 3):
            return []  # the person's own device, or one the tenant's people use
        return [f"first sign-in to {e['source_format']} for the account, from an address and network that "
                "neither it nor anyone in the tenant used before"]
    new_net = (net16(e["src_ip"]) or e["src_ip"]) not in h.nets and (e["asn"] is None or e["asn"] not in h.asns)
    if not new_net:
        return []
    # Evidence for and against, weighed: the attacker brings a new network and often a new country
    # or client; the traveller brings a new network and country but their own device.
    why, score = ["from a network new to the account"], 1
    country, ua = e["country"], e["user_agent"]
    if country and h.countries and country not in h.countries:
        why.append(f"from a new country ({country})")
        score += 1
        if not tenant.country_seen(country, e["k"]):
            why.append("where no one in the tenant signs in")
            score += 1
    if ua and h.uas and ua not in h.uas and tenant.uas.before(ua, e["k"]) < 3:
        why.append("with a user agent new to the account and the tenant")
        score += 2
    if e["outcome"] == "success" and e["method"] and h.methods and e["method"] not in h.methods:
        why.append(f"with a method the account never used ({e['method']})")
        score += 1
    last = h.last
    if (last and last["country"] and country and last["country"] != country
            and e["ts"] - last["ts"] < travel and last["asn"] != e["asn"]):
        why.append(f"impossible travel from {last['country']} in {(e['ts'] - last['ts']) / 60:.0f} min")
        score += 2
    if ua and ua in h.uas:
        score -= 1  # the account's own device
    return why if score >= 3 else []


def _public(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """One finding per attack whose targeted accounts then signed in as someone else."""
    camps = campaigns(con)
    if not camps:
        return []
    # Only the targeted accounts' outcomes are walked one by one; the tenant's are summed up in SQL.
    within, travel = float(params.within_days) * 86400, float(params.travel_hours) * 3600
    until = max(_ts_end(c) for c in camps) + within
    marked = arrow(con, _MARKED, {"users": sorted(set().union(*(c.users for c in camps))), "until": until})
    tenant = _Tenant(_first_uses(marked))
    table = marked.filter(pc.equal(marked.column("is_event"), 1))
    table = table.take(pc.sort_indices(table.column("k")))
    histories: dict[tuple[str, str], _History] = {}
    people: dict[str, _History] = {}  # the same, across every source
    # Outcomes before any attack began can be no candidate: they only make history, column by column.
    first = min(c.start.timestamp() for c in camps) - 1
    cut = int(np.searchsorted(np.asarray(table.column("ts").to_numpy(zero_copy_only=False)), first, side="left"))
    _history(table.slice(0, cut), histories, people)
    hits: dict[int, list[tuple[dict[str, Any], list[str]]]] = {}
    targeting: dict[str, list[int]] = {}  # each account: the attacks on it, in order
    for i, c in enumerate(camps):
        for user in c.users:
            targeting.setdefault(user, []).append(i)
    for e in table.slice(cut).to_pylist():
        h = histories.setdefault((e["user"], e["source_format"]), _History())
        candidates: list[tuple[int, list[str]]] = []
        for i in targeting.get(e["user"], ()):
            c = camps[i]
            if not (c.start.timestamp() - 1 <= _ts(e) <= _ts_end(c) + within):
                continue
            if c.finding.detector == "mfa_fatigue" and e["outcome"] != "success":
                continue  # the prompts are the fatigue itself: only an accepted one is a compromise
            why = _why(e, h, people.setdefault(e["user"], _History()), tenant, c, travel)
            if why:
                candidates.append((i, why))
        if candidates:  # the attack whose address or infrastructure it came from, else the first
            i, why = next((x for x in candidates if "attack" in x[1][0]), candidates[0])
            hits.setdefault(i, []).append((e, why))
        if e["outcome"] == "success":
            h.add(e)
            people.setdefault(e["user"], _History()).add(e)
    return [_finding(camps[i], found) for i, found in sorted(hits.items())]


def _first_uses(marked: pa.Table) -> pa.Table:
    """(kind, value, account, place) of each (address, account) and (user agent, account) pair's and each
    country's first success: the least place among its marked first-moment successes."""
    parts = []
    for kind, flag, keys in (("ip", "ip_first", ["src_ip", "user"]), ("ua", "ua_first", ["user_agent", "user"]),
                             ("country", "country_first", ["country"])):
        firsts = marked.filter(pc.equal(marked.column(flag), 1)).group_by(keys).aggregate([("k", "min")])
        n = firsts.num_rows
        parts.append(pa.table({
            "kind": pa.array([kind] * n, pa.string()),
            "v": firsts.column(keys[0]).cast(pa.string()),
            "user": firsts.column("user").cast(pa.string()) if "user" in keys else pa.nulls(n, pa.string()),
            "k": firsts.column("k_min").cast(pa.int64()),
        }))
    return pa.concat_tables(parts)


def _history(prior: pa.Table, histories: dict[tuple[str, str], _History], people: dict[str, _History]) -> None:
    """What the successes among ``prior`` outcomes (in order) add to each account's history, as
    :meth:`_History.add` would one by one, without a dict per outcome."""
    ok = prior.filter(pc.equal(prior.column("outcome"), "success"))
    cols = {n: ok.column(n).to_pylist() for n in ("user", "source_format", "src_ip", "asn", "country", "user_agent", "method")}
    last: dict[tuple[str, str], int] = {}
    for i, (user, fmt, ip, asn, country, ua, method) in enumerate(zip(*cols.values(), strict=True)):
        key = (user, fmt)
        h = histories.get(key)
        if h is None:
            h = histories[key] = _History()
        h.add_values(ip, asn, country, ua, method)
        p = people.get(user)
        if p is None:
            p = people[user] = _History()
        p.add_values(ip, asn, country, ua, method)
        last[key] = i
    by_user: dict[str, int] = {}
    for (user, _), i in last.items():
        by_user[user] = max(i, by_user.get(user, -1))
    for key, i in last.items():
        histories[key].last = ok.slice(i, 1).to_pylist()[0]
    for user, i in by_user.items():
        people[user].last = ok.slice(i, 1).to_pylist()[0]


def _ts(e: dict[str, Any]) -> float:
    return float(e["ts"])


def _ts_end(c: Campaign) -> float:
    return c.end.timestamp()


def _finding(c: Campaign, found: list[tuple[dict[str, Any], list[str]]]) -> Finding:
    users = sorted({e["user"] for e, _ in found})
    success = {e["user"] for e, _ in found if e["outcome"] == "success"}
    first = found[0][0]
    direct = any("attack" in w for _, why in found for w in why)
    lines = []
    for user in users:
        e, why = next((e, w) for e, w in found if e["user"] == user)
        verb = "signed in" if e["outcome"] == "success" else f"got past the password ({e['reason']})"
        lines.append(f"{user} {verb} at {iso(utc(e['time']))} from {e['src_ip'] or '?'} {', '.join(why)}")
    summary = (f"{len(users)} account(s) targeted by {c.finding.detector} {c.finding.id} got in: "
               + "; ".join(lines))
    return Finding(
        detector=NAME,
        technique=TECHNIQUE,
        title=TITLE,
        severity="critical" if success else "high",
        confidence=0.95 if direct else 0.8,
        start=utc(first["time"]),
        end=utc(found[-1][0]["time"]),
        users=users,
        src_ips=[e["src_ip"] for e, _ in found if e["src_ip"]],
        hosts=[e["host"] for e, _ in found if e["host"]],
        metrics={
            "campaign": c.finding.id,
            "campaign_detector": c.finding.detector,
            "accounts_signed_in": sorted(success),
            "accounts_password_known": sorted(set(users) - success),
            "delay_hours": round((first["time"].replace(tzinfo=None) - c.start.replace(tzinfo=None)).total_seconds()
                                 / 3600, 2),
            "reasons": {u: next(w for e, w in found if e["user"] == u) for u in users},
            "detected_at": iso(utc(first["time"])),
        },
        evidence=[Ref(e["ref_file"], int(e["ref_record"])) for e, _ in found] + c.finding.evidence[:20],
        summary=summary,
        key=f"{c.finding.id}",
    )


