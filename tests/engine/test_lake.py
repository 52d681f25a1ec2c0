"""``ingest --to DIR``: the normalized tables as Parquet, partitioned by table and UTC day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shoreup import pipeline
from shoreup.engine import lake
from shoreup.engine.duckdb import Store
from shoreup.errors import UsageError
from shoreup.schema import AUTH, TABLES

T0 = dt.datetime(2026, 3, 2, 23, 59, 59, 123456, tzinfo=dt.UTC)


def _auth(n: int, start: dt.datetime = T0) -> pa.RecordBatch:
    rows = [{"time": start + dt.timedelta(seconds=k), "source_format": "test", "ref_file": "f", "ref_record": k,
             "user": f"u{k}", "src_ip": "203.0.113.5", "src_port": 22, "outcome": "failure", "reason": "bad_password",
             "mfa_used": None, "asn": 64500} for k in range(n)]
    return pa.RecordBatch.from_pylist([{f.name: r.get(f.name) for f in AUTH} for r in rows], schema=AUTH)


def _read(root: Path, table: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = str(root / table / "*" / "*.parquet")
    return con.execute(f"SELECT * EXCLUDE (date) REPLACE (CAST(time AS TIMESTAMP) AS time) "
                       f"FROM read_parquet('{glob}', hive_partitioning = true) "
                       "ORDER BY ref_record").fetchall()


def test_partitioned_by_table_and_utc_day(tmp_path: Path) -> None:
    with Store() as store:
        store.append("auth", _auth(3))  # 23:59:59.123456, then two rows the next day
        report = lake.write(store, tmp_path)
        stored = store.con.execute("SELECT * FROM auth ORDER BY ref_record").fetchall()
    assert report.rows == {"auth": 3}
    assert report.days == {"auth": ["2026-03-02", "2026-03-03"]}
    days = sorted(p.name for p in (tmp_path / "auth").iterdir())
    assert days == ["date=2026-03-02", "date=2026-03-03"]
    files = sorted((tmp_path / "auth").rglob("*.parquet"))
    assert files and all(f.name.startswith("part-") for f in files)
    assert not any((tmp_path / t).exists() for t in TABLES if t != "auth"), "empty tables write nothing"
    # The schema's columns, times as UTC instants to the microsecond, nothing lost or added.
    schema = pq.read_schema(files[0])
    assert schema.names == AUTH.names
    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert _read(tmp_path, "auth") == stored


def test_existing_tables_need_a_mode(tmp_path: Path) -> None:
    with Store() as store:
        store.append("auth", _auth(2))
        lake.write(store, tmp_path)
        with pytest.raises(UsageError, match="auth"):
            lake.write(store, tmp_path)
        lake.write(store, tmp_path, mode="append")
        assert len(_read(tmp_path, "auth")) == 4
        lake.write(store, tmp_path, mode="overwrite")
        assert len(_read(tmp_path, "auth")) == 2
        with pytest.raises(UsageError):
            lake.write(store, tmp_path, mode="replace")  # type: ignore[arg-type]


def test_not_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with Store() as store:
        store.append("auth", _auth(1))
        with pytest.raises(UsageError, match="not a folder"):
            lake.write(store, target)


def test_ingest_simulated_logs(tmp_path: Path) -> None:
    from shoreup.simulate import generate

    generate(tmp_path / "logs", seed=4, users=20, days=1, formats=["sshd", "windows"])
    with Store() as store:
        pipeline.ingest([str(tmp_path / "logs")], store)
        counts = {t: store.count(t) for t in TABLES}
    assert not lake.is_lake(tmp_path / "lake")
    report, written = lake.ingest([str(tmp_path / "logs")], tmp_path / "lake")
    assert lake.is_lake(tmp_path / "lake") and not lake.is_lake(tmp_path / "logs")
    assert not report.damaged and report.events
    assert written.rows == {t: n for t, n in counts.items() if n}
    assert {"auth", "raw"} <= set(written.rows)
    for table, n in written.rows.items():
        assert len(_read(tmp_path / "lake", table)) == n
        assert all(p.name.startswith("date=") for p in (tmp_path / "lake" / table).iterdir())
