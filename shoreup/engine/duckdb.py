"""The embedded engine: normalized tables in DuckDB, in memory or in a file, spilling to disk.

Batches stream in as they are read; nothing holds a whole input in Python. DuckDB keeps the tables
within ``memory_limit`` and spills the rest to ``temp_directory``, so inputs larger than memory
still hunt. Times are stored as ``TIMESTAMP`` in UTC (the session time zone is fixed to UTC).
"""

from __future__ import annotations

import os
import tempfile
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from shoreup.errors import UsageError
from shoreup.schema import TABLES

_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.bool_(): "BOOLEAN",
    pa.float64(): "DOUBLE",
}

DEFAULT_MEMORY_LIMIT = os.environ.get("SHOREUP_MEMORY_LIMIT", "1GB")

#: Rows gathered per table before one INSERT: DuckDB pays a fixed cost per statement and per
#: small append, so few large inserts are several times faster than many small ones.
FLUSH_ROWS = 262_144
#: ... or this many bytes of them, whichever comes first: wide rows (``raw``'s every field of a
#: Windows event) would otherwise hold a few hundred MB in the process between inserts.
FLUSH_BYTES = 64 << 20


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    return _TYPES[t]


def ddl(table: str) -> str:
    """CREATE TABLE statement for one normalized table."""
    cols = ", ".join(f'"{f.name}" {_sql_type(f.type)}' for f in TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


def _naive_utc(data: pa.Table) -> pa.Table:
    """Time columns as naive UTC: the stored ``TIMESTAMP`` is UTC, and DuckDB converts a zoned Arrow
    column value by value (~20 % of an insert) where dropping the zone is free (the values are UTC)."""
    for i, f in enumerate(data.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            utc = data.column(i).cast(pa.timestamp(f.type.unit, "UTC"))
            data = data.set_column(i, pa.field(f.name, pa.timestamp(f.type.unit), f.nullable, f.metadata),
                                   utc.cast(pa.timestamp(f.type.unit)))
    return data


class Store:
    """The normalized tables in one DuckDB database (in memory unless ``path`` is given)."""

    def __init__(
        self,
        path: str | None = None,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        threads: int | None = None,
        temp_directory: str | None = None,
    ) -> None:
        self._tmp = None if temp_directory else tempfile.TemporaryDirectory(prefix="shoreup-spill-")
        config: dict[str, Any] = {
            "memory_limit": memory_limit,
            "temp_directory": temp_directory or (self._tmp.name if self._tmp else ""),
            "preserve_insertion_order": False,
        }
        if threads:
            config["threads"] = threads
        self.path = path
        try:
            self._con = duckdb.connect(path or ":memory:", config=config)
        except duckdb.Error as e:  # a memory limit DuckDB cannot read, a --db that is no database …
            if self._tmp is not None:
                self._tmp.cleanup()
            where = path or "in memory"
            raise UsageError(f"cannot open the store ({where}, memory limit {memory_limit!r}): {e}") from None
        self._con.execute("SET TimeZone = 'UTC'")
        for table in TABLES:
            self._con.execute(ddl(table))
        self._pending: dict[str, list[pa.RecordBatch]] = {t: [] for t in TABLES}
        self._pending_rows: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._pending_bytes: dict[str, int] = dict.fromkeys(TABLES, 0)
        self._open = False  # a transaction opened by begin()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection, with every appended row visible to queries."""
        self.flush()
        return self._con

    def append(self, table: str, batch: pa.RecordBatch) -> None:
        """Add one batch of rows, in the table's schema, to the named table."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        if batch.num_rows == 0:
            return
        self._pending[table].append(batch)
        self._pending_rows[table] += batch.num_rows
        self._pending_bytes[table] += batch.nbytes
        if self._pending_rows[table] >= FLUSH_ROWS or self._pending_bytes[table] >= FLUSH_BYTES:
            self._flush_table(table)

    def flush(self) -> None:
        """Insert every gathered batch."""
        for table in TABLES:
            if self._pending[table]:
                self._flush_table(table)

    def begin(self) -> bool:
        """Open a transaction that :meth:`rollback` undoes, the rows appended until then included (the
        rows appended before are inserted first); False, nothing done, when this store has one open.

        A transaction opened on :attr:`con` directly is not seen (DuckDB has no way to ask, and a
        second ``BEGIN`` aborts the first): whoever opens one appends no rows through ``begin``.
        """
        if self._open:
            return False
        self.flush()
        self._con.execute("BEGIN TRANSACTION")
        self._open = True
        return True

    def commit(self) -> None:
        """Keep what was appended since :meth:`begin` (rows still gathered are inserted later)."""
        self._open = False
        self._con.execute("COMMIT")

    def rollback(self) -> None:
        """Forget every row appended since :meth:`begin`."""
        for table in TABLES:
            self._pending[table], self._pending_rows[table], self._pending_bytes[table] = [], 0, 0
        self._open = False
        self._con.execute("ROLLBACK")

    def _flush_table(self, table: str) -> None:
        batches, self._pending[table] = self._pending[table], []
        self._pending_rows[table] = self._pending_bytes[table] = 0
        data = _naive_utc(pa.Table.from_batches(batches, schema=TABLES[table]))
        self._con.register("_shoreup_pending", data)
        try:
            self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _shoreup_pending")
        finally:
            self._con.unregister("_shoreup_pending")

    def count(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._con.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
