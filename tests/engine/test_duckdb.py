"""The DuckDB store: a transaction undoes appended rows, gathered or inserted."""

from __future__ import annotations

import pyarrow as pa

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
