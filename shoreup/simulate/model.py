"""The simulated world: an organization, its people's sign-ins, and attack scenarios with truth.

Scenarios produce format-neutral ``Attempt`` records; writers (one module per log format) turn them
into native log lines. Everything is drawn from one seeded ``random.Random``: the same seed gives
byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

FIRST_NAMES = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "chris", "nancy", "daniel", "lisa", "matthew", "betty", "anthony", "margaret", "mark", "sandra", "donald", "ashley", "steven", "kimberly", "paul", "emily", "andrew", "donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda", "brian", "melissa", "george", "deborah", "timothy", "stephanie", "ronald", "rebecca", "edward", "sharon", "jason", "laura", "jeffrey", "cynthia"]
LAST_NAMES = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker"]
#: What guessing tools try first (common defaults and service names).
COMMON_NAMES = ["root", "admin", "administrator", "test", "user", "guest", "oracle", "postgres", "mysql", "ubuntu", "pi", "git", "ftp", "www", "deploy", "jenkins", "support", "backup", "nagios", "hadoop", "ec2-user", "centos", "debian", "docker", "ansible", "minecraft", "teamspeak"]


@dataclass(frozen=True)
class Attempt:
    """One authentication attempt, before any log format."""

    time: dt.datetime
    user: str
    ip: str
    outcome: str  # success | failure
    reason: str | None = None  # bad_password | unknown_user | …
    method: str = "password"
    port: int = 0
    user_agent: str = ""
    mfa: bool | None = None
    scenario: str | None = None  # id of the scenario that made it; None for background


@dataclass
class Scenario:
    """Ground truth for one attack: what a detector should report."""

    id: str
    kind: str  # brute_force | password_spray | …
    technique: str
    start: dt.datetime
    end: dt.datetime
    users: set[str] = field(default_factory=set)
    src_ips: set[str] = field(default_factory=set)
    compromised: set[str] = field(default_factory=set)
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        from shoreup.findings import iso

        return {
            "id": self.id,
            "kind": self.kind,
            "technique": self.technique,
            "start": iso(self.start),
            "end": iso(self.end),
            "users": sorted(self.users),
            "src_ips": sorted(self.src_ips),
            "compromised": sorted(self.compromised),
            "notes": self.notes,
        }


@dataclass
class Org:
    """People, their usual networks, and the internet around them."""

    domain: str
    users: list[str]
    office_ips: list[str]
    home_ips: dict[str, str]
    admins: list[str]

    @classmethod
    def make(cls, rng: random.Random, n_users: int, domain: str = "example.com") -> Org:
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < n_users:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first[0]}.{last}" if rng.random() < 0.7 else f"{first}.{last}"
            if name in seen:
                name = f"{name}{rng.randint(2, 99)}"
            if name not in seen:
                seen.add(name)
                names.append(name)
        office = [str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("198.51.100.10")) + i)) for i in range(3)]
        home = {u: public_ip(rng, avoid=("198.51.100.",)) for u in names}
        admins = names[: max(3, n_users // 12)]
        return cls(domain, names, office, home, admins)


def public_ip(rng: random.Random, avoid: tuple[str, ...] = ()) -> str:
    """A random routable-looking IPv4 address (never private, loopback or multicast)."""
    while True:
        ip = ipaddress.IPv4Address(rng.randint(0x01000000, 0xDFFFFFFF))
        s = str(ip)
        if ip.is_global and not s.startswith(avoid):
            return s


def ephemeral_port(rng: random.Random) -> int:
    return rng.randint(32768, 60999)
