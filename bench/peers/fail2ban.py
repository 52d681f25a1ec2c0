"""fail2ban 1.0.2, default ``[sshd]`` jail: ban an IP after ``maxretry`` 5 failures within ``findtime``
10 minutes, for ``bantime`` 10 minutes (jail.conf defaults). Each ban is one alert."""

from __future__ import annotations

from collections import deque

from bench.peers import Alert, Event, failures

NAME = "fail2ban"
MAXRETRY, FINDTIME, BANTIME = 5, 600.0, 600.0


def run(events: list[Event]) -> list[Alert]:
    out: list[Alert] = []
    seen: dict[str, deque[Event]] = {}
    banned_until: dict[str, float] = {}
    for e in failures(events):
        ip = e["src_ip"]
        if ip is None or e["ts"] < banned_until.get(ip, 0.0):
            continue
        q = seen.setdefault(ip, deque())
        q.append(e)
        while q and e["ts"] - q[0]["ts"] > FINDTIME:
            q.popleft()
        if len(q) >= MAXRETRY:
            out.append(Alert(NAME, "sshd jail", "attack", q[0]["ts"], e["ts"], e["ts"],
                             {x["user"] for x in q if x["user"]}, {ip}))
            banned_until[ip] = e["ts"] + BANTIME
            q.clear()
    return out
