"""Domain arithmetic: registrable domains from the bundled public suffix list, confusable skeletons, lookalikes.

No network: tldextract is built with ``suffix_list_urls=()`` and no cache directory, so it only uses the
suffix snapshot shipped inside the package.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any


@cache
def _extractor() -> Any:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def to_unicode(host: str) -> str:
    """Decode punycode labels (``xn--``) for display and skeletons; undecodable labels stay as they are."""
    if "xn--" not in host:
        return host
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    return ".".join(labels)


def normalize_host(host: str) -> str:
    """Lower-case, strip dots, brackets, ports and userinfo; IDN hosts become punycode where possible."""
    host = host.strip().strip(".").lower()
    host = host.rpartition("@")[2]
    if host.startswith("["):
        return host.strip("[]").split("]")[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def is_ip(host: str) -> bool:
    """A dotted or bracketed IP literal, or the decimal/hex integer forms browsers also accept."""
    h = host.strip("[]")
    try:
        ipaddress.ip_address(h)
        return True
    except ValueError:
        pass
    if re.fullmatch(r"(0x[0-9a-f]+|\d{8,10})", h):
        return True
    return bool(re.fullmatch(r"(0x[0-9a-f]{1,2}|0[0-7]{1,3}|\d{1,3})(\.(0x[0-9a-f]{1,2}|0[0-7]{1,3}|\d{1,3})){3}", h))


@lru_cache(maxsize=65536)
def split(host: str) -> tuple[str, str, str]:
    """(subdomain, label, suffix) of a host per the public suffix list; label is '' when it has none."""
    if not host or is_ip(host):
        return ("", "", "")
    r = _extractor()(host)
    return (r.subdomain, r.domain, r.suffix)


@lru_cache(maxsize=65536)
def registrable(host: str) -> str:
    """The registrable domain (eTLD+1), or the host itself when it has no public suffix."""
    host = normalize_host(host)
    _sub, label, suffix = split(host)
    if label and suffix:
        return f"{label}.{suffix}"
    return host


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """True when ``host`` is one of ``domains`` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


# -- confusable skeletons -------------------------------------------------------------------------------

#: ASCII look-alikes that survive lower-casing (UTS #39 folds these the same way).
_ASCII_FOLDS = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("|", "l"))


@cache
def _confusable_map() -> dict[int, str]:
    """Every non-ASCII character that Unicode lists as confusable with an ASCII letter or digit."""
    from confusable_homoglyphs import confusables

    out: dict[int, str] = {}
    for char, alts in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        best = ""
        for alt in alts:
            c = alt["c"].replace("\u200e", "")
            if len(c) == 1 and c.isascii() and c.isalnum():
                if c.islower():
                    best = c
                    break
                best = best or c.lower()
        if best:
            out[ord(char)] = best
    return out


@lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """A comparison key that maps homoglyphs (Cyrillic а, fullwidth letters, 0/o, 1/l, rn/m) together."""
    s = unicodedata.normalize("NFKC", text).casefold()
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
        s = s.translate(_confusable_map())
    for a, b in _ASCII_FOLDS:
        s = s.replace(a, b)
    return s


def mixed_script(text: str) -> bool:
    """True when letters of more than one script (Latin, Cyrillic, Greek …) are mixed in one label."""
    for label in re.split(r"[.\s]", text):
        scripts = set()
        for ch in label:
            if ch.isalpha():
                try:
                    scripts.add(unicodedata.name(ch).split()[0])
                except ValueError:
                    continue
        if len(scripts) > 1:
            return True
    return False


def _deletes(s: str, depth: int) -> set[str]:
    out = {s}
    frontier = {s}
    for _ in range(depth):
        nxt = set()
        for w in frontier:
            for i in range(len(w)):
                nxt.add(w[:i] + w[i + 1 :])
        out |= nxt
        frontier = nxt
    return out


def distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (edits incl. adjacent swaps), stopping early past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def max_edits(label: str) -> int:
    """Typosquats of short names collide with real words, so allow one edit from 5 letters, two from 11."""
    n = len(label)
    return 0 if n < 5 else (1 if n < 11 else 2)


