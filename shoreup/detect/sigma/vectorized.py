"""Evaluate plain Sigma detections with Arrow / NumPy instead of one SQL query per rule.

A rule's condition becomes a :data:`Node` tree (:func:`plan_rule`) that mirrors :class:`.compiler.Compiler`
leaf for leaf — both take their string comparisons from :func:`.compiler.match_spec` and their
regular expressions from :func:`.compiler.regex_text` — and :class:`GroupEval` evaluates it over one
logsource group's columns, the same ``v:F`` / ``l:F`` / ``__kw`` columns the SQL reads.

Every column is dictionary-encoded once; a leaf (column, operator, value) is computed once over the
column's *distinct* values and reused by every rule that has it, then spread to rows with one
NumPy take. ``and`` stops at the first all-false operand, so most rules of a large ruleset cost one
or two dictionary probes. Results equal the SQL's: every leaf is two-valued (a missing field is
false) exactly as the compiler's ``coalesce(…, false)``; what NumPy cannot decide the same way (a
number that is not a plain integer, a pattern Arrow's RE2 refuses) is asked of DuckDB over the
distinct values with the compiler's own SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from shoreup.errors import RuleError

from .compiler import PY_REGEX_UDF, Compiler, lcol, lit, match_spec, re2_ok, regex_text, render_match, vcol

Mask = npt.NDArray[np.bool_]
KW = "__kw"


@dataclass(frozen=True, slots=True)
class Leaf:
    """One two-valued test of one column: ``col`` is ``v:F``, ``l:F`` or ``__kw``."""

    col: str
    op: str  # eq contains startswith endswith notnull isnull like re2 pyre numeq cmp
    arg: str
    num: float = 0.0  # numeq / cmp: the number
    sql: str = ""  # the compiler's SQL for this test (DuckDB fallback over distinct values)


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``a|fieldref: b`` on lower-cased columns."""

    a: str
    b: str
    op: str  # eq contains startswith endswith


@dataclass(frozen=True, slots=True)
class And:
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    arg: Node


Node = Leaf | FieldRef | And | Or | Not

_CMP = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "<>",
}


def _col(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _quoted(col: str) -> str:
    return KW if col == KW else (vcol(col[2:]) if col.startswith("v:") else lcol(col[2:]))


def _or(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))


def _string_leaf(col: str, spec: tuple[str, str]) -> Leaf:
    return Leaf(col, spec[0], spec[1], sql=f"coalesce({render_match(_quoted(col), spec)}, false)")


