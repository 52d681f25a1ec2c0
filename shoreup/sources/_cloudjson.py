"""What the JSON cloud readers (Entra ID, Okta, CloudTrail) share: finding records, flattening, times.

Inputs come in three shapes, told apart from the first line:

* a JSON document: a bare array ``[{…}, …]``, a wrapper object ``{"Records": […]}`` /
  ``{"value": […]}`` / ``{"records": […]}``, or one record object spread over several lines;
* NDJSON: one object per line (a line that is itself a wrapper object is expanded).

``ref_record`` is the line number for NDJSON and the 1-based index in the array for documents
(records expanded from wrapper lines are numbered by a running index over the whole input).

A document whose records are a bare array or the array of a wrapper object found near its start is
streamed (:class:`DocumentReader`): read in chunks, the ends of the array's elements found with NumPy,
complete elements decoded with orjson a batch at a time, so memory does not grow with the document.
Any other document is parsed whole with orjson. Either way, when the document is damaged, the
elements of its array are decoded one by one (``_salvage``) so that everything before the damage is
kept, and the damage is reported with its line and column; the streamed path gives the same records,
numbers and messages as the whole parse.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Generator, Iterator, Sequence
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
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


#: A first line longer than this that opens an array is returned cut: a document needs no more of it.
_LONG_LINE: Final = 1 << 20


def first_line(stream: IO[bytes]) -> bytes:
    """The first non-blank line of ``stream`` (BOM removed), or b'' for an empty input.

    A line that opens a JSON array (a document, whatever follows) is cut after 1 MiB, so that a
    document written on one line is not read whole here.
    """
    while True:
        line = stream.readline(_LONG_LINE)
        if not line:
            return b""
        if len(line) == _LONG_LINE and not line.endswith(b"\n") and not _opens_array(line):
            line += stream.readline()
        line = _skip_bom(line)
        if line.strip():
            return line


def _opens_array(line: bytes) -> bool:
    return _skip_bom(line).lstrip().startswith(b"[")


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
    given, is the first non-blank line already read from ``stream`` (by :func:`first_line`). A
    document is streamed by :class:`DocumentReader` when its shape allows.
    """
    line = first_line(stream) if head is None else head
    if not line:
        return
    if line.lstrip().startswith(b"[") or not is_ndjson_start(line):
        yield from DocumentReader(stream, ctx, wrappers, line)
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


_ARRAY_START: Final = re.compile(r'^\s*\{.*?"(Records|value|records)"\s*:\s*\[', re.S)
#: Characters of a damaged wrapper document in which ``_salvage`` looks for the record array.
_ARRAY_SEARCH: Final = 65536


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
    if text.startswith("["):
        pos = 1
    else:
        match = _ARRAY_START.match(text[:_ARRAY_SEARCH])
        if match is None:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                ctx.damage(f"invalid JSON document: {exc.msg}", f"line {exc.lineno} column {exc.colno}")
            return
        pos = match.end()
    yield from _salvage_elements(text, pos, 0, ctx, _Place(text), True)


