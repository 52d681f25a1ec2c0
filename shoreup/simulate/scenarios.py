"""Background activity, attack scenarios and hard negatives, as format-neutral records with ground truth.

Each attack has the shape peers are measured against (see ``../shared/PEERS.md``): a fast brute force
(tens of tries a minute from one IP), a low-and-slow spray (one try every few minutes, or one per
account per day), a distributed spray through hundreds of proxies that shares a user agent and a few
networks, credential stuffing with mostly unknown names, MFA push bombing, and the full chain of the
CISA warning: phish → spray → compromise → logon to a file server → shadow copies deleted → log
cleared. Each hard negative (``benign_*``) is what fools naive counting rules: a shared NAT, typos, a
phone with a stale password, travel, service accounts, a backup job's shadow copies.

A scenario function returns ``(attempts, host_events, scenario)``; ``generate`` fills each truth
entry's users and addresses from what was actually written.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from shoreup.simulate.model import (
    COMMON_NAMES,
    FIRST_NAMES,
    HOSTING,
    LAST_NAMES,
    OFFICE,
    TRAVEL,
    Attempt,
    HostEvent,
    Org,
    Place,
    Scenario,
    ephemeral_port,
    ip_in,
    public_ip,
    public_prefix16,
)

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

Result = tuple[list[Attempt], list[HostEvent], Scenario]

#: The Windows hosts: the domain controller logs Kerberos / NTLM, the file server logs logons.
FS01 = "FS01"
DC01 = "DC01"
BACKUP_SERVER = ("BKP01", "10.10.0.20")

#: Sign-in clients of Entra ID: modern ones can do MFA, legacy (basic-auth) ones cannot.
MODERN_CLIENTS = ["Browser", "Mobile Apps and Desktop clients"]
ENTRA_APPS = ["Office 365 Exchange Online", "Microsoft Teams", "OfficeHome", "Microsoft Office 365 Portal",
              "SharePoint Online Web Client Extensibility"]
SPRAY_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36"
STUFFING_UAS = [
    "python-requests/2.31.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "okhttp/4.9.2",
]


@dataclass
class World:
    """What every scenario needs: the org, the simulated period and the day the attacks happen."""

    org: Org
    start: dt.datetime
    days: int

    @property
    def attack_day(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days - 1)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)


def fqdn(org: Org, host: str) -> str:
    return f"{host}.{org.ad_domain}"


def _jitter(rng: random.Random, seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=rng.uniform(0, seconds))


def _attacker(rng: random.Random, place: Place | None = None) -> tuple[str, Place]:
    place = place or rng.choice(HOSTING)
    return public_ip(rng, avoid=("198.51.100.",)), place


def _guessed_names(rng: random.Random, n: int, exclude: set[str]) -> list[str]:
    """Account names from a leaked list: plausible people, most of them not of this org."""
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}",
                           f"{first}_{last}", f"{last}.{first[0]}"])
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


# --- background ----------------------------------------------------------------------------------


def background(
    rng: random.Random, org: Org, start: dt.datetime, days: int, scanners_per_day: int = 30
) -> list[Attempt]:
    """sshd: admins signing in during the working day, a few typos, and internet scanners."""
    out: list[Attempt] = []
    for day in range(days):
        base = start + dt.timedelta(days=day)
        for user in org.admins:
            for _ in range(rng.randint(1, 4)):
                t = base + dt.timedelta(hours=rng.uniform(7.5, 19), seconds=rng.random())
                ip = rng.choice(org.office_ips) if rng.random() < 0.7 else org.home_ips[user]
                method = "publickey" if rng.random() < 0.8 else "password"
                if method == "password" and rng.random() < 0.15:  # a typo or two first
                    for k in range(rng.randint(1, 2)):
                        out.append(Attempt(t - dt.timedelta(seconds=8 * (k + 1)), user, ip, "failure",
                                           "bad_password", "password", ephemeral_port(rng)))
                out.append(Attempt(t, user, ip, "success", None, method, ephemeral_port(rng)))
        # Internet background: scanners that try a name or two and leave.
        for _ in range(rng.randint(scanners_per_day * 2 // 3, scanners_per_day * 4 // 3)):
            ip = public_ip(rng)
            t = base + dt.timedelta(seconds=rng.uniform(0, 86400))
            for _k in range(rng.randint(1, 3)):
                name = rng.choice(COMMON_NAMES)
                known = name == "root"
                out.append(Attempt(t, name, ip, "failure", "bad_password" if known else "unknown_user",
                                   "password", ephemeral_port(rng)))
                t += dt.timedelta(seconds=rng.uniform(2, 30))
    return out


def _workday_times(rng: random.Random, base: dt.datetime, n: int) -> list[dt.datetime]:
    # Office hours in New York (UTC-5): 13:00–23:00 UTC, a few early and late ones.
    return sorted(base + dt.timedelta(hours=rng.uniform(12.5, 23.5), seconds=rng.random()) for _ in range(n))


def _where(rng: random.Random, org: Org, user: str) -> tuple[str, Place]:
    if rng.random() < 0.65:
        return rng.choice(org.office_ips), OFFICE
    return org.home_ips[user], org.home_places[user]


def background_cloud(rng: random.Random, world: World, fmt: str) -> list[Attempt]:
    """Entra ID or Okta: every person signs in a few times a working day, with MFA when enrolled."""
    org = world.org
    out: list[Attempt] = []
    for day in range(world.days):
        base = world.start + day * DAY
        weekend = base.weekday() >= 5
        for user in org.users:
            if weekend and rng.random() < 0.85:
                continue
            for t in _workday_times(rng, base, rng.randint(1, 4 if fmt == "entra" else 2)):
                ip, place = _where(rng, org, user)
                mobile = rng.random() < 0.2
                ua = org.uas[user] if not mobile else BROWSER_UAS_MOBILE
                client = "Mobile Apps and Desktop clients" if mobile else "Browser"
                mfa = user not in org.no_mfa
                out.append(Attempt(t, user, ip, "success", None, "password", user_agent=ua, mfa=mfa, fmt=fmt,
                                   place=place, app=rng.choice(ENTRA_APPS) if fmt == "entra" else "Okta Dashboard",
                                   client=client))
    return out


BROWSER_UAS_MOBILE = "Microsoft Office/16.0 (iPhone; iOS 18.3; Outlook 4.2505.0)"


def background_cloudtrail(rng: random.Random, world: World) -> list[Attempt]:
    """AWS console: the cloud admins sign in once or twice a day, most with MFA."""
    org = world.org
    out: list[Attempt] = []
    for day in range(world.days):
        base = world.start + day * DAY
        for user in org.iam_users:
            for t in _workday_times(rng, base, rng.randint(1, 2)):
                ip, place = _where(rng, org, user)
                out.append(Attempt(t, user, ip, "success", None, "password", user_agent=org.uas[user],
                                   mfa=user not in org.no_mfa and user != org.iam_users[-1], fmt="cloudtrail",
                                   place=place, app="aws-console"))
    return out


def background_windows(rng: random.Random, world: World) -> tuple[list[Attempt], list[HostEvent]]:
    """The domain: morning Kerberos logons to the file server, admins' RDP, a printer's NTLM, Sysmon noise."""
    org = world.org
    out: list[Attempt] = []
    events: list[HostEvent] = []
    fs = fqdn(org, FS01)
    for day in range(world.days):
        base = world.start + day * DAY
        if base.weekday() >= 5:
            continue
        for user in org.users:
            if rng.random() < 0.1:
                continue  # off today
            ws, ws_ip = org.workstations[user]
            t = base + dt.timedelta(hours=rng.uniform(12.8, 15.0), seconds=rng.random())
            out.append(Attempt(t, user, ws_ip, "success", None, "kerberos", ephemeral_port(rng), fmt="windows",
                               client=ws, host=fs, logon_type=3))
        for user in org.admins:
            ws, ws_ip = org.workstations[user]
            t = base + dt.timedelta(hours=rng.uniform(14, 22))
            out.append(Attempt(t, user, ws_ip, "success", None, "kerberos", ephemeral_port(rng), fmt="windows",
                               client=ws, host=fs, logon_type=10))
        # A multifunction printer scanning to the share with NTLM, every hour of the working day.
        for hour in range(13, 23):
            t = base + dt.timedelta(hours=hour, minutes=rng.uniform(0, 50))
            out.append(Attempt(t, "svc_scan", "10.30.0.15", "success", None, "ntlm", ephemeral_port(rng),
                               fmt="windows", client="MFP-3F", host=fs, logon_type=3))
    # Ordinary processes on the file server, so the wiper's commands are not alone.
    ordinary = [
        ("C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
         "C:\\Windows\\System32\\services.exe"),
        ("C:\\Windows\\System32\\taskhostw.exe", "taskhostw.exe", "C:\\Windows\\System32\\svchost.exe"),
        ("C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding",
         "C:\\Windows\\System32\\svchost.exe"),
        ("C:\\Windows\\System32\\gpupdate.exe", "gpupdate.exe /target:computer", "C:\\Windows\\System32\\svchost.exe"),
    ]
    t = world.start + dt.timedelta(minutes=rng.uniform(5, 40))
    while t < world.end:
        image, cmd, parent = rng.choice(ordinary)
        events.append(HostEvent(t, fs, "process", "SYSTEM", "NT AUTHORITY", image, cmd, parent, ""))
        t += dt.timedelta(minutes=rng.uniform(20, 80))
    return out, events


def background_web(rng: random.Random, world: World) -> list[Attempt]:
    """The customer portal's sign-in form: people post it from home and office, and get redirected."""
    org = world.org
    out: list[Attempt] = []
    for day in range(world.days):
        base = world.start + day * DAY
        for user in rng.sample(org.users, max(1, len(org.users) // 3)):
            t = base + dt.timedelta(hours=rng.uniform(11, 24))
            ip, place = _where(rng, org, user)
            out.append(Attempt(t, user, ip, "success", None, "password", user_agent=org.uas[user], fmt="weblog",
                               place=place, app="/login"))
    return out


# --- attacks -------------------------------------------------------------------------------------


def fast_brute_force(
    rng: random.Random, org: Org, at: dt.datetime, tries: int = 60, succeed: bool = True, fmt: str = "sshd"
) -> tuple[list[Attempt], Scenario]:
    """One IP guesses one admin's password ``tries`` times in about a minute, then gets in."""
    ip = public_ip(rng)
    user = org.admins[0]
    sid = "brute-force-1"
    out: list[Attempt] = []
    t = at
    for _ in range(tries):
        out.append(Attempt(t, user, ip, "failure", "bad_password", "password", ephemeral_port(rng), scenario=sid,
                           fmt=fmt))
        t += dt.timedelta(seconds=rng.uniform(0.5, 1.5))
    sc = Scenario(sid, "brute_force", "T1110.001", at, t, {user}, {ip},
                  notes=f"{tries} guesses in about {tries} seconds from one IP", expect=["brute_force"])
    if succeed:
        t += dt.timedelta(seconds=2)
        out.append(Attempt(t, user, ip, "success", None, "password", ephemeral_port(rng), scenario=sid, fmt=fmt))
        sc.compromised.add(user)
        sc.end = t
        sc.expect.append("compromise")
        sc.notes += ", then the right password from the same IP"
    return out, sc


def password_spray(
    rng: random.Random, org: Org, at: dt.datetime, accounts: int = 200, gap_seconds: float = 180.0,
    fmt: str = "sshd", sid: str = "spray-1",
) -> tuple[list[Attempt], Scenario]:
    """One IP tries one password against many accounts, real and guessed, one try each, every few minutes."""
    ip = public_ip(rng)
    real = rng.sample(org.users, min(len(org.users), accounts * 2 // 3))
    guessed = [n for n in COMMON_NAMES if n not in real]
    guessed += _guessed_names(rng, max(0, accounts - len(real) - len(guessed)), set(org.users) | set(guessed))
    targets = real + guessed[: accounts - len(real)]
    rng.shuffle(targets)
    out: list[Attempt] = []
    t = at
    known = set(org.users) | {"root"}
    for user in targets:
        reason = "bad_password" if user in known else "unknown_user"
        out.append(Attempt(t, user, ip, "failure", reason, "password", ephemeral_port(rng), scenario=sid, fmt=fmt))
        t += dt.timedelta(seconds=rng.uniform(0.8, 1.2) * gap_seconds)
    slow = "low-and-slow: " if gap_seconds >= 60 else ""
    sc = Scenario(sid, "password_spray", "T1110.003", at, out[-1].time, set(targets), {ip},
                  notes=f"{slow}{len(targets)} accounts, one try each, every ~{gap_seconds:.0f} s from one IP",
                  expect=["password_spray"])
    return out, sc


def daily_spray(rng: random.Random, world: World, fmt: str = "okta", accounts: int = 200) -> Result:
    """Lowest and slowest: one IP tries each account once a day, for a week (or the days simulated)."""
    org = world.org
    sid = "spray-daily-1"
    ip, place = _attacker(rng, HOSTING[4])
    targets = rng.sample(org.users, min(accounts, len(org.users)))
    span = min(7, world.days)
    out: list[Attempt] = []
    ua = STUFFING_UAS[1]
    for day in range(span):
        base = world.end - (span - day) * DAY
        order = targets[:]
        rng.shuffle(order)
        step = DAY / (len(order) + 1)
        for n, user in enumerate(order):
            t = base + step * (n + 0.5) + _jitter(rng, step.total_seconds() / 3)
            out.append(Attempt(t, user, ip, "failure", "bad_password", "password", user_agent=ua, scenario=sid,
                               fmt=fmt, place=place, app="Okta Dashboard"))
    sc = Scenario(sid, "password_spray", "T1110.003", out[0].time, max(a.time for a in out),
                  notes=f"one try per account per day for {span} day(s) ({len(targets)} accounts, one IP, "
                        f"~{DAY.total_seconds() / (len(targets) + 1) / 60:.0f} min apart); a full week with days >= 7",
                  expect=["password_spray"])
    return out, [], sc


def distributed_spray(
    rng: random.Random, world: World, at: dt.datetime, fmt: str, sid: str, ips: int = 300, tries_per_ip: int = 2,
    hours: float = 6.0, compromise_after: dt.timedelta = dt.timedelta(hours=1, minutes=20),
) -> Result:
    """Hundreds of proxies in a few networks, two tries each over hours, one user agent; then one account is used."""
    org = world.org
    places = rng.sample(HOSTING[:5], 3)
    nets = [(public_prefix16(rng), places[k % len(places)]) for k in range(4)]
    sources: list[tuple[str, Place]] = []
    seen: set[str] = set()
    while len(sources) < ips:
        prefix, place = rng.choice(nets)
        ip = ip_in(rng, prefix)
        if ip not in seen:
            seen.add(ip)
            sources.append((ip, place))
    n_tries = ips * tries_per_ip
    real = [u for u in org.users if u not in org.admins[:1]]
    targets = rng.sample(real, min(len(real), n_tries * 3 // 4))
    extra = _guessed_names(rng, n_tries - len(targets), set(org.users))
    names = targets + extra
    rng.shuffle(names)
    out: list[Attempt] = []
    known = set(org.users)
    client = "Authenticated SMTP" if fmt == "entra" else ""
    for k, user in enumerate(names):
        ip, place = sources[k % ips]
        t = at + dt.timedelta(seconds=rng.uniform(0, hours * 3600))
        reason = "bad_password" if user in known else "unknown_user"
        out.append(Attempt(t, user, ip, "failure", reason, "password", ephemeral_port(rng), user_agent=SPRAY_UA,
                           scenario=sid, fmt=fmt, place=place, app="Office 365 Exchange Online", client=client))
    # The one whose password was on the list: signed in later from an address never seen before.
    victim = rng.choice([u for u in targets if u not in org.no_mfa] or targets)
    new_ip, new_place = _attacker(rng, HOSTING[5])
    t = at + dt.timedelta(hours=hours) + compromise_after
    compromise: list[Attempt] = []
    if fmt == "entra":
        # The browser asks for MFA (password right, 50074); IMAP needs none and gets in.
        compromise.append(Attempt(t, victim, new_ip, "failure", "password_ok_mfa_required", "password",
                                  user_agent=SPRAY_UA, scenario=sid, fmt=fmt, place=new_place,
                                  app="OfficeHome", client="Browser"))
        compromise.append(Attempt(t + dt.timedelta(minutes=3), victim, new_ip, "success", None, "password",
                                  user_agent="", mfa=False, scenario=sid, fmt=fmt, place=new_place,
                                  app="Office 365 Exchange Online", client="IMAP4"))
    else:
        compromise.append(Attempt(t, victim, new_ip, "success", None, "password", ephemeral_port(rng),
                                  scenario=sid, fmt=fmt, place=new_place))
    out += compromise
    expect = ["distributed_spray", "compromise"] + (["mfa_gap"] if fmt == "entra" else [])
    sc = Scenario(sid, "distributed_spray", "T1110.003", at, max(a.time for a in out), compromised={victim},
                  expect=expect,
                  notes=f"{ips} IPs in 4 /16s ({len({p.asn for _, p in nets})} ASNs) x {tries_per_ip} tries over "
                        f"{hours:g} h, one user agent; then {victim} signs in from a new IP {new_ip}"
                        + (" over IMAP4 (no MFA) after the browser asked for MFA" if fmt == "entra" else ""),
                  extra={"compromise_ip": new_ip})
    return out, [], sc


def credential_stuffing(
    rng: random.Random, world: World, at: dt.datetime, fmt: str, sid: str, names: int = 500, ips: int = 250,
    hours: float = 3.0,
) -> Result:
    """A leaked list replayed: mostly names the org never had, many IPs, each name tried once or twice."""
    org = world.org
    real = rng.sample(org.users, max(2, min(len(org.users), names // 8)))
    unknown = _guessed_names(rng, names - len(real), set(org.users))
    listed = real + unknown
    rng.shuffle(listed)
    sources = [_attacker(rng) for _ in range(ips)]
    out: list[Attempt] = []
    hit = next((u for u in real if u in org.no_mfa), real[0])
    for user in listed:
        for _ in range(1 if rng.random() < 0.7 else 2):
            ip, place = rng.choice(sources)
            t = at + dt.timedelta(seconds=rng.uniform(0, hours * 3600))
            reason = "bad_password" if user in org.users else "unknown_user"
            out.append(Attempt(t, user, ip, "failure", reason, "password", ephemeral_port(rng),
                               user_agent=rng.choice(STUFFING_UAS), scenario=sid, fmt=fmt, place=place,
                               app="Okta Dashboard" if fmt == "okta" else "/login"))
    # One pair from the list was still valid: the same botnet comes back with it.
    ip, place = rng.choice(sources)
    t = at + dt.timedelta(hours=hours, minutes=rng.uniform(5, 25))
    out.append(Attempt(t, hit, ip, "success", None, "password", ephemeral_port(rng), user_agent=STUFFING_UAS[0],
                       mfa=False, scenario=sid, fmt=fmt, place=place,
                       app="Okta Dashboard" if fmt == "okta" else "/login"))
    sc = Scenario(sid, "credential_stuffing", "T1110.004", at, t, compromised={hit},
                  expect=["distributed_spray", "compromise"] + (["mfa_gap"] if fmt == "okta" else []),
                  notes=f"{len(listed)} names ({len(unknown)} unknown to the org), {ips} IPs, 1–2 tries per name "
                        f"over {hours:g} h; {hit} (no MFA) signed in with a listed password")
    return out, [], sc


def console_stuffing(rng: random.Random, world: World, at: dt.datetime) -> Result:
    """The AWS console: guessed IAM names (logged as HIDDEN_DUE_TO_SECURITY_REASONS), real ones and root."""
    org = world.org
    sid = "stuffing-aws-1"
    sources = [_attacker(rng) for _ in range(40)]
    names = _guessed_names(rng, 60, set(org.users)) + org.iam_users[:3] + ["root"] * 4
    out: list[Attempt] = []
    for user in names:
        ip, place = rng.choice(sources)
        t = at + dt.timedelta(seconds=rng.uniform(0, 5400))
        reason = "bad_password" if user in org.iam_users or user == "root" else "unknown_user"
        out.append(Attempt(t, user, ip, "failure", reason, "password", user_agent=rng.choice(STUFFING_UAS[1:3]),
                           scenario=sid, fmt="cloudtrail", place=place, app="aws-console"))
    sc = Scenario(sid, "credential_stuffing", "T1110.004", at, max(a.time for a in out),
                  expect=["distributed_spray"],
                  notes="67 console sign-ins from 40 IPs in 90 min: 60 names that do not exist (user hidden by AWS), "
                        "3 IAM users and the root user; nothing succeeds", extra={"hidden_users": 60})
    return out, [], sc


def web_stuffing(rng: random.Random, world: World, at: dt.datetime) -> Result:
    """The portal's login form replayed from a botnet: 401s, and two 302s (valid pairs)."""
    sid = "stuffing-web-1"
    sources = [_attacker(rng) for _ in range(150)]
    out: list[Attempt] = []
    for _ in range(450):
        ip, place = rng.choice(sources)
        t = at + dt.timedelta(seconds=rng.uniform(0, 7200))
        out.append(Attempt(t, "-", ip, "failure", "bad_password", "password", user_agent=rng.choice(STUFFING_UAS),
                           scenario=sid, fmt="weblog", place=place, app="/login"))
    for _ in range(2):
        ip, place = rng.choice(sources)
        t = at + dt.timedelta(seconds=rng.uniform(0, 7200))
        out.append(Attempt(t, "-", ip, "success", None, "password", user_agent=STUFFING_UAS[0], scenario=sid,
                           fmt="weblog", place=place, app="/login"))
    sc = Scenario(sid, "credential_stuffing", "T1110.004", min(a.time for a in out), max(a.time for a in out),
                  expect=["distributed_spray"],
                  notes="452 POST /login from 150 IPs in 2 h, 450 answered 401 and 2 redirected (302); "
                        "the access log names no user")
    return out, [], sc


def web_botnet(rng: random.Random, world: World, at: dt.datetime, bots: int = 120, posts: int = 20,
               hours: float = 6.0) -> Result:
    """A slow botnet at the portal's login form: each bot posts a few dozen times over hours, never
    fast enough to fill any per-address counter (fail2ban's 5 in 10 minutes, CrowdSec's buckets)."""
    sid = "botnet-web-1"
    ua = rng.choice(STUFFING_UAS)
    out: list[Attempt] = []
    for _ in range(bots):
        ip, place = _attacker(rng)
        for _ in range(posts):
            t = at + dt.timedelta(seconds=rng.uniform(0, hours * 3600))
            out.append(Attempt(t, "-", ip, "failure", "bad_password", "password", user_agent=ua, scenario=sid,
                               fmt="weblog", place=place, app="/login"))
    sc = Scenario(sid, "credential_stuffing", "T1110.004", min(a.time for a in out), max(a.time for a in out),
                  set(), {a.ip for a in out}, expect=["distributed_spray"],
                  notes=f"{bots} addresses each post the login form {posts} times over {hours:g} h (about one post "
                        f"in {60 * hours / posts:.0f} min per address), all answered 401; the access log names no "
                        "account")
    return out, [], sc


def web_brute_force(rng: random.Random, world: World, at: dt.datetime, bots: int = 3, guesses: int = 40) -> Result:
    """Rented addresses take turns at the portal's login form, each a burst of guesses at one account
    (the access log names none), minutes apart so that no address stays long; the last one gets in."""
    sid = "brute-web-1"
    victim = rng.choice(world.org.users[len(world.org.admins):])
    ua = rng.choice(STUFFING_UAS)
    out: list[Attempt] = []
    ips: list[str] = []
    t = at
    place = None
    for _ in range(bots):
        ip, place = _attacker(rng)
        ips.append(ip)
        for _ in range(guesses):
            out.append(Attempt(t, victim, ip, "failure", "bad_password", "password", user_agent=ua, scenario=sid,
                               fmt="weblog", place=place, app="/login"))
            t += dt.timedelta(seconds=rng.uniform(1.0, 3.0))
        t += dt.timedelta(minutes=rng.uniform(8, 20))  # the next address takes over
    got_in = out[-1].time + dt.timedelta(seconds=2)
    out.append(Attempt(got_in, victim, ips[-1], "success", None, "password", user_agent=ua, scenario=sid,
                       fmt="weblog", place=place, app="/login"))
    sc = Scenario(sid, "brute_force", "T1110.001", at, got_in, set(), set(ips), expect=["brute_force"],
                  notes=f"{bots} addresses take turns at POST /login, {guesses} guesses each in about "
                        f"{2 * guesses} s, 8–20 min apart; the last is redirected (302): the password was "
                        "guessed. The access log names no account",
                  extra={"account": victim})
    return out, [], sc


def mfa_push_bombing(rng: random.Random, world: World, at: dt.datetime, fmt: str = "okta", pushes: int = 24) -> Result:
    """The password is known; the attacker sends push after push until the tired user approves one."""
    org = world.org
    sid = "mfa-fatigue-1"
    victim = rng.choice([u for u in org.users[len(org.admins):] if u not in org.no_mfa])
    ip, place = _attacker(rng, HOSTING[2])
    ua = SPRAY_UA
    out: list[Attempt] = []
    t = at
    step = partial(Attempt, user=victim, ip=ip, user_agent=ua, scenario=sid, fmt=fmt, place=place,
                   app="Okta Dashboard")
    for n in range(pushes):
        out.append(step(time=t, outcome="unknown", reason="password_ok_mfa_required", method="password"))
        t += dt.timedelta(seconds=rng.uniform(2, 5))
        out.append(step(time=t, outcome="unknown", reason="mfa_push_sent", method="mfa_push"))
        last = n == pushes - 1
        if last:
            t += dt.timedelta(seconds=rng.uniform(8, 40))
            out.append(step(time=t, outcome="success", reason=None, method="mfa_push", mfa=True))
            t += dt.timedelta(seconds=1)
            out.append(step(time=t, outcome="success", reason=None, method="password"))
            break
        if rng.random() < 0.55:
            t += dt.timedelta(seconds=rng.uniform(5, 30))
            out.append(step(time=t, outcome="failure", reason="mfa_denied", method="mfa_push"))
        else:
            t += dt.timedelta(minutes=5)
            out.append(step(time=t, outcome="failure", reason="mfa_timeout", method="mfa_push"))
        t += dt.timedelta(minutes=rng.uniform(1, 6) if n < pushes // 2 else rng.uniform(3, 15))
    sc = Scenario(sid, "mfa_fatigue", "T1621", at, t, compromised={victim},
                  expect=["mfa_fatigue", "compromise"],
                  notes=f"password right, then {pushes} pushes denied or left to time out over "
                        f"{(t - at).total_seconds() / 3600:.1f} h from one IP; the last one is approved")
    return out, [], sc


def full_chain(
    rng: random.Random, world: World, at: dt.datetime, victim: str, phish: dict[str, object] | None
) -> Result:
    """CISA's chain: phish, spray, sign-in from a new place, RDP to the file server, shadows gone, log cleared."""
    org = world.org
    sid = "chain-1"
    spray_ip, spray_place = _attacker(rng, HOSTING[1])
    others = [u for u in org.users if u != victim]
    targets = [*rng.sample(others, min(79, len(others))), victim]
    rng.shuffle(targets)
    out: list[Attempt] = []
    t = at
    for user in targets:
        ok = user == victim
        out.append(Attempt(t, user, spray_ip, "success" if ok else "failure", None if ok else "bad_password",
                           "password", user_agent=SPRAY_UA, mfa=False if ok else None, scenario=sid, fmt="entra",
                           place=spray_place, app="OfficeHome", client="Browser"))
        t += dt.timedelta(seconds=rng.uniform(30, 50))
    spray_end = t
    # The attacker comes back from a VPN exit in another country, and uses the account.
    ip, place = _attacker(rng, HOSTING[5])
    t = spray_end + dt.timedelta(minutes=rng.uniform(25, 40))
    out.append(Attempt(t, victim, ip, "success", None, "password", user_agent=SPRAY_UA, mfa=False, scenario=sid,
                       fmt="entra", place=place, app="Office 365 Exchange Online", client="Browser"))
    fs = fqdn(org, FS01)
    logon = t + dt.timedelta(minutes=rng.uniform(20, 35))
    out.append(Attempt(logon, victim, ip, "success", None, "ntlm", ephemeral_port(rng), scenario=sid, fmt="windows",
                       client="kali", host=fs, logon_type=10))
    events: list[HostEvent] = [
        HostEvent(logon, fs, "special_privileges", victim, org.netbios, scenario=sid),
        # From the file server the attacker reaches for the domain controller with the same account.
        HostEvent(logon + dt.timedelta(minutes=rng.uniform(3, 6)), fs, "explicit_credentials", victim, org.netbios,
                  command_line=fqdn(org, DC01), scenario=sid),
    ]
    wipe = logon + dt.timedelta(minutes=rng.uniform(10, 20))
    cmd = "C:\\Windows\\System32\\cmd.exe"
    parent_cmd = "\"C:\\Windows\\system32\\cmd.exe\" /c C:\\Users\\Public\\p.bat"
    steps = [
        ("C:\\Windows\\System32\\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet"),
        ("C:\\Windows\\System32\\wbadmin.exe", "wbadmin delete catalog -quiet"),
        ("C:\\Windows\\System32\\bcdedit.exe", "bcdedit /set {default} recoveryenabled no"),
        ("C:\\Windows\\System32\\bcdedit.exe", "bcdedit /set {default} bootstatuspolicy ignoreallfailures"),
    ]
    for image, line in steps:
        events.append(HostEvent(wipe, fs, "process", victim, org.netbios, image, line, cmd, parent_cmd, sid))
        wipe += dt.timedelta(seconds=rng.uniform(2, 9))
    cleared = wipe + dt.timedelta(minutes=rng.uniform(30, 60))
    events.append(HostEvent(cleared - dt.timedelta(seconds=3), fs, "process", victim, org.netbios,
                            "C:\\Windows\\System32\\wevtutil.exe", "wevtutil.exe cl System", cmd, parent_cmd, sid))
    events.append(HostEvent(cleared - dt.timedelta(seconds=2), fs, "system_log_cleared", victim, org.netbios,
                            scenario=sid))
    events.append(HostEvent(cleared, fs, "security_log_cleared", victim, org.netbios, scenario=sid))
    stages = [
        {"stage": "spray", "start": spray_end - (spray_end - at), "ip": spray_ip, "accounts": len(targets)},
        {"stage": "compromise", "time": out[len(targets)].time, "ip": ip},
        {"stage": "logon", "time": logon, "host": fs, "logon_type": 10},
        {"stage": "shadow_copy_deletion", "time": events[2].time, "host": fs},
        {"stage": "event_log_cleared", "time": cleared, "host": fs},
    ]
    if phish:
        stages.insert(0, {"stage": "phish", **phish})
    from shoreup.findings import iso

    sc = Scenario(sid, "full_chain", "T1566.002,T1110.003,T1078,T1021.001,T1490,T1070.001", at, cleared,
                  compromised={victim}, hosts={fs},
                  expect=(["phishing"] if phish else []) + [
                      "password_spray", "compromise", "mfa_gap", "shadow_copy_deletion", "backup_catalog_deletion",
                      "recovery_disabled", "event_log_cleared", "incident:account", "incident:host"],
                  notes=f"{victim}: sprayed from {spray_ip} with 79 others (the spray's guess is right), signs in "
                        f"from {ip} (new country), RDP to {FS01} (4624 type 10) {((logon - t).seconds // 60)} min "
                        f"later, shadow copies / backup catalog / recovery deleted, System and Security logs "
                        f"cleared {((cleared - wipe).seconds // 60)} min after that",
                  extra={"stages": [{k: iso(v) if isinstance(v, dt.datetime) else v for k, v in s.items()}
                                    for s in stages]})
    return out, events, sc


# --- hard negatives ------------------------------------------------------------------------------


def benign_shared_egress(rng: random.Random, world: World) -> Result:
    """The office NAT: hundreds of people behind three addresses, a trickle of typos from many of them."""
    org = world.org
    sid = "benign-egress-1"
    out: list[Attempt] = []
    for day in range(world.days):
        base = world.start + day * DAY
        for user in rng.sample(org.users, min(len(org.users), rng.randint(12, 20))):
            fmt = rng.choice(["entra", "okta"])
            t = rng.choice(_workday_times(rng, base, 3))
            ip = rng.choice(org.office_ips)
            typo = Attempt(t, user, ip, "failure", "bad_password", "password", user_agent=org.uas[user], scenario=sid,
                           fmt=fmt, place=OFFICE, app="OfficeHome" if fmt == "entra" else "Okta Dashboard",
                           client="Browser")
            out.append(typo)
            if rng.random() < 0.7:
                out.append(replace(typo, time=t + dt.timedelta(seconds=rng.uniform(10, 60)), outcome="success",
                                   reason=None, mfa=user not in org.no_mfa))
    sc = Scenario(sid, "benign_shared_egress", "", min(a.time for a in out), max(a.time for a in out),
                  notes="typos from many accounts behind the office NAT (3 IPs shared by everyone); "
                        "30% never retry from there")
    return out, [], sc


def benign_typos(rng: random.Random, world: World) -> Result:
    """People who mistype once or twice and then get in, in every format that names them."""
    org = world.org
    sid = "benign-typos-1"
    out: list[Attempt] = []
    fs = fqdn(org, FS01)
    for day in range(world.days):
        base = world.start + day * DAY
        for user in rng.sample(org.users, min(len(org.users), 10)):
            fmt = rng.choice(["entra", "okta", "windows", "weblog"])
            t = rng.choice(_workday_times(rng, base, 3))
            ip, place = _where(rng, org, user)
            typo = Attempt(t, user, ip, "failure", "bad_password", "password", user_agent=org.uas[user], scenario=sid,
                           fmt=fmt, place=place)
            if fmt == "windows":
                ws, ws_ip = org.workstations[user]
                typo = replace(typo, ip=ws_ip, method="kerberos", user_agent="", client=ws, host=fs, logon_type=3)
            elif fmt == "weblog":
                typo = replace(typo, app="/login")
            else:
                typo = replace(typo, app="OfficeHome" if fmt == "entra" else "Okta Dashboard", client="Browser")
            n = rng.randint(1, 2)
            for k in range(n):
                out.append(replace(typo, time=t + dt.timedelta(seconds=12 * k)))
            out.append(replace(typo, time=t + dt.timedelta(seconds=12 * n + rng.uniform(3, 20)), outcome="success",
                               reason=None, mfa=user not in org.no_mfa if fmt in ("entra", "okta") else None))
    sc = Scenario(sid, "benign_typo_then_success", "", min(a.time for a in out), max(a.time for a in out),
                  notes="one or two bad passwords, then the right one from the same place within a minute")
    return out, [], sc


def benign_stale_password(rng: random.Random, world: World) -> Result:
    """A phone still holding last month's password: ActiveSync fails every 15 minutes, for days."""
    org = world.org
    sid = "benign-stale-1"
    user = org.users[len(org.admins) + 1]
    ip = public_ip(rng, avoid=("198.51.100.",))
    place = org.home_places[user]
    out: list[Attempt] = []
    t = world.start + dt.timedelta(minutes=rng.uniform(0, 15))
    while t < world.end:
        out.append(Attempt(t, user, ip, "failure", "bad_password", "password",
                           user_agent="Apple-iPhone15C2/2201.184", scenario=sid, fmt="entra", place=place,
                           app="Office 365 Exchange Online", client="Exchange ActiveSync"))
        t += dt.timedelta(minutes=15, seconds=rng.uniform(-20, 20))
    sc = Scenario(sid, "benign_stale_password", "", out[0].time, out[-1].time,
                  notes=f"{len(out)} failures, one every 15 min from the same device, address and client")
    return out, [], sc


def benign_travel(rng: random.Random, world: World) -> Result:
    """A trip to London: New York in the evening, London the next morning — far, but not impossibly fast."""
    org = world.org
    sid = "benign-travel-1"
    user = org.users[len(org.admins) + 2]
    london = public_ip(rng, avoid=("198.51.100.",))
    home_place = org.home_places[user]
    t0 = world.start + dt.timedelta(hours=1)
    out: list[Attempt] = []
    for fmt in ("entra", "okta"):
        home = Attempt(t0 + dt.timedelta(minutes=rng.uniform(0, 10)), user, org.home_ips[user], "success", None,
                       "password", user_agent=org.uas[user], mfa=user not in org.no_mfa, scenario=sid, fmt=fmt,
                       place=home_place, app="OfficeHome" if fmt == "entra" else "Okta Dashboard", client="Browser")
        out.append(home)
        for h in (14.0, 16.5, 19.0):
            out.append(replace(home, time=t0 + dt.timedelta(hours=h, minutes=rng.uniform(0, 20)), ip=london,
                               place=TRAVEL))
    sc = Scenario(sid, "benign_travel", "", min(a.time for a in out), max(a.time for a in out),
                  notes="US then GB 14 h later (5,600 km: ~400 km/h, a flight), with MFA; new country, not impossible")
    return out, [], sc


def benign_service_accounts(rng: random.Random, world: World) -> Result:
    """Service accounts that sign in to the file server every few minutes, all day."""
    org = world.org
    sid = "benign-service-1"
    fs = fqdn(org, FS01)
    out: list[Attempt] = []
    for account, every, (ws, ip), method in (
        ("svc_backup", 5, BACKUP_SERVER, "kerberos"),
        ("svc_sql", 3, ("SQL01", "10.10.0.30"), "ntlm"),
    ):
        t = world.start + dt.timedelta(seconds=rng.uniform(0, 60))
        while t < world.end:
            out.append(Attempt(t, account, ip, "success", None, method, ephemeral_port(rng), scenario=sid,
                               fmt="windows", client=ws, host=fs, logon_type=3))
            t += dt.timedelta(minutes=every, seconds=rng.uniform(-5, 5))
    sc = Scenario(sid, "benign_service_account", "", min(a.time for a in out), max(a.time for a in out),
                  hosts={fs}, notes="svc_backup every 5 min (Kerberos), svc_sql every 3 min (NTLM), around the clock")
    return out, [], sc


def benign_backup_shadows(rng: random.Random, world: World) -> Result:
    """The nightly backup job creates (never deletes) a shadow copy on the file server."""
    org = world.org
    sid = "benign-shadow-1"
    fs = fqdn(org, FS01)
    agent = "C:\\Program Files\\BackupAgent\\bin\\agent.exe"
    events: list[HostEvent] = []
    for day in range(world.days):
        t = world.start + day * DAY + dt.timedelta(hours=6, minutes=rng.uniform(0, 5))
        events.append(HostEvent(t, fs, "process", "svc_backup", org.netbios, "C:\\Windows\\System32\\vssadmin.exe",
                                "vssadmin.exe create shadow /for=C:", agent, f"\"{agent}\" --job nightly", sid))
        events.append(HostEvent(t + dt.timedelta(minutes=rng.uniform(20, 40)), fs, "process", "svc_backup",
                                org.netbios, "C:\\Windows\\System32\\vssadmin.exe", "vssadmin.exe list shadows",
                                agent, f"\"{agent}\" --job nightly", sid))
    sc = Scenario(sid, "benign_backup_shadow_copy", "", events[0].time, events[-1].time, {"svc_backup"},
                  hosts={fs}, notes="vssadmin create shadow / list shadows by the backup agent at 06:00 UTC each day")
    return [], events, sc


#: Hard negatives, by name: each is recorded in the truth and must stay quiet.
BENIGN: dict[str, Callable[[random.Random, World], Result]] = {
    "benign_shared_egress": benign_shared_egress,
    "benign_typos": benign_typos,
    "benign_stale_password": benign_stale_password,
    "benign_travel": benign_travel,
    "benign_service_accounts": benign_service_accounts,
    "benign_backup_shadows": benign_backup_shadows,
}
