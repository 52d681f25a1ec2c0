"""The NumPy window helpers give what the SQL they stand for gives, ties and peers included."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from shoreup.detect.credential import _columns as cols


def _rows(seed: int, n: int = 400) -> pa.Table:
    """Groups with many equal times (peers), some null names, hits scattered."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 7, n)
    ts = rng.integers(0, 50, n).astype(np.float64) * 30.0 + 1.7e9  # whole half-minutes: many ties
    hit = rng.random(n) < 0.4
    names = [None if rng.random() < 0.1 else f"n{int(k)}" for k in rng.integers(0, 9, n)]
    return pa.table({"g": group, "ts": ts, "hit": hit.astype(np.int64), "name": names})


def _sorted(t: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    g, ts = t.column("g").to_numpy(), cols.floats(t, "ts")
    order = cols.group_order(g, ts)
    return order, g[order], ts[order], t.column("hit").to_numpy()[order]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("window", [0.0, 30.0, 95.0, 600.0])
def test_sliding_is_sql_range_frame(seed: int, window: float) -> None:
    t = _rows(seed)
    order, g, ts, hit = _sorted(t)
    sql = duckdb.sql(
        f"SELECT sum(hit) OVER (PARTITION BY g ORDER BY ts RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS s, "
        f"count(*) OVER (PARTITION BY g ORDER BY ts RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS c "
        "FROM (SELECT *, row_number() OVER () AS i0 FROM t) ORDER BY i0"
    ).fetchnumpy()  # in t's row order; the helpers' rows are t's through ``order``
    assert (cols.sliding(ts, window, hit, group=g) == sql["s"][order]).all()
    assert (cols.sliding(ts, window, group=g) == sql["c"][order]).all()
    one = g == g[0]  # one group alone: the ungrouped form
    assert (cols.sliding(ts[one], window, hit[one]) == sql["s"][order][one]).all()


@pytest.mark.parametrize("seed", range(5))
def test_running_restarts_at_each_group(seed: int) -> None:
    _, g, _, hit = _sorted(_rows(seed))
    first = cols.starts(g)
    expected = np.concatenate([np.cumsum(hit[g == k]) for k in np.unique(g)])
    assert (cols.running(hit, first) == expected).all()


@pytest.mark.parametrize("seed", range(5))
def test_firsts_and_group_firsts(seed: int) -> None:
    t = _rows(seed)
    _, g, ts, hit = _sorted(t)
    key = cols.pair(g, np.where(hit == 1, 1, -1), 2)
    seen = cols.first_seen(key)
    assert seen.sum() == len(np.unique(key)) and all(not (key[:i] == key[i]).any() for i in np.flatnonzero(seen))
    first = cols.starts(g)
    at = cols.group_first(hit == 1, first)
    for k, (lo, hi) in enumerate(zip(np.flatnonzero(first), [*np.flatnonzero(first)[1:], len(g)], strict=True)):
        inside = np.flatnonzero(hit[lo:hi] == 1)
        assert at[k] == (lo + inside[0] if len(inside) else len(g))
        assert cols.group_max(ts, first)[k] == ts[lo:hi].max()


@pytest.mark.parametrize("seed", range(3))
def test_ranked_codes_sort_like_sql(seed: int) -> None:
    t = _rows(seed)
    c, values, rank = cols.ranked_codes(t, "name")
    ordered = [values[i] if i >= 0 else None for i in c[np.argsort(cols.sort_key(c, rank), kind="stable")]]
    expected = [r[0] for r in duckdb.sql("SELECT name FROM t ORDER BY name ASC NULLS LAST").fetchall()]
    assert ordered == expected
    assert cols.distinct_sorted(c, values, rank) == sorted({v for v in values if v is not None})
    assert (cols.sort_key(np.array([-1]), np.array([], dtype=np.int64)) == 0).all()