@dataclass(frozen=True)
class Lookalike:
    """``candidate`` imitates ``target`` (owned by ``owner``) in the way ``kind`` says."""

    candidate: str
    target: str
    owner: str
    kind: str  # homoglyph | typo | tld-swap | combo | subdomain | idn

    def sentence(self) -> str:
        how = {
            "homoglyph": "uses look-alike characters of",
            "idn": "is an internationalized (punycode) look-alike of",
            "typo": "is one or two typing edits away from",
            "tld-swap": "has the same name under another suffix as",
            "combo": "wraps the name of",
            "subdomain": "puts the real domain in front of an unrelated one to imitate",
        }[self.kind]
        return f"{to_unicode(self.candidate)} {how} {self.target} ({self.owner})"


@dataclass(frozen=True)
class _Protected:
    domain: str
    label: str
    skel: str
    owner: str
    org: bool


class LookalikeIndex:
    """Finds registrable domains that imitate protected ones (the organization's and the brands')."""

    def __init__(self, protected: Iterable[tuple[str, str, bool]]) -> None:
        """``protected``: (domain, owner name, is the organization's own)."""
        self.entries: list[_Protected] = []
        self.owned: set[str] = set()
        self._by_deletes: dict[str, list[_Protected]] = {}
        self._by_label: dict[str, list[_Protected]] = {}
        for domain, owner, org in protected:
            domain = normalize_host(domain)
            self.owned.add(domain)
            _sub, label, _suffix = split(domain)
            if not label:
                continue
            entry = _Protected(domain, label, skeleton(label), owner, org)
            self.entries.append(entry)
            self._by_label.setdefault(entry.skel, []).append(entry)
            for d in _deletes(entry.skel, max_edits(entry.skel)):
                self._by_deletes.setdefault(d, []).append(entry)
        # Long names first so "paypal" wins over "pay" when both are protected.
        self._combo = sorted((e for e in self.entries if len(e.skel) >= 4), key=lambda e: -len(e.skel))

    def owned_host(self, host: str) -> bool:
        labels = normalize_host(host).split(".")
        return any(".".join(labels[i:]) in self.owned for i in range(len(labels)))

    @lru_cache(maxsize=65536)  # noqa: B019 - one index lives for a whole run
    def check(self, host: str) -> Lookalike | None:
        """The first way ``host`` imitates a protected domain, or None (also None for owned hosts)."""
        host = normalize_host(host)
        if not host or is_ip(host) or self.owned_host(host):
            return None
        sub, label, suffix = split(host)
        if not label:
            return None
        reg = f"{label}.{suffix}"
        uni = to_unicode(label)
        skel = skeleton(uni)
        idn = label.startswith("xn--") or not uni.isascii()
        # 1. same skeleton: homoglyphs, digit swaps, IDN, or the org's name under another suffix.
        for e in self._by_label.get(skel, []):
            if uni != e.label:
                return Lookalike(reg, e.domain, e.owner, "idn" if idn else "homoglyph")
            if e.org:
                return Lookalike(reg, e.domain, e.owner, "tld-swap")
        # 2. a few typing edits away.
        seen: set[str] = set()
        for d in _deletes(skel, 2 if len(skel) >= 11 else 1):
            for e in self._by_deletes.get(d, []):
                if e.domain in seen:
                    continue
                seen.add(e.domain)
                if skel != e.skel and 0 < distance(skel, e.skel, max_edits(e.skel)) <= max_edits(e.skel):
                    return Lookalike(reg, e.domain, e.owner, "idn" if idn else "typo")
        # 3. the real registrable domain used as a subdomain (paypal.com.secure-login.ru).
        if sub:
            labels = sub.split(".")
            for i in range(len(labels)):
                for j in range(i + 2, min(len(labels), i + 4) + 1):
                    window = ".".join(labels[i:j])
                    if window in self.owned:
                        found = next((x for x in self.entries if x.domain == window), None)
                        owner = found.owner if found else "a protected domain"
                        return Lookalike(host, window, owner, "subdomain")
        # 4. combosquatting: the protected name as a token of the label (paypal-secure.com).
        tokens = [t for t in re.split(r"[-_0-9]+", skel) if t]
        for e in self._combo:
            if e.skel in tokens or (len(e.skel) >= 5 and skel.startswith(e.skel) and skel != e.skel):
                return Lookalike(reg, e.domain, e.owner, "combo")
        return None
