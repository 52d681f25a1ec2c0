"""Splunk security content (read from its detection files):

* "Multiple users failing to authenticate from one source": more than 30 distinct users failing
  from one IP in a 5-minute bucket;
* Entra "multi-source spray": more than 20 IPs and more than 20 users with one user agent in 5 min;
* "Multiple MFA requests denied": at least 10 denials for a user in a 10-minute bucket;
* brute force followed by a success: failures then a success, same user and IP, within 15 s.
"""

from __future__ import annotations

from collections import defaultdict

from bench.peers import Alert, Event, bucket, failures, failures_then_success

NAME = "splunk"


def run(events: list[Event]) -> list[Alert]:
    out: list[Alert] = []
    per_ip: dict[tuple[str, int], list[Event]] = defaultdict(list)
    per_ua: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for e in failures(events):
        if e["user"] and e["src_ip"]:
            per_ip[(e["src_ip"], bucket(e["ts"], 300))].append(e)
        if e["user"] and e.get("user_agent"):
            per_ua[(e["user_agent"], bucket(e["ts"], 300))].append(e)
    for (ip, _), evs in sorted(per_ip.items(), key=lambda kv: kv[1][0]["ts"]):
        users = {e["user"] for e in evs}
        if len(users) > 30:
            out.append(Alert(NAME, "multiple_users_from_one_ip", "attack", evs[0]["ts"], evs[-1]["ts"],
                             evs[-1]["ts"], users, {ip}))
    for _, evs in sorted(per_ua.items(), key=lambda kv: kv[1][0]["ts"]):
        users, ips = {e["user"] for e in evs}, {e["src_ip"] for e in evs if e["src_ip"]}
        if len(users) > 20 and len(ips) > 20:
            out.append(Alert(NAME, "entra_multi_source_spray", "attack", evs[0]["ts"], evs[-1]["ts"],
                             evs[-1]["ts"], users, ips))
    denials: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for e in events:
        if e["user"] and e.get("reason") == "mfa_denied":
            denials[(e["user"], bucket(e["ts"], 600))].append(e)
    for (user, _), evs in sorted(denials.items(), key=lambda kv: kv[1][0]["ts"]):
        if len(evs) >= 10:
            out.append(Alert(NAME, "mfa_denied", "mfa", evs[0]["ts"], evs[-1]["ts"], evs[-1]["ts"], {user},
                             {e["src_ip"] for e in evs if e["src_ip"]}))
    out += failures_then_success(NAME, events)
    return out
