"""What every reader shares: the read context, record accounting and a columnar row builder.

A reader module declares ``FORMAT`` (its name), ``sniff(head: bytes, name: str) -> bool`` — a cheap
test on the first bytes of the (decompressed) input — and
``read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Batch]``, yielding ``(table, RecordBatch)``
pairs in the schemas of :mod:`shoreup.schema`. Its module docstring's first line is its help text.

Accounting contract: for every input, ``records_read == events + sum(skipped)``. A reader calls
``ctx.parsed()`` for each record that became an event (in one or more tables) and ``ctx.skip(reason)``
for each record it did not turn into an event; ``records_read`` is derived from both. A record is
what the source stores (a line, an EVTX record); one record may yield several event rows (syslog's
"message repeated N times" yields N) and still counts once. Damage that loses part
of the input is reported with ``ctx.damage(message, position)``: the run goes on, the exit code
becomes 2.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import numpy as np
import pyarrow as pa

from shoreup.schema import TABLES

Batch = tuple[str, pa.RecordBatch]

#: How many rows a builder gathers before it hands a batch downstream.
BATCH_ROWS = 65_536


@dataclass
class Damage:
    """A problem in one input that lost (part of) its records."""

    path: str
    message: str
    position: str | None = None

    def __str__(self) -> str:
        return f"{self.path}{f' ({self.position})' if self.position else ''}: {self.message}"


@dataclass
class FileStats:
    """Accounting for one input: what was read, what became events, what was skipped and why."""

    path: str
    format: str = ""
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    damage: list[Damage] = field(default_factory=list)
    warnings: list[Damage] = field(default_factory=list)
    #: Set by a reader given one byte range of a file (``ReadContext.segment``): the state the main
    #: process checks against the ranges before it (the module's ``join``); never printed.
    carry: Any = field(default=None, repr=False, compare=False)

    @property
    def records_read(self) -> int:
        return self.events + sum(self.skipped.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "records_read": self.records_read,
            "events": self.events,
            "skipped": dict(sorted(self.skipped.items())),
        }


@dataclass
class ReadOptions:
    """Options a user may give that change how records are read."""

    year: int | None = None  # year for year-less syslog timestamps
    tz: dt.tzinfo = dt.UTC  # zone of local timestamps without an offset
    login_paths: tuple[str, ...] = ()  # web access logs: extra login endpoints
    trusted_proxies: tuple[str, ...] = ()  # web access logs: CIDRs of proxies in front (CDNs), besides private ones


class SegmentUnsafe(Exception):
    """Raised by a reader given one byte range of a file (``ctx.segment``) whose records depend on
    lines outside that range; the pipeline then reads the whole file in one piece instead."""


class ReadContext:
    """Handed to a reader for one input: its name, options, and the accounting it must keep."""

    def __init__(
        self,
        path: str,
        stats: FileStats,
        options: ReadOptions,
        mtime: float | None = None,
        run_state: dict[str, Any] | None = None,
        first_record: int = 1,
    ) -> None:
        self.path = path
        #: Number of the stream's first record in the file (a follower reading from an offset sets it).
        self.first_record = first_record
        self.stats = stats
        self.options = options
        self.mtime = mtime
        #: State shared by every input of one run, e.g. a reader's set of seen record keys for dedup.
        self.run_state: dict[str, Any] = run_state if run_state is not None else {}
        #: True when the stream is one line-aligned byte range of a larger file read in parallel
        #: (its first line is ``first_record``); a reader that numbers or maps records from state
        #: carried across lines must raise :class:`SegmentUnsafe` when it would need that state.
        self.segment = False

    def parsed(self, n: int = 1) -> None:
        self.stats.events += n

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.stats.skipped[reason] += n

    def damage(self, message: str, position: str | None = None) -> None:
        """Part of this input was lost: named in the output, exit code 2."""
        self.stats.damage.append(Damage(self.path, message, position))

    def warn(self, message: str, position: str | None = None) -> None:
        """Something a person should know about this input; nothing was lost."""
        self.stats.warnings.append(Damage(self.path, message, position))


class Reader(Protocol):
    FORMAT: str

    def sniff(self, head: bytes, name: str) -> bool: ...

    def read(self, stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]: ...


_STRUCTS: dict[str, pa.StructType] = {}


def _struct(table: str) -> pa.StructType:
    """A table's columns as one struct type (made once: a builder is made per input, inputs may be many)."""
    struct = _STRUCTS.get(table)
    if struct is None:
        struct = _STRUCTS[table] = pa.struct(list(TABLES[table]))
    return struct


