"""What the JSON cloud readers (Entra ID, Okta, CloudTrail) share: finding records, flattening, times.

Inputs come in three shapes, told apart from the first line:

* a JSON document: a bare array ``[{…}, …]``, a wrapper object ``{"Records": […]}`` /
  ``{"value": […]}`` / ``{"records": […]}``, or one record object spread over several lines;
* NDJSON: one object per line (a line that is itself a wrapper object is expanded).

``ref_record`` is the line number for NDJSON and the 1-based index in the array for documents
(records expanded from wrapper lines are numbered by a running index over the whole input).
A document is parsed whole with orjson (CloudTrail objects and Graph pages are small); when that
fails, the elements of its array are decoded one by one so that everything before the damage is
kept, and the damage is reported with its line and column.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final

import orjson

from shoreup.sources._base import ReadContext, SegmentUnsafe

#: Individual damage messages per input for malformed lines; the rest are summed up in one message.
MAX_LINE_DAMAGE: Final = 10

_WS: Final = b" \t\r\n\xef\xbb\xbf"


def _skip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


class LineDamage:
    """Reports malformed lines: the first few one by one, the rest in one closing message."""

    def __init__(self, ctx: ReadContext, reason: str = "malformed_json") -> None:
        self.ctx = ctx
        self.reason = reason
        self.count = 0
        self.first = 0
        self.last = 0

    def add(self, line_no: int, message: str) -> None:
        self.ctx.skip(self.reason)
        self.count += 1
        self.last = line_no
        if self.count == 1:
            self.first = line_no
        if self.count <= MAX_LINE_DAMAGE:
            self.ctx.damage(f"malformed JSON record: {message}", f"line {line_no}")

    def close(self) -> None:
        extra = self.count - MAX_LINE_DAMAGE
        if extra > 0:
            self.ctx.damage(
                f"{extra} more malformed JSON lines (first at line {self.first}, last at line {self.last})",
                None,
            )


def _wrapped(obj: Any, wrappers: Sequence[str]) -> list[Any] | None:
    if isinstance(obj, dict):
        for key in wrappers:
            value = obj.get(key)
            if isinstance(value, list):
                return value
    return None


def first_line(stream: IO[bytes]) -> bytes:
    """The first non-blank line of ``stream`` (BOM removed), or b'' for an empty input."""
    while True:
        line = stream.readline()
        if not line:
            return b""
        line = _skip_bom(line)
        if line.strip():
            return line


def is_ndjson_start(line: bytes) -> bool:
    """True when the first line is a complete JSON object (or looks like a damaged one-line record)."""
    text = line.strip()
    if not text.startswith(b"{"):
        return False
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        # A damaged first NDJSON record still ends like a record; a pretty-printed document does not.
        return text.endswith(b"}")


def iter_records(
    stream: IO[bytes],
    ctx: ReadContext,
    wrappers: Sequence[str],
    head: bytes | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(ref_record, value)`` for every record of a JSON document or NDJSON input.

    Malformed NDJSON lines are skipped as "malformed_json" and reported as damage; ``head``, when
    given, is the first non-blank line already read from ``stream``.
    """
    line = first_line(stream) if head is None else head
    if not line:
        return
    if line.lstrip().startswith(b"[") or not is_ndjson_start(line):
        yield from _document(line + stream.read(), ctx, wrappers)
        return
    yield from iter_ndjson(stream, ctx, wrappers, line, ctx.first_record)


def iter_ndjson(
    stream: IO[bytes], ctx: ReadContext, wrappers: Sequence[str], first: bytes, first_no: int = 1
) -> Iterator[tuple[int, Any]]:
    """NDJSON records with their line numbers, ``first`` being line ``first_no``."""
    damage = LineDamage(ctx)
    index = 0
    line_no = first_no
    line = first
    while line:
        text = line.strip()
        if text:
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                damage.add(line_no, str(exc))
            else:
                inner = _wrapped(obj, wrappers)
                if inner is None:
                    yield line_no, obj
                else:
                    if ctx.segment:
                        raise SegmentUnsafe("wrapper records are numbered across the whole input")
                    for value in inner:
                        index += 1
                        yield index, value
        line = stream.readline()
        line_no += 1
    damage.close()


_ARRAY_START: Final = re.compile(r'^\s*\{.*?"(?:Records|value|records)"\s*:\s*\[', re.S)


def _document(data: bytes, ctx: ReadContext, wrappers: Sequence[str]) -> Iterator[tuple[int, Any]]:
    data = _skip_bom(data.lstrip(_WS))
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        yield from _salvage(data, ctx)
        return
    inner = obj if isinstance(obj, list) else _wrapped(obj, wrappers)
    if inner is None:
        yield 1, obj
        return
    yield from enumerate(inner, 1)


def _salvage(data: bytes, ctx: ReadContext) -> Iterator[tuple[int, Any]]:
    """Decode a damaged document's array element by element, keeping what precedes the damage."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    if text.startswith("["):
        pos = 1
    else:
        match = _ARRAY_START.match(text[:65536])
        if match is None:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                ctx.damage(f"invalid JSON document: {exc.msg}", f"line {exc.lineno} column {exc.colno}")
            return
        pos = match.end()
    n = 0
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= end:
            ctx.damage(f"JSON document truncated after record {n}", f"end of input, offset {pos}")
            return
        if text[pos] == "]":
            # The array closed: the damage is after it (trailing garbage or a truncated wrapper).
            ctx.damage("invalid JSON after the record array", _where(text, pos))
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            ctx.damage(f"JSON document damaged after record {n}: {exc.msg}", _where(text, exc.pos))
            return
        n += 1
        yield n, value


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {col}"


def flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested objects to dotted keys; arrays are kept as arrays, nulls and empty objects dropped."""
    if out is None:
        out = {}
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            flatten(value, name + ".", out)
        elif value is None:
            continue
        elif isinstance(value, list):
            out[name] = [prune(v) for v in value]
        else:
            out[name] = value
    return out


def prune(value: Any) -> Any:
    """Drop null members of objects inside arrays (columnar readers add them; the source did not)."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def fields_json(obj: dict[str, Any]) -> str:
    """The ``raw.fields`` text of one record: its fields, flat."""
    return orjson.dumps(flatten(obj)).decode()


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO-8601 string (any fraction length, ``Z`` or offset) or epoch number to aware UTC."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return _parse_time_slow(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds or seconds
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


_FRACTION: Final = re.compile(r"(\.\d{6})\d+")


def _parse_time_slow(text: str) -> dt.datetime | None:
    for attempt in (_FRACTION.sub(r"\1", text), text.replace(" UTC", "Z")):
        try:
            parsed = dt.datetime.fromisoformat(attempt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%d/%b/%Y:%H:%M:%S %z"):
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    return None


def clean_ip(value: Any) -> str | None:
    """A client address without the ``::ffff:`` IPv4-mapped prefix; None for empty values."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text == "-":
        return None
    if text.lower().startswith("::ffff:") and "." in text:
        return text[7:]
    return text


def text(value: Any) -> str | None:
    """A non-empty string, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("AS"):
            stripped = stripped[2:]
        try:
            return int(stripped)
        except ValueError:
            return None
    return None


def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]…``, or None when any step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
