"""Apache Spark engine: the detectors' own DuckDB SQL, transpiled by sqlglot, over Parquet tables.

For data that outgrows one machine. The detectors stay as they are: :class:`SparkConnection` offers
the part of the DuckDB connection API they use (``execute(sql, params)`` returning a cursor with
``fetchall()``, ``fetchone()`` and ``description``). Each statement is transpiled once from DuckDB's
dialect to Spark's with :class:`ShoreupSpark`, and ``$name`` parameters become Spark named
parameter markers, bound as typed literals by Spark itself (attacker-controlled text is never
pasted into SQL). The temp views ``auth``, ``process``, ``file``, ``tamper`` and ``raw`` are the
Parquet tables of a lake written by :mod:`shoreup.engine.lake` (an empty table where the lake has
none). Results come back through Arrow, with times as naive UTC exactly as DuckDB returns them.

Every detector runs here: the credential detectors and the Sigma rules (shoreup's pack and any
``--rules`` folder, correlations included). Sigma rules run their compiled SQL (the reference path
of :mod:`shoreup.detect.sigma.compiler`) transpiled, over the columns the Sigma runner makes from
``raw`` (:func:`run_sigma`: one query evaluates the rules of several logsources, a large logsource
group is made once and cached); the matches become findings through the same code as on DuckDB
(:func:`shoreup.detect.sigma.findings_of`), correlations included.

sqlglot's stock Spark generator changes the meaning of several DuckDB forms without a warning; the
dialect here renders them exactly:

* ``array_agg(x ORDER BY k)`` lost its order (``COLLECT_LIST(x)``) and dropped NULL elements;
* ``percentile_cont(q) WITHIN GROUP (ORDER BY x)`` became the approximate ``PERCENTILE_APPROX``;
* ``epoch(t)`` (seconds with microseconds) became ``UNIX_TIMESTAMP`` (whole seconds);
* ``json_extract_string(j, '$."a.b"')`` became ``GET_JSON_OBJECT(j, '$.a.b')`` (a nested path), and
  its list form and ``'$.*'`` did not render: they read Spark's parse of the object
  (``FROM_JSON(j, 'MAP<STRING, STRING>')``), which keeps repeated keys in order as DuckDB does;
* ``array_to_string`` became ``ARRAY_JOIN``, which gives ``''`` where DuckDB gives NULL (a list of
  NULLs only);
* ``lower(x)`` became Java's or ICU's (final sigma, ``İ`` to two code points, another Unicode
  version): ASCII text keeps ``LOWER``, other text is ``TRANSLATE``-d with DuckDB's own table
  (:func:`lowercase_table`);
* ``regexp_matches(x, re)`` (RE2) became ``RLIKE`` (java.util.regex, where ``.``, ``$``, ``\\s``,
  ``\\b`` and case folding differ): the pattern is translated to a Java one that matches the same
  strings (:func:`re2_to_java`), or the statement is refused;
* ``TRY_CAST(x AS DOUBLE)`` read Java's number syntax: DuckDB's grammar is checked first;
* ``… FROM t WHERE (x)`` is read by Spark as ``t`` aliased ``WHERE`` with a column list:
  ``WHERE TRUE AND (x)``.

Anything else sqlglot cannot render raises :class:`SparkSQLError` naming the statement.

What Sigma cannot do exactly on Spark is skipped, rule by rule, with the reason (in the load
summary's skipped list; ``hunt`` prints each), never silently different: a regular expression
without an exact Java spelling (``\\p`` Unicode classes, case-insensitive letters outside ASCII,
inline flags inside the pattern …), and the correlations built on such a rule. One difference lies
in the data, not the rules: Spark's JSON reader writes some numbers unlike DuckDB's (floating point
in scientific notation or with 16+ digits, integers past 64 bits, and arrays or objects holding
them). Each query flags the events holding one (:data:`JSON_SUSPECT`, then :data:`JSON_INEXACT`
with the value's JSON type, so a string never counts) in a field a rule reads; that rule is skipped
for the run, with the count. A rule whose regular expression DuckDB's RE2 refuses (Python's ``re``
through a DuckDB function) runs the same Python function as a Spark UDF; :func:`session` points
local Python workers at this interpreter and gives the JVMs a deep thread stack (nested conditions
of rules with thousands of values, Java regexes over long strings).

Requires ``pip install shoreup[spark]`` (pyspark, sqlglot) and Java 17 or later.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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

    from shoreup.detect.sigma import Params as SigmaParams
    from shoreup.detect.sigma import SigmaRun
    from shoreup.detect.sigma.loader import LoadedRule, RuleSet
    from shoreup.detect.sigma.logsource import Source
    from shoreup.detect.sigma.runner import Event
    from shoreup.engine.duckdb import Store
    from shoreup.findings import Finding

__all__ = [
    "JSON_INEXACT",
    "ShoreupSpark",
    "SparkConnection",
    "SparkCursor",
    "SparkSQLError",
    "Untranslatable",
    "available",
    "connect",
    "detect",
    "hunt_lake",
    "hunt_store",
    "lowercase_table",
    "re2_to_java",
    "run_sigma",
    "session",
    "sigma_predicate",
    "spark_store",
    "transpile",
]

#: Detectors that do not run on Spark, with why (none: Sigma rules skip one by one, with a reason).
UNSUPPORTED: dict[str, str] = {}


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


# --- Exact renderings of the DuckDB string, JSON and regex functions Sigma's compiled SQL uses. --


def _quote(text: str) -> str:
    """``text`` as a Spark SQL string literal (sqlglot's escaping: backslashes and quotes)."""
    return cast(str, ShoreupSpark().generator().sql(exp.Literal.string(text)))


@lru_cache(maxsize=1)
def lowercase_table() -> tuple[str, str]:
    """Every code point DuckDB's ``lower`` changes, and what it makes of each (one code point each).

    DuckDB lowers each code point on its own (no context: ``Σ`` is always ``σ``, ``İ`` is ``i``);
    Spark's ``lower`` follows Java or ICU (final sigma, ``İ`` to two code points, another Unicode
    version). ``TRANSLATE`` with this table is DuckDB's ``lower`` exactly, whatever the JVM.
    """
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT c, lower(chr(c)) FROM (SELECT CAST(range AS INTEGER) AS c FROM range(1, 1114112)) "
            "WHERE (c < 55296 OR c > 57343) AND lower(chr(c)) <> chr(c) ORDER BY c"
        ).fetchall()
    finally:
        con.close()
    if any(len(low) != 1 for _, low in rows):  # pragma: no cover - a DuckDB that lowers to several code points
        raise SparkSQLError("this DuckDB's lower() maps a code point to several: no exact TRANSLATE table")
    return "".join(chr(c) for c, _ in rows), "".join(low for _, low in rows)


