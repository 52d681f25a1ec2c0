"""Links: text that shows one domain and points to another, raw IPs, shorteners, free hosting, storage."""

from __future__ import annotations

import re

from ..domains import is_ip, registrable, split
from ..hosts import host_lists
from ..model import ParsedMessage, Reason
from ..org import Context
from ..urls import has_userinfo
from . import Code
from ._base import q, reason

CODES = {
    "LINK_TEXT_MISMATCH": Code(3.0, "a link's text shows one domain and the link goes to another"),
    "LINK_RAW_IP": Code(3.0, "a link goes to a bare IP address instead of a name"),
    "LINK_USERINFO": Code(3.0, "a link hides its real host after an '@'"),
    "LINK_SHORTENER": Code(1.5, "a link goes through a URL shortener that hides its destination"),
    "LINK_FREE_HOSTING": Code(2.5, "a link goes to a free hosting or site-builder page"),
    "LINK_CLOUD_STORAGE": Code(2.0, "a link goes to cloud storage or file sharing"),
    "LINK_DATA_URI": Code(4.0, "a link opens an inline data: document instead of a website"),
    "LINK_ABUSED_TLD": Code(1.0, "a link goes to a top-level domain that abuse reports rank highest"),
    "QR_CODE_LINK": Code(3.0, "an image or PDF carries a QR code with a link (quishing)"),
}

_TEXT_DOMAIN = re.compile(r"^\s*(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,24})(?:[/:?#]\S*)?\s*$", re.I)
_HTML_PAGE = re.compile(r"\.(?:s?html?|php|aspx?)(?:[?#]|$)", re.I)


def _shown_domain(text: str) -> str:
    """The domain a link text displays, when the text is a URL or a bare domain."""
    m = _TEXT_DOMAIN.match(text)
    if not m:
        return ""
    host = m.group(1).lower()
    _sub, label, suffix = split(host)
    return host if label and suffix else ""


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    lists = host_lists()
    found: dict[str, Reason] = {}

    def add(r: Reason) -> None:
        if r.code not in found or r.weight > found[r.code].weight:
            found[r.code] = r

    for link in msg.links:
        host, url = link.host, link.url
        if link.origin.startswith("QR code"):
            add(reason(CODES, "QR_CODE_LINK", f"A QR code in {link.origin[11:]} links to {q(url)}."))
        if url.startswith("data:"):
            add(reason(CODES, "LINK_DATA_URI", f"A link in {link.origin} opens a data: document ({q(url, 40)})."))
            continue
        if not host:
            continue
        shown = _shown_domain(link.text) if link.text else ""
        if shown and registrable(shown) != registrable(host) and not _same_owner(shown, host, ctx):
            weight = 5.0 if (ctx.brand_of_domain(shown) or ctx.is_org_domain(shown)) else None
            add(
                reason(
                    CODES,
                    "LINK_TEXT_MISMATCH",
                    f"Link text shows {shown} but the link goes to {host}.",
                    weight,
                )
            )
        if is_ip(host):
            add(reason(CODES, "LINK_RAW_IP", f"A link goes to the bare IP address {host}."))
        if has_userinfo(url):
            add(reason(CODES, "LINK_USERINFO", f"A link hides its real host {host} behind an '@': {q(url)}."))
        if lists.is_shortener(host):
            add(reason(CODES, "LINK_SHORTENER", f"A link goes through the URL shortener {host}."))
        free = lists.free_host(host)
        if free:
            add(reason(CODES, "LINK_FREE_HOSTING", f"A link goes to {host}, on free hosting ({free})."))
        store = lists.storage_host(host)
        if store:
            page = bool(_HTML_PAGE.search(url.split("?", 1)[0] + ("?" if "?" in url else "")))
            add(
                reason(
                    CODES,
                    "LINK_CLOUD_STORAGE",
                    f"A link goes to {'a web page stored on ' if page else ''}{store} ({q(url, 60)}).",
                    3.0 if page else None,
                )
            )
        tld = lists.abused_tld(host)
        if tld and not ctx.lookalikes.owned_host(host):
            add(reason(CODES, "LINK_ABUSED_TLD", f"A link goes to {host} under .{tld}."))
    return list(found.values())


def _same_owner(a: str, b: str, ctx: Context) -> bool:
    if ctx.is_org_domain(a) and ctx.is_org_domain(b):
        return True
    ba = ctx.brand_of_domain(a)
    return ba is not None and ba is ctx.brand_of_domain(b)
