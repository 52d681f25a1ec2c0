"""The DuckDB store: a transaction undoes appended rows, gathered or inserted."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shoreup.engine.duckdb import Store
from shoreup.schema import AUTH


def _batch(n: int, user: str) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([{"user": user, "source_format": "sshd"}] * n, schema=AUTH)


def test_rollback_forgets_rows_appended_since_begin() -> None:
    with Store() as store:
        store.append("auth", _batch(3, "kept"))
        assert store.begin()
        assert not store.begin()  # one transaction at a time
        store.append("auth", _batch(5, "gone"))
        store.flush()  # inserted inside the transaction
        store.append("auth", _batch(2, "gone"))  # still gathered
        store.rollback()
        assert store.con.execute("SELECT user, count(*) FROM auth GROUP BY ALL").fetchall() == [("kept", 3)]
        assert store.begin()
        store.append("auth", _batch(4, "new"))
        store.commit()
        store.append("auth", _batch(1, "after"))
        rows = store.con.execute("SELECT user, count(*) FROM auth GROUP BY ALL ORDER BY ALL").fetchall()
        assert rows == [("after", 1), ("kept", 3), ("new", 4)]


def test_wide_rows_are_inserted_by_bytes_not_only_by_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gathered rows go in once they reach FLUSH_BYTES, however few: wide rows (a Windows event's every
    field) would otherwise sit in memory until FLUSH_ROWS of them had come."""
    from shoreup.engine import duckdb as engine

    monkeypatch.setattr(engine, "FLUSH_BYTES", 1 << 20)
    wide = pa.RecordBatch.from_pylist([{"user": "x" * 4000, "source_format": "winjson"}] * 100, schema=AUTH)
    with Store() as store:
        inserted = []
        for _ in range(10):  # ~400 KB a batch: the third one crosses 1 MiB
            store.append("auth", wide)
            inserted.append(store._con.execute("SELECT count(*) FROM auth").fetchall()[0][0])  # no flush
        assert inserted[:2] == [0, 0] and inserted[2] == 300 and inserted[-1] < 1000
        assert store.count("auth") == 1000  # the rest at the next flush
