"""SQL's window functions over NumPy columns, for the credential detectors.

A detector fetches its candidate rows once (portable SQL, either engine) and computes its windows
here: sorting and windowing a few hundred thousand rows in DuckDB costs ~0.3-0.8 CPU-s per window
function with a new partition or order (Spark: more), a NumPy pass over the same rows a few ms.
Each helper names the SQL it stands for; the semantics are SQL's to the last tie (``RANGE`` frames
include the current row's peers) so that findings are the same whichever computes them.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def floats(t: pa.Table, column: str) -> np.ndarray:
    """A numeric column as float64 (null: NaN)."""
    return np.asarray(pc.cast(t.column(column), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _encode(t: pa.Table, column: str) -> tuple[np.ndarray, pa.Array]:
    enc = pc.dictionary_encode(t.column(column).combine_chunks())
    return np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64), enc.dictionary


def codes(t: pa.Table, column: str) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes of a column (-1 for null) and its distinct values (in first-seen order)."""
    out, dictionary = _encode(t, column)
    return out, dictionary.to_pylist()


def ranked_codes(t: pa.Table, column: str) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """:func:`codes` and each distinct value's rank in sorted order (Arrow's sort: code-point order,
    Python's for strings), so that a subset is sorted by its codes without sorting strings again."""
    out, dictionary = _encode(t, column)
    order = np.asarray(pc.array_sort_indices(dictionary), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return out, dictionary.to_pylist(), rank


def sort_key(c: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """A sortable integer per row from :func:`ranked_codes`: ``ORDER BY column ASC NULLS LAST``."""
    out = np.full(len(c), len(rank), dtype=np.int64)
    valid = c >= 0
    out[valid] = rank[c[valid]]
    return out


def distinct_sorted(c: np.ndarray, values: list[Any], rank: np.ndarray) -> list[Any]:
    """The distinct non-null values of some codes, sorted: ``sorted(set(...))`` without strings."""
    u = np.unique(c[c >= 0])
    return pick(values, u[np.argsort(rank[u])])


def pick(values: list[Any], codes: np.ndarray) -> list[Any]:
    """``[values[c] for c in codes]``, the lookups done by ``operator.itemgetter`` in C."""
    if len(codes) == 0:
        return []
    if len(codes) == 1:
        return [values[int(codes[0])]]
    return list(operator.itemgetter(*codes.tolist())(values))


def group_order(group: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """The permutation that sorts rows by group, then time (stable: ties keep their fetched order)."""
    return np.lexsort((ts, group))


def starts(*keys: np.ndarray) -> np.ndarray:
    """Over rows sorted by ``keys``: True where a new group (a new value of any key) begins."""
    n = len(keys[0]) if keys else 0
    first = np.zeros(n, dtype=bool)
    if n:
        first[0] = True
        for k in keys:
            first[1:] |= k[1:] != k[:-1]
    return first


def sliding(ts: np.ndarray, window: float, hit: np.ndarray | None = None, group: np.ndarray | None = None) -> np.ndarray:
    """``sum(hit) OVER (PARTITION BY group ORDER BY ts RANGE BETWEEN window PRECEDING AND CURRENT ROW)``
    (``count(*)`` without ``hit``), rows sorted by group then ``ts``; the frame holds the rows with
    ``ts - window <= t <= ts``, the current row's peers included, as in SQL."""
    n = len(ts)
    total = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.ones(n, dtype=np.int64) if hit is None else np.asarray(hit, dtype=np.int64), out=total[1:])
    if group is None:
        upper = np.searchsorted(ts, ts, side="right")
        lower = np.searchsorted(ts, ts - window, side="left")
    else:
        # One sorted key over (group, time): a time becomes its rank among the distinct times (so the key
        # never overflows), and "t >= ts - window" becomes "rank(t) > #distinct times below ts - window".
        distinct = np.unique(ts)
        width = np.int64(len(distinct) + 1)
        base = np.asarray(group, dtype=np.int64) * width
        key = base + np.searchsorted(distinct, ts, side="right")
        upper = np.searchsorted(key, key, side="right")
        lower = np.searchsorted(key, base + np.searchsorted(distinct, ts - window, side="left"), side="right")
    out: np.ndarray = total[upper] - total[lower]
    return out


def running(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``sum(x) OVER (PARTITION BY … ORDER BY … ROWS UNBOUNDED PRECEDING)``: a cumulative sum that
    restarts where ``first`` is True (rows sorted by partition, then order)."""
    x = np.asarray(x, dtype=np.int64)
    cs = np.cumsum(x)
    at = np.flatnonzero(first)
    before = (cs[at] - x[at])[np.cumsum(first) - 1]
    out: np.ndarray = cs - before
    return out


def pair(a: np.ndarray, b: np.ndarray, b_size: int) -> np.ndarray:
    """One int64 key for the pair of codes (a, b), b in -1 … b_size - 1 (-1: null)."""
    out: np.ndarray = np.asarray(a, dtype=np.int64) * np.int64(b_size + 1) + (np.asarray(b, dtype=np.int64) + 1)
    return out


def first_seen(key: np.ndarray) -> np.ndarray:
    """True on the first row (in array order) of each distinct ``key``:
    ``row_number() OVER (PARTITION BY key ORDER BY …) = 1`` over rows already in that order."""
    out = np.zeros(len(key), dtype=bool)
    if len(key):
        _, idx = np.unique(key, return_index=True)
        out[idx] = True
    return out


def group_max(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per group (rows sorted, ``first`` marking each group's first row): the maximum of ``values``."""
    out: np.ndarray = np.maximum.reduceat(values, np.flatnonzero(first)) if len(values) else values[:0]
    return out


def group_first(mask: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per group (rows sorted by group then time): the index of its first row where ``mask`` holds,
    ``len(mask)`` when none: ``min(CASE WHEN mask THEN time END)`` as a row."""
    n = len(mask)
    pos = np.where(mask, np.arange(n), n)
    out: np.ndarray = np.minimum.reduceat(pos, np.flatnonzero(first)) if n else pos[:0]
    return out
