"""The simulated world: an organization, its people's sign-ins, and attack scenarios with truth.

Scenarios produce format-neutral ``Attempt`` (a sign-in step) and ``HostEvent`` (a process started, a
log cleared) records; writers (one module per log format) turn them into native log records. Every
random choice is drawn from a seeded ``random.Random``: the same seed gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any, Final

FIRST_NAMES = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "chris", "nancy", "daniel", "lisa", "matthew", "betty", "anthony", "margaret", "mark", "sandra", "donald", "ashley", "steven", "kimberly", "paul", "emily", "andrew", "donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda", "brian", "melissa", "george", "deborah", "timothy", "stephanie", "ronald", "rebecca", "edward", "sharon", "jason", "laura", "jeffrey", "cynthia"]
LAST_NAMES = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker"]
#: What guessing tools try first (common defaults and service names).
COMMON_NAMES = ["root", "admin", "administrator", "test", "user", "guest", "oracle", "postgres", "mysql", "ubuntu", "pi", "git", "ftp", "www", "deploy", "jenkins", "support", "backup", "nagios", "hadoop", "ec2-user", "centos", "debian", "docker", "ansible", "minecraft", "teamspeak"]

#: Formats the simulator writes, with the file each one goes to (cloudtrail: a folder of daily files).
FILES: Final[dict[str, str]] = {
    "sshd": "auth.log",
    "entra": "entra_signins.json",
    "okta": "okta_system_log.json",
    "cloudtrail": "cloudtrail",
    "windows": "windows_security.jsonl",
    "weblog": "access.log",
    "mail": "mail",
}
FORMATS: Final = tuple(FILES)


@dataclass(frozen=True)
class Place:
    """Where an address is: country, city, network. Real ASNs of the kind of network named."""

    country: str  # ISO 3166-1 alpha-2
    country_name: str
    state: str
    city: str
    lat: float
    lon: float
    asn: int
    as_org: str
    hosting: bool = False


US_HOME: Final = [
    Place("US", "United States", "New York", "New York", 40.71, -74.0, 7922, "comcast cable communications"),
    Place("US", "United States", "New Jersey", "Newark", 40.73, -74.17, 701, "verizon business"),
    Place("US", "United States", "Connecticut", "Stamford", 41.05, -73.54, 7018, "at&t services"),
    Place("US", "United States", "New York", "Brooklyn", 40.65, -73.95, 12271, "charter communications"),
]
OFFICE: Final = Place("US", "United States", "New York", "New York", 40.75, -73.99, 3356, "level 3 parent")
TRAVEL: Final = Place("GB", "United Kingdom", "England", "London", 51.51, -0.13, 2856, "british telecommunications")
HOSTING: Final = [
    Place("NL", "Netherlands", "North Holland", "Amsterdam", 52.37, 4.9, 14061, "digitalocean", True),
    Place("DE", "Germany", "Bavaria", "Nuremberg", 49.45, 11.08, 24940, "hetzner online", True),
    Place("RO", "Romania", "Bucharest", "Bucharest", 44.43, 26.1, 9009, "m247 europe", True),
    Place("FR", "France", "Hauts-de-France", "Roubaix", 50.69, 3.18, 16276, "ovh sas", True),
    Place("US", "United States", "Virginia", "Ashburn", 39.04, -77.49, 212238, "datacamp limited", True),
    Place("IR", "Iran", "Tehran", "Tehran", 35.69, 51.39, 58224, "iran telecommunication company", True),
    Place("VN", "Vietnam", "Ho Chi Minh", "Ho Chi Minh City", 10.82, 106.63, 45899, "vnpt corp", True),
]

BROWSER_UAS: Final = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36 Edg/133.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:135.0) Gecko/20100101 Firefox/135.0",
]


@dataclass(frozen=True)
class Attempt:
    """One authentication step (a password check, an MFA push and its answer), before any log format.

    ``outcome`` / ``reason`` are what really happened (the normalized vocabulary of
    :mod:`shoreup.schema`); each writer renders them in its format's own codes.
    """

    time: dt.datetime
    user: str
    ip: str
    outcome: str  # success | failure | unknown
    reason: str | None = None  # bad_password | unknown_user | password_ok_mfa_required | mfa_denied | …
    method: str = "password"  # password | publickey | kerberos | ntlm | mfa_push
    port: int = 0
    user_agent: str = ""
    mfa: bool | None = None  # a second factor was used (success) — None when the step says nothing
    scenario: str | None = None  # id of the scenario that made it; None for background
    fmt: str = "sshd"  # the writer that logs it (a key of FILES)
    place: Place | None = None  # where ip is (country, ASN) for formats that log it
    app: str = ""  # application signed in to; Entra clientAppUsed goes in client
    client: str = ""  # Entra clientAppUsed / Windows workstation name
    host: str = ""  # Windows: the computer the user logs on to (the DC logs the Kerberos / NTLM part)
    logon_type: int = 0  # Windows logon type (2 interactive, 3 network, 10 remote interactive)


@dataclass(frozen=True)
class HostEvent:
    """Something a Windows host logged that is not a sign-in: a process started, a log cleared."""

    time: dt.datetime
    host: str
    kind: str  # process | security_log_cleared | system_log_cleared | special_privileges
    user: str
    domain: str
    image: str = ""
    command_line: str = ""
    parent_image: str = ""
    parent_command_line: str = ""
    scenario: str | None = None


@dataclass
class Scenario:
    """Ground truth for one attack or hard negative: what a detector should (or should not) report."""

    id: str
    kind: str  # brute_force | password_spray | … | benign_…
    technique: str
    start: dt.datetime
    end: dt.datetime
    users: set[str] = field(default_factory=set)
    src_ips: set[str] = field(default_factory=set)
    compromised: set[str] = field(default_factory=set)
    notes: str = ""
    formats: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    expect: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        from shoreup.findings import iso

        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "technique": self.technique,
            "formats": sorted(self.formats),
            "start": iso(self.start),
            "end": iso(self.end),
            "users": sorted(self.users),
            "src_ips": sorted(self.src_ips, key=_ip_key),
            "compromised": sorted(self.compromised),
            "hosts": sorted(self.hosts),
            "expect": list(self.expect),
            "notes": self.notes,
        }
        out.update(self.extra)
        return out


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


@dataclass
class Org:
    """People, their usual networks, and the internet around them."""

    domain: str
    users: list[str]
    office_ips: list[str]
    home_ips: dict[str, str]
    admins: list[str]
    # Filled by ``enrich`` (a separate random stream, so the people stay the same as before).
    home_places: dict[str, Place] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    workstations: dict[str, tuple[str, str]] = field(default_factory=dict)  # user -> (name, 10.x ip)
    no_mfa: set[str] = field(default_factory=set)
    iam_users: list[str] = field(default_factory=list)
    service_accounts: list[str] = field(default_factory=list)
    uas: dict[str, str] = field(default_factory=dict)
    tenant_id: str = "00000000-0000-0000-0000-000000000000"
    aws_account: str = "111122223333"
    netbios: str = "EXAMPLE"
    ad_domain: str = "corp.example.com"

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

    def enrich(self, rng: random.Random) -> None:
        """Directory details every cloud and Windows log needs: ids, devices, MFA enrolment, accounts."""
        self.tenant_id = uuid(rng)
        self.aws_account = "".join(str(rng.randint(0, 9)) for _ in range(12))
        self.netbios = self.domain.split(".")[0].upper()[:15]
        self.ad_domain = f"corp.{self.domain}"
        for n, user in enumerate(self.users):
            self.home_places[user] = rng.choice(US_HOME)
            first, _, last = user.partition(".")
            self.display[user] = f"{first.capitalize()} {last.rstrip('0123456789').capitalize()}"
            self.workstations[user] = (f"WS{1000 + n:04d}", f"10.20.{1 + n // 250}.{10 + n % 240}")
            self.uas[user] = rng.choice(BROWSER_UAS)
        # About one account in eight has no second factor (the MFA gap a posture report finds).
        self.no_mfa = {u for u in self.users[len(self.admins):] if rng.random() < 0.12}
        self.iam_users = self.admins[: max(3, len(self.admins))]
        self.service_accounts = ["svc_backup", "svc_sql", "svc_scan"]

    def replace_user(self, index: int, name: str) -> None:
        """Give account ``index`` another name (a phishing recipient must be an account of the org)."""
        old = self.users[index]
        if name in self.users:
            return
        self.users[index] = name
        self.home_ips[name] = self.home_ips.pop(old)
        if old in self.home_places:
            self.home_places[name] = self.home_places.pop(old)
            self.workstations[name] = self.workstations.pop(old)
            self.uas[name] = self.uas.pop(old)
            self.display.pop(old)
        first, _, last = name.partition(".")
        self.display[name] = f"{first.capitalize()} {last.capitalize()}"
        if old in self.no_mfa:
            self.no_mfa.discard(old)
            self.no_mfa.add(name)

    def upn(self, user: str) -> str:
        return f"{user}@{self.domain}"


def public_ip(rng: random.Random, avoid: tuple[str, ...] = ()) -> str:
    """A random routable-looking IPv4 address (never private, loopback or multicast)."""
    while True:
        ip = ipaddress.IPv4Address(rng.randint(0x01000000, 0xDFFFFFFF))
        s = str(ip)
        if ip.is_global and not s.startswith(avoid):
            return s


def ip_in(rng: random.Random, prefix16: str) -> str:
    """A host address inside ``a.b`` (a /16)."""
    return f"{prefix16}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def public_prefix16(rng: random.Random) -> str:
    """A routable /16 (as ``a.b``)."""
    while True:
        ip = public_ip(rng, avoid=("198.51.", "203.0."))
        a, b, _, _ = ip.split(".")
        if ipaddress.IPv4Address(f"{a}.{b}.0.1").is_global and ipaddress.IPv4Address(f"{a}.{b}.255.254").is_global:
            return f"{a}.{b}"


def ephemeral_port(rng: random.Random) -> int:
    return rng.randint(32768, 60999)


def uuid(rng: random.Random) -> str:
    """A random (version 4 shaped) UUID drawn from ``rng``, so it is the same for a seed."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def hex_id(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def b62(rng: random.Random, n: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(n))
