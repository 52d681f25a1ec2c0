"""Read HTML (bodies and attachments) as data: links with their visible text, forms, scripts, data: URIs.

Nothing is rendered, fetched or run. A tolerant regex tokenizer (tags, attributes, text between them)
is used instead of a full parser: it never fails on broken markup and is several times faster.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from . import _limits
from .model import Form, HtmlDoc
from .urls import link_from_url

_SPACE = re.compile(r"\s+")
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.I)
# Quoted attribute values containing ">" are not honoured: rare in mail, and handling them costs 3x.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,30})([^>]*)>|<!--.*?-->", re.S)
_ATTR = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_RAW_END = {"script": re.compile(r"</script\s*>", re.I), "style": re.compile(r"</style\s*>", re.I)}
_INTERESTING = frozenset(["a", "area", "base", "form", "input", "script", "style", "iframe", "frame", "embed", "object", "meta", "img"])
_PASSWORD_NAME = re.compile(r"pass(wd|word)?\b|senha|pwd")
_TEXT_CAP = 50_000


def _attrs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        key = m.group(1).lower()
        if key not in out:
            value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
            out[key] = html.unescape(value) if value and "&" in value else (value or "")
    return out


def scan_html(markup: str, origin: str) -> tuple[HtmlDoc, bool]:
    """Scan ``markup``; returns the document and whether it was cut at the size limit."""
    doc = HtmlDoc(origin=origin)
    cut = len(markup) > _limits.MAX_HTML_BYTES
    markup = markup[: _limits.MAX_HTML_BYTES]
    base = ""
    anchor_href: str | None = None
    anchor_text: list[str] = []
    form_action: str | None = None
    form_password = False
    text_parts: list[str] = []
    text_len = 0

    def add_link(href: str, text: str) -> None:
        href = href.strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "cid:", "javascript:void")):
            return
        if base and not re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I):
            href = urljoin(base, href)
        link = link_from_url(href, _SPACE.sub(" ", text).strip()[:300], origin)
        if link is not None and len(doc.links) < _limits.MAX_LINKS:
            doc.links.append(link)

    pos = 0
    n = len(markup)
    while pos < n:
        m = _TAG.search(markup, pos)
        chunk = markup[pos : m.start() if m else n]
        if chunk:
            data = html.unescape(chunk) if "&" in chunk else chunk
            if anchor_href is not None:
                anchor_text.append(data)
            if text_len < _TEXT_CAP:
                text_parts.append(data)
                text_len += len(data)
        if m is None:
            break
        pos = m.end()
        if m.group(2) is None:  # a comment
            continue
        closing, tag = m.group(1), m.group(2).lower()
        if tag not in _INTERESTING:
            continue
        if closing:
            if tag == "a" and anchor_href is not None:
                add_link(anchor_href, "".join(anchor_text))
                anchor_href = None
            elif tag == "form" and form_action is not None:
                doc.forms.append(Form(form_action, form_password, origin))
                form_action = None
            continue
        a = _attrs(m.group(3))
        for value in a.values():
            if value[:5].lower() == "data:":
                doc.data_uris.append(value[:200_000])
        if "download" in a:
            doc.download_attrs += 1
        if tag == "base" and a.get("href"):
            base = a["href"]
        elif tag == "a" and a.get("href"):
            if anchor_href is not None:
                add_link(anchor_href, "".join(anchor_text))
            anchor_href, anchor_text = a["href"], []
        elif tag == "area" and a.get("href"):
            add_link(a["href"], a.get("alt", ""))
        elif tag == "form":
            if form_action is not None:
                doc.forms.append(Form(form_action, form_password, origin))
            form_action, form_password = a.get("action", ""), False
        elif tag == "input":
            kind = a.get("type", "").lower()
            name = (a.get("name", "") + " " + a.get("id", "")).lower()
            if kind == "password" or (kind in ("", "text") and _PASSWORD_NAME.search(name)):
                doc.password_fields += 1
                form_password = True
        elif tag in _RAW_END:
            end = _RAW_END[tag].search(markup, pos)
            body = markup[pos : end.start() if end else n]
            pos = end.end() if end else n
            if tag == "script":
                if a.get("src"):
                    doc.scripts.append(f"// src={a['src']}")
                doc.scripts.append(body)
        elif tag in ("iframe", "frame", "embed", "object") and (a.get("src") or a.get("data")):
            add_link(a.get("src") or a.get("data", ""), "")
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            r = _REFRESH_URL.search(a.get("content", ""))
            if r:
                doc.meta_refresh.append(r.group(1).strip())
                add_link(r.group(1).strip(), "")
    if anchor_href is not None:
        add_link(anchor_href, "".join(anchor_text))
    if form_action is not None:
        doc.forms.append(Form(form_action, form_password, origin))
    doc.text = _SPACE.sub(" ", "".join(text_parts)).strip()
    return doc, cut
