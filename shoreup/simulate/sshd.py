"""Writes attempts as an OpenSSH ``auth.log`` (RFC 3164, year-less), as Debian's rsyslog does."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

from shoreup.simulate.model import Attempt

_KEY = "SHA256:" + "x" * 43


def lines_for(a: Attempt, rng: random.Random, known_users: set[str], pid: int, host: str) -> list[tuple[dt.datetime, str]]:
    """The lines sshd writes for one attempt, in order, each with its time."""
    t = a.time
    p = f"{host} sshd[{pid}]:"
    out: list[tuple[dt.datetime, str]] = []
    exists = a.user in known_users
    if a.outcome == "success":
        out.append((t, f"{p} Accepted {a.method} for {a.user} from {a.ip} port {a.port} ssh2"
                    + (f": RSA {_KEY}" if a.method == "publickey" else "")))
        out.append((t, f"{p} pam_unix(sshd:session): session opened for user {a.user}(uid=1000) by (uid=0)"))
        end = t + dt.timedelta(minutes=rng.uniform(1, 90))
        out.append((end, f"{p} Received disconnect from {a.ip} port {a.port}:11: disconnected by user"))
        out.append((end, f"{p} pam_unix(sshd:session): session closed for user {a.user}"))
        return out
    if not exists:
        out.append((t, f"{p} Invalid user {a.user} from {a.ip} port {a.port}"))
        out.append((t, f"{p} pam_unix(sshd:auth): check pass; user unknown"))
        out.append((t, f"{p} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                       f"ruser= rhost={a.ip}"))
        t2 = t + dt.timedelta(seconds=2)
        out.append((t2, f"{p} Failed password for invalid user {a.user} from {a.ip} port {a.port} ssh2"))
        out.append((t2, f"{p} Connection closed by invalid user {a.user} {a.ip} port {a.port} [preauth]"))
        return out
    out.append((t, f"{p} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                   f"ruser= rhost={a.ip}  user={a.user}"))
    t2 = t + dt.timedelta(seconds=2)
    out.append((t2, f"{p} Failed password for {a.user} from {a.ip} port {a.port} ssh2"))
    return out


def write(path: Path, attempts: list[Attempt], known_users: set[str], rng: random.Random, host: str = "srv01") -> int:
    """Write the log; returns the number of lines. The file's mtime is set to its last line."""
    lines: list[tuple[dt.datetime, int, str]] = []
    pid = 1000
    for n, a in enumerate(sorted(attempts, key=lambda a: (a.time, a.user, a.ip))):
        pid += rng.randint(1, 7)
        for t, text in lines_for(a, rng, known_users, pid, host):
            lines.append((t, n, text))
    # Unrelated system noise, as in a real auth.log.
    if attempts:
        first = min(a.time for a in attempts)
        last = max(a.time for a in attempts)
        t = first.replace(minute=17, second=1, microsecond=0)
        while t <= last:
            pid += 3
            lines.append((t, -1, f"{host} CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"))
            lines.append((t, -1, f"{host} CRON[{pid}]: pam_unix(cron:session): session closed for user root"))
            t += dt.timedelta(hours=1)
    lines.sort(key=lambda x: (x[0], x[1]))
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for t, _, text in lines:
            f.write(f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')} {text}\n")
    if lines:
        stamp = lines[-1][0].timestamp()
        os.utime(path, (stamp, stamp))
    return len(lines)
