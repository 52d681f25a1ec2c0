"""The DuckDB → Spark rendering keeps DuckDB's meaning (no Spark needed: sqlglot only)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import shoreup.detect.credential as credential

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
from shoreup.engine.spark import (
    SparkSQLError,
    Untranslatable,
    lowercase_table,
    re2_to_java,
    sigma_predicate,
    transpile,
)

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
    from shoreup.detect.credential import (
        brute_force,
        compromise,
        distributed_spray,
        mfa_fatigue,
        password_spray,
    )

    sqls = [m._sql(m.Params()) for m in (distributed_spray, mfa_fatigue)]
    sqls += [brute_force._FAILURES, brute_force._AFTER, brute_force._AFTER_IPS, password_spray._ROWS, password_spray._AFTER,
             compromise._MARKED]
    for sql in sqls + [s for s in _statements() if "{" not in s]:
        spark_sql = transpile(sql)
        assert "COLLECT_LIST(ref" not in spark_sql and "PERCENTILE_APPROX" not in spark_sql
        assert "UNIX_TIMESTAMP" not in spark_sql


# --- Sigma's compiled SQL: the DuckDB string, JSON, cast and regex functions it uses. --------------

_MAP = "FROM_JSON(fields, 'MAP<STRING, STRING>')"

SIGMA_CASES: list[tuple[str, str]] = [
    # A key with a dot is one key (stock sqlglot: GET_JSON_OBJECT(fields, '$.a.b'), a nested path).
    ("""SELECT json_extract_string(fields, '$."a.b"') FROM raw""", f"SELECT TRY_ELEMENT_AT({_MAP}, 'a.b') FROM raw"),
    # The list form reads the object once; keys unescaped as DuckDB reads them.
    (r"""SELECT json_extract_string(fields, ['$."a"', '$."q\"\\"']) FROM raw""",
     rf"""SELECT ARRAY(TRY_ELEMENT_AT({_MAP}, 'a'), TRY_ELEMENT_AT({_MAP}, 'q"\\')) FROM raw"""),
    ("SELECT json_extract_string(fields, '$.*') FROM raw", f"SELECT MAP_VALUES({_MAP}) FROM raw"),
    # array_to_string: NULL elements skipped, but a list of NULLs only is NULL (ARRAY_JOIN says '').
    ("SELECT array_to_string(a, chr(10)) FROM t",
     "SELECT CASE WHEN SIZE(a) > 0 AND NOT EXISTS(a, shoreup_x -> shoreup_x IS NOT NULL) THEN NULL "
     "ELSE ARRAY_JOIN(a, CHR(10)) END FROM t"),
    # RE2 as java.util.regex: '.' stops at \n only, '$' is the end of the text, case folds K and Kelvin.
    (""""SELECT coalesce(regexp_matches("v:C", '(?i)ak.b$'), false) FROM t""".lstrip('"'),
     r"SELECT COALESCE(`v:C` RLIKE '[Aa][Kk\\x{212A}][^\\n][Bb]\\z', FALSE) FROM t"),
    ("SELECT epoch_us(time) FROM raw", "SELECT UNIX_MICROS(time) FROM raw"),
    # Spark reads "FROM raw WHERE (x)" as raw aliased WHERE with a column list.
    ("SELECT 1 FROM raw WHERE (a OR b)", "SELECT 1 FROM raw WHERE TRUE AND (a OR b)"),
    ("""SELECT contains("l:a", 'x'), starts_with("l:a", 'y'), ends_with("l:a", "l:b") FROM t""",
     "SELECT CONTAINS(`l:a`, 'x'), STARTSWITH(`l:a`, 'y'), ENDSWITH(`l:a`, `l:b`) FROM t"),
    (r"""SELECT coalesce("l:Image" LIKE 'c:\\w%\_x' ESCAPE '\', false) FROM t""",
     r"SELECT COALESCE(`l:Image` LIKE 'c:\\\\w%\\_x' ESCAPE '\\', FALSE) FROM t"),
    ("SELECT 'a' || chr(0) || 'b' FROM t", "SELECT 'a' || CHR(0) || 'b' FROM t"),
    ("SELECT TRY_CAST(x AS INTEGER) FROM t", "SELECT TRY_CAST(x AS INT) FROM t"),
]


@pytest.mark.parametrize(("duckdb_sql", "spark_sql"), SIGMA_CASES)
def test_sigma_rendering(duckdb_sql: str, spark_sql: str) -> None:
    assert transpile(duckdb_sql) == spark_sql