#: DuckDB's blanks around a number it casts (Java regex text).
_BLANK = r"[\t\n\x0B\f\r ]"
_BLANK_OR_UNDERSCORE = r"[\t\n\x0B\f\r _]"
_DIGITS = r"[0-9](?:_?[0-9])*"  # DuckDB reads single underscores between digits
#: What DuckDB's ``TRY_CAST(… AS DOUBLE)`` reads as a finite number, as a Java regex.
_DUCKDB_NUMBER = (
    rf"\A{_BLANK}*[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?{_BLANK}*\z"
)
_DUCKDB_SPECIALS = (
    (rf"(?i)\A{_BLANK}*\+?inf(?:inity)?{_BLANK}*\z", "Infinity"),
    (rf"(?i)\A{_BLANK}*-inf(?:inity)?{_BLANK}*\z", "-Infinity"),
    (rf"(?i)\A{_BLANK}*[+-]?nan{_BLANK}*\z", "NaN"),
)


def _double_cast(text: str) -> str:
    """``TRY_CAST(text AS DOUBLE)`` with DuckDB's grammar (blanks, ``1_000``, ``.5``, ``inf``, ``nan``).

    Spark's own cast reads Java's (``1d``, ``0x1p3``, every control character as a blank) and not
    DuckDB's underscores: strings DuckDB reads are checked against its grammar, stripped of blanks
    and underscores and cast (both engines round correctly); everything else is NULL, as in DuckDB.
    """
    whens = [
        f"WHEN {text} RLIKE {_quote(_DUCKDB_NUMBER)} "
        f"THEN CAST(REGEXP_REPLACE({text}, {_quote(_BLANK_OR_UNDERSCORE)}, '') AS DOUBLE)"
    ]
    whens += [f"WHEN {text} RLIKE {_quote(rx)} THEN CAST({_quote(v)} AS DOUBLE)" for rx, v in _DUCKDB_SPECIALS]
    return f"CASE {' '.join(whens)} END"


#: Text of values Spark's JSON reader (Jackson) may write unlike DuckDB's (yyjson) when they are not
#: JSON strings: floating-point numbers in scientific notation or with 16 or more digits (Java's digits
#: are not always the shortest), integers beyond 64 bits, and arrays or objects holding such numbers or
#: characters outside the BMP. Strings, booleans, other integers and shorter floats come out alike.
JSON_INEXACT = (
    r"(?s)\A(?:-?[0-9]+\.[0-9]+E|-?[0-9]{20}|-?(?=(?:\.?[0-9]){16})[0-9]+\.[0-9]+\z"
    r"|[\[{].*(?:[0-9]\.[0-9]|[0-9]{20}|\\uD[89ABab]))"
)


#: A JSON object's text that may hold a value Spark writes unlike DuckDB: a number (after ``:``, ``,``
#: or ``[``) with a fraction or an exponent, one of 20+ digits, or a character outside the BMP
#: (escaped or not). A cheap test of the whole text, made before any value's.
JSON_SUSPECT = r"[:,\[]\s*-?[0-9]+[.eE]|[:,\[]\s*-?[0-9]{20}|[\x{10000}-\x{10FFFF}]|\\u[dD][89abAB]"


def _inexact(text: str, kind: str) -> str:
    """Whether a value (its Spark text, its VARIANT type name) may differ from DuckDB's text.

    The type is asked only of text that looks suspect (``AND`` stops first); a JSON string is always
    alike. An unknown type (NULL: the object repeats a key inside a value) counts as different.
    """
    return f"COALESCE({text} RLIKE {_quote(JSON_INEXACT)} AND COALESCE({kind} <> 'STRING', TRUE), FALSE)"


