"""Credential-attack detectors (T1110, T1621, T1078) over the ``auth`` table."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.findings import MAX_EVIDENCE, Finding, Ref

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
        version = _version(con)
        if _fresh(name, con, version, params):
            return list(_MEMO[name][3])
        found = detect(con, params)
        _MEMO[name] = (con, version, copy.deepcopy(params), list(found))
        return found

    return wrapper


def prefetch(con: Any, runs: list[tuple[_Detect, Any]], threads: int = 2) -> None:
    """Run some remembered detectors at once, each on a cursor of its own, and remember their findings
    under ``con`` (so that ``detect(con, params)`` afterwards returns them without running again).

    DuckDB runs a cursor's statements and NumPy its array passes without Python's lock, so two attack
    detectors overlap on two cores. Only for a DuckDB connection; another engine runs them in turn."""
    if not isinstance(con, duckdb.DuckDBPyConnection) or threads < 2 or len(runs) < 2:
        return
    from concurrent.futures import ThreadPoolExecutor

    version = _version(con)
    todo = [(d, p) for d, p in runs if not _fresh(f"{d.__module__}.{d.__qualname__}", con, version, p)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shoreup-detect") as pool:
        futures = [(d, p, pool.submit(getattr(d, "__wrapped__", d), con.cursor(), p)) for d, p in todo]
        for d, p, future in futures:
            _MEMO[f"{d.__module__}.{d.__qualname__}"] = (con, version, copy.deepcopy(p), list(future.result()))


def _version(con: Any) -> tuple[object, ...]:
    row = con.execute("SELECT count(*), min(time), max(time) FROM auth").fetchone()
    return tuple(row) if row else ()


def _fresh(name: str, con: Any, version: tuple[object, ...], params: Any) -> bool:
    hit = _MEMO.get(name)
    return hit is not None and hit[0] is con and hit[1] == version and hit[2] == params


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run SQL and return rows as dicts."""
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def arrow(con: Any, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """A statement's whole result as an Arrow table, in its order, on either engine.

    DuckDB's relation API, not the DB-API result: this DuckDB build's Arrow export of a DB-API result
    does not keep the rows in ``ORDER BY`` order (its vectors come back as the threads finish). On a
    cursor of its own, so that a result the caller left open on ``con`` is no obstacle."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        table: pa.Table = con.cursor().sql(sql, params=params or None).to_arrow_table()
        return table
    out: pa.Table = con.execute(sql, params or {}).arrow  # Spark's cursor holds its Arrow table
    return out


def evidence_refs(table: pa.Table, idx: np.ndarray) -> tuple[list[Ref], int]:
    """The first ``MAX_EVIDENCE`` distinct refs (in file, record order) of some rows, and how many there are.

    What :class:`Finding` keeps of a long evidence list, without a Python object per row."""
    take = pa.array(np.asarray(idx, dtype=np.int64))
    enc = pc.dictionary_encode(table.column("ref_file").take(take).combine_chunks())
    names = enc.dictionary.to_pylist()
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    files = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    records = np.asarray(table.column("ref_record").take(take).to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.lexsort((records, files))
    files, records = files[order], records[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (files[1:] != files[:-1]) | (records[1:] != records[:-1])
    first = np.flatnonzero(keep)[:MAX_EVIDENCE]
    byname = {int(r): n for n, r in zip(names, rank, strict=True)}
    return [Ref(byname[int(files[i])], int(records[i])) for i in first], int(keep.sum())


def hosts_of(table: pa.Table, idx: np.ndarray) -> list[str]:
    """The distinct hosts (sorted, nulls and empty left out) of some rows."""
    values = table.column("host").take(pa.array(np.asarray(idx, dtype=np.int64))).unique().to_pylist()
    return sorted({h for h in values if h})


def refs(files: list[str] | None, records: list[int] | None) -> list[Ref]:
    """Evidence refs from two parallel lists (as aggregated by SQL ``list()``)."""
    return [Ref(f, int(r)) for f, r in zip(files or [], records or [], strict=True)]


def utc(t: dt.datetime) -> dt.datetime:
    """Times from the store are naive UTC."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
