"""Look-alike and homoglyph domains of the organization's and the brands' domains, wherever they appear."""

from __future__ import annotations

import re

from ..domains import Lookalike, mixed_script, normalize_host, to_unicode
from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import reason

CODES = {
    "LOOKALIKE_ORG_DOMAIN": Code(8.0, "a domain imitates one of the organization's own domains"),
    "LOOKALIKE_BRAND_DOMAIN": Code(6.0, "a domain imitates a well-known brand's domain"),
    "IDN_MIXED_SCRIPT": Code(2.5, "an internationalized domain mixes writing systems"),
}

#: How much each place weighs: the sender's own address is what a reader trusts most.
_WHERE_WEIGHT = {"sender": 1.0, "link": 0.9, "display": 0.8}
#: Combosquats ("paypal-secure.com") are weaker evidence than homoglyphs: brands register some themselves.
_KIND_WEIGHT = {"homoglyph": 1.0, "idn": 1.0, "typo": 1.0, "tld-swap": 1.0, "subdomain": 1.0, "combo": 0.6}
_DOMAIN_IN_TEXT = re.compile(r"(?<![\w@.-])((?:[\w-]+\.)+[a-z\u00a1-\uffff][\w-]{1,62})(?![\w-])", re.I)


def _places(msg: ParsedMessage) -> list[tuple[str, str, str]]:
    """(host, where, label) for every address, display-name domain and link host."""
    out: list[tuple[str, str, str]] = []
    for label, addrs in (("From", msg.from_), ("Reply-To", msg.reply_to), ("Sender", msg.sender)):
        for a in addrs:
            if a.domain:
                out.append((a.domain, "sender", f"{label} address {a.addr}"))
    for label, value in (("Return-Path", msg.return_path), ("envelope sender", msg.envelope_from)):
        if "@" in value:
            out.append((value.rpartition("@")[2], "sender", f"{label} {value}"))
    for a in [*msg.from_, *msg.reply_to]:
        for m in _DOMAIN_IN_TEXT.finditer(a.display):
            out.append((m.group(1), "display", f"display name of {a.addr or 'the sender'}"))
    for link in msg.links:
        if link.host:
            out.append((link.host, "link", f"link in {link.origin}"))
    return out


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    done: set[str] = set()
    for host, where, label in _places(msg):
        host = normalize_host(host)
        if host in done:
            continue
        done.add(host)
        hit: Lookalike | None = ctx.lookalikes.check(host)
        if hit is not None:
            org = ctx.is_org_domain(hit.target)
            code = "LOOKALIKE_ORG_DOMAIN" if org else "LOOKALIKE_BRAND_DOMAIN"
            weight = CODES[code].weight * _WHERE_WEIGHT[where] * _KIND_WEIGHT[hit.kind]
            out.append(reason(CODES, code, f"{label[0].upper() + label[1:]}: {hit.sentence()}.", round(weight, 1)))
        elif "xn--" in host and mixed_script(to_unicode(host)):
            out.append(
                reason(CODES, "IDN_MIXED_SCRIPT", f"{label[0].upper() + label[1:]}: {to_unicode(host)} ({host}) mixes scripts.")
            )
    return out