def _json_inexact(gen: SparkGenerator, doc: exp.Expr, keys: exp.Expr | None) -> str:
    """``shoreup_json_inexact(doc, key | [keys])`` / ``(doc)``: whether a key's value (any of the keys',
    any value) may read differently on Spark than ``json_extract_string`` on DuckDB."""
    strings = _json_map(gen, doc)
    variants = f"FROM_JSON({gen.sql(doc)}, 'MAP<STRING, VARIANT>')"
    if keys is None:  # every value, in order (a repeated key too)
        zipped = (
            f"ARRAYS_ZIP(MAP_VALUES({strings}), TRANSFORM(MAP_VALUES({variants}), shoreup_v -> "
            f"SCHEMA_OF_VARIANT(shoreup_v)))"
        )
        suspect = f"EXISTS(MAP_VALUES({strings}), shoreup_v -> COALESCE(shoreup_v RLIKE {_quote(JSON_INEXACT)}, FALSE))"
        check = _inexact("shoreup_z.`0`", "shoreup_z.`1`")
        return f"({suspect} AND COALESCE(EXISTS({zipped}, shoreup_z -> {check}), TRUE))"
    key_list = keys.expressions if isinstance(keys, exp.Array) else [keys]
    if not all(isinstance(k, exp.Literal) and k.is_string for k in key_list):
        raise sqlglot.errors.UnsupportedError("shoreup_json_inexact takes literal keys")

    def one(key: str) -> str:
        return _inexact(f"TRY_ELEMENT_AT({strings}, {key})", f"SCHEMA_OF_VARIANT(TRY_ELEMENT_AT({variants}, {key}))")

    if not isinstance(keys, exp.Array):  # no lambda: Spark shares the parse with the extraction
        return one(gen.sql(keys))
    return f"EXISTS(ARRAY({', '.join(gen.sql(k) for k in key_list)}), shoreup_k -> {one('shoreup_k')})"


def _json_map(gen: SparkGenerator, doc: exp.Expr) -> str:
    # Spark keeps every key of the object in order (a repeated key twice): TRY_ELEMENT_AT finds the
    # first, as DuckDB's path does, and MAP_VALUES lists all, as DuckDB's '$.*' does.
    return f"FROM_JSON({gen.sql(doc)}, 'MAP<STRING, STRING>')"


def _path_key(path: str) -> str:
    """The key of a DuckDB JSON path ``$."key"`` (``\\`` escapes) or ``$.key``."""
    m = re.fullmatch(r'\$\."((?:[^"\\]|\\.)*)"', path, re.DOTALL)
    if m:
        return re.sub(r"\\(.)", r"\1", m.group(1), flags=re.DOTALL)
    m = re.fullmatch(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", path)
    if m:
        return m.group(1)
    raise sqlglot.errors.UnsupportedError(f"JSON path {path!r}: only $.\"key\" and $.* render exactly on Spark")


def _json_extract_string(gen: SparkGenerator, e: exp.JSONExtractScalar) -> str:
    """DuckDB's ``json_extract_string`` of one top-level key, a list of them, or ``$.*`` (every value)."""
    doc, path = e.this, e.expression
    if isinstance(path, exp.JSONPath):
        parts = path.expressions
        if len(parts) == 2 and isinstance(parts[0], exp.JSONPathRoot) and isinstance(parts[1], exp.JSONPathKey):
            key = parts[1].this
            if isinstance(key, exp.JSONPathWildcard):
                return f"MAP_VALUES({_json_map(gen, doc)})"
            if isinstance(key, str):
                return f"TRY_ELEMENT_AT({_json_map(gen, doc)}, {_quote(key)})"
        raise sqlglot.errors.UnsupportedError(f"JSON path {gen.sql(path)}: only $.\"key\" and $.* render exactly")
    if isinstance(path, exp.Array) and all(isinstance(p, exp.Literal) and p.is_string for p in path.expressions):
        keys = [_path_key(p.this) for p in path.expressions]
        return "ARRAY(" + ", ".join(f"TRY_ELEMENT_AT({_json_map(gen, doc)}, {_quote(k)})" for k in keys) + ")"
    raise sqlglot.errors.UnsupportedError("json_extract_string with a computed path")


# RE2 (DuckDB's regexp_matches) → java.util.regex (Spark's RLIKE). Both are searched for a match
# anywhere, so only the language matters; the translation spells out everything the two engines
# read differently: '.', '^', '$', \s, \b and case-insensitivity (RE2 folds K with the Kelvin sign and
# s with the long s, also in \w and classes). Every literal outside ASCII letters and digits is
# written \x{…}, every class as explicit code point ranges, so no Java flag or class syntax matters.

Ranges = list[tuple[int, int]]
_MAX = 0x10FFFF
_DIGIT: Ranges = [(0x30, 0x39)]
_WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACE: Ranges = [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]  # RE2's \s: no vertical tab
_POSIX: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": _DIGIT,
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": _WORD,
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_ESCAPED = {"n": 0x0A, "t": 0x09, "r": 0x0D, "f": 0x0C, "v": 0x0B, "a": 0x07}
#: RE2's simple case folding of ASCII letters reaches two code points outside ASCII.
_FOLD_EXTRA = {ord("k"): 0x212A, ord("s"): 0x17F}
_WORD_CLASS = "[0-9A-Za-z_]"
_ASSERTIONS = {
    "b": f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))",
    "B": f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))",
    "A": r"\A",
    "z": r"\z",
}


class Untranslatable(Exception):
    """An RE2 construct without an exact java.util.regex spelling here."""


