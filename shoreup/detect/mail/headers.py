"""Header decoding that never raises: 8-bit bytes, RFC 2047 words in wrong or unknown charsets, broken lists."""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from functools import lru_cache

from . import _limits
from .model import Address, ParsedMessage

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=1024)
def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when it is unknown."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = {"unknown-8bit": "latin-1", "x-unknown": "latin-1", "ks_c_5601-1987": "cp949"}.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None, msg: ParsedMessage | None = None, what: str = "") -> str:
    """Decode with the declared charset, falling back to UTF-8 then Windows-1252; note what went wrong."""
    codec = codec_for(charset)
    if charset and codec is None and msg is not None:
        msg.note("CHARSET_UNKNOWN", f"{what}: unknown charset {charset[:40]!r}; decoded as UTF-8/Windows-1252")
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            if msg is not None:
                msg.note("CHARSET_WRONG", f"{what}: bytes are not valid {codec}; decoded leniently")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def decode_words(value: str, msg: ParsedMessage | None = None, what: str = "header") -> str:
    """Decode RFC 2047 encoded words; whitespace between adjacent words is dropped as the RFC says."""
    if "=?" not in value:
        return value
    value = _BETWEEN_WORDS.sub(r"\1\2", value)

    def one(m: re.Match[str]) -> str:
        charset, enc, text = m.group(1).split("*", 1)[0], m.group(2).upper(), m.group(3)
        try:
            if enc == "B":
                raw = base64.b64decode(text + "=" * (-len(text) % 4))
            else:
                raw = quopri.decodestring(text.replace("_", " ").encode("latin-1", "replace"), header=True)
        except (binascii.Error, ValueError):
            if msg is not None:
                msg.note("HEADER_ENCODING", f"{what}: undecodable encoded word kept as is")
            return m.group(0)
        return decode_bytes(raw, charset, msg, what)

    return _ENCODED_WORD.sub(one, value)


def clean(text: str) -> str:
    """Control characters out, whitespace folded: header text as a person would read it."""
    if not text.isprintable():
        text = _CONTROL.sub("", text)
    return " ".join(text.split())


def split_header_block(data: bytes, msg: ParsedMessage) -> tuple[list[tuple[str, bytes]], bytes]:
    """Split raw bytes into (name, raw value) pairs and the body, within the header size limits."""
    m = re.search(rb"\r?\n\r?\n", data)
    if m is None:
        head, body = data, b""
    else:
        head, body = data[: m.start()], data[m.end() :]
    if len(head) > _limits.MAX_HEADER_BLOCK_BYTES:
        msg.note(
            "LIMIT_HEADER_BLOCK",
            f"header block of {len(head):,} bytes exceeds the {_limits.MAX_HEADER_BLOCK_BYTES:,}-byte limit; "
            "only its start was read",
            damaged=True,
        )
        head = head[: _limits.MAX_HEADER_BLOCK_BYTES]
    if head.startswith(b"From "):  # an mbox separator left on a single message
        head = head.split(b"\n", 1)[1] if b"\n" in head else b""
    fields: list[tuple[str, bytes]] = []
    bad = 0
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            if len(value) < _limits.MAX_ONE_HEADER_BYTES:
                fields[-1] = (name, value + b" " + line.strip())
            continue
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not re.fullmatch(rb"[!-9;-~]{1,100}", raw_name.strip()):
            bad += 1
            continue
        fields.append((raw_name.strip().decode("ascii", "replace"), raw_value.strip()))
    if bad:
        msg.note("HEADER_MALFORMED", f"{bad} header line(s) without a 'Name:' were skipped")
    long_ones = [n for n, v in fields if len(v) >= _limits.MAX_ONE_HEADER_BYTES]
    if long_ones:
        msg.note(
            "LIMIT_HEADER_LINE",
            f"header {long_ones[0]!r} longer than {_limits.MAX_ONE_HEADER_BYTES:,} bytes was cut",
            damaged=True,
        )
        fields = [(n, v[: _limits.MAX_ONE_HEADER_BYTES]) for n, v in fields]
    return fields, body


def header_text(raw: bytes, msg: ParsedMessage, name: str) -> str:
    """One header value as text: 8-bit bytes decoded (noted), encoded words decoded."""
    if raw.isascii():
        text = raw.decode("ascii")
    else:
        msg.note("HEADER_8BIT", f"{name}: raw 8-bit bytes in a header (not RFC 2047 encoded)")
        text = decode_bytes(raw, None)
    return text


def _split_list(raw: str) -> list[str]:
    """Split an address list on commas outside quotes, comments and angle brackets."""
    out, buf, depth, quoted, angle = [], [], 0, False, False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and quoted and i + 1 < len(raw):
            buf.append(raw[i : i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted:
            if c == "(":
                depth += 1
            elif c == ")" and depth:
                depth -= 1
            elif c == "<":
                angle = True
            elif c == ">":
                angle = False
            elif c in ",;" and not depth and not angle:
                out.append("".join(buf))
                buf = []
                i += 1
                continue
        buf.append(c)
        i += 1
    out.append("".join(buf))
    return [s for s in (x.strip() for x in out) if s]


_ANGLE = re.compile(r"<\s*([^<>\s]*@[^<>\s]*)\s*>")
_BARE = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")


def parse_addresses(raw: str, msg: ParsedMessage, name: str) -> list[Address]:
    """Addresses of a From/To/Reply-To value; display-name fragments without an address join the next one.

    ``raw`` still holds its encoded words: decoding first would let an encoded display name smuggle
    a ``<ceo@example.com>`` that the parser then takes for the address.
    """
    out: list[Address] = []
    pending = ""
    for chunk in _split_list(raw):
        m = _ANGLE.search(chunk)
        if m:
            display = (pending + " " + chunk[: m.start()] + " " + chunk[m.end() :]).strip()
            addr = m.group(1)
        else:
            b = _BARE.search(chunk)
            if not b:
                pending = (pending + " " + chunk).strip()
                continue
            addr = b.group(0)
            display = (pending + " " + chunk[: b.start()] + chunk[b.end() :]).strip()
        pending = ""
        display = re.sub(r"^[\s\"',_]+|[\s\"',_]+$", "", decode_words(display, msg, name))
        display = re.sub(r"^\((.*)\)$", r"\1", display)
        out.append(Address(clean(display.replace('\\"', '"')), addr.strip().strip("'\"").lower()))
    if pending and not out:
        msg.note("ADDRESS_MALFORMED", f"{name}: no address could be read from {clean(raw)[:80]!r}")
    return out
