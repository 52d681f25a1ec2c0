"""Background activity and attack scenarios, as format-neutral attempts with ground truth.

Each attack has the shape peers are measured against (see ``../shared/PEERS.md``): a fast brute force
(tens of tries a minute from one IP) and a password spray (one try per account, many accounts).
"""

from __future__ import annotations

import datetime as dt
import random

from shoreup.simulate.model import COMMON_NAMES, Attempt, Org, Scenario, ephemeral_port, public_ip

MINUTE = dt.timedelta(minutes=1)


def background(
    rng: random.Random, org: Org, start: dt.datetime, days: int, scanners_per_day: int = 30
) -> list[Attempt]:
    """Admins signing in over SSH during the working day, a few typos, and internet scanners."""
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


def fast_brute_force(
    rng: random.Random, org: Org, at: dt.datetime, tries: int = 60, succeed: bool = True
) -> tuple[list[Attempt], Scenario]:
    """One IP guesses one admin's password ``tries`` times in about a minute, then gets in."""
    ip = public_ip(rng)
    user = org.admins[0]
    sid = "brute-force-1"
    out: list[Attempt] = []
    t = at
    for _ in range(tries):
        out.append(Attempt(t, user, ip, "failure", "bad_password", "password", ephemeral_port(rng), scenario=sid))
        t += dt.timedelta(seconds=rng.uniform(0.5, 1.5))
    sc = Scenario(sid, "brute_force", "T1110.001", at, t, {user}, {ip},
                  notes=f"{tries} guesses in about {tries} seconds")
    if succeed:
        t += dt.timedelta(seconds=2)
        out.append(Attempt(t, user, ip, "success", None, "password", ephemeral_port(rng), scenario=sid))
        sc.compromised.add(user)
        sc.end = t
    return out, sc


def password_spray(
    rng: random.Random, org: Org, at: dt.datetime, accounts: int = 120, gap_seconds: float = 20.0
) -> tuple[list[Attempt], Scenario]:
    """One IP tries one password against many accounts, real and guessed, one try each."""
    ip = public_ip(rng)
    sid = "spray-1"
    real = rng.sample(org.users, min(len(org.users), accounts * 2 // 3))
    guessed = [n for n in COMMON_NAMES if n not in real][: accounts - len(real)]
    targets = real + guessed
    rng.shuffle(targets)
    out: list[Attempt] = []
    t = at
    for user in targets:
        reason = "bad_password" if user in org.users else "unknown_user"
        out.append(Attempt(t, user, ip, "failure", reason, "password", ephemeral_port(rng), scenario=sid))
        t += dt.timedelta(seconds=rng.uniform(0.5, 1.5) * gap_seconds)
    sc = Scenario(sid, "password_spray", "T1110.003", at, t, set(targets), {ip},
                  notes=f"{len(targets)} accounts, one try each, every ~{gap_seconds:.0f} s")
    return out, sc