def _normalize(rs: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(rs):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(rs: Ranges) -> Ranges:
    out: Ranges = []
    nxt = 0
    for lo, hi in _normalize(rs):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX:
        out.append((nxt, _MAX))
    return out


def _fold(rs: Ranges, what: str) -> Ranges:
    """RE2's case-folding closure of a set of ASCII code points (anything else is refused)."""
    rs = _normalize(rs)
    if rs and rs[-1][1] > 0x7F:
        raise Untranslatable(f"case-insensitive {what} outside ASCII (RE2 folds Unicode its own way)")
    out = list(rs)
    for lo, hi in rs:
        for a, b, shift in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
            low, high = max(lo, a), min(hi, b)
            if low <= high:
                out.append((low + shift, high + shift))
    folded = _normalize(out)
    for c, extra in _FOLD_EXTRA.items():
        if any(lo <= c <= hi for lo, hi in folded):
            out.append((extra, extra))
    return _normalize(out)


def _char(c: int) -> str:
    return chr(c) if c < 0x80 and chr(c).isalnum() else f"\\x{{{c:X}}}"


def _set(rs: Ranges) -> str:
    rs = _normalize(rs)
    if not rs:
        return "(?!)"
    if rs == [(0, _MAX)]:
        return "(?s:.)"
    if len(rs) == 1 and rs[0][0] == rs[0][1]:
        return _char(rs[0][0])
    return "[" + "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in rs) + "]"


