"""Credential-harvest forms and HTML smuggling in bodies and HTML attachments."""

from __future__ import annotations

import re

from ..domains import normalize_host, registrable
from ..model import HtmlDoc, ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import reason

CODES = {
    "CREDENTIAL_FORM": Code(5.0, "the mail carries a form that asks for a password"),
    "CREDENTIAL_FORM_OFFSITE": Code(7.0, "a password form posts to a foreign site or sits in an attachment"),
    "HTML_SMUGGLING": Code(8.0, "script decodes an embedded payload and saves it (atob + Blob / data: download)"),
    "HTML_ATTACHMENT": Code(2.0, "an HTML page is attached: it opens locally, outside link filters"),
    "HTML_REDIRECT": Code(4.0, "an attached page forwards the reader to a remote site"),
    "SCRIPT_OBFUSCATION": Code(3.0, "script hides what it does (eval, unescape, fromCharCode, long base64)"),
}

_DECODE = re.compile(r"\batob\s*\(|base64,|Uint8Array|charCodeAt|fromCharCode", re.I)
_SAVE = re.compile(
    r"new\s+Blob\s*\(|createObjectURL|msSaveOrOpenBlob|msSaveBlob|\.download\s*=|"
    r"setAttribute\s*\(\s*['\"]download['\"]|saveAs\s*\(",
    re.I,
)
_OBFUSCATION = re.compile(
    r"\beval\s*\(|unescape\s*\(|document\.write\s*\(\s*(?:unescape|atob|decodeURI)|"
    r"String\.fromCharCode\s*\((?:\s*\d+\s*,){8}|\\x[0-9a-f]{2}(?:\\x[0-9a-f]{2}){20}",
    re.I,
)
_LONG_B64 = re.compile(r"[A-Za-z0-9+/]{2000,}={0,2}")
_REDIRECT = re.compile(r"(?:window|document|top|self)\.location(?:\.href)?\s*=|location\.replace\s*\(", re.I)
_DATA_PAYLOAD = re.compile(r"^data:(?!image/(?:png|gif|jpe?g|webp|bmp|x-icon))([a-z0-9.+-]+/[a-z0-9.+-]+)", re.I)


def _doc_reasons(doc: HtmlDoc, ctx: Context, add: list[Reason]) -> None:
    attached = doc.origin.startswith("attachment")
    where = doc.origin
    scripts = "\n".join(doc.scripts)
    if doc.password_fields:
        offsite = ""
        for form in doc.forms:
            if form.has_password:
                action = form.action.strip()
                if re.match(r"^(?:https?:)?//", action, re.I):
                    host = normalize_host(re.sub(r"^(?:https?:)?//", "", action, flags=re.I).split("/", 1)[0])
                    if not ctx.lookalikes.owned_host(host):
                        offsite = registrable(host) or host
        if not offsite and attached and re.search(r"\b(fetch|XMLHttpRequest|\$\.(ajax|post))\b", scripts):
            offsite = "a remote server (posted by script)"
        if offsite or attached:
            dest = f"posts it to {offsite}" if offsite else "opens from a local file"
            add.append(reason(CODES, "CREDENTIAL_FORM_OFFSITE", f"A password form in {where} {dest}."))
        else:
            add.append(reason(CODES, "CREDENTIAL_FORM", f"The {where} contains a password field."))
    payloads = [d for d in doc.data_uris if _DATA_PAYLOAD.match(d)]
    if (_DECODE.search(scripts) and _SAVE.search(scripts)) or (payloads and (doc.download_attrs or _SAVE.search(scripts))):
        kind = _DATA_PAYLOAD.match(payloads[0]).group(1) if payloads else "decoded"  # type: ignore[union-attr]
        add.append(
            reason(
                CODES,
                "HTML_SMUGGLING",
                f"Script in {where} assembles a {kind} file from embedded data and offers it as a download.",
            )
        )
    elif _LONG_B64.search(scripts) and _DECODE.search(scripts):
        add.append(reason(CODES, "SCRIPT_OBFUSCATION", f"Script in {where} decodes a long embedded base64 blob."))
    elif _OBFUSCATION.search(scripts):
        add.append(reason(CODES, "SCRIPT_OBFUSCATION", f"Script in {where} is obfuscated (eval/unescape/char codes)."))
    if attached:
        add.append(reason(CODES, "HTML_ATTACHMENT", f"An HTML page is attached ({where[11:]})."))
        if _REDIRECT.search(scripts) or doc.meta_refresh:
            add.append(reason(CODES, "HTML_REDIRECT", f"The attached page {where[11:]} forwards to a remote site."))


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    for doc in msg.html:
        _doc_reasons(doc, ctx, out)
    return out
