"""Elastic detection rules (prebuilt, read from their rule files):

* Okta multi-source spray: per 15-minute bucket of the tenant, >= 5 source IPs, >= 8 users,
  >= 25 failed attempts, and no user with more than 5 attempts;
* Entra ID password spray: per 15-minute bucket of the tenant, >= 15 distinct failing users with
  one error type;
* brute force followed by a success: failures then a success, same user and IP, within 15 s.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from bench.peers import Alert, Event, bucket, failures, failures_then_success

NAME = "elastic"
SPAN = 900.0


def run(events: list[Event]) -> list[Alert]:
    out: list[Alert] = []
    buckets: dict[int, list[Event]] = defaultdict(list)
    for e in failures(events):
        if e["user"]:
            buckets[bucket(e["ts"], SPAN)].append(e)
    for _, evs in sorted(buckets.items()):
        users = Counter(e["user"] for e in evs)
        ips = {e["src_ip"] for e in evs if e["src_ip"]}
        last = evs[-1]["ts"]
        if len(ips) >= 5 and len(users) >= 8 and len(evs) >= 25 and max(users.values()) <= 5:
            out.append(Alert(NAME, "okta_multi_source_spray", "attack", evs[0]["ts"], last, last, set(users), ips))
        by_reason: dict[str | None, set[str]] = defaultdict(set)
        for e in evs:
            by_reason[e.get("reason")].add(e["user"])
        if any(len(u) >= 15 for u in by_reason.values()):
            out.append(Alert(NAME, "entra_password_spray", "attack", evs[0]["ts"], last, last, set(users), ips))
    out += failures_then_success(NAME, events)
    return out
