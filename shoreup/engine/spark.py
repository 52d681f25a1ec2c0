"""Apache Spark engine: the detectors' own DuckDB SQL, transpiled by sqlglot, over Parquet tables.

For data that outgrows one machine. The detectors stay as they are: :class:`SparkConnection` offers
the part of the DuckDB connection API they use (``execute(sql, params)`` returning a cursor with
``fetchall()``, ``fetchone()`` and ``description``). Each statement is transpiled once from DuckDB's
dialect to Spark's with :class:`ShoreupSpark`, and ``$name`` parameters become Spark named
parameter markers, bound as typed literals by Spark itself (attacker-controlled text is never
pasted into SQL). The temp views ``auth``, ``process``, ``file``, ``tamper`` and ``raw`` are the
Parquet tables of a lake written by :mod:`shoreup.engine.lake` (an empty table where the lake has
none). Results come back through Arrow, with times as naive UTC exactly as DuckDB returns them.

sqlglot's stock Spark generator changes the meaning of three DuckDB forms without a warning; the
dialect here renders them exactly:

* ``array_agg(x ORDER BY k)`` lost its order (``COLLECT_LIST(x)``) and dropped NULL elements;
* ``percentile_cont(q) WITHIN GROUP (ORDER BY x)`` became the approximate ``PERCENTILE_APPROX``;
* ``epoch(t)`` (seconds with microseconds) became ``UNIX_TIMESTAMP`` (whole seconds).

Anything else sqlglot cannot render raises :class:`SparkSQLError` naming the statement. Sigma rules
do not run here (their compiled SQL and correlations are not ported yet): :func:`detect` says so.

Requires ``pip install shoreup[spark]`` (pyspark, sqlglot) and Java 17 or later.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.generators.spark import SparkGenerator

from shoreup.engine import lake
from shoreup.errors import ShoreupError, UsageError
from shoreup.schema import TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from shoreup.engine.duckdb import Store
    from shoreup.findings import Finding

__all__ = [
    "ShoreupSpark",
    "SparkConnection",
    "SparkCursor",
    "SparkSQLError",
    "available",
    "connect",
    "detect",
    "hunt_lake",
    "hunt_store",
    "session",
    "spark_store",
    "transpile",
]

#: Detectors that run on Spark: every SQL detector over the normalized tables except Sigma.
UNSUPPORTED = {"sigma": "Sigma rules run on DuckDB only for now (compiled SQL and correlations are not ported)"}


class SparkSQLError(ShoreupError):
    """A detector statement that cannot be rendered for Spark exactly."""


# --- The dialect: sqlglot's Spark, with the three renderings that keep DuckDB's meaning. ------------


def _ordered_key(gen: SparkGenerator, key: exp.Ordered, i: int) -> list[str]:
    """Struct fields that sort like ``key`` in DuckDB (ascending, NULLS LAST unless asked otherwise)."""
    if key.args.get("desc"):
        raise sqlglot.errors.UnsupportedError("array_agg(… ORDER BY … DESC) has no exact Spark rendering here")
    sql = gen.sql(key, "this")
    null_flag = f"({sql}) IS NOT NULL" if key.args.get("nulls_first") else f"({sql}) IS NULL"
    return [f"'n{i}', {null_flag}", f"'k{i}', {sql}"]


def _collect(gen: SparkGenerator, agg: exp.ArrayAgg, where: exp.Expr | None) -> str:
    """``array_agg`` as DuckDB means it: NULL elements kept, ``DISTINCT`` and ``ORDER BY`` honoured.

    Each value rides in a struct (``collect_list`` drops NULL values, never NULL fields) led by its
    sort keys; ``array_sort`` orders the structs, ``transform`` takes the values back out.
    """
    inner = agg.this
    keys: list[exp.Ordered] = []
    if isinstance(inner, exp.Order):
        keys = list(inner.expressions)
        inner = inner.this
    distinct = isinstance(inner, exp.Distinct)
    if distinct:
        values = inner.expressions
        if len(values) != 1:
            raise sqlglot.errors.UnsupportedError("array_agg(DISTINCT …) of several expressions")
        value = values[0]
    else:
        value = inner
    fields = [f for i, k in enumerate(keys) for f in _ordered_key(gen, k, i)]
    fields.append(f"'v', {gen.sql(value)}")
    collected = f"{'COLLECT_SET' if distinct else 'COLLECT_LIST'}(NAMED_STRUCT({', '.join(fields)}))"
    if where is not None:
        collected += f" FILTER({gen.sql(where).strip()})"
    if keys:
        collected = f"ARRAY_SORT({collected})"
    return f"TRANSFORM({collected}, shoreup_item -> shoreup_item.v)"


class _Generator(SparkGenerator):
    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **{k: v for k, v in SparkGenerator.TRANSFORMS.items() if k is not exp.WithinGroup},
        # DuckDB epoch(): seconds since 1970 as a double, microseconds kept.
        exp.TimeToUnix: lambda self, e: f"(UNIX_MICROS({self.sql(e, 'this')}) / 1e6)",
    }

    def arrayagg_sql(self, expression: exp.ArrayAgg) -> str:
        return _collect(self, expression, None)

    def filter_sql(self, expression: exp.Filter) -> str:
        if isinstance(expression.this, exp.ArrayAgg):
            return _collect(self, expression.this, expression.expression)
        return super().filter_sql(expression)

    def withingroup_sql(self, expression: exp.WithinGroup) -> str:
        if not isinstance(expression.this, exp.PercentileCont | exp.PercentileDisc):
            raise sqlglot.errors.UnsupportedError(f"{expression.this.key} WITHIN GROUP")
        return super().withingroup_sql(expression)  # Spark computes the exact percentile natively


class ShoreupSpark(Spark):
    """Spark SQL as shoreup writes it: sqlglot's Spark dialect with exact aggregate renderings."""

    Generator = _Generator


