"""Realistic logs with attack scenarios and their ground truth, for the demo, tests and drills.

``generate`` writes one organization's logs in every native format shoreup reads — sshd ``auth.log``,
Entra ID sign-ins, Okta System Log, CloudTrail, Windows (evtx_dump JSON lines), an nginx access log —
plus simulated mail, and ``truth.json``: every attack and every hard negative, with the accounts,
addresses, hosts and times that were really written, and the detectors expected to report it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoreup.simulate.model import FILES, FORMATS, Attempt, HostEvent, Scenario

if TYPE_CHECKING:
    from shoreup.simulate.scenarios import World

__all__ = ["ATTACKS", "BENIGN", "EPOCH", "FILES", "FORMATS", "TRUTH_SCHEMA", "generate", "scenario_names"]

#: Simulated time starts here (a Monday), so files are the same whatever the day they are made.
EPOCH = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
TRUTH_SCHEMA = "shoreup.truth/1"
#: Days of background one simulation writes at most: a year (and its files grow with every day).
MAX_DAYS = 366

#: Attack scenarios by name (the ``scenarios=`` argument), each written to the formats listed.
ATTACKS: dict[str, tuple[str, ...]] = {
    "brute_force": ("sshd",),
    "slow_spray": ("sshd",),
    "daily_spray": ("okta",),
    "distributed_spray": ("sshd", "entra"),
    "credential_stuffing": ("okta", "cloudtrail", "weblog"),
    "web_brute_force": ("weblog",),
    "web_botnet": ("weblog",),
    "mfa_push_bombing": ("okta",),
    "full_chain": ("mail", "entra", "windows"),
}
#: Hard negatives by name: recorded with a ``benign_…`` kind, they must stay quiet.
BENIGN: dict[str, tuple[str, ...]] = {
    "benign_shared_egress": ("entra", "okta"),
    "benign_typos": ("entra", "okta", "windows", "weblog"),
    "benign_stale_password": ("entra",),
    "benign_travel": ("entra", "okta"),
    "benign_service_accounts": ("windows",),
    "benign_backup_shadows": ("windows",),
}


def scenario_names() -> list[str]:
    """Every name ``generate(scenarios=…)`` accepts."""
    return [*ATTACKS, *BENIGN]


@dataclass
class _Made:
    attempts: list[Attempt]
    events: list[HostEvent]
    scenario: Scenario


def generate(
    out: Path,
    seed: int = 1,
    users: int = 200,
    days: int = 2,
    scanners_per_day: int = 30,
    formats: Iterable[str] | None = None,
    scenarios: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Write every simulated log into ``out`` and ``out/truth.json``; returns the truth.

    ``formats`` limits the logs written (names of :data:`FILES`, default all); ``scenarios`` limits the
    attacks and hard negatives (names of :data:`ATTACKS` and :data:`BENIGN`, default all). The same
    arguments write byte-identical files.
    """
    from shoreup.errors import UsageError
    from shoreup.simulate import scenarios as sc
    from shoreup.simulate.model import Org

    fmts = _chosen(formats, FORMATS, "format")
    names = _chosen(scenarios, scenario_names(), "scenario")
    if users < 10:
        raise UsageError("the simulated organization needs at least 10 users")
    if scanners_per_day < 0 or days < 0:
        raise UsageError("--days and --scanners-per-day cannot be negative")
    if days > MAX_DAYS:
        raise UsageError(f"--days is at most {MAX_DAYS} (a year of background)")
    days = max(days, 1)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the folder {out}: {e.strerror}") from None

    def rng_for(part: str) -> random.Random:
        return random.Random(f"shoreup/{seed}/{part}")

    rng = random.Random(seed)
    org = Org.make(rng, users)
    org.enrich(rng_for("org"))
    world = sc.World(org, EPOCH, days)
    day = world.attack_day

    # Mail first: the chain's victim is a recipient of the simulated phish.
    mail_truth: dict[str, Any] | None = None
    phish: dict[str, object] | None = None
    victim = org.users[-1]
    if "mail" in fmts and "full_chain" in names:
        mail_truth = _write_mail(out / FILES["mail"], seed, org.domain)
        if mail_truth is not None:
            recipients = [r for r in mail_truth.get("recipients_of_phish", []) if r.endswith("@" + org.domain)]
            if recipients:
                victim = recipients[0].rsplit("@", 1)[0]
                org.replace_user(len(org.users) - 1, victim)
                phish = {"recipient": recipients[0], "files": [f"{FILES['mail']}/{f}" for f in mail_truth["phish"]]}
    org.no_mfa.add(victim)
    reserved = {victim, org.users[len(org.admins) + 1], org.users[len(org.admins) + 2]}

    made: list[_Made] = []

    def add(result: tuple[list[Attempt], list[HostEvent], Scenario]) -> None:
        made.append(_Made(*result))

    if "brute_force" in names:
        a, s = sc.fast_brute_force(rng, org, day + dt.timedelta(hours=3, minutes=12))
        add((a, [], s))
    if "slow_spray" in names:
        a, s = sc.password_spray(rng, org, day + dt.timedelta(hours=1))
        add((a, [], s))
    pool = [u for u in org.users if u not in reserved]
    if "distributed_spray" in names:
        add(sc.distributed_spray(rng_for("dspray-ssh"), _world(world, pool), day + dt.timedelta(hours=12),
                                 "sshd", "dspray-ssh-1"))
        add(sc.distributed_spray(rng_for("dspray-entra"), _world(world, pool), day + dt.timedelta(hours=5),
                                 "entra", "dspray-entra-1"))
    if "daily_spray" in names:
        add(sc.daily_spray(rng_for("daily"), world))
    if "credential_stuffing" in names:
        add(sc.credential_stuffing(rng_for("stuffing-okta"), _world(world, pool), day + dt.timedelta(hours=2),
                                   "okta", "stuffing-okta-1"))
        add(sc.console_stuffing(rng_for("stuffing-aws"), world, day + dt.timedelta(hours=8)))
        add(sc.web_stuffing(rng_for("stuffing-web"), world, day + dt.timedelta(hours=20)))
    if "web_brute_force" in names:
        add(sc.web_brute_force(rng_for("brute-web"), world, day + dt.timedelta(hours=9, minutes=30)))
    if "web_botnet" in names:  # on the first day: a day apart from the stuffing when there are two
        add(sc.web_botnet(rng_for("botnet-web"), world, world.start + dt.timedelta(hours=2)))
    if "mfa_push_bombing" in names:
        add(sc.mfa_push_bombing(rng_for("mfa"), _world(world, pool), day + dt.timedelta(hours=17)))
    if "full_chain" in names:
        add(sc.full_chain(rng_for("chain"), world, day + dt.timedelta(hours=13, minutes=30), victim,
                          phish if "mail" in fmts else None))
    for name, fn in sc.BENIGN.items():
        if name in names:
            add(fn(rng_for(name), world))

    # Background, per format.
    attempts: list[Attempt] = []
    events: list[HostEvent] = []
    if "sshd" in fmts:
        attempts += sc.background(rng, org, EPOCH, days, scanners_per_day)
    for fmt in ("entra", "okta"):
        if fmt in fmts:
            attempts += sc.background_cloud(rng_for(f"bg-{fmt}"), world, fmt)
    if "cloudtrail" in fmts:
        attempts += sc.background_cloudtrail(rng_for("bg-cloudtrail"), world)
    if "windows" in fmts:
        a_win, e_win = sc.background_windows(rng_for("bg-windows"), world)
        attempts += a_win
        events += e_win
    if "weblog" in fmts:
        attempts += sc.background_web(rng_for("bg-web"), world)
    kept: list[_Made] = []
    for m in made:
        m.attempts = [a for a in m.attempts if a.fmt in fmts]
        m.events = [e for e in m.events if "windows" in fmts]
        phish_written = m.scenario.kind == "full_chain" and phish is not None and "mail" in fmts
        if m.attempts or m.events:
            attempts += m.attempts
            events += m.events
            _finish(m, phish_written)
            kept.append(m)

    lines: dict[str, int] = {}
    files: list[str] = []

    def of(fmt: str) -> list[Attempt]:
        return [a for a in attempts if a.fmt == fmt]

    if "sshd" in fmts:
        from shoreup.simulate import sshd

        known = set(org.users) | {"root"}
        lines["auth.log"] = sshd.write(out / FILES["sshd"], of("sshd"), known, rng)
    if "entra" in fmts:
        from shoreup.simulate import entra

        lines[FILES["entra"]] = entra.write(out / FILES["entra"], of("entra"), org, rng_for("w-entra"))
    if "okta" in fmts:
        from shoreup.simulate import okta

        lines[FILES["okta"]] = okta.write(out / FILES["okta"], of("okta"), org, rng_for("w-okta"))
    if "cloudtrail" in fmts:
        from shoreup.simulate import cloudtrail

        for name, n in cloudtrail.write(out / FILES["cloudtrail"], of("cloudtrail"), org, rng_for("w-cloudtrail"),
                                        EPOCH, days).items():
            lines[f"{FILES['cloudtrail']}/{name}"] = n
    if "windows" in fmts:
        from shoreup.simulate import windows

        lines[FILES["windows"]] = windows.write(out / FILES["windows"], of("windows"), events, org,
                                                rng_for("w-windows"))
    if "weblog" in fmts:
        from shoreup.simulate import weblog

        lines[FILES["weblog"]] = weblog.write(out / FILES["weblog"], of("weblog"), org, rng_for("w-web"), EPOCH, days)
    files = list(lines)

    truth: dict[str, Any] = {
        "schema": TRUTH_SCHEMA,
        "seed": seed,
        "org": {"domain": org.domain, "users": len(org.users), "ad_domain": org.ad_domain, "netbios": org.netbios,
                "tenant_id": org.tenant_id, "aws_account": org.aws_account, "office_ips": org.office_ips,
                "admins": sorted(org.admins), "no_mfa": sorted(org.no_mfa), "service_accounts": org.service_accounts},
        "period": {"start": _iso(EPOCH), "end": _iso(world.end), "days": days},
        "formats": [f for f in FORMATS if f in fmts],
        "files": files,
        "lines": lines,
        "scenarios": [m.scenario.to_json() for m in kept],
    }
    if mail_truth is not None:
        truth["mail"] = {"dir": FILES["mail"], **mail_truth}
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return truth


