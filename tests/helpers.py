"""Test helpers: read a stream with one reader and get its rows and accounting."""

from __future__ import annotations

import io
from types import ModuleType
from typing import Any

import pyarrow as pa

from shoreup.schema import TABLES
from shoreup.sources._base import FileStats, ReadContext, ReadOptions


def read_bytes(
    reader: ModuleType, data: bytes, name: str = "sample.log", options: ReadOptions | None = None,
    mtime: float | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], FileStats]:
    """Run ``reader.read`` over ``data``; rows per table, and the file's accounting."""
    stats = FileStats(name)
    ctx = ReadContext(name, stats, options or ReadOptions(), mtime)
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for table, batch in reader.read(io.BytesIO(data), ctx):
        assert batch.schema.equals(TABLES[table]), f"{table} batch does not match the schema"
        out[table].extend(pa.Table.from_batches([batch]).to_pylist())
    return out, stats
