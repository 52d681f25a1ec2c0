"""CrowdSec 1.4 scenarios ``crowdsecurity/ssh-bf`` (leaky bucket per IP, capacity 5, leak 1 per 10 s)
and ``crowdsecurity/ssh-slow-bf`` (capacity 10, leak 1 per 60 s); a bucket overflows when an event
arrives while it already holds ``capacity``; after an overflow the IP is blackholed for 1 minute."""

from __future__ import annotations

from bench.peers import Alert, Event, failures

NAME = "crowdsec"
SCENARIOS = (("ssh-bf", 5, 10.0), ("ssh-slow-bf", 10, 60.0))
BLACKHOLE = 60.0


def run(events: list[Event]) -> list[Alert]:
    out: list[Alert] = []
    fails = failures(events)
    for rule, capacity, leak in SCENARIOS:
        level: dict[str, tuple[float, float, float, set[str]]] = {}  # ip -> (level, last ts, first ts, users)
        quiet_until: dict[str, float] = {}
        for e in fails:
            ip = e["src_ip"]
            if ip is None or e["ts"] < quiet_until.get(ip, 0.0):
                continue
            lvl, last, first, users = level.get(ip, (0.0, e["ts"], e["ts"], set()))
            lvl = max(0.0, lvl - (e["ts"] - last) / leak)
            if lvl == 0.0:
                first, users = e["ts"], set()
            if e["user"]:
                users = users | {e["user"]}
            if lvl + 1 > capacity:
                out.append(Alert(NAME, rule, "attack", first, e["ts"], e["ts"], users, {ip}))
                level.pop(ip, None)
                quiet_until[ip] = e["ts"] + BLACKHOLE
                continue
            level[ip] = (lvl + 1, e["ts"], first, users)
    return out
