"""The DuckDB → Spark rendering keeps DuckDB's meaning (no Spark needed: sqlglot only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shoreup.detect.credential as credential

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
from shoreup.engine.spark import SparkSQLError, transpile

CASES: list[tuple[str, str]] = [
    # epoch() keeps microseconds (sqlglot's stock rendering, UNIX_TIMESTAMP, truncates to seconds).
    ("SELECT epoch(time) AS ts FROM auth", "SELECT (UNIX_MICROS(time) / 1e6) AS ts FROM auth"),
    # The exact median, never PERCENTILE_APPROX.
    ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
     "SELECT PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY x NULLS LAST) FROM t"),
    # array_agg keeps NULL elements and its ORDER BY (NULLS LAST first, as DuckDB sorts).
    ("SELECT array_agg(f ORDER BY t, f) FROM a",
     "SELECT TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('n0', (t) IS NULL, 'k0', t, 'n1', (f) IS NULL, "
     "'k1', f, 'v', f))), shoreup_item -> shoreup_item.v) FROM a"),
    ("SELECT array_agg(DISTINCT h) FILTER (WHERE h IS NOT NULL) FROM a",
     "SELECT TRANSFORM(COLLECT_SET(NAMED_STRUCT('v', h)) FILTER(WHERE NOT h IS NULL), "
     "shoreup_item -> shoreup_item.v) FROM a"),
    ("SELECT array_agg(x) FROM a", "SELECT TRANSFORM(COLLECT_LIST(NAMED_STRUCT('v', x)), shoreup_item -> shoreup_item.v) FROM a"),
    # Parameters become Spark's named markers, bound by Spark (never pasted in as text).
    ("SELECT 1 FROM auth WHERE user = $user AND time <= $end + INTERVAL 1 DAY",
     "SELECT 1 FROM auth WHERE user = :user AND time <= :end + INTERVAL '1' DAY"),
]


@pytest.mark.parametrize(("duckdb_sql", "spark_sql"), CASES)
def test_rendering(duckdb_sql: str, spark_sql: str) -> None:
    assert transpile(duckdb_sql) == spark_sql


def test_unrenderable_sql_is_an_error_not_a_guess() -> None:
    with pytest.raises(SparkSQLError, match="DESC"):
        transpile("SELECT array_agg(x ORDER BY t DESC) FROM a")


def _statements() -> list[str]:
    out = []
    for path in sorted(Path(credential.__file__).parent.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        out += [m.group(1) for m in re.finditer(r'"""(.*?)"""', text, re.DOTALL) if "SELECT" in m.group(1)]
    return out


def test_every_detector_statement_renders() -> None:
    from shoreup.detect.credential import brute_force, distributed_spray, mfa_fatigue, password_spray

    sqls = [m._sql(m.Params()) for m in (brute_force, password_spray, distributed_spray, mfa_fatigue)]
    for sql in sqls + [s for s in _statements() if "{" not in s]:
        spark_sql = transpile(sql)
        assert "COLLECT_LIST(ref" not in spark_sql and "PERCENTILE_APPROX" not in spark_sql
        assert "UNIX_TIMESTAMP" not in spark_sql
