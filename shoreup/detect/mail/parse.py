"""Turn raw bytes (or an Outlook .msg) into a ParsedMessage: headers, bodies, HTML, links, attachments.

Every defect is noted on the message and parsing goes on; nothing raises on hostile input.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from . import _limits
from .headers import clean, decode_bytes, decode_words, header_text, parse_addresses, split_header_block
from .htmlscan import scan_html
from .inputs import RawMessage
from .model import Attachment, ParsedMessage
from .urls import urls_in_text

#: Headers the MIME parser needs from the top level; the rest never reach it, so a hostile
#: From/Subject cannot derail body parsing.
_MIME_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}
_HTML_NAMES = (".htm", ".html", ".shtml", ".xhtml", ".svg", ".mht", ".mhtml", ".xht")
_FOR = re.compile(r"\bfor\s+<?([^\s<>;@]+@[^\s<>;]+?)>?\s*;", re.I)


def parse(raw: RawMessage) -> ParsedMessage:
    """Parse one message from its bytes (``kind`` eml / mbox) or its Outlook container (``msg``)."""
    msg = ParsedMessage(path=raw.path, position=raw.position)
    if raw.truncated:
        msg.note(
            "LIMIT_MESSAGE_SIZE",
            f"message larger than {_limits.MAX_MESSAGE_BYTES:,} bytes; only its start was read",
            damaged=True,
        )
    if raw.kind == "msg":
        from .outlook import msg_to_mime

        mime, problem = msg_to_mime(raw.data)
        if mime is None:
            msg.note("UNREADABLE", f"Outlook .msg could not be read: {problem}", damaged=True)
            return msg
        data = mime
    else:
        data = raw.data
    fields, body = split_header_block(data, msg)
    if not fields:
        msg.note("NO_HEADERS", "no header fields could be read", damaged=True)
    _fill_headers(msg, fields)
    mime_head = b"".join(n.encode() + b": " + v + b"\n" for n, v in fields if n.lower() in _MIME_HEADERS)
    try:
        root = BytesParser(policy=compat32).parsebytes(mime_head + b"\n" + body)
    except RecursionError:
        msg.note("LIMIT_MIME_DEPTH", "MIME structure too deeply nested to parse; body not inspected", True)
        return msg
    except Exception as e:  # the stdlib parser is lenient; anything else is a damaged body
        msg.note("BODY_UNPARSEABLE", f"body could not be parsed ({type(e).__name__}); not inspected", True)
        return msg
    walker = _Walker(msg)
    walker.walk(root, 0)
    _collect_links(msg)
    return msg


def _fill_headers(msg: ParsedMessage, fields: list[tuple[str, bytes]]) -> None:
    for name, raw in fields:
        lname = name.lower()
        text = header_text(raw, msg, name)
        if lname in ("from", "to", "cc", "reply-to", "sender"):
            addrs = parse_addresses(text, msg, name)
            target = {"from": msg.from_, "to": msg.to, "cc": msg.cc, "reply-to": msg.reply_to, "sender": msg.sender}
            target[lname].extend(addrs)
            if lname == "from" and not msg.from_raw:
                msg.from_raw = clean(decode_words(text, msg, name))[:300]
            value = clean(decode_words(text, msg, name))
        else:
            value = clean(decode_words(text, msg, name)) if "=?" in text else clean(text)
        msg.headers.append((name, value))
        if lname == "subject" and not msg.subject:
            msg.subject = value[:1000]
        elif lname == "message-id" and not msg.message_id:
            msg.message_id = value.strip()[:300]
        elif lname == "return-path" and not msg.return_path:
            m = re.search(r"<([^<>]*)>", value)
            msg.return_path = (m.group(1) if m else value).strip().lower()
        elif lname in ("x-envelope-from", "x-original-sender") and not msg.envelope_from:
            msg.envelope_from = value.strip("<> ").lower()
        elif lname in ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
            for a in re.findall(r"[^\s<>,;]+@[^\s<>,;]+", value):
                msg.envelope_to.append(a.lower())
        elif lname == "received":
            m = _FOR.search(value)
            if m:
                msg.envelope_to.append(m.group(1).lower())
    if len([1 for n, _ in msg.headers if n.lower() == "from"]) > 1:
        msg.note("FROM_REPEATED", "more than one From header (clients disagree which one they show)")
    if not msg.from_ and msg.from_raw:
        msg.note("FROM_UNREADABLE", f"From header has no readable address: {msg.from_raw[:80]!r}")


class _Walker:
    def __init__(self, msg: ParsedMessage) -> None:
        self.msg = msg
        self.parts = 0
        self.deep_noted = False

    def walk(self, part: Message, depth: int) -> None:
        msg = self.msg
        if depth > _limits.MAX_MIME_DEPTH:
            if not self.deep_noted:
                msg.note(
                    "LIMIT_MIME_DEPTH",
                    f"MIME parts nested deeper than {_limits.MAX_MIME_DEPTH} levels were not inspected",
                    damaged=True,
                )
                self.deep_noted = True
            return
        self.parts += 1
        if self.parts > _limits.MAX_MIME_PARTS:
            if self.parts == _limits.MAX_MIME_PARTS + 1:
                msg.note("LIMIT_MIME_PARTS", f"more than {_limits.MAX_MIME_PARTS} MIME parts; rest skipped", True)
            return
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name in ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
                        "MultipartInvariantViolationDefect", "NoBoundaryInMultipartDefect"):
                msg.note("MIME_BOUNDARY", f"broken MIME boundary ({name}); parts read as far as possible")
            elif name in ("InvalidBase64PaddingDefect", "InvalidBase64CharactersDefect",
                          "InvalidBase64LengthDefect"):
                msg.note("BASE64_DEFECT", f"damaged base64 content ({name}); decoded leniently")
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        self.walk(sub, depth + 1)
            return
        try:
            ctype = part.get_content_type().lower()
        except Exception:
            ctype = "application/octet-stream"
        filename = self._filename(part)
        disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if not isinstance(data, bytes):
            raw = part.get_payload()
            data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        is_body = not filename and disposition != "attachment"
        if is_body and ctype in ("text/plain", "text/html", "text/enriched", "text/richtext"):
            text = decode_bytes(data, part.get_content_charset(), msg, f"{ctype} body")
            if ctype == "text/html":
                doc, cut = scan_html(text, "html body")
                if cut:
                    msg.note("LIMIT_HTML", "HTML body cut at the size limit for scanning")
                msg.html.append(doc)
                msg.text += "\n" + doc.text
            else:
                msg.text += "\n" + text[:1_000_000]
            return
        name = filename or f"part{self.parts}.{ctype.rsplit('/', 1)[-1][:10]}"
        att = Attachment(
            name=name,
            content_type=ctype,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            inline=bool(not filename and part.get("Content-ID")) or (disposition == "inline" and not filename),
        )
        msg.attachments.append(att)
        if ctype == "text/html" or name.lower().endswith(_HTML_NAMES):
            text = decode_bytes(data, part.get_content_charset(), msg, f"attachment {name}")
            doc, _cut = scan_html(text, f"attachment {name}")
            msg.html.append(doc)

    def _filename(self, part: Message) -> str:
        for key, value in getattr(part, "_headers", []):
            # An 8-bit file name: the stdlib turns its bytes into U+FFFD, so read the raw header instead.
            if key.lower() in ("content-disposition", "content-type") and isinstance(value, str) and not value.isascii():
                m = re.search(r'(?:file)?name\s*=\s*"?([^";\r\n]+)', value, re.I)
                if m:
                    raw = m.group(1).encode("utf-8", "surrogateescape")
                    return clean(decode_bytes(raw, None))[:255]
        name: str | None
        try:
            name = part.get_filename()
        except Exception:
            name = None
        if not name:
            try:
                param = part.get_param("name")
            except Exception:
                param = None
            name = param[2] if isinstance(param, tuple) else param
        if not name:
            return ""
        name = str(name)
        if not name.isascii():  # raw 8-bit bytes reach us as surrogate escapes
            with contextlib.suppress(UnicodeError):
                name = decode_bytes(name.encode("utf-8", "surrogateescape"), None)
        return clean(decode_words(name, self.msg, "attachment name"))[:255]


def _collect_links(msg: ParsedMessage) -> None:
    seen: set[tuple[str, str]] = set()
    for doc in msg.html:
        for link in doc.links:
            key = (link.url, link.text)
            if key not in seen and len(msg.links) < _limits.MAX_LINKS:
                seen.add(key)
                msg.links.append(link)
    urls = {link.url for link in msg.links}
    for link in urls_in_text(msg.text[:2_000_000], "text body"):
        if link.url not in urls and len(msg.links) < _limits.MAX_LINKS:
            urls.add(link.url)
            msg.links.append(link)