@lru_cache(maxsize=256)
def _transpile(sql: str) -> tuple[str, frozenset[str]]:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        names = frozenset(p.name for p in tree.find_all(exp.Placeholder) if p.this)
        text = tree.sql(dialect=ShoreupSpark, unsupported_level=ErrorLevel.RAISE, comments=False)
    except SqlglotError as e:
        first = " ".join(sql.split())[:120]
        raise SparkSQLError(f"cannot run on Spark: {e}; statement: {first} …") from e
    return text, names


def transpile(sql: str) -> str:
    """One DuckDB statement as Spark SQL (``$name`` parameters become ``:name`` markers)."""
    return _transpile(sql)[0]


# --- The connection adapter. -------------------------------------------------------------------


def _spark_value(value: Any) -> Any:
    """A parameter as Spark binds it: times are UTC (naive ones, as the store returns them, too)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return value


def _python_columns(table: pa.Table) -> list[list[Any]]:
    """Columns as Python values the way DuckDB returns them: timestamps naive, in UTC."""
    out: list[list[Any]] = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = pc.cast(column, pa.timestamp(column.type.unit))
        out.append(column.to_pylist())
    return out


class SparkCursor:
    """The result of one statement, fetched whole through Arrow."""

    def __init__(self, table: pa.Table) -> None:
        self._rows: list[tuple[Any, ...]] = list(zip(*_python_columns(table), strict=True))
        if not table.num_columns:
            self._rows = []
        self._next = 0
        self.description: list[tuple[str, str, None, None, None, None, None]] = [
            (f.name, str(f.type), None, None, None, None, None) for f in table.schema
        ]
        self.arrow = table

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]


class SparkConnection:
    """A SparkSession seen through the part of the DuckDB connection API the detectors use."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> SparkCursor:
        """Run one DuckDB-dialect statement on Spark; ``params`` binds its ``$name`` parameters."""
        text, names = _transpile(sql)
        if params is not None and not isinstance(params, Mapping):
            raise SparkSQLError("only named ($name) parameters are supported on Spark")
        given = dict(params or {})
        missing = sorted(names - given.keys())
        if missing:
            raise SparkSQLError(f"missing parameter(s) {', '.join(missing)}")
        args = {k: _spark_value(given[k]) for k in names}
        frame = self.spark.sql(text, args=args) if args else self.spark.sql(text)
        return SparkCursor(frame.toArrow())

    def register(self, table: str, frame: DataFrame) -> None:
        """Make ``frame`` the named table (a temp view) for the statements that follow."""
        frame.createOrReplaceTempView(table)

    def close(self) -> None:
        for table in TABLES:
            self.spark.catalog.dropTempView(table)


