"""Windows events as XML: ``Get-WinEvent | % ToXml()`` and ``wevtutil qe /f:xml`` output.

A sequence of ``<Event>`` elements, with or without an enclosing root element, with or without the
event namespace, UTF-8 or UTF-16 (PowerShell's ``Out-File`` default). Mapped like EVTX records.
Reference: https://learn.microsoft.com/en-us/windows/win32/wes/eventschema-schema
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from typing import IO, Any, Final
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from shoreup.sources._base import Batch, ReadContext
from shoreup.sources._windows import WindowsEvents

FORMAT: Final = "winxml"

_EVENT_NS: Final = b"schemas.microsoft.com/win/2004/08/events/event"
_DECLARATION: Final = re.compile(r"<\?xml[^>]*\?>")
_CHUNK: Final = 1 << 20


def _head_text(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="ignore")
    return head.decode("utf-8", errors="ignore").lstrip("\ufeff")


def sniff(head: bytes, name: str) -> bool:
    """XML ``<Event>`` elements of the Windows event schema (its namespace, or ``<System>`` + ``<EventID>``)."""
    text = _head_text(head).lstrip()
    if not text.startswith("<"):
        return False
    if "<Event" not in text:
        return False
    return _EVENT_NS.decode() in text or ("<System>" in text and "<EventID" in text)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: Element) -> str:
    return (element.text or "").strip()


def event_fields(event: Element) -> dict[str, Any]:
    """The flat Windows field set of one ``<Event>`` element."""
    flat: dict[str, Any] = {"EventID": None}
    sections: list[Element] = []
    for child in event:
        name = _local(child.tag)
        if name == "System":
            for item in child:
                field = _local(item.tag)
                if field == "EventID":
                    value = _text(item)
                    flat["EventID"] = int(value) if value.isdigit() else None
                elif field == "Provider":
                    provider = item.get("Name")
                    if provider is not None:
                        flat["Provider_Name"] = provider
                elif field == "TimeCreated":
                    created = item.get("SystemTime")
                    if created is not None:
                        flat["TimeCreated"] = created
                elif field in ("Channel", "Computer", "EventRecordID", "Level", "Task", "Keywords"):
                    flat[field] = _text(item)
        elif name != "RenderingInfo":
            sections.append(child)
    for section in sections:
        _leaves(flat, _local(section.tag), section)
    return flat


def _put(flat: dict[str, Any], section: str, name: str, value: str) -> None:
    if name in flat:
        name = f"{section}_{name}"
        if name in flat:
            return
    flat[name] = value


def _leaves(flat: dict[str, Any], section: str, node: Element) -> None:
    unnamed = 0
    for item in node:
        tag = _local(item.tag)
        if len(item):
            _leaves(flat, section, item)
            continue
        name = item.get("Name") if tag == "Data" else tag
        if name is None:
            while True:
                name = "Data" if unnamed == 0 else f"Data{unnamed}"
                unnamed += 1
                if name not in flat:
                    break
        _put(flat, section, name, item.text or "")


def _texts(stream: IO[bytes]) -> Iterator[str]:
    """The decoded input in chunks, XML declarations removed (they may repeat, one per event)."""
    buffered: Any = stream if hasattr(stream, "peek") else io.BufferedReader(stream, 1 << 16)
    head = buffered.peek(4)[:4]
    encoding = "utf-16" if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
    carry = ""
    while True:
        chunk = text.read(_CHUNK)
        if not chunk:
            break
        chunk = carry + chunk
        cut = chunk.rfind(">") + 1
        chunk, carry = chunk[:cut], chunk[cut:]
        yield _DECLARATION.sub("", chunk)
    if carry:
        yield _DECLARATION.sub("", carry)


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Every ``<Event>`` into ``raw``, the mapped ones into auth/process/file/tamper."""
    events = WindowsEvents(ctx, FORMAT)
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    parser.feed("<shoreup-root>")
    stack: list[Element] = []
    number = 0
    elements = 0  # the wrapper this reader adds included
    text = False
    try:
        for chunk in _texts(stream):
            text = text or bool(chunk.strip())
            parser.feed(chunk)
            for item in parser.read_events():
                pair: tuple[Any, ...] = item
                kind: str = pair[0]
                element: Any = pair[1]
                if kind == "start":
                    elements += 1
                    stack.append(element)
                    continue
                stack.pop()
                if _local(element.tag) != "Event":
                    continue
                number += 1
                _add(events, element, number, ctx)
                if stack:
                    stack[-1].remove(element)
                if events.batch_full():
                    yield from events.ready()
        parser.feed("</shoreup-root>")
        parser.close()
        if elements <= 1 and text:  # words, no element: not XML at all (--format forced on a text file)
            ctx.damage("no XML element here: is this Windows event XML (wevtutil /f:xml, ToXml())?", "line 1")
    except ParseError as exc:
        position: tuple[int, int] = exc.position
        line, column = position
        ctx.damage(f"XML broken, the rest of the file is lost: {exc}", f"line {line} column {column}")
    yield from events.flush()


def _add(events: WindowsEvents, element: Element, number: int, ctx: ReadContext) -> None:
    flat = event_fields(element)
    if flat.get("EventID") is None:
        ctx.skip("no_event_id")
        return
    events.add(flat, number)