def test_lower_is_duckdbs_table() -> None:
    """``lower`` is DuckDB's own, code point by code point: Spark's LOWER for ASCII, else TRANSLATE."""
    frm, to = lowercase_table()
    assert len(frm) == len(to) > 1000
    table = dict(zip(frm, to, strict=True))
    assert table["A"] == "a" and table["Σ"] == "σ" and table["İ"] == "i" and table["\u212a"] == "k"
    assert "σ" not in table and "ß" not in table
    quote = lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"  # noqa: E731
    assert transpile("SELECT lower(x) FROM t") == (
        f"SELECT CASE WHEN OCTET_LENGTH(x) = LENGTH(x) THEN LOWER(x) ELSE TRANSLATE(x, {quote(frm)}, {quote(to)}) END "
        "FROM t"
    )


def test_try_cast_to_double_checks_duckdbs_grammar() -> None:
    spark_sql = transpile("SELECT TRY_CAST(x AS DOUBLE) FROM t")
    assert spark_sql.startswith("SELECT CASE WHEN x RLIKE ")
    assert "THEN CAST(REGEXP_REPLACE(x, " in spark_sql and "THEN CAST('NaN' AS DOUBLE)" in spark_sql
    assert "TRY_CAST" not in spark_sql


RE2_JAVA: list[tuple[str, str]] = [
    ("a.b$", r"a[^\n]b\z"),
    ("(?s)a.b", "a(?s:.)b"),
    ("(?m)^ab$", r"(?:\A|(?<=\n))ab(?=\n|\z)"),
    ("(?i)Ks", r"[Kk\x{212A}][Ss\x{17F}]"),
    ("(?i)[a-c]", "[A-Ca-c]"),
    ("(?i)[^k]", r"[\x{0}-JL-jl-\x{2129}\x{212B}-\x{10FFFF}]"),
    (r"\bx", "(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))x"),
    (r"a\sb", r"a[\x{9}-\x{A}\x{C}-\x{D}\x{20}]b"),  # RE2's \s has no vertical tab
    ("[[:digit:]]+", "[0-9]+"),
    ("[a&&b]", r"[\x{26}a-b]"),  # no class intersection in RE2
    ("(?P<n>a)|b", "(?:a)|b"),
    (r"\Qa.\E", r"(?:a)(?:\x{2E})"),
    ("a{,2}", r"a\x{7B}\x{2C}2\x{7D}"),  # not a repetition in RE2
    ("x{2,3}?", "x{2,3}?"),
    (r"\x{e9}+\.exe", r"\x{E9}+\x{2E}exe"),
]


@pytest.mark.parametrize(("re2", "java"), RE2_JAVA)
def test_re2_to_java(re2: str, java: str) -> None:
    assert re2_to_java(re2) == java


@pytest.mark.parametrize(
    ("re2", "why"),
    [(r"\pL", r"\p"), ("(?i)é", "outside ASCII"), ("a(?i)b", "inline flag"), (r"(a)\1", r"\1"), (r"a\C", r"\C"),
     ("a*+", "possessive")],
)
def test_re2_without_exact_java_is_refused(re2: str, why: str) -> None:
    with pytest.raises(Untranslatable, match=re.escape(why)):
        re2_to_java(re2)
    with pytest.raises(SparkSQLError, match=re.escape(why)):
        sigma_predicate(f"coalesce(regexp_matches(\"v:C\", '{re2}'), false)")


def test_every_pack_rule_and_query_renders() -> None:
    from shoreup.detect.sigma.loader import BUILTIN_DIR, load
    from shoreup.detect.sigma.runner import correlation_fields
    from shoreup.engine.spark import _Group, _Part, _sigma_queries

    rs = load([BUILTIN_DIR])
    preds = {r.meta.id: sigma_predicate(r.sql) for r in rs.rules}
    corr = correlation_fields(rs)
    by_source: dict[str, list[Any]] = {}
    for r in rs.rules:
        by_source.setdefault(r.source.key, []).append(r)
    parts: list[_Part] = []
    for rules in by_source.values():
        group = _Group(rules[0].source, rules, corr)
        group.table = f"({group.select('raw')})"
        parts.append(_Part(len(parts), group, rules))
    queries = _sigma_queries(parts, preds, ["CommandLine", "User"])
    assert len(queries) == 1 and all("__shoreup_p" not in q and "json_extract_string" not in q for q in queries)


@pytest.mark.shared
@pytest.mark.slow
def test_every_sigmahq_rule_renders(shared_data: Path) -> None:
    from shoreup.detect.sigma.loader import load

    rs = load([shared_data / "sigmahq" / "rules"])
    assert len(rs.rules) > 2500
    refused = {}
    for r in rs.rules:
        try:
            sigma_predicate(r.sql)
        except SparkSQLError as e:
            refused[r.meta.path] = str(e)
    assert not refused, refused