class RowBuilder:
    """Gathers rows for one table column by column and emits RecordBatches of ``BATCH_ROWS``.

    ``add`` takes keyword values by column name; missing columns are null. Provenance columns
    ``source_format`` and ``ref_file`` are filled from the builder when not given.
    """

    def __init__(self, table: str, source_format: str, ref_file: str, batch_rows: int = BATCH_ROWS) -> None:
        self.table = table
        self.schema = TABLES[table]
        self.names = self.schema.names
        self._struct = _struct(table)
        self._rows: list[dict[str, Any]] = []
        self._source_format = source_format
        self._ref_file = ref_file
        self.batch_rows = batch_rows

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, **row: Any) -> None:
        row.setdefault("source_format", self._source_format)
        row.setdefault("ref_file", self._ref_file)
        self._rows.append(row)

    def append(self, row: dict[str, Any]) -> None:
        """``add`` for a row dict the caller hands over (it is kept, not copied)."""
        row.setdefault("source_format", self._source_format)
        row.setdefault("ref_file", self._ref_file)
        self._rows.append(row)

    def full(self) -> bool:
        return len(self._rows) >= self.batch_rows

    def flush(self) -> Iterator[Batch]:
        """Yield the gathered rows as one batch (nothing when empty) and start again."""
        if not self._rows:
            return
        # One conversion of the row dicts in Arrow's C++ (keys not in the schema are ignored, missing
        # ones are null), several times faster than gathering the columns in Python.
        rows = pa.array(self._rows, type=self._struct)
        self._rows = []
        yield self.table, pa.RecordBatch.from_arrays(rows.flatten(), schema=self.schema)


#: Bytes read at a time by line-oriented readers.
CHUNK_BYTES = 4 << 20
#: A longer line is skipped (counted as ``line_too_long``) instead of being held in memory.
MAX_LINE_BYTES = 1 << 20


def iter_line_runs(
    stream: IO[bytes], ctx: ReadContext, chunk_bytes: int = CHUNK_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(number of the first line, run)``: runs of complete lines, in bounded memory.

    A run is valid UTF-8 with ``\n`` line ends (CRLF folded) and no final newline. Lines longer than
    ``max_line`` are skipped and counted (``line_too_long``); bytes that are not UTF-8 are replaced
    (the first such line is named in a warning); a stream that breaks off (truncated archive) is
    reported as damage at the line it reached, and what came before is kept.
    """
    line_no = ctx.first_record
    warned_utf8 = False

    def clean(run: bytes, first: int) -> bytes:
        nonlocal warned_utf8
        if b"\r" in run:  # CRLF line ends (logs copied through Windows)
            run = run.replace(b"\r\n", b"\n")
        try:
            run.decode("utf-8")
        except UnicodeDecodeError as e:
            if not warned_utf8:
                warned_utf8 = True
                line = first + run.count(b"\n", 0, e.start)
                ctx.warn("bytes that are not UTF-8 were replaced (first here)", f"line {line}")
            run = run.decode("utf-8", "replace").encode("utf-8")
        return run

    def lines_of(complete: bytes) -> Iterator[tuple[int, bytes]]:
        nonlocal line_no
        first = line_no
        if len(complete) <= max_line:
            longest, n_parts = len(complete), complete.count(b"\n") + 1
        else:
            nl = np.flatnonzero(np.frombuffer(complete, dtype=np.uint8) == 10)
            n_parts = len(nl) + 1
            longest = int((np.diff(np.concatenate([[-1], nl, [len(complete)]])) - 1).max())
        if longest <= max_line:
            line_no = first + n_parts
            yield first, clean(complete, first)
            return
        # Rare: an over-long line inside a block. Yield the runs around it, skip it.
        parts = complete.split(b"\n")
        run: list[bytes] = []
        run_first = first
        for i, part in enumerate(parts):
            if len(part) > max_line:
                if run:
                    yield run_first, clean(b"\n".join(run), run_first)
                    run = []
                too_long(first + i)
                run_first = first + i + 1
            else:
                run.append(part)
        if run:
            yield run_first, clean(b"\n".join(run), run_first)
        line_no = first + len(parts)

    def too_long(line: int) -> None:
        ctx.skip("line_too_long")
        ctx.warn(f"line longer than {max_line} bytes skipped", f"line {line}")

    pending = b""
    dropping = False  # inside an over-long line, discarding up to its newline
    while True:
        block, broke = read_block(stream, chunk_bytes)
        # When the stream breaks off after some bytes, keep those: process them, then report.
        pending_break = broke if broke is not None and block else None
        if not block:
            if pending and not dropping:
                if broke is None:
                    yield from lines_of(pending)
                else:
                    ctx.skip("truncated_line")
                    line_no += 1
            if broke is not None:
                ctx.damage(f"input breaks off ({broke}); the lines before were read", f"line {line_no}")
            return
        if dropping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block, dropping = block[nl + 1 :], False
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
        else:
            pending = data[cut + 1 :]
            yield from lines_of(data[:cut])
        if len(pending) > max_line:
            too_long(line_no)
            line_no += 1
            pending, dropping = b"", True
        if pending_break is not None:
            if pending and not dropping:
                ctx.skip("truncated_line")
                line_no += 1
            ctx.damage(f"input breaks off ({pending_break}); the lines before were read", f"line {line_no}")
            return


def iter_line_chunks(
    stream: IO[bytes], ctx: ReadContext, chunk_bytes: int = CHUNK_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(number of the first line, lines)`` as Python strings; see :func:`iter_line_runs`."""
    for first, run in iter_line_runs(stream, ctx, chunk_bytes, max_line):
        yield first, run.decode("utf-8").split("\n")


def read_block(stream: IO[bytes], size: int) -> tuple[bytes, Exception | None]:
    """Read up to ``size`` bytes; when the stream breaks off, return what came before and the error."""
    parts: list[bytes] = []
    got = 0
    read1 = getattr(stream, "read1", None)
    try:
        while got < size:
            part = read1(size - got) if read1 is not None else stream.read(size - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except (OSError, EOFError, ValueError) as e:
        return b"".join(parts), e
    return b"".join(parts), None
