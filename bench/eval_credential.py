"""Credential-attack detection, measured: shoreup's detectors beside the peers' published logic.

Hunts simulated scenario sets — one attack shape per set on top of a tenant's ordinary life (office
NAT, typos, stale devices, service accounts, travellers, internet scanners), several seeds, plus clean
controls with no attack — and prints, for shoreup and for each peer (``bench/peers``): campaign
recall, precision, compromise recall, median time to detect, findings per campaign, and false
findings per 1,000 users per day on the clean controls; then recall per attack shape. It also hunts
what ``shoreup.simulate.generate`` writes (every format it writes) against its ``truth.json``.

    .venv/bin/python bench/eval_credential.py [--seeds 3] [--users 300] [--days 9]

The scenario sets are format-neutral ``auth`` rows (what every reader produces), so one set measures
the detectors the same way whatever format carried the events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from bench._common import machine  # noqa: E402
from bench.peers import Alert, crowdsec, elastic, fail2ban, splunk  # noqa: E402
from shoreup import pipeline  # noqa: E402
from shoreup.engine.duckdb import Store  # noqa: E402
from shoreup.findings import Finding  # noqa: E402
from shoreup.schema import AUTH  # noqa: E402

EPOCH = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
HOUR, DAY = 3600.0, 86400.0
DETECTORS = ["brute_force", "password_spray", "distributed_spray", "mfa_fatigue", "compromise", "mfa_gap"]
ATTACK_DETECTORS = {"brute_force", "password_spray", "distributed_spray", "mfa_fatigue"}
PEERS = [fail2ban, crowdsec, elastic, splunk]
COMMON = ["root", "admin", "administrator", "test", "user", "guest", "oracle", "postgres", "ubuntu", "pi", "git",
          "ftp", "deploy", "jenkins", "support", "backup", "nagios", "docker", "ansible", "mysql"]
UAS = [f"Mozilla/5.0 (Windows NT 10.0) Chrome/12{k}.0" for k in range(6)] + ["Outlook-iOS/2.0", "Mail/16.0"]
OFFICE = ["198.51.100.1", "198.51.100.2"]  # the NAT / VPN egress hundreds of people share


@dataclass
class Scenario:
    id: str
    kind: str
    technique: str
    start: float
    end: float
    users: set[str] = field(default_factory=set)
    src_ips: set[str] = field(default_factory=set)
    compromised: set[str] = field(default_factory=set)

    @property
    def benign(self) -> bool:
        return self.kind.startswith("benign_")


class World:
    """A tenant's ordinary sign-ins for ``days`` days, drawn from one seed."""

    def __init__(self, seed: int, n_users: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.users = [f"u{seed}.{k:04d}" for k in range(n_users)]
        r = self.rng
        self.home = {u: self.ip() for u in self.users}
        self.asn = {u: r.choice([7922, 701, 3320, 2856, 20115]) for u in self.users}
        self.ua = {u: r.choice(UAS) for u in self.users}
        self.mfa = {u: r.random() < 0.85 for u in self.users}
        self.rows: list[dict[str, Any]] = []
        self.truth: list[Scenario] = []
        self._ordinary()

    def ip(self, first: tuple[int, ...] = (24, 67, 73, 98, 108, 172, 174, 184)) -> str:
        r = self.rng
        return f"{r.choice(first)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"

    def add(self, ts: float, user: str | None, ip: str | None, outcome: str, reason: str | None = None,
            **kw: Any) -> None:
        self.rows.append({"ts": ts, "user": user, "src_ip": ip, "outcome": outcome, "reason": reason,
                          "method": kw.pop("method", "password"), **kw})

    def sign_in(self, ts: float, user: str, ip: str, country: str = "US", asn: int | None = None,
                typo: bool = False) -> None:
        kw: dict[str, Any] = {"user_agent": self.ua[user], "country": country, "asn": asn or self.asn[user]}
        if typo:
            self.add(ts - self.rng.uniform(5, 25), user, ip, "failure", "bad_password", **kw)
        if self.mfa[user]:
            self.add(ts, user, ip, "unknown", "mfa_push_sent", **kw)
            if self.rng.random() < 0.02:  # a missed prompt, then the retry
                self.add(ts + 60, user, ip, "failure", "mfa_timeout", method="mfa_push", **kw)
                ts += 90
                self.add(ts, user, ip, "unknown", "mfa_push_sent", **kw)
            self.add(ts + self.rng.uniform(3, 15), user, ip, "success", mfa_used=True, method="mfa_push", **kw)
        else:
            self.add(ts, user, ip, "success", mfa_used=False, **kw)

    def _ordinary(self) -> None:
        r = self.rng
        travellers = set(r.sample(self.users, 3))
        stale = r.sample([u for u in self.users if u not in travellers], 3)
        for d in range(self.days):
            weekday = (EPOCH + dt.timedelta(days=d)).weekday() < 5
            for u in self.users:
                for _ in range(r.choice((1, 1, 2))):
                    ts = d * DAY + r.uniform(7, 21) * HOUR
                    if u in travellers and d >= self.days // 2:
                        self.sign_in(ts, u, f"81.2.{69 + d}.{r.randint(1, 200)}", "GB", 5089, r.random() < 0.08)
                    elif weekday and r.random() < 0.7:
                        self.sign_in(ts, u, r.choice(OFFICE), typo=r.random() < 0.08)
                    else:
                        self.sign_in(ts, u, self.home[u], typo=r.random() < 0.08)
                    if r.random() < 0.01:  # a typo on a phone's network, then the person gives up
                        self.add(ts + 300, u, f"172.56.{r.randint(0, 255)}.{r.randint(1, 254)}", "failure",
                                 "bad_password", user_agent="Outlook-iOS/2.0", country="US", asn=21928)
            for _ in range(r.randint(20, 40)):  # internet scanners: a name or three and gone
                ip, ts = self.ip((45, 61, 103, 185, 222)), d * DAY + r.uniform(0, DAY)
                for _k in range(r.randint(1, 3)):
                    name = r.choice(COMMON)
                    self.add(ts, name, ip, "failure", "bad_password" if name == "root" else "unknown_user")
                    ts += r.uniform(2, 30)
        for k, u in enumerate(stale):  # a device with an old password, retrying for days from home
            first = r.uniform(0, self.days - 3) * DAY
            ts = first
            while ts < first + r.uniform(2, 3) * DAY:
                self.add(ts, u, self.home[u], "failure", "bad_password", user_agent="Mail/16.0", asn=self.asn[u])
                ts += r.uniform(600, 1200)
            self.truth.append(Scenario(f"benign-stale-{k}", "benign_stale_device", "", first, ts, {u}, {self.home[u]}))
        for k in range(3):  # service accounts signing in every few minutes
            svc, ip = f"svc-app{k}", f"10.0.0.{k + 5}"
            ts = 0.0
            while ts < self.days * DAY:
                self.add(ts, svc, ip, "success", user_agent="python-requests/2.31")
                ts += r.uniform(180, 300)
            self.truth.append(Scenario(f"benign-svc-{k}", "benign_service_account", "", 0, self.days * DAY, {svc}, {ip}))
        self.truth.append(Scenario("benign-nat", "benign_nat_typos", "", 0, self.days * DAY, set(), set(OFFICE)))
        self.truth.append(Scenario("benign-travel", "benign_travel", "", 0, self.days * DAY, travellers, set()))

    # --- attack shapes ------------------------------------------------------------------------

    def proxies(self, n: int) -> list[str]:
        return [self.ip((5, 31, 37, 45, 91, 176, 185, 193)) for _ in range(n)]

    def attack(self, kind: str, at: float) -> Scenario:
        r, real = self.rng, [u for u in self.users]
        s = Scenario(kind, kind, "T1110.003", at, at)
        ua = f"Mozilla/5.0 (X11; Linux) Chrome/{r.randint(90, 99)}.0"

        def fail(ts: float, user: str, ip: str, **kw: Any) -> None:
            reason = "bad_password" if user in self.home or user == "root" else "unknown_user"
            self.add(ts, user, ip, "failure", reason, **kw)
            s.users.add(user)
            s.src_ips.add(ip)
            s.end = max(s.end, ts)

        def takeover(ts: float, user: str, ip: str, **kw: Any) -> None:
            self.add(ts, user, ip, "success", mfa_used=False, **kw)
            s.compromised.add(user)
            s.end = max(s.end, ts)

        if kind == "brute_fast":  # 60 guesses in about a minute on one account, then in
            s.technique, ip, victim = "T1110.001", self.proxies(1)[0], r.choice(real)
            for k in range(60):
                fail(at + k * r.uniform(0.5, 1.5), victim, ip, user_agent="hydra")
            takeover(s.end + 2, victim, ip, user_agent="hydra")
        elif kind == "brute_slow_many_ips":  # one account, one guess every ~5 min, each from a new proxy
            s.technique, victim = "T1110.001", r.choice(real)
            for k, ip in enumerate(self.proxies(45)):
                fail(at + k * r.uniform(240, 360), victim, ip, user_agent=ua)
        elif kind == "spray_fast":  # one IP, 120 accounts, one try each every ~20 s
            ip = self.proxies(1)[0]
            targets = r.sample(real, 80) + [f"{n}.{k}" for k in range(40) for n in ["svc"]]
            for k, u in enumerate(targets):
                fail(at + k * r.uniform(10, 30), u, ip, user_agent=ua)
        elif kind == "spray_slow_then_in":  # one IP, 200 accounts, one try every 3 min; in from elsewhere later
            ip = self.proxies(1)[0]
            for k, u in enumerate(r.sample(real, 200)):
                fail(at + k * 180, u, ip, user_agent=ua)
            victim = r.choice(sorted(s.users))
            takeover(s.end + r.uniform(3, 20) * HOUR, victim, self.proxies(1)[0], user_agent=ua, country="RO", asn=9050)
        elif kind == "spray_daily_week":  # one IP, each of 40 accounts once a day for a week
            ip, targets = self.proxies(1)[0], r.sample(real, 40)
            for d in range(7):
                for u in targets:
                    fail(at + d * DAY + r.uniform(0, 20 * HOUR), u, ip, user_agent=ua)
        elif kind == "distributed_spray_then_in":  # 300 proxies x 2 tries over 6 h; in from a new IP hours later
            targets, ips = r.sample(real, 150), self.proxies(300)
            for k in range(600):
                fail(at + k * 6 * HOUR / 600 + r.uniform(0, 30), targets[k % 150], ips[k % 300], user_agent=ua,
                     asn=r.choice([9009, 60068]), country=r.choice(["NL", "US", "DE", "FR"]))
            victim = r.choice(targets)
            takeover(s.end + r.uniform(2, 30) * HOUR, victim, self.proxies(1)[0],
                     user_agent=r.choice([x for x in UAS if x != self.ua[victim]]), country="BR", asn=28573)
        elif kind == "distributed_daily_week":  # one try per account per day for a week, every try a new proxy
            targets = r.sample(real, 80)
            for d in range(7):
                for u in targets:
                    fail(at + d * DAY + r.uniform(0, 22 * HOUR), u, self.proxies(1)[0], user_agent=ua)
        elif kind == "stuffing":  # 500 proxies, 800 leaked names (85 % not ours), one try each; 3 hits
            s.technique = "T1110.004"
            names = r.sample(real, 120) + [f"leak{k}@mail.example" for k in range(680)]
            r.shuffle(names)
            ips = self.proxies(500)
            for k, u in enumerate(names):
                fail(at + k * 2 * HOUR / 800, u, ips[k % 500], user_agent=ua)
            for u in [n for n in names if n in self.home][:3]:
                takeover(s.end + r.uniform(60, 600), u, r.choice(ips), user_agent=ua)
        elif kind == "distributed_clock_edge":  # 40 proxies, 40 accounts, 10 minutes across a 15-min boundary
            edge = (at // 900 + 1) * 900
            for k, (u, ip) in enumerate(zip(r.sample(real, 40), self.proxies(40), strict=True)):
                fail(edge - 300 + k * 15, u, ip, user_agent=ua)
            s.start = edge - 300
        elif kind in ("mfa_fatigue_fast", "mfa_fatigue_slow"):  # the password is known; push after push
            s.technique, victim, ip = "T1621", r.choice([u for u in real if self.mfa[u]]), self.proxies(1)[0]
            n, gap = (15, 40.0) if kind == "mfa_fatigue_fast" else (9, 2400.0)
            self.add(at, victim, ip, "failure", "password_ok_mfa_required", user_agent=ua)
            for k in range(n):
                self.add(at + k * gap + 1, victim, ip, "unknown", "mfa_push_sent", method="mfa_push", user_agent=ua)
                why = "mfa_denied" if kind == "mfa_fatigue_fast" or k % 2 else "mfa_timeout"
                self.add(at + k * gap + 30, victim, ip, "failure", why, method="mfa_push", user_agent=ua)
            s.users, s.src_ips, s.end = {victim}, {ip}, at + n * gap
            if kind == "mfa_fatigue_fast":
                self.add(s.end + 20, victim, ip, "success", mfa_used=True, method="mfa_push", user_agent=ua)
                s.compromised.add(victim)
        else:
            raise ValueError(kind)
        self.truth.append(s)
        return s


SHAPES = ["brute_fast", "brute_slow_many_ips", "spray_fast", "spray_slow_then_in", "spray_daily_week",
          "distributed_spray_then_in", "distributed_daily_week", "stuffing", "distributed_clock_edge",
          "mfa_fatigue_fast", "mfa_fatigue_slow"]
WEEK_LONG = {"spray_daily_week", "distributed_daily_week"}


def hunt_rows(rows: list[dict[str, Any]]) -> tuple[list[Finding], float]:
    rows.sort(key=lambda e: e["ts"])
    table = []
    for n, e in enumerate(rows):
        row = {f.name: e.get(f.name) for f in AUTH}
        row.update(time=EPOCH + dt.timedelta(seconds=e["ts"]), host="idp", source_format="sim", ref_file="sim",
                   ref_record=n)
        table.append(row)
    started = time.perf_counter()
    with Store() as store:
        store.append("auth", pa.RecordBatch.from_pylist(table, schema=AUTH))
        found = pipeline.detect(store, DETECTORS)
    return found, time.perf_counter() - started


@dataclass
class Hit:
    """A finding or a peer alert, reduced to what scoring needs."""

    who: str
    kind: str  # attack | compromise | mfa | gap
    start: float
    end: float
    detected_at: float
    users: set[str]
    ips: set[str]


def from_finding(f: Finding) -> Hit:
    kind = ("compromise" if f.detector == "compromise" else "gap" if f.detector == "mfa_gap"
            else "mfa" if f.detector == "mfa_fatigue" else "attack")
    at = f.metrics.get("detected_at")
    detected = (dt.datetime.fromisoformat(at.replace("Z", "+00:00")) if at else f.end)
    return Hit("shoreup", kind, _s(f.start), _s(f.end), _s(detected), set(f.users), set(f.src_ips))


def from_alert(a: Alert) -> Hit:
    return Hit(a.peer, a.kind, a.start, a.end, a.detected_at, a.users, a.ips)


def _s(t: dt.datetime) -> float:
    return (t - EPOCH).total_seconds()


def matches(h: Hit, s: Scenario) -> bool:
    if h.end < s.start - 600 or h.start > s.end + 3 * DAY:
        return False
    if h.kind == "compromise":
        return bool(h.users & s.compromised)
    return bool(h.users & s.users) or bool(h.ips & s.src_ips)


@dataclass
class Score:
    campaigns: int = 0
    detected: int = 0
    findings: int = 0
    true_findings: int = 0
    compromised: int = 0
    compromised_found: int = 0
    ttd: list[float] = field(default_factory=list)
    per_campaign: list[int] = field(default_factory=list)
    clean_findings: int = 0
    user_days: float = 0.0
    shapes: dict[str, list[int]] = field(default_factory=dict)
    shape_ttd: dict[str, list[float]] = field(default_factory=dict)

    def add(self, hits: list[Hit], truth: list[Scenario], shape: str | None) -> None:
        attacks = [s for s in truth if not s.benign]
        scored = [h for h in hits if h.kind != "gap"]
        self.findings += len(scored)
        self.true_findings += sum(1 for h in scored if any(matches(h, s) for s in attacks))
        for s in attacks:
            mine = [h for h in scored if h.kind != "compromise" and matches(h, s)]
            self.campaigns += 1
            self.detected += bool(mine)
            if shape:
                self.shapes.setdefault(shape, [0, 0])[0] += bool(mine)
                self.shapes[shape][1] += 1
            if mine:
                # Findings for this one campaign: those naming its addresses (or its accounts when it has none).
                own = [h for h in mine if (h.ips & s.src_ips) or (not s.src_ips and h.users & s.users)]
                self.per_campaign.append(len(own) or 1)
                self.ttd.append(max(0.0, min(h.detected_at for h in (own or mine)) - s.start) / 60)
                if shape:
                    self.shape_ttd.setdefault(shape, []).append(self.ttd[-1])
            for u in s.compromised:
                self.compromised += 1
                self.compromised_found += any(
                    h.kind == "compromise" and u in h.users and h.end >= s.start - 600 and h.start <= s.end + 3 * DAY
                    for h in scored)

    def row(self) -> list[str]:
        recall = self.detected / self.campaigns if self.campaigns else float("nan")
        precision = self.true_findings / self.findings if self.findings else float("nan")
        comp = self.compromised_found / self.compromised if self.compromised else float("nan")
        ttd = statistics.median(self.ttd) if self.ttd else float("nan")
        per = f"{statistics.mean(self.per_campaign):.2f} / {max(self.per_campaign)}" if self.per_campaign else "-"
        fp = 1000 * self.clean_findings / self.user_days if self.user_days else float("nan")
        return [f"{recall:.3f}", f"{precision:.3f}", f"{comp:.3f}", f"{ttd:.1f}", per, f"{fp:.3f}"]


def events_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda e: e["ts"])


def run_sets(seeds: int, n_users: int, days: int) -> tuple[dict[str, Score], float, int]:
    who = ["shoreup"] + [p.NAME for p in PEERS]
    scores = {w: Score() for w in who}
    seconds, events = 0.0, 0
    for seed in range(1, seeds + 1):
        runs: list[tuple[str | None, World]] = []
        clean = World(1000 + seed, n_users, days)
        runs.append((None, clean))
        for k, name in enumerate(SHAPES):
            w = World(100 * seed + k, n_users, days)
            at = (1 if name in WEEK_LONG else days - 2) * DAY + w.rng.uniform(1, 20) * HOUR
            w.attack(name, at)
            runs.append((name, w))
        for shape, w in runs:
            found, took = hunt_rows(w.rows)
            seconds += took
            events += len(w.rows)
            evs = events_of(w.rows)
            hits = {"shoreup": [from_finding(f) for f in found]}
            for p in PEERS:
                hits[p.NAME] = [from_alert(a) for a in p.run(evs)]
            for name, hs in hits.items():
                if shape is None:
                    scores[name].clean_findings += sum(1 for h in hs if h.kind != "gap")
                    scores[name].user_days += n_users * days
                else:
                    scores[name].add(hs, w.truth, shape)
    return scores, seconds, events


def _hunt_dir(files: list[str]) -> tuple[list[Finding], list[dict[str, Any]], set[str]]:
    with Store() as store:
        report = pipeline.ingest(files, store)
        found = pipeline.detect(store, DETECTORS)
        cur = store.con.execute("SELECT epoch(time) AS ts, user, src_ip, outcome, reason, user_agent FROM auth "
                                "ORDER BY time")
        names = [d[0] for d in cur.description]
        evs = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    base = EPOCH.timestamp()
    for e in evs:
        e["ts"] = float(e["ts"]) - base
    return found, evs, {f.format or "?" for f in report.files}


def _truth(truth: dict[str, Any]) -> list[Scenario]:
    out = []
    for s in truth["scenarios"]:
        expect = set(s.get("expect") or [])
        if not s["kind"].startswith("benign_") and not expect & (ATTACK_DETECTORS | {"compromise"}):
            continue  # not a credential attack (phishing, wiper): another evaluation's business
        start = (dt.datetime.fromisoformat(s["start"].replace("Z", "+00:00")) - EPOCH).total_seconds()
        end = (dt.datetime.fromisoformat(s["end"].replace("Z", "+00:00")) - EPOCH).total_seconds()
        out.append(Scenario(s["id"], s["kind"], s.get("technique", ""), start, end, set(s.get("users", [])),
                            set(s.get("src_ips", [])), set(s.get("compromised", []))))
    return out


def run_simulator(seeds: int, users: int = 200, days: int = 2) -> tuple[dict[str, Score], list[str]]:
    """Hunt what ``shoreup.simulate.generate`` writes — every file, every format — against its truth; the
    clean control is the same world with only the hard negatives (``BENIGN``) and no attack."""
    from shoreup.simulate import BENIGN, generate

    who = ["shoreup"] + [p.NAME for p in PEERS]
    scores = {w: Score() for w in who}
    formats: set[str] = set()
    for seed in range(1, seeds + 1):
        for clean in (False, True):
            with tempfile.TemporaryDirectory(prefix="shoreup-eval-") as tmp:
                truth = generate(Path(tmp), seed=seed, users=users, days=days,
                                 scenarios=sorted(BENIGN) if clean else None)
                found, evs, fmts = _hunt_dir([str(Path(tmp) / f) for f in truth.get("files", [])])
            formats |= fmts
            hits = {"shoreup": [from_finding(f) for f in found]}
            for p in PEERS:
                hits[p.NAME] = [from_alert(a) for a in p.run(evs)]
            for name, hs in hits.items():
                if clean:
                    scores[name].clean_findings += sum(1 for h in hs if h.kind != "gap")
                    scores[name].user_days += users * days
                else:
                    scores[name].add(hs, _truth(truth), None)
    return scores, sorted(formats)


def table(scores: dict[str, Score]) -> str:
    head = ["", "recall", "precision", "compromise recall", "median TTD (min)", "findings/campaign (mean / max)",
            "false per 1k user-days (clean)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in scores.items():
        lines.append("| " + " | ".join([name, *s.row()]) + " |")
    return "\n".join(lines)


def shape_table(scores: dict[str, Score]) -> str:
    names = list(scores)
    lines = ["| shape | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for shape in SHAPES:
        cells = []
        for n in names:
            d, t = scores[n].shapes.get(shape, [0, 0])
            ttd = scores[n].shape_ttd.get(shape)
            cells.append(f"{d}/{t}" + (f" ({statistics.median(ttd):.1f} min)" if ttd else ""))
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=9)
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    scores, hunt_s, events = run_sets(args.seeds, args.users, args.days)
    print(f"## Scenario sets: {args.seeds} seeds x ({len(SHAPES)} attack shapes + 1 clean control), "
          f"{args.users} users, {args.days} days; {events:,} auth events hunted in {hunt_s:.1f} s\n")
    print(table(scores))
    print("\nCampaigns detected per attack shape (all seeds), with the median time to detect:\n")
    print(shape_table(scores))
    sim, formats = run_simulator(args.seeds)
    print(f"\n## shoreup.simulate.generate output ({args.seeds} seeds; formats: {', '.join(formats)})\n")
    print(table(sim))
    print(f"\n({time.perf_counter() - started:.0f} s in all on {machine()})")
    if args.json:
        print(json.dumps({n: s.row() for n, s in scores.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
