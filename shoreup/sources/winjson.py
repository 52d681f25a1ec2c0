"""Windows events as JSON: evtx_dump JSON / JSONL, Winlogbeat / ECS NDJSON, flat NDJSON (Mordor, Sentinel).

One object per line, a JSON array, ``{"events": [...]}`` or evtx_dump's ``Record N`` blocks. Each object
is recognised by its shape — ``{"Event": {"System": …}}`` (evtx_dump), ``winlog.*`` (Winlogbeat), or
flat keys (``EventID``, ``Channel``, ``Hostname`` / ``Computer``, ``@timestamp`` / ``TimeCreated``,
EventData fields at top level) — and mapped like EVTX records.
Reference: https://www.elastic.co/guide/en/beats/winlogbeat/current/exported-fields-winlog.html
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from typing import IO, Any, Final

import orjson

from shoreup.sources._base import Batch, ReadContext
from shoreup.sources._windows import WindowsEvents, flatten_event, leaf_fields

FORMAT: Final = "winjson"

# Keys only Windows event exports carry (case matters: CloudTrail has "eventID", Okta "eventType").
_WINDOWS_KEYS: Final = (b'"EventID"', b'"winlog"', b'"EventRecordID"')
_CONTEXT_KEYS: Final = (
    b'"Channel"',
    b'"System"',
    b'"Computer"',
    b'"Hostname"',
    b'"event_id"',
    b'"provider_name"',
    b'"computer_name"',
)

# Flat exports name the System fields in several ways; the first present wins.
_FLAT_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "Computer": ("Computer", "Hostname", "ComputerName", "MachineName"),
    "Provider_Name": ("Provider_Name", "ProviderName", "SourceName", "EventSourceName", "Provider"),
    "EventRecordID": ("EventRecordID", "RecordNumber", "RecordId", "record_id"),
    "TimeCreated": ("TimeCreated", "@timestamp", "TimeGenerated", "EventTime", "timestamp", "Timestamp"),
}
_ALIAS_KEYS: Final = frozenset(k for names in _FLAT_ALIASES.values() for k in names if k not in _FLAT_ALIASES)

# Winlogbeat's ECS fields that stand in for event_data fields its modules moved out.
_ECS_FALLBACK: Final = (
    (("process", "executable"), "Image"),
    (("process", "command_line"), "CommandLine"),
    (("process", "pid"), "ProcessId"),
    (("process", "parent", "executable"), "ParentImage"),
    (("process", "parent", "command_line"), "ParentCommandLine"),
    (("process", "parent", "pid"), "ParentProcessId"),
    (("source", "ip"), "IpAddress"),
    (("source", "port"), "IpPort"),
    (("file", "path"), "TargetFilename"),
)


def _decode_head(head: bytes) -> bytes:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="ignore").encode()
    return head.removeprefix(codecs.BOM_UTF8)


def sniff(head: bytes, name: str) -> bool:
    """JSON whose first records carry Windows keys (``EventID`` with a channel or host, ``winlog``)."""
    text = _decode_head(head).lstrip()
    if not text.startswith((b"{", b"[", b"Record ")):
        return False
    if b'"winlog"' in text and b'"event_id"' in text:
        return True
    if b'"Event"' in text and b'"System"' in text and b'"EventID"' in text:
        return True
    return any(k in text for k in _WINDOWS_KEYS) and any(k in text for k in _CONTEXT_KEYS)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _event_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, dict):
        return _event_id(value.get("#text"))
    return None


def _from_flat(obj: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {"EventID": _event_id(obj.get("EventID"))}
    for name, aliases in _FLAT_ALIASES.items():
        for alias in aliases:
            value = obj.get(alias)
            if value is not None and value != "":
                flat[name] = value if name == "TimeCreated" else _text_value(value)
                break
    for key, value in obj.items():
        if key in flat or key == "EventID":
            continue
        if key in _ALIAS_KEYS:
            # keep the source's own name too, Sigma rules written for this export may use it
            flat[key] = _text_value(value)
            continue
        flat[key] = value if type(value) is str else _text_value(value)
    return flat


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# _ECS_FALLBACK grouped by its first key, order kept (the flat dict's key order is the raw fields').
_ECS_GROUPS: Final = tuple(
    (top, tuple((path[1:], name) for path, name in _ECS_FALLBACK if path[0] == top))
    for top in dict.fromkeys(path[0] for path, _ in _ECS_FALLBACK)
)
_WINLOG_SYSTEM: Final = (
    ("Channel", "channel"),
    ("Computer", "computer_name"),
    ("Provider_Name", "provider_name"),
    ("EventRecordID", "record_id"),
    ("Level", "level"),
    ("Task", "task"),
    ("Keywords", "keywords"),
)


def _from_winlogbeat(obj: dict[str, Any]) -> dict[str, Any]:
    winlog = obj["winlog"]
    get = winlog.get
    eid = _event_id(get("event_id"))
    if eid is None:
        eid = _event_id(_dig(obj, ("event", "code")))
    flat: dict[str, Any] = {"EventID": eid}
    for name, key in _WINLOG_SYSTEM:
        if key == "computer_name":
            value = get(key) or _dig(obj, ("host", "name"))
        elif key == "level":
            log = obj.get("log")
            value = (log.get("level") if isinstance(log, dict) else None) or get(key)
        elif key == "keywords":
            keywords = get(key)
            value = ",".join(keywords) if isinstance(keywords, list) else None
        else:
            value = get(key)
        if value is not None:
            flat[name] = value if type(value) is str else _text_value(value)
    created = obj.get("@timestamp") or get("time_created")
    if created is not None:
        flat["TimeCreated"] = created
    for section, key in (("EventData", "event_data"), ("UserData", "user_data")):
        data = get(key)
        if isinstance(data, dict):
            if "xml_name" in data:
                data = {k: v for k, v in data.items() if k != "xml_name"}
            leaf_fields(flat, section, data)
    for top, entries in _ECS_GROUPS:
        node = obj.get(top)
        if not isinstance(node, dict):
            continue
        for path, name in entries:
            if name not in flat:
                value = _dig(node, path)
                if value is not None:
                    flat[name] = value if type(value) is str else _text_value(value)
    return flat


def to_flat(obj: Any) -> dict[str, Any] | None:
    """The flat Windows field set of one JSON object of any supported shape; None when it is none."""
    if not isinstance(obj, dict):
        return None
    event = obj.get("Event")
    if isinstance(event, dict) and "System" in event:
        return flatten_event(event)
    if isinstance(obj.get("winlog"), dict):
        return _from_winlogbeat(obj)
    if isinstance(obj.get("System"), dict):
        return flatten_event(obj)
    if "EventID" in obj:
        return _from_flat(obj)
    return None


def _lines(stream: IO[bytes], head: bytes) -> Iterator[bytes]:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
        for line in text:
            yield line.encode()
        return
    first = True
    for raw in stream:
        if first:
            raw = raw.removeprefix(codecs.BOM_UTF8)
            first = False
        yield raw


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Every Windows event of a JSON export into ``raw``, the mapped ones into auth/process/file/tamper."""
    events = WindowsEvents(ctx, FORMAT)
    if not hasattr(stream, "peek"):
        stream = io.BufferedReader(stream, 1 << 16)  # type: ignore[type-var]
    head = _peek(stream)
    lines = _lines(stream, head)
    start = _decode_head(head).lstrip()[:1]
    if start == b"[" or (start == b"{" and not _first_line_complete(head)):
        yield from _document(b"".join(lines), events, ctx)
    elif start == b"R":
        yield from _record_blocks(lines, events, ctx)
    else:
        yield from _ndjson(lines, events, ctx)
    yield from events.flush()