class Planner:
    """Mirrors :class:`.compiler.Compiler`: the same tree, as :data:`Node` instead of SQL text."""

    def __init__(self, placeholders: dict[str, list[str]] | None = None) -> None:
        self.sqlc = Compiler(placeholders)  # for placeholder expansion, exactly as the SQL does

    def rule(self, rule: SigmaRule) -> Node:
        conditions = rule.detection.parsed_condition
        if not conditions:
            raise RuleError("detection has no condition")
        return _or([self.node(c.parsed) for c in conditions])

    def node(self, node: Any) -> Node:
        if isinstance(node, ConditionAND):
            return And(tuple(self.node(a) for a in node.args))
        if isinstance(node, ConditionOR):
            return Or(tuple(self.node(a) for a in node.args))
        if isinstance(node, ConditionNOT):
            return Not(self.node(node.args[0]))
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field_value(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self.keyword(node.value)
        if node is None:
            raise RuleError("empty condition")
        raise RuleError(f"unsupported condition element {type(node).__name__}")

    def field_value(self, name: str, value: Any) -> Node:
        v, lo = _col("v", name), _col("l", name)
        if isinstance(value, SigmaExpansion):
            return Or(tuple(self.field_value(name, x) for x in value.values))
        if isinstance(value, SigmaNull):
            return Leaf(v, "isnull", "", sql=f"({vcol(name)} IS NULL)")
        if isinstance(value, SigmaExists):
            if value.exists:
                return Leaf(v, "notnull", "", sql=f"({vcol(name)} IS NOT NULL)")
            return Leaf(v, "isnull", "", sql=f"({vcol(name)} IS NULL)")
        if isinstance(value, SigmaCasedString):
            return self._string(name, value, cased=True)
        if isinstance(value, SigmaString):
            return self._string(name, value, cased=False)
        if isinstance(value, SigmaBool):
            return _string_leaf(lo, ("eq", "true" if value.boolean else "false"))
        if isinstance(value, SigmaCompareExpression):
            sql = self.sqlc.field_value(name, value)
            return Leaf(v, "cmp", _CMP[value.op], float(value.number.number), sql)
        if isinstance(value, SigmaNumber):
            sql = self.sqlc.field_value(name, value)
            return Leaf(v, "numeq", str(value.number), float(value.number), sql)
        if isinstance(value, SigmaRegularExpression):
            full = regex_text(value)
            sql = self.sqlc.field_value(name, value)
            return Leaf(v, "re2" if re2_ok(full) else "pyre", full, sql=sql)
        if isinstance(value, SigmaCIDRExpression):
            pats = value.expand(wildcard="*")
            return _or([self._string(name, SigmaString(p), cased=True) for p in pats])
        if isinstance(value, SigmaFieldReference):
            if value.starts_with and value.ends_with:
                op = "contains"
            elif value.starts_with:
                op = "startswith"
            elif value.ends_with:
                op = "endswith"
            else:
                op = "eq"
            return FieldRef(lo, _col("l", value.field), op)
        raise RuleError(f"unsupported value type {type(value).__name__} for field {name!r}")

    def _string(self, name: str, value: SigmaString, cased: bool) -> Node:
        variants = self.sqlc._expand_placeholders(value)
        if len(variants) > 1:
            return Or(tuple(self._string(name, x, cased) for x in variants))
        col = _col("v" if cased else "l", name)
        return _string_leaf(col, match_spec(list(variants[0].s), lower=not cased))

    def keyword(self, value: Any) -> Node:
        if isinstance(value, SigmaExpansion):
            return Or(tuple(self.keyword(x) for x in value.values))
        if isinstance(value, SigmaString):
            leaves: list[Node] = []
            for x in self.sqlc._expand_placeholders(value):
                parts = list(x.s)
                if not parts or parts[0] != SpecialChars.WILDCARD_MULTI:
                    parts.insert(0, SpecialChars.WILDCARD_MULTI)
                if parts[-1] != SpecialChars.WILDCARD_MULTI:
                    parts.append(SpecialChars.WILDCARD_MULTI)
                leaves.append(_string_leaf(KW, match_spec(parts, lower=True)))
            return _or(leaves)
        if isinstance(value, (SigmaNumber, SigmaBool)):
            text = str(value.number if isinstance(value, SigmaNumber) else value.boolean).lower()
            return _string_leaf(KW, ("contains", text))
        if isinstance(value, SigmaRegularExpression):
            pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
            if not re2_ok(pattern):
                raise RuleError(f"keyword regular expression {pattern!r} is not RE2")
            full = "(?i)" + pattern
            return Leaf(KW, "re2", full, sql=f"coalesce(regexp_matches({KW}, {lit(full)}), false)")
        raise RuleError(f"unsupported keyword value type {type(value).__name__}")


def plan_rule(rule: SigmaRule, placeholders: dict[str, list[str]] | None = None) -> Node:
    """The condition of ``rule`` as a :data:`Node` tree (raises RuleError where the compiler would)."""
    try:
        return Planner(placeholders).rule(rule)
    except RuleError:
        raise
    except Exception as e:
        raise RuleError(f"{type(e).__name__}: {e}") from None


# -- evaluation -----------------------------------------------------------------------------------

_PLAIN_INT = re.compile(r"-?[0-9]{1,15}")
_SEP = "\n"
_GRAM_MIN = 16_384  # distinct values longer than this (joined) get a 4-gram index …
_FIND_MAX = 48  # beyond this many values holding a text, a compute kernel decides
_GRAM_AFTER = 200  # … once this many texts were looked for in them
_BIG = 4_000_000  # columns longer than this are searched with one regular expression per same-column OR


def _like_regex(pattern: str) -> re.Pattern[str]:
    """DuckDB ``LIKE … ESCAPE '\\'`` as a Python regex: ``%`` any run, ``_`` one character."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


class _Column:
    """One column of a group, dictionary-encoded: distinct values and per-row codes (-1: null)."""

    __slots__ = ("_asked", "_grams", "_index", "_joined", "_num", "_py", "_starts", "big", "codes", "uniq")

    def __init__(self, arr: pa.Array, distinct: bool = True) -> None:
        self.big = not distinct or arr.nbytes > _BIG
        if distinct:
            enc = arr.dictionary_encode()
            self.uniq: pa.Array = enc.dictionary
            self.codes: npt.NDArray[np.int32] = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        else:  # mostly distinct (the keyword text): no hashing
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            self.uniq = arr.fill_null("")
            self.codes = np.where(valid, np.arange(len(arr), dtype=np.int32), -1).astype(np.int32)
        self._py: list[str] | None = None
        self._num: tuple[npt.NDArray[np.float64], Mask] | None = None
        self._index: dict[str, int] | None = None
        self._joined: str | None = None
        self._grams: set[str] | None = None
        self._asked = 0
        self._starts: npt.NDArray[np.int64] | None = None

    def py(self) -> list[str]:
        if self._py is None:
            self._py = self.uniq.to_pylist()
        return self._py

    def index(self) -> dict[str, int]:
        """Distinct value -> its position, for equality in O(1)."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.py())}
        return self._index

    def joined(self) -> str:
        """Every distinct value, each between newlines: a text absent here is absent everywhere."""
        if self._joined is None:
            self._joined = _SEP + _SEP.join(self.py()) + _SEP
        return self._joined

    def maybe(self, op: str, text: str) -> bool:
        """False when no distinct value can satisfy (op, text) — a necessary test, never a sufficient one."""
        j = self.joined()
        q = text if op == "contains" else _SEP + text if op == "startswith" else text + _SEP
        self._asked += 1
        if len(j) > _GRAM_MIN and self._asked > _GRAM_AFTER:  # asked often: index its 4-grams first
            if self._grams is None:
                self._grams = {j[i : i + 4] for i in range(len(j) - 3)}
            g = self._grams
            if not all(q[i : i + 4] in g for i in range(len(q) - 3)):
                return False
        return q in j

    def find(self, op: str, text: str) -> Mask | None:
        """(op, text) over the distinct values by searching the joined text: exact when the text
        occurs in few values (the usual case); None when it occurs often (a kernel is faster then)."""
        if not text or _SEP in text:
            return None
        n = len(self.uniq)
        out = np.zeros(n, np.bool_)
        if not self.maybe(op, text):
            return out
        j = self.joined()
        if self._starts is None:  # where each value begins in the joined text
            lengths = np.fromiter((len(v) + 1 for v in self.py()), np.int64, n)
            self._starts = np.concatenate(([1], 1 + np.cumsum(lengths)))
        starts = self._starts
        q = text if op == "contains" else _SEP + text if op == "startswith" else text + _SEP
        at = 1 if op == "startswith" else 0  # the offset of the value's own text in q
        found = 0
        pos = j.find(q)
        while pos != -1:
            i = int(np.searchsorted(starts, pos + at, side="right")) - 1
            # values may hold newlines themselves: a prefix must begin the value, a suffix end it
            whole = (
                op == "contains"
                or (op == "startswith" and int(starts[i]) == pos + 1)
                or (op == "endswith" and int(starts[i + 1]) - 1 == pos + len(text))
            )
            if 0 <= i < n and whole:
                out[i] = True
                found += 1
                if found > _FIND_MAX:
                    return None
            nxt = int(starts[i + 1]) if op == "contains" and 0 <= i < n else pos + 1
            pos = j.find(q, max(nxt, pos + 1))
        return out

    def spread(self, dmask: Mask) -> Mask | None:
        """Row mask from a mask over distinct values (None: no row)."""
        if not dmask.any():
            return None
        return np.append(dmask, False)[self.codes]


class GroupEval:
    """Evaluates plans over one group's columns; caches every leaf over distinct values."""

    def __init__(
        self,
        columns: dict[str, pa.Array],
        n: int,
        con: duckdb.DuckDBPyConnection,
    ) -> None:
        self.columns = columns
        self.n = n
        self.con = con
        self._cols: dict[str, _Column] = {}
        self._dcache: dict[Leaf, Mask] = {}
        self._rcache: dict[Node, Mask | None] = {}
        self.fallbacks = 0  # leaves DuckDB decided

    def column(self, name: str) -> _Column:
        c = self._cols.get(name)
        if c is None:
            arr = self.columns.get(name)
            if arr is None:
                arr = pa.nulls(self.n, pa.string())
            c = self._cols[name] = _Column(arr, distinct=name != KW)
        return c

    # -- leaves over distinct values --------------------------------------------------------------

    def dmask(self, leaf: Leaf) -> Mask:
        m = self._dcache.get(leaf)
        if m is None:
            m = self._dcache[leaf] = self._leaf(leaf, self.column(leaf.col))
        return m

    def _leaf(self, leaf: Leaf, c: _Column) -> Mask:
        u = c.uniq
        op = leaf.op
        if op == "notnull":
            return np.ones(len(u), np.bool_)
        if op == "eq":
            return self._eq(c, leaf.arg)
        if op in ("contains", "startswith", "endswith") and not c.big:
            found = c.find(op, leaf.arg)
            if found is not None:
                return found
        if op == "contains":
            return _np(pc.match_substring(u, leaf.arg))
        if op == "startswith":
            return _np(pc.starts_with(u, leaf.arg))
        if op == "endswith":
            return _np(pc.ends_with(u, leaf.arg))
        if op == "like":
            rx = _like_regex(leaf.arg)
            return np.fromiter((rx.fullmatch(s) is not None for s in c.py()), np.bool_, len(u))
        if op == "re2":
            try:
                return _np(pc.match_substring_regex(u, leaf.arg))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return self._duck(leaf, c)
        if op == "pyre":
            rx2 = re.compile(leaf.arg)
            return np.fromiter((rx2.search(s) is not None for s in c.py()), np.bool_, len(u))
        if op in ("numeq", "cmp"):
            return self._number(leaf, c)
        raise RuleError(f"internal: unknown leaf operator {op}")

    def _number(self, leaf: Leaf, c: _Column) -> Mask:
        if c._num is None:
            vals = c.py()
            x = np.zeros(len(vals), np.float64)
            plain = np.zeros(len(vals), np.bool_)
            for i, s in enumerate(vals):
                if _PLAIN_INT.fullmatch(s):
                    x[i] = float(int(s))
                    plain[i] = True
            c._num = (x, plain)
        x, plain = c._num
        n = leaf.num
        if leaf.op == "numeq":
            out = plain & (x == n)
            out |= self._eq(c, leaf.arg)
        else:
            with np.errstate(invalid="ignore"):
                out = plain & {"<": x < n, "<=": x <= n, ">": x > n, ">=": x >= n, "<>": x != n}[leaf.arg]
        if not plain.all():  # anything else ('1_000', ' 12 ', 'nan', '1e3' …): DuckDB's TRY_CAST decides
            idx = np.flatnonzero(~plain)
            out[idx] = self._duck(leaf, c, idx)
        return out

    @staticmethod
    def _eq(c: _Column, text: str) -> Mask:
        out = np.zeros(len(c.uniq), np.bool_)
        i = c.index().get(text)
        if i is not None:
            out[i] = True
        return out

    def _duck(self, leaf: Leaf, c: _Column, idx: npt.NDArray[np.intp] | None = None) -> Mask:
        """The compiler's SQL for ``leaf`` over (some of) the column's distinct values."""
        self.fallbacks += 1
        vals = c.uniq if idx is None else c.uniq.take(pa.array(idx))
        tbl = pa.table({leaf.col: vals.cast(pa.string())})
        self.con.register("__shoreup_sigma_vals", tbl)
        try:
            rows = self.con.execute(f"SELECT coalesce({leaf.sql}, false) FROM __shoreup_sigma_vals").fetchall()
        finally:
            self.con.unregister("__shoreup_sigma_vals")
        return np.array([bool(r[0]) for r in rows], np.bool_)

    # -- trees over rows ---------------------------------------------------------------------------

    def rows(self, node: Node) -> Mask | None:
        """Row mask of ``node`` (None: no row); leaves are cached, shared by every rule."""
        if not isinstance(node, (Leaf, FieldRef)):
            return self._rows(node)
        if node in self._rcache:
            return self._rcache[node]
        out = self._rows(node)
        self._rcache[node] = out
        return out

    def _rows(self, node: Node) -> Mask | None:
        if isinstance(node, Leaf):
            c = self.column(node.col)
            if node.op == "isnull":
                m = c.codes < 0
                return m if m.any() else None
            return c.spread(self.dmask(node))
        if isinstance(node, Or):
            return self._or(node.args)
        if isinstance(node, And):
            return self._and(node.args)
        if isinstance(node, Not):
            inner = self.rows(node.arg)
            if inner is None:
                return np.ones(self.n, np.bool_)
            out = ~inner
            return out if out.any() else None
        return self._fieldref(node)

    def _same_column(self, args: tuple[Node, ...], combine: Callable[[Mask, Mask], Mask]) -> tuple[list[Mask | None], list[Node]]:
        """Leaves on one column combine over distinct values before they reach the rows."""
        by_col: dict[str, list[Leaf]] = {}
        rest: list[Node] = []
        for a in args:
            if isinstance(a, Leaf) and a.op != "isnull":
                by_col.setdefault(a.col, []).append(a)
            else:
                rest.append(a)
        masks: list[Mask | None] = []
        for col, leaves in by_col.items():
            if len(leaves) == 1:
                rest.insert(0, leaves[0])
                continue
            c = self.column(col)
            d = self._alternation(c, leaves) if combine is np.logical_or and c.big else None
            if d is None:
                d = self.dmask(leaves[0])
                for lf in leaves[1:]:
                    d = combine(d, self.dmask(lf))
            masks.append(c.spread(d))
        return masks, rest

    def _alternation(self, c: _Column, leaves: list[Leaf]) -> Mask | None:
        """Several string tests OR-ed on one long column: one RE2 pass instead of one per test."""
        alts: list[str] = []
        for lf in leaves:
            if lf.op not in ("eq", "contains", "startswith", "endswith") or "\\E" in lf.arg or "\x00" in lf.arg:
                return None
            q = "\\Q" + lf.arg + "\\E" if lf.arg else ""
            alts.append(("^" if lf.op in ("eq", "startswith") else "") + q + ("$" if lf.op in ("eq", "endswith") else ""))
        pattern = "(?s:" + "|".join(f"(?:{a})" for a in alts) + ")"
        try:
            return _np(pc.match_substring_regex(c.uniq, pattern))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None

    def _or(self, args: tuple[Node, ...]) -> Mask | None:
        masks, rest = self._same_column(args, np.logical_or)
        acc: Mask | None = None
        for m in [*masks, *(self.rows(a) for a in rest)]:
            if m is not None:
                acc = m.copy() if acc is None else np.logical_or(acc, m, out=acc)
        return acc

    def _and(self, args: tuple[Node, ...]) -> Mask | None:
        leaves = [a for a in args if isinstance(a, Leaf) and a.op != "isnull"]
        if len(leaves) > 1 and len({a.col for a in leaves}) == 1 and len(leaves) == len(args):
            c = self.column(leaves[0].col)
            d = self.dmask(leaves[0])
            for lf in leaves[1:]:
                if not d.any():
                    return None
                d = d & self.dmask(lf)
            return c.spread(d)
        acc: Mask | None = None
        for a in sorted(args, key=_cost):
            m = self.rows(a)
            if m is None:
                return None
            acc = m.copy() if acc is None else np.logical_and(acc, m, out=acc)
            if not acc.any():
                return None
        return acc

    def _fieldref(self, node: FieldRef) -> Mask | None:
        a = self.columns.get(node.a)
        b = self.columns.get(node.b)
        if a is None or b is None:
            return None
        test: Callable[[str, str], bool] = {
            "eq": str.__eq__,
            "contains": lambda x, y: y in x,
            "startswith": str.startswith,
            "endswith": str.endswith,
        }[node.op]
        out = np.fromiter(
            (x is not None and y is not None and test(x, y) for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)),
            np.bool_,
            self.n,
        )
        return out if out.any() else None


def _cost(node: Node) -> int:
    """Evaluation order inside ``and``: plain leaves first, negations and keyword scans last."""
    if isinstance(node, Leaf):
        return 3 if node.col == KW else 0
    if isinstance(node, Not):
        return 4
    if isinstance(node, FieldRef):
        return 2
    return 1


def _np(arr: pa.Array | pa.ChunkedArray) -> Mask:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.bool_)


__all__ = ["PY_REGEX_UDF", "And", "FieldRef", "GroupEval", "Leaf", "Node", "Not", "Or", "plan_rule"]