class _Re2:
    """One RE2 pattern (with its leading ``(?ims)`` flags) read into a java.util.regex pattern."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        flags = ""
        while m := re.match(r"\(\?([ims]+)\)", pattern[self.i :]):
            flags += m.group(1)
            self.i += m.end()
        self.fold = "i" in flags
        self.multiline = "m" in flags
        self.dotall = "s" in flags

    def java(self) -> str:
        out: list[str] = []
        atom = False  # whether a quantifier may follow
        p = self.p
        while self.i < len(p):
            c = p[self.i]
            if atom and (q := self._quantifier()):
                out.append(q)
                atom = False
                continue
            atom = True
            if c == "\\":
                out.append(self._escape())
                continue
            self.i += 1
            if c == "(":
                if p.startswith("?:", self.i):
                    self.i += 2
                elif m := re.match(r"\?P?<[A-Za-z0-9_]+>", p[self.i :]):
                    self.i += m.end()
                elif p.startswith("?", self.i):
                    raise Untranslatable("an inline flag or group syntax '(?…' inside the pattern")
                out.append("(?:")
                atom = False
            elif c == ")":
                out.append(")")
            elif c == "|":
                out.append("|")
                atom = False
            elif c == ".":
                out.append("(?s:.)" if self.dotall else "[^\\n]")
            elif c == "^":
                out.append(r"(?:\A|(?<=\n))" if self.multiline else r"\A")
            elif c == "$":
                out.append(r"(?=\n|\z)" if self.multiline else r"\z")
            elif c == "[":
                out.append(_set(self._class()))
            elif c in "*+?":
                raise Untranslatable(f"a repetition {c!r} with nothing to repeat")
            else:
                out.append(self._literal(ord(c)))
        return "".join(out)

    def _quantifier(self) -> str:
        p, i = self.p, self.i
        if p[i] in "*+?":
            q, i = p[i], i + 1
        elif m := re.match(r"\{(\d+)(,\d*)?\}", p[i:]):
            q, i = m.group(0), i + m.end()
        else:
            return ""
        if i < len(p) and p[i] == "?":
            q, i = q + "?", i + 1
        elif i < len(p) and p[i] == "+":
            raise Untranslatable("a possessive repetition")
        self.i = i
        return q

    def _literal(self, c: int) -> str:
        if self.fold and (c > 0x7F or chr(c).isalpha()):
            return _set(_fold([(c, c)], "text"))
        return _char(c)

    def _escape(self) -> str:
        """An escape outside a class: a class, an assertion or a literal."""
        p = self.p
        kind = p[self.i + 1 : self.i + 2]
        if kind == "Q":
            end = p.find("\\E", self.i + 2)
            text = p[self.i + 2 :] if end < 0 else p[self.i + 2 : end]
            self.i = len(p) if end < 0 else end + 2
            return "".join(f"(?:{self._literal(ord(ch))})" for ch in text)
        if kind in _ASSERTIONS:
            self.i += 2
            return _ASSERTIONS[kind]
        got = self._class_escape()
        if isinstance(got, int):
            return self._literal(got)
        return _set(got)

    def _class_escape(self) -> Ranges | int:
        """An escape that stands for a set (``\\d`` …) or one code point; the cursor moves past it."""
        p = self.p
        kind = p[self.i + 1 : self.i + 2]
        if not kind:
            raise Untranslatable("a trailing backslash")
        self.i += 2
        perl = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
        if kind.lower() in perl:
            base = perl[kind.lower()]
            if self.fold and kind.lower() == "w":
                base = _fold(base, "class")
            return _complement(base) if kind.isupper() else base
        if kind == "x":
            m = re.match(r"\{([0-9A-Fa-f]{1,6})\}|([0-9A-Fa-f]{2})", p[self.i :])
            if not m:
                raise Untranslatable("a malformed \\x escape")
            self.i += m.end()
            return int(m.group(1) or m.group(2), 16)
        if kind in _ESCAPED:
            return _ESCAPED[kind]
        if ord(kind) < 0x80 and not kind.isalnum():
            return ord(kind)
        raise Untranslatable(f"the escape \\{kind}")

    def _class(self) -> Ranges:
        """A bracketed class (cursor after its '['), as the code points it matches."""
        p = self.p
        negate = p.startswith("^", self.i)
        if negate:
            self.i += 1
        items: Ranges = []
        first = True
        while True:
            if self.i >= len(p):
                raise Untranslatable("an unterminated class")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if m := re.match(r"\[:(\^?)([a-z]+):\]", p[self.i :]):
                if m.group(1) or m.group(2) not in _POSIX:
                    raise Untranslatable(f"the class [:{m.group(1)}{m.group(2)}:]")
                items += _POSIX[m.group(2)]
                self.i += m.end()
                continue
            lo = self._class_char()
            if isinstance(lo, list):
                if self.fold and lo and lo[-1][1] > 0x7F:
                    raise Untranslatable("a negated class escape inside a case-insensitive class")
                items += lo
                continue
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                hi = self._class_char()
                if isinstance(hi, list) or hi < lo:
                    raise Untranslatable("a malformed class range")
                items.append((lo, hi))
            else:
                items.append((lo, lo))
        if self.fold:
            items = _fold(items, "class")
        return _complement(items) if negate else _normalize(items)

    def _class_char(self) -> Ranges | int:
        c = self.p[self.i]
        if c == "\\":
            if self.p[self.i + 1 : self.i + 2] in ("b", "B", "A", "z", "Q"):
                raise Untranslatable(f"\\{self.p[self.i + 1]} inside a class")
            if self.p[self.i + 1 : self.i + 2] == "w" and self.fold:
                self.i += 2
                return _WORD  # folded with the rest of the class
            return self._class_escape()
        self.i += 1
        return ord(c)


def re2_to_java(pattern: str) -> str:
    """An RE2 pattern as a java.util.regex pattern that matches exactly the same strings.

    Raises :class:`Untranslatable` for what has no exact spelling here: Unicode classes (``\\p``),
    inline flags inside the pattern, case-insensitive letters outside ASCII, octal and ``\\C``.
    """
    return _Re2(pattern).java()


class _Generator(SparkGenerator):
    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **{
            k: v
            for k, v in SparkGenerator.TRANSFORMS.items()
            if k
            not in (exp.WithinGroup, exp.JSONExtractScalar, exp.Lower, exp.RegexpLike, exp.TryCast, exp.ArrayToString)
        },
        # DuckDB epoch(): seconds since 1970 as a double, microseconds kept.
        exp.TimeToUnix: lambda self, e: f"(UNIX_MICROS({self.sql(e, 'this')}) / 1e6)",
        exp.JSONExtractScalar: _json_extract_string,
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

    def where_sql(self, expression: exp.Where) -> str:
        # Spark parses ``FROM t WHERE (x)`` as t aliased ``WHERE`` with the column list ``(x)``.
        this = self.sql(expression, "this")
        if this.startswith("("):
            this = f"TRUE AND {this}"
        return f"{self.seg('WHERE')}{self.sep()}{this}"

    def arraytostring_sql(self, expression: exp.ArrayToString) -> str:
        # DuckDB skips NULL elements, as ARRAY_JOIN does, but a list of NULLs only gives NULL (not '').
        if expression.args.get("null"):
            raise sqlglot.errors.UnsupportedError("array_to_string with a NULL replacement")
        items, sep = self.sql(expression, "this"), self.sql(expression, "expression")
        return (
            f"CASE WHEN SIZE({items}) > 0 AND NOT EXISTS({items}, shoreup_x -> shoreup_x IS NOT NULL) "
            f"THEN NULL ELSE ARRAY_JOIN({items}, {sep}) END"
        )

    def lower_sql(self, expression: exp.Lower) -> str:
        # ASCII text (as many bytes as characters) lowers alike on both engines, and fast.
        frm, to = lowercase_table()
        text = self.sql(expression, "this")
        return (
            f"CASE WHEN OCTET_LENGTH({text}) = LENGTH({text}) THEN LOWER({text}) "
            f"ELSE TRANSLATE({text}, {_quote(frm)}, {_quote(to)}) END"
        )

    def regexplike_sql(self, expression: exp.RegexpLike) -> str:
        pattern = expression.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string) or expression.args.get("flag"):
            raise sqlglot.errors.UnsupportedError("regexp_matches with a computed pattern or options")
        try:
            java = re2_to_java(pattern.this)
        except Untranslatable as e:
            raise sqlglot.errors.UnsupportedError(f"regular expression '{pattern.this}' uses {e}") from None
        return f"{self.sql(expression, 'this')} RLIKE {_quote(java)}"

    def trycast_sql(self, expression: exp.TryCast) -> str:
        if expression.to.is_type(exp.DataType.Type.DOUBLE):
            return _double_cast(self.sql(expression, "this"))
        return super().trycast_sql(expression)

    def anonymous_sql(self, expression: exp.Anonymous) -> str:
        name = str(expression.this).lower()
        args = expression.expressions
        if name == "epoch_us" and len(args) == 1:
            return f"UNIX_MICROS({self.sql(args[0])})"
        if name == "shoreup_json_inexact" and len(args) == 2:  # (doc, key or [keys])
            return _json_inexact(self, args[0], args[1])
        if name == "shoreup_json_inexact" and len(args) == 1:  # (doc): any value
            return _json_inexact(self, args[0], None)
        if name == "shoreup_json_suspect" and len(args) == 1:  # (doc): may any value read differently?
            return f"COALESCE({self.sql(args[0])} RLIKE {_quote(JSON_SUSPECT)}, TRUE)"
        return super().anonymous_sql(expression)


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
        #: Sigma rules the last run left out on Spark, as ``sigma rule 'title' (id)`` -> why.
        self.sigma_skipped: dict[str, str] = {}

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

    def spark_sql(self, text: str) -> SparkCursor:
        """Run one statement already in Spark's dialect (built by shoreup, never from input text)."""
        return SparkCursor(self.spark.sql(text).toArrow())

    def register_py_regex(self) -> None:
        """The Sigma compiler's Python-regex function, as a Spark UDF (the same Python code as on DuckDB)."""
        from pyspark.sql.types import BooleanType

        from shoreup.detect.sigma.compiler import PY_REGEX_UDF
        from shoreup.detect.sigma.runner import py_regex

        self.spark.udf.register(PY_REGEX_UDF, py_regex, BooleanType())

    def sigma_run(self, params: SigmaParams) -> SigmaRun:
        """How :func:`shoreup.detect.sigma.detect` runs the Sigma rules on this connection."""
        result, skipped = run_sigma(self, params)
        titles = {s.id: s.title for s in result.summary.skipped}
        self.sigma_skipped = {f"sigma rule {titles.get(rid, '')!r} ({rid})": why for rid, why in skipped.items()}
        return result

    def register(self, table: str, frame: DataFrame) -> None:
        """Make ``frame`` the named table (a temp view) for the statements that follow."""
        frame.createOrReplaceTempView(table)

    def close(self) -> None:
        for table in TABLES:
            self.spark.catalog.dropTempView(table)