def _chosen(values: Iterable[str] | None, known: Iterable[str], what: str) -> set[str]:
    from shoreup.errors import UsageError

    allowed = list(known)
    if values is None:
        return set(allowed)
    chosen = {v.strip() for v in values if v.strip()}
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise UsageError(f"unknown {what}(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    return chosen


def _world(world: World, pool: list[str]) -> World:
    """The same world, but victims are chosen only from ``pool`` (no overlap with hard negatives)."""
    from shoreup.simulate.model import Org
    from shoreup.simulate.scenarios import World

    org = world.org
    view = Org(org.domain, pool, org.office_ips, org.home_ips, [a for a in org.admins if a in pool],
               org.home_places, org.display, org.workstations, org.no_mfa, org.iam_users, org.service_accounts,
               org.uas, org.tenant_id, org.aws_account, org.netbios, org.ad_domain)
    return World(view, world.start, world.days)


def _visible(a: Attempt) -> str | None:
    """The account name a reader finds in the record of ``a`` (None when the format hides it)."""
    if a.fmt == "weblog" or a.user == "-":
        return None
    if a.fmt == "cloudtrail" and a.reason == "unknown_user":
        return None
    return a.user.casefold()


def _finish(m: _Made, phish: bool) -> None:
    """Fill the truth entry from what is written: accounts, addresses, hosts, formats, time span."""
    s = m.scenario
    s.users = {u for u in (_visible(a) for a in m.attempts) if u}
    if m.events and not m.attempts:
        s.users |= {e.user.casefold() for e in m.events}
    s.src_ips = {a.ip for a in m.attempts}
    s.formats = {a.fmt for a in m.attempts} | ({"windows"} if m.events else set()) | ({"mail"} if phish else set())
    s.hosts |= {e.host for e in m.events} | {a.host for a in m.attempts if a.fmt == "windows" and a.host}
    written = {a.user for a in m.attempts if a.outcome == "success"} | {e.user for e in m.events}
    s.compromised = {u for u in s.compromised if u in written}
    times = [a.time for a in m.attempts] + [e.time for e in m.events]
    s.start, s.end = min(times), max(times)
    if "compromise" in s.expect and not s.compromised:
        s.expect = [e for e in s.expect if e not in ("compromise", "mfa_gap")]


def _iso(t: dt.datetime) -> str:
    from shoreup.findings import iso

    return iso(t)


def _write_mail(folder: Path, seed: int, domain: str) -> dict[str, Any] | None:
    """Simulated mail from :mod:`shoreup.simulate.mail` when it is there; None when it is not."""
    try:
        from shoreup.simulate.mail import write_mail
    except ImportError:
        return None
    fn: Callable[..., Any] = write_mail
    kwargs: dict[str, Any] = {}
    params = inspect.signature(fn).parameters
    if "start" in params:
        kwargs["start"] = EPOCH
    result = fn(folder, seed, domain, **kwargs)
    return dict(result) if isinstance(result, dict) else {"result": result}