class _Place:
    """Line and column of a character position of a document's text (held whole)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def where(self, pos: int) -> str:
        return _where(self.text, pos)

    def offset(self, pos: int) -> int:
        return pos


_DECODER: Final = json.JSONDecoder()


def _salvage_elements(
    text: str, pos: int, n: int, ctx: ReadContext, place: _Place, eof: bool
) -> Generator[tuple[int, Any], None, int | None]:
    """The elements of a damaged array from ``pos`` of ``text``, which follow record ``n``.

    Returns None once the damage is reported, or (``eof`` false: ``text`` is one piece of the array
    ending at an element's end) the number of the last record when the piece is used up.
    """
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= end:
            if not eof:
                return n
            ctx.damage(
                f"JSON document truncated after record {n}", f"end of input, offset {place.offset(pos)}"
            )
            return None
        if text[pos] == "]":
            # The array closed: the damage is after it (trailing garbage or a truncated wrapper).
            ctx.damage("invalid JSON after the record array", place.where(pos))
            return None
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            ctx.damage(f"JSON document damaged after record {n}: {exc.msg}", place.where(exc.pos))
            return None
        n += 1
        yield n, value


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {col}"


# --- streamed documents ---------------------------------------------------------------------------

#: Bytes read from a document at a time, and bytes of complete elements decoded per orjson call.
CHUNK_BYTES: Final = 8 << 20
BATCH_BYTES: Final = 1 << 20
#: Bytes enough to hold the first ``_ARRAY_SEARCH`` characters, whatever their UTF-8 length.
_HEAD_BYTES: Final = 4 * _ARRAY_SEARCH + 8
#: Stands in for the record array when the rest of a wrapper object is checked (it cannot occur in
#: a real document: a string made of a NUL and this name).
_SENTINEL: Final = "\x00shoreup-record-array"
_LEAD_COMMA: Final = re.compile(rb"[ \t\r\n]*,")
_JSON_WS: Final = b" \t\r\n"
_EMPTY: Final = np.zeros(0, np.int64)

IntArray = npt.NDArray[np.int64]


class _Scan:
    """Finds, chunk after chunk, where the elements of a document's top-level array end.

    Over the bytes of one chunk, with NumPy (no Python loop per byte): the quotes not escaped (a
    quote after an odd run of backslashes is escaped) open and close strings, so a bracket is outside
    any string when the count of those quotes before it is even (the count's parity is carried from
    chunk to chunk); ``{[`` add one to the depth and ``}]`` take one away (a cumulative sum carried
    across chunks). An element of the array ends at a closing bracket that brings the depth back to
    the array's level; the array ends where the depth falls below it. Elements that are not objects
    or arrays (numbers, strings) end at no bracket: they travel with the next element that does.
    """

    __slots__ = ("depth", "level", "quote")

    def __init__(self, level: int) -> None:
        self.level = level
        self.depth = level
        self.quote = 0

    def run(self, buf: bytes, lo: int, hi: int) -> tuple[IntArray, int]:
        """Ends of elements (indices of their closing brackets) in ``buf[lo:hi]``, and the index of
        the bracket that closes the array (-1 when not in this piece; nothing after it is scanned)."""
        if hi <= lo:
            return _EMPTY, -1
        arr = np.frombuffer(buf, np.uint8, hi - lo, lo)
        quotes = arr == 0x22
        if buf.find(b"\\", lo, hi) >= 0:
            _unescape(arr, quotes)
        low = arr | 0x20  # [ -> {, ] -> }
        mask = low == 0x7B
        mask |= low == 0x7D
        at = np.flatnonzero(mask)
        before, total = _quotes_before(quotes, at)
        at = at[((before + self.quote) & 1) == 0]
        opens = low[at] == 0x7B
        depth = self.depth + np.cumsum(np.where(opens, 1, -1))
        self.quote ^= total & 1
        ends = (depth == self.level) & ~opens
        below = np.flatnonzero(depth < self.level)
        if below.size:
            k = int(below[0])
            return at[:k][ends[:k]] + lo, int(at[k]) + lo
        if depth.size:
            self.depth = int(depth[-1])
        return at[ends] + lo, -1


def _unescape(arr: npt.NDArray[np.uint8], quotes: npt.NDArray[np.bool_]) -> None:
    """Clear in ``quotes`` the quotes escaped by an odd run of backslashes (runs lie inside ``arr``)."""
    slashes = np.flatnonzero(arr == 0x5C)
    breaks = np.flatnonzero(np.diff(slashes) != 1)
    firsts = np.concatenate((slashes[:1], slashes[breaks + 1]))
    lasts = np.concatenate((slashes[breaks], slashes[-1:]))
    after = lasts[((lasts - firsts) & 1) == 0] + 1  # the byte after each run of odd length
    quotes[after[after < len(arr)]] = False


_POPCOUNT: bool = hasattr(np, "bitwise_count")


def _quotes_before(quotes: npt.NDArray[np.bool_], at: IntArray) -> tuple[IntArray, int]:
    """For each index of ``at``, the number of True in ``quotes`` before it; and their total."""
    if not _POPCOUNT:  # NumPy < 2: positions and a binary search
        where = np.flatnonzero(quotes)
        return np.searchsorted(where, at).astype(np.int64), len(where)
    packed = np.packbits(quotes, bitorder="little")
    if len(packed) % 8:
        packed = np.concatenate((packed, np.zeros(8 - len(packed) % 8, np.uint8)))
    words = packed.view("<u8")
    prefix = np.zeros(len(words) + 1, np.int64)
    prefix[1:] = np.cumsum(np.bitwise_count(words), dtype=np.int64)
    word = at >> 6
    below = words[word] & ((np.uint64(1) << (at & 63).astype(np.uint64)) - np.uint64(1))
    return prefix[word] + np.bitwise_count(below), int(prefix[-1])


def _chars(data: bytes, valid: bool) -> int:
    """Characters of ``data`` decoded as ``_salvage`` decodes (``valid``: known to be good UTF-8)."""
    if data.isascii():
        return len(data)
    if valid:
        return len(data) - int(np.count_nonzero((np.frombuffer(data, np.uint8) & 0xC0) == 0x80))
    return len(data.decode("utf-8", "replace"))


class _StreamPlace(_Place):
    """Line and column, in the whole document, of a position in a piece of its text."""

    def __init__(self, text: str, chars: int, lines: int, line_start: int) -> None:
        super().__init__(text)
        self.chars = chars
        self.lines = lines
        self.line_start = line_start

    def where(self, pos: int) -> str:
        line = self.lines + self.text.count("\n", 0, pos) + 1
        nl = self.text.rfind("\n", 0, pos)
        col = pos - nl if nl >= 0 else self.chars + pos - self.line_start + 1
        return f"line {line} column {col}"

    def offset(self, pos: int) -> int:
        return self.chars + pos


class DocumentReader:
    """The ``(ref_record, value)`` of a JSON document, streamed when its shape allows.

    Streamed: a bare array, or a wrapper object whose record array (a key of ``wrappers``) is the one
    ``_salvage`` would find in its first 65,536 characters. The stream is read ``chunk_bytes`` at a
    time; :class:`_Scan` finds the ends of the array's elements; the complete elements are decoded
    about ``batch_bytes`` at a time by one orjson call (wrapped in as many brackets as the array is
    deep, so that orjson's depth limit falls where it would in the whole document) and the incomplete
    tail is carried into the next chunk. What follows the array is checked at its end as the whole
    parse would check it. A piece orjson refuses is decoded element by element by ``_salvage``'s own
    loop, with positions counted from the start of the document, so records, numbers and damage are
    those of the whole parse. Any other shape, or one in doubt, is read whole (``_document``).

    Two things cannot match without reading ahead, both far from real exports: a wrapper object with
    a second record array after the streamed one (a repeated key, or a key the reader prefers) — the
    whole parse takes the second; the stream has read the first and reports the second as damage —
    and, in a damaged document, integers beyond 64 bits in the records before the damage (orjson
    makes them floats; ``_salvage``'s json decoder kept them integers).

    ``streamed`` tells whether the document was streamed; ``max_buffered`` is the largest number of
    document bytes held at once.
    """

    def __init__(
        self,
        stream: IO[bytes],
        ctx: ReadContext,
        wrappers: Sequence[str],
        head: bytes = b"",
        chunk_bytes: int = CHUNK_BYTES,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.stream = stream
        self.ctx = ctx
        self.wrappers = tuple(wrappers)
        self.head = head
        self.chunk_bytes = max(1, chunk_bytes)
        self.batch_bytes = max(1, batch_bytes)
        self.streamed = False
        self.max_buffered = 0
        self._eof = False
        self._n = 0  # records yielded
        self._first = True  # no element of the array read yet
        self._salvaged = False  # a piece needed _salvage's loop: the whole parse would have failed
        self._level = 1
        self._prefix = b""
        # Characters, newlines, and the character offset of the current line's start, before the
        # bytes held (those already dropped).
        self._chars = 0
        self._lines = 0
        self._line_start = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        data = self.head.lstrip(_WS)
        self.head = b""
        while True:  # read until the shape is known
            start = self._array_start(data, self._eof or len(data) >= _HEAD_BYTES)
            if start is not None:
                break
            chunk = self._read(len(data))
            data = data + chunk if data else chunk.lstrip(_WS)
        self.max_buffered = len(data)
        if start < 0:
            return _document(data + self.stream.read(), self.ctx, self.wrappers)
        self.streamed = True
        return self._stream(data, start)

    def _read(self, least: int = 0) -> bytes:
        if self._eof:
            return b""
        chunk = self.stream.read(max(self.chunk_bytes, least))
        if not chunk:
            self._eof = True
        return chunk

    def _array_start(self, data: bytes, final: bool) -> int | None:
        """Where the elements of the record array start in ``data`` (the document's start), -1 to
        read the document whole, or None (not ``final``) when more of it is needed to tell."""
        if data.startswith(b"["):
            return 1
        if data and (not data.startswith(b"{") or not self.wrappers):
            return -1
        # The array _salvage would find: the earliest match, so more text would not change it.
        text = data[:_HEAD_BYTES].decode("utf-8", "replace")
        match = _ARRAY_START.match(text[:_ARRAY_SEARCH])
        if match is None:
            return -1 if final else None
        if match.group(1) not in self.wrappers:
            return -1
        prefix = text[: match.end()].encode()
        if not data.startswith(prefix):
            return -1  # not clean UTF-8 before the array
        try:
            shell = orjson.loads(prefix + b"]}")
        except orjson.JSONDecodeError:
            return -1  # the array is not a member of the top-level object
        if not isinstance(shell, dict) or _wrapped(shell, self.wrappers) is not shell.get(match.group(1)):
            return -1
        self._level = 2
        self._prefix = prefix
        return len(prefix)

    def _stream(self, buf: bytes, start: int) -> Iterator[tuple[int, Any]]:
        scan = _Scan(self._level)
        scanned = start
        while True:
            hi = len(buf)
            if not self._eof:
                while hi > scanned and buf[hi - 1] == 0x5C:  # keep a run of backslashes whole
                    hi -= 1
            ends, close = scan.run(buf, scanned, hi)
            scanned = hi
            # Pieces of about batch_bytes ending where an element ends, then the array's last piece.
            pieces: list[tuple[int, bool]] = []
            at, i = start, 0
            while i < len(ends):
                i = max(i, int(np.searchsorted(ends, at + self.batch_bytes, "right")) - 1)
                at = int(ends[i]) + 1
                pieces.append((at, False))
                i += 1
            if close >= 0:
                pieces.append((close, True))
            for end, closing in pieces:
                values = self._decode(buf, start, end, closing)
                if values is None:
                    self._salvaged = True
                    if not (yield from self._salvage_piece(buf, start, end, closing)):
                        return
                elif values:
                    self._first = False
                    n = self._n
                    self._n = n + len(values)
                    yield from enumerate(values, n + 1)
                start = end
            if close >= 0:
                if self._salvaged:
                    # The whole parse fails, so _salvage would reach the closing bracket and report it.
                    self.ctx.damage(
                        "invalid JSON after the record array", self._place(buf, close, "").where(0)
                    )
                else:
                    self._after_array(buf, close)
                return
            if self._eof:
                text = buf[start:].decode("utf-8", "replace")
                yield from _salvage_elements(text, 0, self._n, self.ctx, self._place(buf, start, text), True)
                return
            self._chars, self._lines, self._line_start = self._count(buf, start)
            buf = buf[start:] + self._read()
            scanned -= start
            start = 0
            self.max_buffered = max(self.max_buffered, len(buf))

    def _decode(self, buf: bytes, start: int, end: int, closing: bool) -> list[Any] | None:
        """The elements in ``buf[start:end]``, which ends where an element ends (or, when ``closing``,
        at the array's closing bracket), decoded by orjson; None when orjson refuses them."""
        if closing and buf[end] != 0x5D:
            return None  # the array is closed by a brace
        if closing and not buf[start:end].strip(_JSON_WS):
            return []
        body = start
        if not self._first:
            lead = _LEAD_COMMA.match(buf, start, end)
            if lead is None:
                return None
            body = lead.end()
        level = self._level
        try:
            values: Any = orjson.loads(b"[" * level + buf[body:end] + b"]" * level)
        except orjson.JSONDecodeError:
            return None
        if level == 2:
            if len(values) != 1:
                return None
            values = values[0]
        return values or None  # empty: "[1, ]", a comma with no element after it

    def _salvage_piece(
        self, buf: bytes, start: int, end: int, closing: bool
    ) -> Generator[tuple[int, Any], None, bool]:
        """The piece's elements one by one (``_salvage``'s loop); False once damage has been reported."""
        text = buf[start : end + 1 if closing else end].decode("utf-8", "replace")
        last = yield from _salvage_elements(text, 0, self._n, self.ctx, self._place(buf, start, text), False)
        if last is None:
            return False
        self._n = last
        self._first = False
        return True

    def _after_array(self, buf: bytes, close: int) -> None:
        """Check what follows the array as the whole parse would (its damage: at the closing bracket)."""
        rest = buf[close + 1 :]
        if self._level == 1:
            while not rest.strip(_JSON_WS):
                rest = self._read()
                if not rest:
                    return
        else:
            rest += self.stream.read() if not self._eof else b""
            self.max_buffered = max(self.max_buffered, len(rest))
            try:
                shell = orjson.loads(self._prefix + orjson.dumps(_SENTINEL) + b"]" + rest)
            except orjson.JSONDecodeError:
                pass
            else:
                if _wrapped(shell, self.wrappers) == [_SENTINEL]:
                    return
                # A second record array after the streamed one would have been read instead.
                self.ctx.damage(
                    "the document has a second record array after the first: only the first was read",
                    self._place(buf, close, "").where(0),
                )
                return
        self.ctx.damage("invalid JSON after the record array", self._place(buf, close, "").where(0))

    def _count(self, buf: bytes, idx: int) -> tuple[int, int, int]:
        """Characters, newlines and the current line's start (in characters) before ``buf[idx]``."""
        part = buf[:idx]
        valid = not self._salvaged
        chars = self._chars + _chars(part, valid)
        nl = part.rfind(b"\n")
        if nl < 0:
            return chars, self._lines, self._line_start
        lines = self._lines + int(np.count_nonzero(np.frombuffer(part, np.uint8) == 0x0A))
        return chars, lines, chars - _chars(part[nl + 1 :], valid)

    def _place(self, buf: bytes, idx: int, text: str) -> _StreamPlace:
        return _StreamPlace(text, *self._count(buf, idx))


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
