"""URL handling without fetching: split a URL into the host a browser would contact, find URLs in text."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from .domains import normalize_host
from .model import Link

#: URLs in plain text: schemes a mail client makes clickable, and bare www. hosts.
TEXT_URL = re.compile(r"""(?:(?:https?|ftp)://|www\.)[^\s<>"'()\[\]{}|\\^`]{2,2000}""", re.I)
_TRAILING = ".,;:!?*'\"”’»"


def link_from_url(url: str, text: str = "", origin: str = "body") -> Link | None:
    """A Link for ``url`` (None for non-web schemes); the host is normalised and lower-case."""
    url = url.strip().replace("\\", "/")
    if url.lower().startswith("www."):
        url = "http://" + url
    low = url[:12].lower()
    if low.startswith("data:"):
        return Link(url[:80] + ("…" if len(url) > 80 else ""), "", text, origin)
    if not low.startswith(("http:", "https:", "ftp:", "//")):
        return None
    try:
        parts = urlsplit(url if not url.startswith("//") else "http:" + url)
        netloc = unquote(parts.netloc)
    except ValueError:
        m = re.match(r"^[a-z]+:/*([^/?#]*)", url, re.I)
        netloc = unquote(m.group(1)) if m else ""
    host = normalize_host(netloc)
    if not host:
        return None
    return Link(url, host, text, origin)


def urls_in_text(text: str, origin: str) -> list[Link]:
    out: list[Link] = []
    for m in TEXT_URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        link = link_from_url(url, "", origin)
        if link is not None:
            out.append(link)
    return out


def has_userinfo(url: str) -> bool:
    """``http://paypal.com@evil.example/`` shows one host and contacts another."""
    m = re.match(r"^[a-z]+://([^/?#]*)@", url, re.I)
    return bool(m)
