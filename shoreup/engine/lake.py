"""Write the normalized tables to a data lake: Parquet, partitioned by table and by day.

``shoreup ingest PATH… --to DIR`` reads the inputs into a :class:`~shoreup.engine.duckdb.Store` and
writes every non-empty table as ``DIR/<table>/date=YYYY-MM-DD/part-<uuid>.parquet`` (Hive-style
partitions that Spark, Trino, Athena and DuckDB all read). DuckDB's ``COPY … PARTITION_BY`` does the
writing, so a store larger than memory streams out and spills as it does for a hunt.

Times are written as UTC instants (Parquet ``isAdjustedToUTC``), so every reader sees the same moment
whatever its own session time zone; the ``date`` directory is the UTC day. The Parquet files hold
exactly the columns of :mod:`shoreup.schema` (``date`` lives in the path only).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shoreup.engine.duckdb import Store
from shoreup.errors import UsageError
from shoreup.schema import TABLES

if TYPE_CHECKING:
    from shoreup.pipeline import IngestReport, ProgressFn
    from shoreup.sources._base import ReadOptions

Mode = Literal["error", "append", "overwrite"]

#: Rows per Parquet row group: large enough for fast scans, small enough for bounded writer memory.
ROW_GROUP_SIZE = 122_880


@dataclass
class LakeReport:
    """What one write put into the lake: rows and day partitions per table."""

    root: Path
    rows: dict[str, int] = field(default_factory=dict)
    days: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"root": str(self.root), "rows": dict(self.rows), "days": {t: list(d) for t, d in self.days.items()}}


def table_dir(root: str | Path, table: str) -> Path:
    """The folder holding one table of a lake."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    return Path(root) / table


def has_table(root: str | Path, table: str) -> bool:
    """Whether the lake holds any Parquet file of the table."""
    folder = table_dir(root, table)
    return folder.is_dir() and any(folder.rglob("*.parquet"))


def write(store: Store, root: str | Path, mode: Mode = "error") -> LakeReport:
    """Write every non-empty table of ``store`` under ``root``, partitioned by table and UTC day.

    ``mode`` says what to do with a table already in the lake: ``error`` (refuse, naming it),
    ``append`` (add new files beside the old ones: each write has its own file names) or
    ``overwrite`` (replace that table's folder).
    """
    if mode not in ("error", "append", "overwrite"):
        raise UsageError(f"unknown lake write mode {mode!r}: use error, append or overwrite")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder")
    con = store.con
    counts = {t: store.count(t) for t in TABLES}
    present = [t for t, n in counts.items() if n and has_table(root, t)]
    if present and mode == "error":
        raise UsageError(f"{root} already holds table(s) {', '.join(present)}: choose append or overwrite")
    root.mkdir(parents=True, exist_ok=True)
    report = LakeReport(root)
    for table, n in counts.items():
        if not n:
            continue
        folder = table_dir(root, table)
        if mode == "overwrite" and folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(exist_ok=True)
        # TIMESTAMP -> TIMESTAMPTZ under the store's UTC session: the same instant, flagged as UTC in Parquet.
        target = str(folder).replace("'", "''")
        con.execute(
            f"COPY (SELECT * REPLACE (CAST(time AS TIMESTAMPTZ) AS time), strftime(time, '%Y-%m-%d') AS date "
            f"FROM {table}) TO '{target}' (FORMAT parquet, PARTITION_BY (date), APPEND, "
            f"FILENAME_PATTERN 'part-{{uuid}}', ROW_GROUP_SIZE {ROW_GROUP_SIZE}, COMPRESSION zstd)"
        )
        report.rows[table] = n
        days = con.execute(f"SELECT DISTINCT strftime(time, '%Y-%m-%d') FROM {table} ORDER BY 1").fetchall()
        report.days[table] = [d[0] for d in days]
    return report


def is_lake(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`write` (a table folder with day partitions)."""
    root = Path(path)
    return root.is_dir() and any(
        d.is_dir() and d.name.startswith("date=") for t in TABLES if (root / t).is_dir() for d in (root / t).iterdir()
    )


def ingest(
    paths: list[str],
    root: str | Path,
    mode: Mode = "error",
    options: ReadOptions | None = None,
    fmt: str | None = None,
    memory_limit: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[IngestReport, LakeReport]:
    """``shoreup ingest PATH… --to DIR``: read the inputs, with full accounting, and write them to the lake.

    The reading goes through a temporary DuckDB store (spilling to disk past ``memory_limit``), so the
    lake gets exactly the tables a hunt would see. Damaged inputs are reported as for a hunt; what
    could be read is still written.
    """
    from shoreup import pipeline
    from shoreup.engine.duckdb import DEFAULT_MEMORY_LIMIT

    with Store(memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT) as store:
        report = pipeline.ingest(paths, store, options, fmt=fmt, progress=progress)
        written = write(store, root, mode)
    return report, written
