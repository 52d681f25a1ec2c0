"""Windows EVTX event log files (Security, System, Sysmon, ForwardedEvents, any channel).

Parsed with the Rust ``evtx`` crate (``records_json``); each record's time comes from
``System/TimeCreated/@SystemTime`` — never from the record header, which is zeroed on the last
record of many real files. Records repeated across inputs (same Computer, Channel and
EventRecordID) are kept once. Chunk headers say how many records a file holds, so records lost to
damage are counted and reported, not silently missing.
Reference: https://github.com/libyal/libevtx/blob/main/documentation/Windows%20XML%20Event%20Log%20(EVTX).asciidoc
"""

from __future__ import annotations

import bisect
import io
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any, Final

import orjson

from shoreup.sources._base import Batch, ReadContext
from shoreup.sources._windows import WindowsEvents, flatten_crate, flatten_event

FORMAT: Final = "evtx"

_FILE_MAGIC: Final = b"ElfFile\x00"
_CHUNK_MAGIC: Final = b"ElfChnk\x00"
_HEADER_SIZE: Final = 4096
_CHUNK_SIZE: Final = 65536
#: At most this many damage messages per file; the rest are summed up in one.
_MAX_DAMAGE: Final = 20

_RECORD_ERROR: Final = re.compile(r"Failed to parse record number (\d+)")
_CHUNK_ERROR: Final = re.compile(r"Failed to parse chunk number (\d+)")


def sniff(head: bytes, name: str) -> bool:
    """An EVTX file starts with the ``ElfFile\\0`` signature."""
    return head.startswith(_FILE_MAGIC)


@dataclass
class _Layout:
    """What the file and chunk headers promise: chunks and their record-number ranges."""

    declared_chunks: int = 0
    chunk_first: list[int] = field(default_factory=list)  # first record number per readable chunk
    chunk_last: list[int] = field(default_factory=list)
    chunk_index: list[int] = field(default_factory=list)
    unreadable_chunks: list[int] = field(default_factory=list)
    present_chunks: int = 0


def _layout(fh: IO[bytes]) -> _Layout:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    header = fh.read(128)
    layout = _Layout()
    if len(header) >= 44:
        layout.declared_chunks = struct.unpack_from("<H", header, 42)[0]
    ranges: list[tuple[int, int, int]] = []
    index = 0
    offset = _HEADER_SIZE
    while offset + 512 <= size:
        fh.seek(offset)
        chunk = fh.read(48)
        if chunk[:8] == _CHUNK_MAGIC:
            first, last = struct.unpack_from("<QQ", chunk, 8)
            if last >= first:
                ranges.append((first, last, index))
            layout.present_chunks = index + 1
        elif chunk.strip(b"\x00"):
            layout.unreadable_chunks.append(index)
            layout.present_chunks = index + 1
        index += 1
        offset += _CHUNK_SIZE
    ranges.sort()
    layout.chunk_first = [r[0] for r in ranges]
    layout.chunk_last = [r[1] for r in ranges]
    layout.chunk_index = [r[2] for r in ranges]
    fh.seek(0)
    return layout


