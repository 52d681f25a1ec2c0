"""What every reader shares: the read context, record accounting and a columnar row builder.

A reader module declares ``FORMAT`` (its name), ``sniff(head: bytes, name: str) -> bool`` — a cheap
test on the first bytes of the (decompressed) input — and
``read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Batch]``, yielding ``(table, RecordBatch)``
pairs in the schemas of :mod:`shoreup.schema`. Its module docstring's first line is its help text.

Accounting contract: for every input, ``records_read == events + sum(skipped)``. A reader calls
``ctx.parsed()`` for each record that became an event (in one or more tables) and ``ctx.skip(reason)``
for each record it did not turn into an event; ``records_read`` is derived from both. A record a
source says stands for N records ("message repeated N times") counts as N. Damage that loses part
of the input is reported with ``ctx.damage(message, position)``: the run goes on, the exit code
becomes 2.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

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


class ReadContext:
    """Handed to a reader for one input: its name, options, and the accounting it must keep."""

    def __init__(
        self,
        path: str,
        stats: FileStats,
        options: ReadOptions,
        mtime: float | None = None,
        run_state: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.stats = stats
        self.options = options
        self.mtime = mtime
        #: State shared by every input of one run, e.g. a reader's set of seen record keys for dedup.
        self.run_state: dict[str, Any] = run_state if run_state is not None else {}

    def parsed(self, n: int = 1) -> None:
        self.stats.events += n

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.stats.skipped[reason] += n

    def damage(self, message: str, position: str | None = None) -> None:
        self.stats.damage.append(Damage(self.path, message, position))


class Reader(Protocol):
    FORMAT: str

    def sniff(self, head: bytes, name: str) -> bool: ...

    def read(self, stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]: ...


class RowBuilder:
    """Gathers rows for one table column by column and emits RecordBatches of ``BATCH_ROWS``.

    ``add`` takes keyword values by column name; missing columns are null. Provenance columns
    ``source_format`` and ``ref_file`` are filled from the builder when not given.
    """

    def __init__(self, table: str, source_format: str, ref_file: str, batch_rows: int = BATCH_ROWS) -> None:
        self.table = table
        self.schema = TABLES[table]
        self.names = self.schema.names
        self._cols: dict[str, list[Any]] = {n: [] for n in self.names}
        self._source_format = source_format
        self._ref_file = ref_file
        self._n = 0
        self.batch_rows = batch_rows

    def __len__(self) -> int:
        return self._n

    def add(self, **row: Any) -> None:
        row.setdefault("source_format", self._source_format)
        row.setdefault("ref_file", self._ref_file)
        for name, col in self._cols.items():
            col.append(row.get(name))
        self._n += 1

    def full(self) -> bool:
        return self._n >= self.batch_rows

    def flush(self) -> Iterator[Batch]:
        """Yield the gathered rows as one batch (nothing when empty) and start again."""
        if not self._n:
            return
        arrays = [pa.array(self._cols[f.name], type=f.type) for f in self.schema]
        self._cols = {n: [] for n in self.names}
        self._n = 0
        yield self.table, pa.RecordBatch.from_arrays(arrays, schema=self.schema)