# --- Sigma rules on Spark. ----------------------------------------------------------------------

#: Rule predicates per Spark query: logsource groups share a query (one job, one scan of ``raw`` per
#: group); a larger group is split. Planning time grows faster than the size of a statement (measured
#: with SigmaHQ's 2,400 Windows rules: 50 a query beat 25, 100 and 200). With more than one query,
#: ``raw`` is cached for the run.
SIGMA_PREDICATES_PER_QUERY = 50
#: Logsource groups per Spark query at most: each is a branch of a UNION ALL with its own scan, and
#: planning a statement of many branches costs more than running them apart.
SIGMA_PARTS_PER_QUERY = 8

_PLACEHOLDER = re.compile(r"`?__shoreup_p(\d+)__`?")


@lru_cache(maxsize=65536)
def sigma_predicate(sql: str) -> str:
    """A Sigma rule's compiled DuckDB predicate as Spark SQL; :class:`SparkSQLError` says why not."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        return tree.sql(dialect=ShoreupSpark, unsupported_level=ErrorLevel.RAISE, comments=False)
    except SqlglotError as e:
        lines = str(e).strip().splitlines()
        raise SparkSQLError(lines[0] if lines else type(e).__name__) from e


def _json_path(key: str) -> str:
    """The DuckDB JSON path of one top-level key (as the Sigma runner writes it)."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _Group:
    """The rules of one logsource and their columns: the group table, in DuckDB's dialect.

    The columns are made as the Sigma runner makes them (:mod:`shoreup.detect.sigma.runner`):
    ``"v:F"`` the text of field ``F`` (the first present of the keys of the event's logsource
    variant), ``"l:F"`` its lower case, ``__kw`` every value lower-cased. ``__bad`` lists the keys
    whose value Spark's JSON reader may write unlike DuckDB (positions in ``__e``, 0 for the keyword
    text): the runner skips the rules that read them.
    """

    source: Source
    rules: list[LoadedRule]
    corr: dict[str, set[str]]  # rule id -> the fields its correlations group on or aggregate
    carried: list[str] = field(default_factory=list)  # fields returned as text (``__vals``)
    reads: dict[str, set[int]] = field(default_factory=dict)  # rule id -> key positions it reads (0: keywords)
    field_of: dict[int, list[str]] = field(default_factory=dict)  # key position -> Sigma fields
    table: str = ""  # SQL of the group table: a subquery, or the name of a cached view

    def select(self, raw: str) -> str:
        """The group table's SELECT over the table ``raw`` (and the bookkeeping above)."""
        from shoreup.detect.sigma.compiler import lcol, lit, vcol

        self.carried = sorted({f for r in self.rules for f in self.corr.get(r.meta.id, ())})
        values, lowered, kw = set(self.carried), set[str](), False
        for r in self.rules:
            values |= r.needs.values
            lowered |= r.needs.lowered
            kw |= r.needs.keywords
        paths: dict[str, int] = {}

        def pick(keys: tuple[str, ...]) -> str:
            refs = [f"__e[{paths.setdefault(k, len(paths) + 1)}]" for k in keys]
            return refs[0] if len(refs) == 1 else f"coalesce({', '.join(refs)})"

        cols: list[str] = []
        positions: dict[str, set[int]] = {}
        for f in sorted(values | lowered):
            per_variant = [(v, self.source.keys_for(f, v)) for v in self.source.variants]
            if len({keys for _, keys in per_variant}) == 1:
                expr = pick(per_variant[0][1])
            else:
                whens = " ".join(f"WHEN {v.predicate()} THEN {pick(keys)}" for v, keys in per_variant)
                expr = f"CASE {whens} END"
            positions[f] = {paths[k] for _, keys in per_variant for k in keys}
            if f in values:
                cols.append(f"{expr} AS {vcol(f)}")
            if f in lowered:
                cols.append(f"lower({expr}) AS {lcol(f)}")
        if kw:
            cols.append("lower(array_to_string(json_extract_string(fields, '$.*'), chr(10))) AS __kw")
        self.field_of = defaultdict(list)
        for f, ps in positions.items():
            for p in ps:
                self.field_of[p].append(f)
        self.reads = {
            r.meta.id: {p for f in r.needs.values | r.needs.lowered | self.corr.get(r.meta.id, set()) for p in positions[f]}
            | ({0} if r.needs.keywords else set())
            for r in self.rules
        }
        flags = [f"CASE WHEN shoreup_json_inexact(fields, {lit(k)}) THEN {i} END" for k, i in paths.items()]
        if kw:
            flags.append("CASE WHEN shoreup_json_inexact(fields) THEN 0 END")
        bad = (
            f"CASE WHEN shoreup_json_suspect(fields) THEN list_filter([{', '.join(flags)}], x -> x IS NOT NULL) "
            "ELSE CAST([] AS INTEGER[]) END"
            if flags
            else "CAST([] AS INTEGER[])"
        )
        extract = f", json_extract_string(fields, [{', '.join(lit(_json_path(k)) for k in paths)}]) AS __e"
        inner = (
            f"SELECT time, host, ref_file, ref_record, channel, event_id, provider, source_format, fields"
            f"{extract if paths else ''} FROM {raw} WHERE {self.source.predicate()}"
        )
        return f"SELECT time, host, ref_file, ref_record, fields, {', '.join([*cols, f'{bad} AS __bad'])} FROM ({inner})"


