"""The dialect's renderings of DuckDB's string, JSON, cast and regex functions, run on Spark and on DuckDB.

Each test runs the same DuckDB statements on both engines (Spark through :class:`SparkConnection`,
which transpiles them) over the same values, chosen to hit every known difference between the two
(Unicode case mappings, JSON number writing, Java's and DuckDB's number syntax, RE2 and Java regex).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa
import pytest

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
from shoreup.engine import spark as engine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_WHY = engine.available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"Spark engine unavailable: {_WHY}")


@pytest.fixture
def con(spark: SparkSession) -> Iterator[engine.SparkConnection]:
    yield engine.SparkConnection(spark)
    spark.catalog.dropTempView("t")


def _both(con: engine.SparkConnection, table: pa.Table, sql: str) -> tuple[list[Any], list[Any]]:
    """``sql`` over ``table`` (as ``t``) on DuckDB and on Spark, rows in order."""
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.register("t", table)
    on_duckdb = duck.execute(sql).fetchall()
    con.register("t", con.spark.createDataFrame(table))
    return on_duckdb, con.execute(sql).fetchall()


def test_lower_of_every_cased_code_point(con: engine.SparkConnection) -> None:
    # Non-ASCII text never meets Java's case mapping (TRANSLATE with DuckDB's table): every code point
    # of the table, every one Python knows a case for, and a sample of the rest.
    lowered = set(engine.lowercase_table()[0])
    points = [
        c
        for c in range(1, 0x20000)
        if not 0xD800 <= c <= 0xDFFF
        and (chr(c) in lowered or chr(c).lower() != chr(c) or chr(c).upper() != chr(c) or c % 97 == 0)
    ]
    special = ["ΑΣ", "ΑΣ Β", "İstanbul", "ǅ", "\u212a", "ﬃ", "A\u0307"]  # final sigma, İ, titlecase …
    text = [chr(c) for c in points] + special
    table = pa.table({"i": pa.array(range(len(text)), pa.int64()), "s": text})
    on_duckdb, on_spark = _both(con, table, "SELECT i, lower(s) FROM t ORDER BY i")
    assert on_spark == on_duckdb


def _random_value(rnd: random.Random, depth: int = 0) -> Any:
    k = rnd.random()
    if k < 0.25:
        return "".join(rnd.choice('aZ09 .,:"\\/\n\t\x00\x1f\x7f\u0085é\u2028😀İΣ{}[]') for _ in range(rnd.randint(0, 6)))
    if k < 0.45:
        x = rnd.choice([
            struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0],
            round(rnd.uniform(-1e4, 1e4), rnd.randint(0, 8)),
            rnd.uniform(-1, 1) * 10 ** rnd.randint(-12, 25),
        ])
        return x if x == x and abs(x) != float("inf") else 1.5
    if k < 0.6:
        return rnd.choice([0, -1, 2**63 - 1, -(2**63), 2**64 - 1, rnd.randint(-(10**12), 10**12)])
    if k < 0.7:
        return rnd.choice([True, False, None])
    if depth < 2 and k < 0.85:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    if depth < 2:
        return {f"k{i}": _random_value(rnd, depth + 1) for i in range(rnd.randint(0, 3))}
    return "x"


def test_json_values_alike_or_flagged(con: engine.SparkConnection) -> None:
    """``json_extract_string`` of a key, of a key list and of ``$.*``: DuckDB's text, or flagged.

    The flag (``shoreup_json_inexact``) marks what Spark's JSON reader writes differently; the Sigma
    runner skips a rule that reads such a value. It must never miss one, and never flag a string.
    """
    rnd = random.Random(5)
    docs = [orjson.dumps({"k": _random_value(rnd), "a.b": "dot", 'q"\\': 1, "z": [1, 2]}).decode() for _ in range(3000)]
    docs += ['{"k":1e5,"k":2}', '{"k":1.50}', '{"k":123456789012345678901234567890}', '{"k":-0}', '{"k":"1e5"}',
             '{"k":{"a":1,"a":2}}', '{"k":[]}', '{}', '{"k":null}', '{"\\u006b":"escaped key"}',
             '{"k":"12345678901234567890123"}', '{"k":"1.0E-5","z":"[1.5]"}']
    table = pa.table({"i": pa.array(range(len(docs)), pa.int64()), "f": docs})
    sql = (
        "SELECT i, json_extract_string(f, '$.\"k\"'), json_extract_string(f, ['$.\"a.b\"', '$.\"q\\\"\\\\\"', '$.\"k\"']), "
        "array_to_string(json_extract_string(f, '$.*'), chr(10)) FROM t ORDER BY i"
    )
    on_duckdb, on_spark = _both(con, table, sql)
    flags = con.execute(
        "SELECT i, shoreup_json_inexact(f, 'k'), shoreup_json_inexact(f), shoreup_json_inexact(f, ['a.b', 'k']), "
        "shoreup_json_suspect(f) FROM t ORDER BY i"
    ).fetchall()
    differ = [(d, s, fl) for d, s, fl in zip(on_duckdb, on_spark, flags, strict=True) if d != s]
    assert differ, "the sample holds values Spark writes differently"
    missed = [(d, s, fl) for d, s, fl in differ if not (fl[1] and fl[2] and fl[3] and fl[4])]
    assert not missed, missed[:3]
    assert sum(fl[1] for fl in flags) < 0.3 * len(docs), "the flag is narrow enough to matter"
    assert flags[-2][1:4] == flags[-1][1:4] == (False, False, False), "strings that look like numbers read alike"
    assert all(fl[4] for fl in flags if fl[2]), "the cheap test of the whole object never misses"
    assert on_spark[-1] == on_duckdb[-1] and on_spark[-6] == on_duckdb[-6]  # repeated keys: first wins, $.* all


CAST_TEXTS = [
    "1", "+1", "-1", " 12 ", "\t12\n", "\x0b12", "\x0c12", "12\r", "1_000", "1__000", "_1", "1_", "1_0.5", "1.5_0",
    "1e1_0", "1e5", "1E5", "1e+5", "1e-5", ".5", "5.", "-.5", "+.5e1", "e5", "1e", "1.2.3", "0x10", "0b101", "nan",
    "NaN", "-nan", "+nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "infinity ", "1d", "1f", "1L", "",
    "  ", "- 1", "1 2", "１２", "0012", "00.5", "1,5", "12\u00a0", "\u200b12", "1e400", "-1e400", "1e-400",
    "4.9e-324", "2.5e-324", "1.797693134862316e308", "1.7976931348623157e308", "9" * 400, "1.e5", "._5", ".5_5",
    "0_0", "1\x00", "\x1f1", "0.1", "123456789.123456789", None,
]


def test_try_cast_to_double_reads_duckdbs_numbers(con: engine.SparkConnection) -> None:
    table = pa.table({"i": pa.array(range(len(CAST_TEXTS)), pa.int64()), "s": CAST_TEXTS})
    sql = "SELECT i, TRY_CAST(s AS DOUBLE) AS x, coalesce(TRY_CAST(s AS DOUBLE) > 5, false) FROM t ORDER BY i"
    on_duckdb, on_spark = _both(con, table, sql)
    same = [(repr(d[1]) == repr(s[1]) and d[2] == s[2]) for d, s in zip(on_duckdb, on_spark, strict=True)]
    assert all(same), [(CAST_TEXTS[i], on_duckdb[i], on_spark[i]) for i, ok in enumerate(same) if not ok]


REGEXES = [
    "a.b$", "(?m)^ab$", "(?m)^$", "^ab", "(?s)a.b", "(?i)k", "(?i)s", "(?i)\\w+", "(?i)\\W", "(?i)[^k]", "(?i)[a-z]+",
    "\\bword\\b", "\\Bor\\B", "a\\sb", "[\\s]", "[^\\w-]+", "[[:alpha:]]+\\d", "(?i)[[:lower:]]", "[]a]+", "[a-]",
    "[a&&b]", "a{2,3}?b", "a{,2}", "a{", "(?P<n>a|b)*c", "\\Qa.b\\E+", "x\\x{e9}", "\\x41", "é+", "(?i)del[a-z]+ sh",
    "\\\\", "\\.exe$", "^$", "", "(a|)b", "\\A\\z", "[\\x00-\\x{10FFFF}]", "\\d{3}-\\d{4}", "\\$\\{", "[^\\n]",
]
SUBJECTS = [
    "a\nb", "ab\n", "x\nab", "ab", "\u212a", "\u017f", "K", "k", "S", "ſs", "é", "É", "a é", "éa", "word", "a word!",
    "sword", "a\x0bb", "a\x0cb", "a\u00a0b", "a\r\nb", "a\u2028b", "😀", "a-b", "]a", "&", "aab", "aaab", "a{,2}", "a{",
    "abc", "bc", "a.b", "a.bb", "xé", "A", "", "\n", "x\n", "x DELETE SH", "123-4567", "${x}", "C:\\x\\a.exe",
    "a.exe\n", "İ", "ı",
]


def test_regexes_match_alike(con: engine.SparkConnection) -> None:
    table = pa.table({"i": pa.array(range(len(SUBJECTS)), pa.int64()), "s": SUBJECTS})
    from shoreup.detect.sigma.compiler import lit

    cols = ", ".join(f"coalesce(regexp_matches(s, {lit(p)}), false)" for p in REGEXES)
    sql = f"SELECT i, {cols} FROM t ORDER BY i"
    on_duckdb, on_spark = _both(con, table, sql)
    for j, pattern in enumerate(REGEXES, 1):
        column_d = [row[j] for row in on_duckdb]
        column_s = [row[j] for row in on_spark]
        assert column_s == column_d, (pattern, engine.re2_to_java(pattern),
                                      [SUBJECTS[i] for i in range(len(SUBJECTS)) if column_d[i] != column_s[i]])
