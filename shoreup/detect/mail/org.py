"""The organization config (``--org FILE``, TOML) and the shipped list of frequently impersonated brands."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from shoreup.errors import UsageError

from .domains import LookalikeIndex, normalize_host, skeleton

#: Roles whose names a CEO-fraud / BEC mail borrows to make a payment or gift-card request urgent.
EXECUTIVE_ROLE = re.compile(
    r"\b(ceo|cfo|coo|cto|ciso|cio|chief|president|founder|owner|chair(man|woman|person)?|director|"
    r"treasurer|managing|head|vp|vice)\b",
    re.I,
)


def name_key(text: str) -> str:
    """Words of a name, homoglyph-folded, without punctuation: ``"Doe, Jane"`` and ``"Jane DOE"`` agree."""
    words = re.findall(r"[a-z0-9]+", skeleton(text))
    return " ".join(sorted(words))


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    role: str = ""

    @property
    def executive(self) -> bool:
        return bool(EXECUTIVE_ROLE.search(self.role))


@dataclass(frozen=True)
class Brand:
    name: str
    names: tuple[str, ...]
    domains: tuple[str, ...]


@dataclass
class Org:
    """Who the mail is for: its name, domains, trusted mail servers and people."""

    name: str = ""
    domains: list[str] = field(default_factory=list)
    trusted_authserv_ids: list[str] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)

    @property
    def configured(self) -> bool:
        return bool(self.domains or self.people or self.name)


def load_org(path: str | None) -> Org:
    """Read ``--org FILE``; every problem is reported at once as a UsageError naming the file."""
    if not path:
        return Org()
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as e:
        raise UsageError(f"{path}: cannot read organization config: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    errors: list[str] = []
    raw = doc.get("org")
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: needs an [org] table with name, domains, trusted_authserv_ids, people")

    def str_list(key: str) -> list[str]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f"org.{key} must be a list of strings")
            return []
        return [v.strip() for v in value if v.strip()]

    name = raw.get("name", "")
    if not isinstance(name, str):
        errors.append("org.name must be a string")
        name = ""
    domains = [normalize_host(d) for d in str_list("domains")]
    trusted = [v.lower() for v in str_list("trusted_authserv_ids")]
    people: list[Person] = []
    for i, p in enumerate(raw.get("people", []) or []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not p.get("name"):
            errors.append(f"org.people[{i}] needs a name")
            continue
        email = p.get("email", "")
        role = p.get("role", "")
        if not isinstance(email, str) or not isinstance(role, str):
            errors.append(f"org.people[{i}]: email and role must be strings")
            continue
        people.append(Person(p["name"].strip(), email.strip().lower(), role.strip()))
    unknown = set(raw) - {"name", "domains", "trusted_authserv_ids", "people"}
    if unknown:
        errors.append(f"unknown key(s) in [org]: {', '.join(sorted(unknown))}")
    if errors:
        raise UsageError(f"{path}: " + "; ".join(errors))
    return Org(name.strip(), domains, trusted, people)


@cache
def load_brands() -> tuple[Brand, ...]:
    """The shipped list of impersonated brands (``shoreup/data/brands.toml``)."""
    text = resources.files("shoreup").joinpath("data/brands.toml").read_text("utf-8")
    doc = tomllib.loads(text)
    return tuple(
        Brand(b["name"], tuple(b.get("names", [])), tuple(normalize_host(d) for d in b.get("domains", [])))
        for b in doc.get("brand", [])
    )


@dataclass
class Context:
    """Everything the signals share for one run: the org, the brands and the look-alike index."""

    org: Org
    brands: tuple[Brand, ...]
    lookalikes: LookalikeIndex
    brand_phrases: list[tuple[re.Pattern[str], Brand]]
    people_keys: dict[str, Person]
    org_name_pattern: re.Pattern[str] | None

    @classmethod
    def build(cls, org: Org) -> Context:
        brands = load_brands()
        protected = [(d, org.name or "the organization", True) for d in org.domains]
        protected += [(d, b.name, False) for b in brands for d in b.domains]
        phrases: list[tuple[re.Pattern[str], Brand]] = []
        for b in brands:
            alts = sorted({re.escape(skeleton(n)) for n in b.names}, key=len, reverse=True)
            if alts:
                phrases.append((re.compile(r"(?<![a-z0-9])(" + "|".join(alts) + r")(?![a-z0-9])"), b))
        people_keys = {name_key(p.name): p for p in org.people if len(name_key(p.name).split()) >= 2}
        org_pat = None
        if org.name and len(org.name) >= 3:
            org_pat = re.compile(r"(?<![a-z0-9])" + re.escape(skeleton(org.name)) + r"(?![a-z0-9])")
        return cls(org, brands, LookalikeIndex(protected), phrases, people_keys, org_pat)

    def brand_of_domain(self, host: str) -> Brand | None:
        """The brand owning ``host`` or one of its parent domains."""
        index = self._brand_index()
        labels = host.lower().split(".")
        for i in range(len(labels)):
            brand = index.get(".".join(labels[i:]))
            if brand is not None:
                return brand
        return None

    def _brand_index(self) -> dict[str, Brand]:
        if not hasattr(self, "_brand_idx"):
            idx: dict[str, Brand] = {}
            for b in self.brands:
                for d in b.domains:
                    idx.setdefault(d, b)
            self._brand_idx = idx
        return self._brand_idx

    def is_org_domain(self, host: str) -> bool:
        labels = host.lower().split(".")
        return any(".".join(labels[i:]) in self.org.domains for i in range(len(labels)))