@dataclass
class _Part:
    """Some rules of a group: one SELECT of a Sigma query over the group table, in DuckDB's dialect.

    Rule predicates stand as ``__shoreup_p<i>__`` until their Spark SQL is put in. Each returned row
    is an event some rule matched (``__hits``: positions in ``rules``) or one holding a value that
    reads differently in a key of the group (``__bad``); ``__detbad`` says a field shown in findings
    holds one.
    """

    n: int
    group: _Group
    rules: list[LoadedRule]

    def select(self, detail_keys: Sequence[str]) -> str:
        from shoreup.detect.sigma.compiler import lit, vcol

        hits = ", ".join(f"CASE WHEN __shoreup_p{i}__ THEN {i} END" for i in range(len(self.rules)))
        matched = " OR ".join([*(f"__shoreup_p{i}__" for i in range(len(self.rules))), "array_length(__bad) > 0"])
        return (
            f"SELECT {self.n} AS __p, time AS __t, epoch_us(time) AS __us, host AS __host, ref_file AS __file, "
            f"ref_record AS __record, list_filter([{hits}], x -> x IS NOT NULL) AS __hits, "
            f"CAST([{', '.join(vcol(f) for f in self.group.carried)}] AS VARCHAR[]) AS __vals, "
            f"json_extract_string(fields, [{', '.join(lit(_json_path(k)) for k in detail_keys)}]) AS __det, __bad, "
            f"shoreup_json_suspect(fields) AND shoreup_json_inexact(fields, [{', '.join(lit(k) for k in detail_keys)}]) "
            f"AS __detbad FROM {self.group.table} WHERE {matched}"
        )


def _with_predicates(text: str, own: list[str]) -> str:
    """A transpiled part with each ``__shoreup_p<i>__`` replaced by its rule's Spark predicate."""
    return _PLACEHOLDER.sub(lambda m: f"({own[int(m.group(1))]})", text)


def _sigma_queries(parts: list[_Part], preds: Mapping[str, str], detail_keys: Sequence[str]) -> list[str]:
    """Spark SQL for the parts, several to a query (a UNION ALL), each with its rules' predicates."""
    queries: list[str] = []
    batch: list[str] = []
    size = 0
    for part in parts:
        text = transpile(part.select(detail_keys))
        batch.append(_with_predicates(text, [preds[r.meta.id] for r in part.rules]))
        size += len(part.rules)
        if size >= SIGMA_PREDICATES_PER_QUERY or len(batch) >= SIGMA_PARTS_PER_QUERY:
            queries.append(" UNION ALL ".join(batch))
            batch, size = [], 0
    if batch:
        queries.append(" UNION ALL ".join(batch))
    return queries


