"""Writes the customer portal's nginx access log (``combined`` format): sign-in posts among ordinary traffic.

Reference: nginx ``log_format combined`` — ``$remote_addr - $remote_user [$time_local] "$request" $status
$body_bytes_sent "$http_referer" "$http_user_agent"``. A sign-in is ``POST /login``: 302 to the
dashboard when the password is right, 401 when it is not. The form posts carry no ``$remote_user``,
so the log names no account.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path
from typing import Final

from shoreup.simulate.model import BROWSER_UAS, Attempt, Org, public_ip

_PAGES: Final = ["/", "/dashboard", "/static/app.3f9c1e.js", "/static/app.8d2b7a.css", "/favicon.ico",
                 "/api/v1/orders?page=1", "/api/v1/profile", "/help", "/login"]
_BOTS: Final = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "/robots.txt", 200),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "/", 200),
    ("Mozilla/5.0 zgrab/0.x", "/.env", 404),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
     "/wp-login.php", 404),
    ("curl/8.5.0", "/.git/config", 404),
]


def _line(t: dt.datetime, ip: str, request: str, status: int, size: int, referer: str, ua: str) -> str:
    return f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{request} HTTP/1.1" {status} {size} "{referer}" "{ua}"'


def write(path: Path, attempts: list[Attempt], org: Org, rng: random.Random, start: dt.datetime, days: int) -> int:
    """Write the log (sign-ins plus page views and crawlers); returns the number of lines."""
    site = f"https://portal.{org.domain}"
    lines: list[tuple[dt.datetime, int, str]] = []
    for n, a in enumerate(sorted(attempts, key=lambda a: (a.time, a.ip))):
        ok = a.outcome == "success"
        ua = a.user_agent or BROWSER_UAS[0]
        lines.append((a.time - dt.timedelta(seconds=2), 3 * n, _line(a.time - dt.timedelta(seconds=2), a.ip,
                                                                        "GET /login", 200, 5120, site + "/", ua)))
        lines.append((a.time, 3 * n + 1, _line(a.time, a.ip, "POST /login", 302 if ok else 401, 0 if ok else 412,
                                               site + "/login", ua)))
        if ok:
            t = a.time + dt.timedelta(milliseconds=300)
            lines.append((t, 3 * n + 2, _line(t, a.ip, "GET /dashboard", 200, 18233, site + "/login", ua)))
    # Ordinary traffic: people browsing, crawlers and scanners.
    k = 10**9
    for day in range(days):
        base = start + dt.timedelta(days=day)
        for _ in range(1200):
            t = base + dt.timedelta(seconds=rng.uniform(0, 86400))
            user = rng.choice(org.users)
            ip = rng.choice(org.office_ips) if rng.random() < 0.6 else org.home_ips[user]
            page = rng.choice(_PAGES)
            lines.append((t, k, _line(t, ip, f"GET {page}", 200, rng.randint(300, 40000), site + "/dashboard",
                                      org.uas[user])))
            k += 1
        for _ in range(150):
            t = base + dt.timedelta(seconds=rng.uniform(0, 86400))
            ua, page, status = rng.choice(_BOTS)
            lines.append((t, k, _line(t, public_ip(rng), f"GET {page}", status, rng.randint(150, 900), "-", ua)))
            k += 1
    lines.sort(key=lambda x: (x[0], x[1]))
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for _, _, text in lines:
            f.write(text + "\n")
    if lines:
        stamp = lines[-1][0].timestamp()
        os.utime(path, (stamp, stamp))
    return len(lines)
