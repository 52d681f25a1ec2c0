"""Small, faithful reimplementations of the peers' published credential-attack logic, for the eval.

Each peer module has ``NAME`` and ``run(events) -> list[Alert]`` over format-neutral auth events
(dicts with ``ts`` epoch seconds, ``user``, ``src_ip``, ``outcome``, ``reason``, ``user_agent``),
sorted by time. They are applied to every event, whatever its source, which is generous to them:
fail2ban and CrowdSec only read SSH logs, Elastic's and Splunk's rules only Okta or Entra.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]

_MFA = ("password_ok_mfa_required", "mfa_denied", "mfa_timeout", "mfa_push_sent")


@dataclass
class Alert:
    """What a peer raises: a kind (attack | compromise | mfa), when, and whom it names."""

    peer: str
    rule: str
    kind: str
    start: float
    end: float
    detected_at: float
    users: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)


def failures(events: Iterable[Event]) -> list[Event]:
    """Failed password attempts as the peers' parsers see them (not MFA steps)."""
    return [e for e in events if e["outcome"] == "failure" and e.get("reason") not in _MFA]


def bucket(ts: float, seconds: float) -> int:
    """A clock bucket (``bin _time span=…`` / ``date_histogram``): the peers' unit of time."""
    return int(ts // seconds)


def failures_then_success(peer: str, events: list[Event], within: float = 15.0, min_failures: int = 3) -> list[Alert]:
    """The peers' compromise rule: failures then a success for the same user from the same IP within seconds."""
    out: list[Alert] = []
    recent: dict[tuple[str, str], list[float]] = {}
    for e in events:
        key = (e["user"], e["src_ip"])
        if e["user"] is None or e["src_ip"] is None:
            continue
        if e["outcome"] == "failure" and e.get("reason") not in _MFA:
            recent.setdefault(key, []).append(e["ts"])
        elif e["outcome"] == "success":
            fails = [t for t in recent.get(key, []) if e["ts"] - t <= within]
            if len(fails) >= min_failures:
                out.append(Alert(peer, "failures_then_success", "compromise", fails[0], e["ts"], e["ts"],
                                 {e["user"]}, {e["src_ip"]}))
            recent.pop(key, None)
    return out