def _sigma_rows(
    con: SparkConnection, groups: list[_Group], preds: Mapping[str, str], detail_keys: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """Every returned row of the groups' queries, its part first (see :class:`_Part`).

    A group with more rules than one query takes is made once, as a cached view its queries share;
    the others are subqueries of the queries they share. With more than one query, ``raw`` itself is
    cached for the run. Everything cached is released at the end.
    """
    parts: list[_Part] = []
    views: dict[str, DataFrame] = {}
    try:
        for g in groups:
            select = g.select("raw")
            if len(g.rules) > SIGMA_PREDICATES_PER_QUERY:
                g.table = f"__shoreup_sigma_g{len(views)}"
                views[g.table] = con.spark.sql(transpile(select)).persist()
                views[g.table].createOrReplaceTempView(g.table)
            else:
                g.table = f"({select})"
            for i in range(0, len(g.rules), SIGMA_PREDICATES_PER_QUERY):
                parts.append(_Part(len(parts), g, g.rules[i : i + SIGMA_PREDICATES_PER_QUERY]))
        queries = _sigma_queries(parts, preds, detail_keys)
        if len(queries) > 1:
            con.spark.catalog.cacheTable("raw")
        try:
            for sql in queries:
                for row in con.spark_sql(sql).fetchall():
                    yield (parts[row[0]], *row[1:])
        finally:
            if len(queries) > 1:
                con.spark.catalog.uncacheTable("raw")
    finally:
        for view, frame in views.items():
            con.spark.catalog.dropTempView(view)
            frame.unpersist()


def _skip_reason(n: int, fields: Iterable[str]) -> str:
    names = ", ".join(sorted(set(fields)))
    return (
        f"{n} event(s) hold a JSON value Spark's reader writes unlike DuckDB's (a float in scientific notation "
        f"or with 16+ digits, an integer past 64 bits, or such a number in an array or object) in {names}"
    )


def run_sigma(con: SparkConnection, params: SigmaParams, rules: RuleSet | None = None) -> tuple[SigmaRun, dict[str, str]]:
    """The Sigma detector on Spark: its findings and load summary, and the rules skipped here with why.

    Each rule's compiled SQL runs transpiled (:func:`sigma_predicate`) over the columns of its
    logsource group (:class:`_Group`, :class:`_Part`); a rule that does not render exactly, or reads
    a value Spark's JSON reader writes differently in this run, is skipped with its reason, and so
    is every correlation built on it. The matches become findings through
    :func:`shoreup.detect.sigma.findings_of`, as on DuckDB.
    """
    from shoreup.detect import sigma
    from shoreup.detect.sigma.loader import RuleSet, Skip
    from shoreup.detect.sigma.runner import (
        IP_FIELDS,
        SHOW_FIELDS,
        USER_FIELDS,
        Event,
        correlation_fields,
        needed_rules,
    )

    rs = rules if rules is not None else sigma.load_rules(params)
    by_id = rs.by_id()
    skipped: dict[str, str] = {}
    preds: dict[str, str] = {}
    for r in rs.rules:
        try:
            preds[r.meta.id] = sigma_predicate(r.sql)
        except SparkSQLError as e:
            skipped[r.meta.id] = f"its condition has no exact Spark SQL: {e}"

    needed = needed_rules(rs)
    count = con.execute("SELECT count(*) FROM raw").fetchone()
    n_events = int(count[0]) if count else 0
    corr = correlation_fields(rs)
    groups: dict[str, list[LoadedRule]] = defaultdict(list)
    for r in rs.rules:
        if r.meta.id in needed and r.meta.id not in skipped:
            groups[r.source.key].append(r)
    detail_keys = list(dict.fromkeys([*USER_FIELDS, *IP_FIELDS, *SHOW_FIELDS]))
    events: dict[str, list[Event]] = defaultdict(list)
    details: dict[int, dict[str, Any]] = {}
    flagged: Counter[str] = Counter()  # rule id -> events holding a value Spark writes differently
    flagged_fields: dict[str, set[str]] = defaultdict(set)
    matches = 0
    if n_events and groups:
        if any(r.needs.py_regex for rules_of in groups.values() for r in rules_of):
            con.register_py_regex()
        rows = _sigma_rows(con, [_Group(groups[key][0].source, groups[key], corr) for key in sorted(groups)], preds, detail_keys)
        for n, (part, t, us, host, file, record, hits, vals, det, bad, detbad) in enumerate(rows, 1):
            group = part.group
            for r in part.rules:
                hit = [k for k in bad if k in group.reads[r.meta.id]]
                if hit:
                    flagged[r.meta.id] += 1
                    flagged_fields[r.meta.id].update(f for k in hit for f in (group.field_of[k] if k else ["keywords"]))
            if not hits:
                continue
            ev = Event(n, t, int(us), host, file, int(record), dict(zip(group.carried, vals, strict=True)))
            details[n] = {k: v for k, v in zip(detail_keys, det, strict=True) if v not in (None, "", "-")}
            for i in hits:
                rid = part.rules[i].meta.id
                events[rid].append(ev)
                matches += 1
                if detbad:
                    flagged[rid] += 1
                    flagged_fields[rid].add("the fields its findings show")
    for rid, n in flagged.items():
        skipped.setdefault(rid, _skip_reason(n, flagged_fields[rid]))
    for c in rs.correlations:  # loader order: every correlation after those it refers to
        bad_refs = [ref for ref in c.refs if ref in skipped]
        if bad_refs:
            skipped[c.meta.id] = f"it correlates {by_id[bad_refs[0]].meta.title!r}, which does not run on Spark"
    kept = RuleSet(
        rules=[r for r in rs.rules if r.meta.id not in skipped],
        correlations=[c for c in rs.correlations if c.meta.id not in skipped],
        skipped=list(rs.skipped),
        files=rs.files,
    )
    for evs in events.values():
        evs.sort(key=lambda e: (e.us, e.ref_file, e.ref_record))
    found = sigma.findings_of(
        kept,
        {rid: evs for rid, evs in events.items() if rid not in skipped},
        lambda rows: {r: details[r] for r in rows if r in details},
    )
    summary = sigma.LoadSummary(
        files=rs.files,
        loaded=rs.loaded,
        correlations=len(rs.correlations),
        skipped=[
            *rs.skipped,
            *(
                Skip(by_id[rid].meta.path, rid, f"not run on Spark: {why}", by_id[rid].meta.title)
                for rid, why in skipped.items()
            ),
        ],
        ran=(sum(1 for r in kept.rules if r.meta.id in needed) + len(kept.correlations)) if n_events else 0,
        events=n_events,
        matches=matches,
    )
    return sigma.SigmaRun(found, summary), skipped


# --- Sessions and tables. -------------------------------------------------------------------------

#: Thread stack of the Spark JVMs that :func:`session` starts.
THREAD_STACK = "64m"


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
    if master.startswith("local"):
        # Python UDFs (a Sigma rule's Python regex) run in local workers of this very interpreter
        # (PySpark reads only the environment for this).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        if key not in (config or {}):
            # Deeply nested conditions (a Sigma rule with thousands of values) and java.util.regex
            # over long strings recurse deeper than the JVM's default thread stack.
            builder = builder.config(key, f"-Xss{THREAD_STACK}")
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
    """Run the detectors on Spark; returns the findings (stable order) and what was left out, with why.

    With ``only`` unset every detector that runs on Spark runs; naming one that does not is a usage error.
    Sigma rules that cannot run here exactly are left out one by one (``sigma rule 'title' (id)``).
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
        con.sigma_skipped = {}
        findings.extend(module.detect(cast(Any, con), module.Params(**(params or {}).get(name, {}))))
        skipped.update(con.sigma_skipped)
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