# --- Sessions and tables. -------------------------------------------------------------------------


def available() -> str | None:
    """Why the Spark engine cannot run here (pyspark or Java missing), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'shoreup[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        return "Java is not installed (Spark needs Java 17 or later on PATH or in JAVA_HOME)"
    return None


def session(
    master: str = "local[*]",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    config: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession for shoreup: UTC, no UI, no progress bars, quiet logs.

    ``shuffle_partitions`` defaults to Spark's own (200) on a cluster and to 4 × cores on
    ``local[…]``, where 200 tiny tasks per shuffle cost more than the work.
    """
    why = available()
    if why:
        raise UsageError(f"--engine spark: {why}")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("shoreup")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if shuffle_partitions is None and master.startswith("local"):
        cores = master.removeprefix("local").strip("[]").split(",")[0]
        n = (os.cpu_count() or 2) if cores in ("", "*") else int(cores)
        shuffle_partitions = 4 * n
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    if driver_memory:
        builder = builder.config("spark.driver.memory", driver_memory)
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return spark.createDataFrame(TABLES[table].empty_table())


def connect(spark: SparkSession, root: str | Path) -> SparkConnection:
    """A connection whose tables are the Parquet tables of the lake at ``root`` (empty where absent)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a shoreup lake folder (write one with: shoreup ingest PATH… --to DIR)")
    con = SparkConnection(spark)
    for table, schema in TABLES.items():
        if lake.has_table(root, table):
            frame = spark.read.parquet(str(lake.table_dir(root, table))).select(*schema.names)
        else:
            frame = _empty(spark, table)
        con.register(table, frame)
    return con


@contextmanager
def spark_store(spark: SparkSession, store: Store, workdir: str | Path | None = None) -> Iterator[SparkConnection]:
    """A Spark connection over the tables of a DuckDB store, written to a temporary lake first."""
    tmp = None if workdir else tempfile.TemporaryDirectory(prefix="shoreup-lake-")
    root = Path(workdir) if workdir else Path(cast(tempfile.TemporaryDirectory[str], tmp).name)
    try:
        lake.write(store, root, mode="overwrite")
        con = connect(spark, root)
        try:
            yield con
        finally:
            con.close()
    finally:
        if tmp is not None:
            tmp.cleanup()


def detect(
    con: SparkConnection, only: list[str] | None = None, params: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[Finding], dict[str, str]]:
    """Run the detectors on Spark; returns the findings (stable order) and the detectors left out, with why.

    With ``only`` unset every detector that runs on Spark runs; naming one that does not is a usage error.
    """
    from shoreup import detect as registry
    from shoreup.findings import Finding

    names = only or registry.names()
    refused = [n for n in (only or []) if n in UNSUPPORTED]
    if refused:
        raise UsageError("; ".join(f"{n}: {UNSUPPORTED[n]}" for n in refused))
    skipped = {n: UNSUPPORTED[n] for n in names if n in UNSUPPORTED}
    findings: list[Finding] = []
    for name in names:
        if name in skipped:
            continue
        module = registry.load(name)
        findings.extend(module.detect(cast(Any, con), module.Params(**(params or {}).get(name, {}))))
    return sorted(findings, key=Finding.sort_key), skipped


def hunt_store(
    store: Store,
    only: list[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    master: str = "local[*]",
    **session_options: Any,
) -> tuple[list[Finding], dict[str, str]]:
    """``hunt PATH… --engine spark``: the store's tables to a temporary lake, the detectors on Spark."""
    spark = session(master, **session_options)
    try:
        with spark_store(spark, store) as con:
            return detect(con, only, params)
    finally:
        spark.stop()


def hunt_lake(
    root: str | Path,
    only: list[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    master: str = "local[*]",
    **session_options: Any,
) -> tuple[list[Finding], dict[str, str]]:
    """``hunt --lake DIR --engine spark``: the detectors on Spark over a lake written by ``ingest --to``."""
    if not lake.is_lake(root):
        raise UsageError(f"{root} is not a shoreup lake folder (write one with: shoreup ingest PATH… --to DIR)")
    spark = session(master, **session_options)
    try:
        con = connect(spark, root)
        try:
            return detect(con, only, params)
        finally:
            con.close()
    finally:
        spark.stop()