def _peek(stream: IO[bytes]) -> bytes:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        try:
            head: bytes = peek(65536)
            if head:
                return head
        except (OSError, ValueError):
            pass
    return b""


def _first_line_complete(head: bytes) -> bool:
    text = _decode_head(head).lstrip()
    line = text.split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _add(events: WindowsEvents, obj: Any, ref: int, ctx: ReadContext) -> None:
    try:
        flat = to_flat(obj)
    except (TypeError, ValueError, AttributeError):
        flat = None
    if flat is None or flat.get("EventID") is None:
        ctx.skip("not_a_windows_event")
        return
    events.add(flat, ref)


def _ndjson(lines: Iterator[bytes], events: WindowsEvents, ctx: ReadContext) -> Iterator[Batch]:
    loads = orjson.loads
    for number, line in enumerate(lines, ctx.first_record):
        try:
            obj = loads(line)
        except orjson.JSONDecodeError:
            if line.strip():
                ctx.skip("malformed_json")
            continue
        _add(events, obj, number, ctx)
        if events.batch_full():
            yield from events.ready()


def _record_blocks(lines: Iterator[bytes], events: WindowsEvents, ctx: ReadContext) -> Iterator[Batch]:
    """evtx_dump's default JSON output: ``Record <n>`` then a pretty-printed object."""
    block: list[bytes] = []
    number = 0

    def finish() -> None:
        if not block:
            return
        try:
            obj = orjson.loads(b"".join(block))
        except orjson.JSONDecodeError:
            ctx.skip("malformed_json")
            return
        _add(events, obj, number, ctx)

    for line in lines:
        if line.startswith(b"Record ") and line[7:].strip().isdigit():
            finish()
            block = []
            number = int(line[7:].strip())
            if events.batch_full():
                yield from events.ready()
        else:
            block.append(line)
    finish()


def _concatenated(data: bytes, events: WindowsEvents, ctx: ReadContext) -> Iterator[Batch]:
    """JSON objects one after the other, each possibly over many lines."""
    text = data.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    pos, number = 0, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            ctx.skip("malformed_json")
            ctx.damage(f"not valid JSON after {number} record(s): {exc.msg}", f"char {exc.pos}")
            return
        number += 1
        _add(events, obj, number, ctx)
        if events.batch_full():
            yield from events.ready()


def _document(data: bytes, events: WindowsEvents, ctx: ReadContext) -> Iterator[Batch]:
    """A whole JSON document: an array of events, ``{"events": [...]}`` or one event."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _first_line_complete(data):
            # NDJSON whose first line was longer than the look-ahead
            yield from _ndjson(iter(data.splitlines(keepends=True)), events, ctx)
            return
        if data.lstrip()[:1] == b"{" and "after document" in str(exc):
            # Pretty-printed objects back to back (evtx_dump -o json without Record headers).
            yield from _concatenated(data, events, ctx)
            return
        ctx.damage(f"not valid JSON: {exc}", f"char {exc.pos}")
        return
    items: Any = doc
    if isinstance(doc, dict):
        for key in ("events", "Events", "records", "Records", "hits"):
            if isinstance(doc.get(key), list):
                items = doc[key]
                break
        else:
            items = [doc]
    if not isinstance(items, list):
        ctx.skip("not_a_windows_event")
        return
    for number, obj in enumerate(items, 1):
        if isinstance(obj, dict) and "_source" in obj and isinstance(obj["_source"], dict):
            obj = obj["_source"]  # an Elasticsearch hit
        _add(events, obj, number, ctx)
        if events.batch_full():
            yield from events.ready()
