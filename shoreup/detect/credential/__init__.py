"""Credential-attack detectors (T1110, T1621, T1078) over the ``auth`` table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from shoreup.findings import Ref


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run SQL and return rows as dicts."""
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def refs(files: list[str] | None, records: list[int] | None) -> list[Ref]:
    """Evidence refs from two parallel lists (as aggregated by SQL ``list()``)."""
    return [Ref(f, int(r)) for f, r in zip(files or [], records or [], strict=True)]


def utc(t: dt.datetime) -> dt.datetime:
    """Times from the store are naive UTC."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