def _open(stream: IO[bytes], stack: ExitStack) -> tuple[str | IO[bytes], IO[bytes]]:
    """A source the parser reads fast (a path when there is one) and a seekable handle on it.

    Compressed, piped and archive-member streams are spooled to a temporary file first.
    """
    raw = stream.raw if isinstance(stream, io.BufferedReader) else stream
    name = getattr(raw, "name", None)
    if isinstance(raw, io.FileIO) and isinstance(name, str) and os.path.isfile(name) and raw.seekable():
        return name, stream
    if isinstance(stream, io.BytesIO):
        return stream, stream
    spool = stack.enter_context(tempfile.NamedTemporaryFile(prefix="shoreup-", suffix=".evtx"))  # noqa: SIM115
    shutil.copyfileobj(stream, spool, 1 << 20)
    spool.flush()
    spool.seek(0)
    return spool.name, spool


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Every record of one EVTX file into ``raw``, and the mapped ones into auth/process/file/tamper."""
    from evtx import PyEvtxParser

    with ExitStack() as stack:
        source, handle = _open(stream, stack)
        layout = _layout(handle)
        events = WindowsEvents(ctx, FORMAT)
        damage = _DamageLog(ctx)
        for index in layout.unreadable_chunks:
            damage.add("chunk header unreadable, its records are lost", f"chunk {index}")
        if layout.declared_chunks > layout.present_chunks:
            damage.add(
                f"file truncated: header declares {layout.declared_chunks} chunks, "
                f"{layout.present_chunks} present",
                f"offset {_HEADER_SIZE + layout.present_chunks * _CHUNK_SIZE}",
            )
        try:
            # a worker of a parallel read is one of several: it parses on one thread (0 = one per core)
            parser = PyEvtxParser(source, int(ctx.run_state.get("reader.threads", 0)))
        except (RuntimeError, OSError) as exc:
            damage.add(f"not a readable EVTX file: {exc}", "offset 0")
            return
        seen_per_chunk = [0] * len(layout.chunk_first)
        first, last = layout.chunk_first, layout.chunk_last
        chunk = -1  # the chunk of the last record: records come in order, chunk by chunk
        records = parser.records_json()
        loads, add, add_values = orjson.loads, events.add, events.add_values
        while True:
            try:
                record: dict[str, Any] = next(records)  # type: ignore[arg-type]
            except StopIteration:
                break
            except RuntimeError as exc:
                message = str(exc)
                match = _RECORD_ERROR.search(message)
                if match:
                    number = int(match.group(1))
                    _count(seen_per_chunk, first, last, number)
                    ctx.skip("parse_error")
                    damage.add(f"record unreadable: {message}", f"record {number}")
                    continue
                bad_chunk = _CHUNK_ERROR.search(message)
                damage.add(message, f"chunk {bad_chunk.group(1)}" if bad_chunk else None)
                continue
            number = record["event_record_id"]
            # _count, with the chunk of the record before tried first
            if (
                chunk >= 0
                and first[chunk] <= number <= last[chunk]
                and (chunk + 1 == len(first) or first[chunk + 1] > number)
            ):
                seen_per_chunk[chunk] += 1
            else:
                chunk = _count(seen_per_chunk, first, last, number)
            try:
                event = loads(record["data"])["Event"]
                crate = flatten_crate(event)
                if crate is None:
                    flat = flatten_event(event)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                ctx.skip("malformed_record")
                continue
            if crate is not None:
                # the usual rendering: its System values at hand (EventRecordID always there)
                flat, eid, channel, computer, rid, provider, created = crate
                add_values(flat, created, computer, channel, provider, eid, rid, rid if rid >= 0 else number)
                if events.batch_full():
                    yield from events.ready()
                continue
            rid_text = flat.get("EventRecordID")
            if rid_text is None:
                flat["EventRecordID"] = rid_text = str(number)
            add(flat, int(rid_text) if rid_text.isdigit() else number)
            if events.batch_full():
                yield from events.ready()
        for i, seen in enumerate(seen_per_chunk):
            expected = layout.chunk_last[i] - layout.chunk_first[i] + 1
            if seen < expected:
                damage.add(
                    f"{expected - seen} of {expected} records could not be read",
                    f"chunk {layout.chunk_index[i]}",
                )
        damage.close()
        yield from events.flush()


def _count(seen: list[int], first: list[int], last: list[int], number: int) -> int:
    """Count record ``number`` in its chunk; that chunk's index, -1 when it is in none."""
    i = bisect.bisect_right(first, number) - 1
    if i >= 0 and number <= last[i]:
        seen[i] += 1
        return i
    return -1


class _DamageLog:
    """Reports damage to the context, the first ``_MAX_DAMAGE`` in full and the rest as a count."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.count = 0

    def add(self, message: str, position: str | None) -> None:
        self.count += 1
        if self.count <= _MAX_DAMAGE:
            self.ctx.damage(message, position)

    def close(self) -> None:
        if self.count > _MAX_DAMAGE:
            self.ctx.damage(f"{self.count - _MAX_DAMAGE} more damaged places not listed")
