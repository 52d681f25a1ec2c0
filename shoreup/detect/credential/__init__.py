"""Credential-attack detectors (T1110, T1621, T1078) over the ``auth`` table."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import duckdb

from shoreup.findings import Finding, Ref

_Detect = Callable[[Any, Any], list[Finding]]
#: Per detector: the connection (held, so it is never mistaken for another), the state of its auth
#: table, the parameters, and the findings — the last run of each attack detector.
_MEMO: dict[str, tuple[object, tuple[object, ...], object, list[Finding]]] = {}


def remembered(detect: _Detect) -> _Detect:
    """Remember an attack detector's last findings, so that the follow-up detectors (compromise,
    MFA gap) reuse them instead of running it again over the same data."""
    name = f"{detect.__module__}.{detect.__qualname__}"

    @functools.wraps(detect)
    def wrapper(con: Any, params: Any) -> list[Finding]:
        row = con.execute("SELECT count(*), min(time), max(time) FROM auth").fetchone()
        version = tuple(row) if row else ()
        hit = _MEMO.get(name)
        if hit is not None and hit[0] is con and hit[1] == version and hit[2] == params:
            return list(hit[3])
        found = detect(con, params)
        _MEMO[name] = (con, version, copy.deepcopy(params), list(found))
        return found

    return wrapper


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
