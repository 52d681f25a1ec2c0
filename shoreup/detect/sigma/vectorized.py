"""Evaluate plain Sigma detections with Arrow / NumPy instead of one SQL query per rule.

A rule's condition becomes a :data:`Node` tree (:func:`plan_rule`) that mirrors :class:`.compiler.Compiler`
leaf for leaf — both take their string comparisons from :func:`.compiler.match_spec` and their
regular expressions from :func:`.compiler.regex_text` — and :class:`GroupEval` evaluates it over one
logsource group's columns, the same ``v:F`` / ``l:F`` / ``__kw`` columns the SQL reads.

Every column is dictionary-encoded once; a leaf (column, operator, value) is computed once over the
column's *distinct* values and reused by every rule that has it, then spread to rows with one
NumPy take. All ``contains`` / ``startswith`` / ``endswith`` texts that a group's rules test on a
column sit in one Aho-Corasick automaton (:class:`Patterns`, built once per RuleSet): one pass over
the column's UTF-8 bytes tells where each text occurs, so a test that holds nowhere costs a lookup,
and a rule none of whose :func:`necessary` tests holds anywhere is skipped without being walked. The
same pass finds the literals every match of a regular expression or LIKE pattern must contain
(:mod:`.literals`), so those run only on the values holding one. ``and`` stops at the first
all-false operand. Results equal the SQL's: every leaf is two-valued (a missing field is false)
exactly as the compiler's ``coalesce(…, false)``; what NumPy cannot decide the same way (a number
that is not a plain integer, a pattern Arrow's RE2 refuses) is asked of DuckDB over the distinct
values with the compiler's own SQL.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import ahocorasick_rs
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
from .literals import like_literal, regex_literals

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
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    # Leaves key every cache of the evaluator: their hash is computed once (never pickled: a
    # string's hash differs between processes)
    def __hash__(self) -> int:
        h = self._hash
        if not h:
            h = hash((self.col, self.op, self.arg, self.num, self.sql))
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> tuple[str, str, str, float, str]:
        return (self.col, self.op, self.arg, self.num, self.sql)

    def __setstate__(self, state: tuple[str, str, str, float, str]) -> None:
        for name, value in zip(("col", "op", "arg", "num", "sql"), state, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_hash", 0)


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


def plan_rule(
    rule: SigmaRule,
    placeholders: dict[str, list[str]] | None = None,
    shared: dict[Node, Node] | None = None,
) -> Node:
    """The condition of ``rule`` as a :data:`Node` tree (raises RuleError where the compiler would).

    ``shared``, one dict for every rule of a load, makes equal leaves one object across rules: the
    evaluator's caches, keyed by leaf, then find them by identity instead of comparing fields.
    """
    try:
        plan = Planner(placeholders).rule(rule)
    except RuleError:
        raise
    except Exception as e:
        raise RuleError(f"{type(e).__name__}: {e}") from None
    return plan if shared is None else _intern(plan, shared)


def _intern(node: Node, table: dict[Node, Node]) -> Node:
    if isinstance(node, (Leaf, FieldRef)):
        return table.setdefault(node, node)
    if isinstance(node, And):
        return And(tuple(_intern(a, table) for a in node.args))
    if isinstance(node, Or):
        return Or(tuple(_intern(a, table) for a in node.args))
    return Not(_intern(node.arg, table))


# -- evaluation -----------------------------------------------------------------------------------

_PLAIN_INT = re.compile(r"-?[0-9]{1,15}")
_TEXT_OPS = frozenset({"contains", "startswith", "endswith"})
_PRESENCE_OPS = _TEXT_OPS | {"eq"}  # tests GroupEval.maybe can rule out from the automata / the value index
_BATCHED = _TEXT_OPS | {"re2", "like"}  # tests the column automaton decides or prefilters
_TEXT_ROW = {"contains": 0, "startswith": 1, "endswith": 2}  # rows of _Hits.table
#: typed once: a Python value given to an Arrow kernel is converted with type inference on every
#: call, which tries (and fails) to import optional modules each time
_NO_CODE = pa.scalar(-1, pa.int32())
_FALSE = pa.scalar(False, pa.bool_())
_NONE = np.zeros(1, np.bool_)
_SMALL_AUTOMATON = 64  # at most this many texts: a DFA (see Patterns.automaton)


def plan_leaves(node: Node) -> Iterator[Leaf]:
    """Every leaf of a plan (field references excluded)."""
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Leaf):
            yield n
        elif isinstance(n, (And, Or)):
            stack.extend(n.args)
        elif isinstance(n, Not):
            stack.append(n.arg)


def necessary(node: Node) -> tuple[Leaf, ...] | None:
    """String tests of which one holds on some distinct value wherever ``node`` holds on a row (None:
    none known): a rule none of whose tests holds anywhere in a group cannot match there, which
    :meth:`GroupEval.possible` tells from the column automata without walking the rule."""
    if isinstance(node, Leaf):
        return (node,) if node.op in _TEXT_OPS or node.op == "eq" else None
    if isinstance(node, Or):
        out: list[Leaf] = []
        for a in node.args:
            sub = necessary(a)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(dict.fromkeys(out))
    if isinstance(node, And):
        best: tuple[Leaf, ...] | None = None
        for a in node.args:
            sub = necessary(a)
            if sub is not None and (best is None or len(sub) < len(best)):
                best = sub
        return best
    return None  # a negation or a field reference: nothing is necessary


class Patterns:
    """Every ``contains`` / ``startswith`` / ``endswith`` text that some rules test on one column, in
    one Aho-Corasick automaton over UTF-8 bytes: a single pass over the column's distinct values
    decides them all, where testing them one by one costs a pass (and a Python call) each.

    Substring search on UTF-8 bytes equals substring search on the text (UTF-8 is self-synchronizing);
    a prefix or suffix is a match that begins or ends exactly at a value's boundary. The same pass
    finds the necessary literals of the column's regular expressions and LIKE patterns (see
    :mod:`.literals`), so those run only on the values that hold one. The automaton depends on the
    rules only: built on first use and kept (never pickled: it is rebuilt after a load).
    """

    def __init__(self, tests: Iterable[Leaf]) -> None:
        self._texts: dict[bytes, int] = {}
        self.slot: dict[Leaf, int] = {}  # string test -> index of its text in the automaton
        self.need: dict[Leaf, tuple[int, ...]] = {}  # regex / LIKE -> its literals (one is in every match)
        for lf in tests:
            if lf in self.slot or lf in self.need:
                continue
            if lf.op in _TEXT_OPS:
                i = self._add(lf.arg)
                if i is not None:
                    self.slot[lf] = i
                continue
            lits: list[str] | None = None
            if lf.op == "re2":
                lits = regex_literals(lf.arg)
            elif lf.op == "like":
                one = like_literal(lf.arg)
                lits = [one] if one is not None else None
            slots = [self._add(x) for x in lits or ()]
            if slots and None not in slots:
                self.need[lf] = tuple(i for i in slots if i is not None)
        self.texts = list(self._texts)
        self._ac: ahocorasick_rs.BytesAhoCorasick | None = None

    def _add(self, text: str) -> int | None:
        if not text:
            return None  # an empty text is the compute kernel's: the automaton refuses it
        try:
            b = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 value can hold it
            return None
        return self._texts.setdefault(b, len(self._texts))

    def automaton(self) -> ahocorasick_rs.BytesAhoCorasick:
        if self._ac is None:
            # a contiguous NFA: measured on SigmaHQ's sets, quicker to build than a DFA and as quick
            # to search over columns of a few kilobytes; a few texts (keywords over megabytes of event
            # text) make a small DFA, about twice as quick to search there
            impl = ahocorasick_rs.Implementation
            kind = impl.DFA if len(self.texts) <= _SMALL_AUTOMATON else impl.ContiguousNFA
            self._ac = ahocorasick_rs.BytesAhoCorasick(self.texts, implementation=kind)
        return self._ac

    def __getstate__(self) -> dict[str, Any]:
        return {"slot": self.slot, "need": self.need, "texts": self.texts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.slot = state["slot"]
        self.need = state["need"]
        self.texts = state["texts"]
        self._texts = {t: i for i, t in enumerate(self.texts)}
        self._ac = None


def column_patterns(plans: Iterable[Node]) -> dict[str, Patterns]:
    """Per column, the :class:`Patterns` of every string test that ``plans`` make on it."""
    by_col: dict[str, dict[Leaf, None]] = {}
    for p in plans:
        for lf in plan_leaves(p):
            if lf.op in _BATCHED:
                by_col.setdefault(lf.col, {})[lf] = None
    out = {col: Patterns(tests) for col, tests in by_col.items()}
    return {col: p for col, p in out.items() if p.texts}


class Presence:
    """A group's presence tests, from its plans alone (built once per RuleSet and group, pickled with
    it): every ``eq`` / ``contains`` / ``startswith`` / ``endswith`` leaf of its rules by column, and
    each rule's :func:`necessary` tests as positions among them. :meth:`GroupEval.possible_rules`
    then decides every rule of the group with a few array operations per column (one membership
    test for the equalities, one gather from the automaton pass for the texts) instead of one
    Python call per test and rule."""

    def __init__(
        self, plans: Iterable[Node | None], tests: list[tuple[Leaf, ...] | None], patterns: dict[str, Patterns]
    ) -> None:
        pos: dict[Leaf, int] = {}
        for nec in tests:
            for lf in nec or ():
                pos.setdefault(lf, len(pos))
        wanted = {(lf.col, lf.op == "eq") for lf in pos}  # (column, equality?) the necessary tests read
        for p in plans:
            for lf in plan_leaves(p) if p is not None else ():
                if lf.op in _PRESENCE_OPS:
                    pos.setdefault(lf, len(pos))
        self.leaves: list[Leaf] = list(pos)
        self.rules = len(tests)
        eq: dict[str, list[int]] = {}
        text: dict[str, list[int]] = {}
        unknown: list[int] = []
        for lf, i in pos.items():
            if lf.op == "eq":
                eq.setdefault(lf.col, []).append(i)
                continue
            pats = patterns.get(lf.col)
            slot = pats.slot.get(lf) if pats is not None else None
            if slot is None:  # not in the automaton (an empty text …): assume it may hold
                unknown.append(i)
            else:
                text.setdefault(lf.col, []).append(i)
        #: per (column, equality?): the positions of its tests and what the bulk check needs —
        #: the texts (equality) or the automaton rows and slots (contains / startswith / endswith)
        self.by_column: dict[tuple[str, bool], tuple[npt.NDArray[np.intp], Any, Any]] = {}
        for col, idx in eq.items():
            self.by_column[(col, True)] = (np.array(idx, np.intp), [self.leaves[i].arg for i in idx], None)
        for col, idx in text.items():
            slots = patterns[col].slot
            rows = np.array([_TEXT_ROW[self.leaves[i].op] for i in idx], np.intp)
            self.by_column[(col, False)] = (np.array(idx, np.intp), rows, np.array([slots[self.leaves[i]] for i in idx], np.intp))
        self.unknown = np.array(unknown, np.intp)
        self.wanted = sorted(k for k in wanted if k in self.by_column)
        # the necessary tests back to back, rule after rule (rules with none known always run)
        self.has = np.array([i for i, nec in enumerate(tests) if nec is not None], np.intp)
        self.flat = np.array([pos[lf] for nec in tests if nec is not None for lf in nec], np.intp)
        sizes = [len(nec) for nec in tests if nec is not None]
        self.starts = (np.cumsum(sizes) - sizes).astype(np.intp)  # where each rule's tests begin


def _matches(pats: Patterns, data: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Every occurrence of every text in ``data``: rows of (text, start, end).

    The automaton hands back one Python tuple per occurrence (tens of thousands over a long column),
    each freed once copied into the array. Python's cyclic collector would run every 700 of them
    and scan the rest — objects that hold only ints and die here — so it is paused for the call;
    it is on again before any of them outlives it, with its allocation count back where it was.
    """
    if not len(data):
        return np.zeros((0, 3), np.int64)
    paused = gc.isenabled()
    gc.disable()
    try:
        found = pats.automaton().find_matches_as_indexes(data.data, overlapping=True)
        out = np.fromiter(chain.from_iterable(found), np.int64, 3 * len(found)).reshape(-1, 3)
        del found
    finally:
        if paused:
            gc.enable()
    return out


class _Hits:
    """Where each text of a :class:`Patterns` occurs in one column: per text, the values holding it
    and whether the occurrence begins or ends the value (sorted by text: ``bounds`` slices them)."""

    __slots__ = ("bounds", "prefix", "present", "suffix", "table", "value")

    def __init__(self, pats: Patterns, data: npt.NDArray[np.uint8], off: npt.NDArray[np.int64]) -> None:
        k = len(pats.texts)
        h = _matches(pats, data)
        if not len(h):
            self.bounds = np.zeros(k + 1, np.int64)
            self.value = np.zeros(0, np.int64)
            self.prefix = self.suffix = np.zeros(0, np.bool_)
            self.table = np.zeros((3, k), np.bool_)
            self.present = {op: [False] * k for op in _TEXT_OPS}
            return
        p, s, e = h[:, 0], h[:, 1], h[:, 2]
        v = np.searchsorted(off, s, side="right") - 1  # the value the occurrence begins in
        end = off[v + 1]
        inside = e <= end  # no separators between values: an occurrence may run into the next one
        if not inside.all():
            p, s, e, v, end = p[inside], s[inside], e[inside], v[inside], end[inside]
        order = np.argsort(p, kind="stable")
        self.value = v[order]
        self.prefix = (s == off[v])[order]
        self.suffix = (e == end)[order]
        ps = p[order]
        self.bounds = np.searchsorted(ps, np.arange(k + 1))
        # whether some value holds each text at all, as a prefix, as a suffix (see GroupEval.possible)
        # (rows in _TEXT_ROW order: contains, startswith, endswith)
        self.table = np.zeros((3, k), np.bool_)
        self.table[0] = np.diff(self.bounds) > 0
        self.table[1, ps[self.prefix]] = True
        self.table[2, ps[self.suffix]] = True
        self.present = {op: self.table[i].tolist() for op, i in _TEXT_ROW.items()}

    def mask(self, slot: int, op: str, n: int) -> Mask:
        out = np.zeros(n, np.bool_)
        self.mark(out, slot, op)
        return out

    def mark(self, out: Mask, slot: int, op: str) -> None:
        """Set ``out`` (over the distinct values) where text ``slot`` holds as ``op`` says."""
        lo, hi = int(self.bounds[slot]), int(self.bounds[slot + 1])
        if hi > lo:
            v = self.value[lo:hi]
            if op == "startswith":
                v = v[self.prefix[lo:hi]]
            elif op == "endswith":
                v = v[self.suffix[lo:hi]]
            out[v] = True


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

    __slots__ = ("_index", "_num", "_py", "_text", "codes", "distinct", "uniq")

    def __init__(self, arr: pa.Array, distinct: bool = True) -> None:
        self.distinct = distinct  # False: one "distinct value" per row, repeats included
        if distinct:
            enc = arr.dictionary_encode()
            self.uniq: pa.Array = enc.dictionary
            self.codes: npt.NDArray[np.int32] = enc.indices.fill_null(_NO_CODE).to_numpy(zero_copy_only=False)
        else:  # mostly distinct (the keyword text): no hashing
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            self.uniq = arr.fill_null("")
            self.codes = np.where(valid, np.arange(len(arr), dtype=np.int32), -1).astype(np.int32)
        self._py: list[str] | None = None
        self._num: tuple[npt.NDArray[np.float64], Mask] | None = None
        self._index: dict[str, int] | None = None
        self._text: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None

    def py(self) -> list[str]:
        if self._py is None:
            self._py = self.uniq.to_pylist()
        return self._py

    def index(self) -> dict[str, int]:
        """Distinct value -> its position, for equality in O(1)."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.py())}
        return self._index

    def text(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """The distinct values' UTF-8 bytes back to back (Arrow's own buffer, no copy) and where each
        begins: value ``i`` is ``data[off[i]:off[i + 1]]``."""
        if self._text is None:
            arr = self.uniq
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                arr = arr.cast(pa.large_string())
            wide = pa.types.is_large_string(arr.type)
            bufs = arr.buffers()
            width = 8 if wide else 4
            off = np.frombuffer(
                bufs[1], np.int64 if wide else np.int32, count=len(arr) + 1, offset=arr.offset * width
            ).astype(np.int64)
            lo, hi = int(off[0]), int(off[-1])
            data = np.frombuffer(bufs[2], np.uint8)[lo:hi] if bufs[2] is not None and hi > lo else np.zeros(0, np.uint8)
            self._text = (data, off - lo)
        return self._text

    def spread(self, dmask: Mask) -> Mask | None:
        """Row mask from a mask over distinct values (None: no row)."""
        if not dmask.any():
            return None
        return np.concatenate((dmask, _NONE)).take(self.codes)  # code -1 (null) takes the False


class GroupEval:
    """Evaluates plans over one group's columns; caches every leaf over distinct values.

    ``patterns`` (from :func:`column_patterns` over the group's plans) lets every string test of a
    column be decided in one automaton pass the first time one of them is asked for.
    """

    def __init__(
        self,
        columns: Mapping[str, pa.Array],
        n: int,
        con: duckdb.DuckDBPyConnection,
        patterns: dict[str, Patterns] | None = None,
    ) -> None:
        self.columns = columns
        self.n = n
        self.con = con
        self.patterns = patterns or {}
        self._cols: dict[str, _Column] = {}
        self._hit: dict[str, _Hits] = {}
        self._present: dict[Leaf, bool] = {}
        self._presence: Presence | None = None  # see possible_rules
        self._pvec: Mask | None = None
        self._done: set[tuple[str, bool]] = set()
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
        if op in _TEXT_OPS:
            pats = self.patterns.get(leaf.col)
            slot = pats.slot.get(leaf) if pats is not None else None
            if slot is not None:
                return self._hits(leaf.col, c).mask(slot, op, len(u))
            if op == "contains":
                return _np(pc.match_substring(u, leaf.arg))
            if op == "startswith":
                return _np(pc.starts_with(u, leaf.arg))
            return _np(pc.ends_with(u, leaf.arg))
        if op == "like":
            rx = _like_regex(leaf.arg)
            cand = self._candidates(leaf, c)
            if cand is None:
                return np.fromiter((rx.fullmatch(s) is not None for s in c.py()), np.bool_, len(u))
            out = np.zeros(len(u), np.bool_)
            vals = c.py()
            for i in np.flatnonzero(cand).tolist():
                out[i] = rx.fullmatch(vals[i]) is not None
            return out
        if op == "re2":
            cand = self._candidates(leaf, c)
            idx = None if cand is None else np.flatnonzero(cand)
            if idx is not None and not len(idx):
                return np.zeros(len(u), np.bool_)
            if idx is not None and len(idx) == len(u):
                idx = None
            try:
                if idx is None:
                    return _np(pc.match_substring_regex(u, leaf.arg))
                out = np.zeros(len(u), np.bool_)
                out[idx] = _np(pc.match_substring_regex(u.take(pa.array(idx)), leaf.arg))
                return out
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                if idx is None:
                    return self._duck(leaf, c)
                out = np.zeros(len(u), np.bool_)
                out[idx] = self._duck(leaf, c, idx)
                return out
        if op == "pyre":
            rx2 = re.compile(leaf.arg)
            return np.fromiter((rx2.search(s) is not None for s in c.py()), np.bool_, len(u))
        if op in ("numeq", "cmp"):
            return self._number(leaf, c)
        raise RuleError(f"internal: unknown leaf operator {op}")

    def _hits(self, col: str, c: _Column) -> _Hits:
        """The column's automaton pass (once per group and column)."""
        h = self._hit.get(col)
        if h is None:
            h = self._hit[col] = _Hits(self.patterns[col], *c.text())
        return h

    def possible(self, tests: tuple[Leaf, ...]) -> bool:
        """Whether one of a rule's :func:`necessary` tests holds on some value of this group."""
        return any(self.maybe(lf) for lf in tests)

    def possible_rules(self, presence: Presence) -> Mask:
        """:meth:`possible` for every rule of the group at once (``presence`` from its plans), in
        the group's rule order; the presence of every test of those columns is kept for :meth:`maybe`."""
        self._presence = presence
        self._pvec = np.zeros(len(presence.leaves), np.bool_)
        if len(presence.unknown):
            self._pvec[presence.unknown] = True
            self._present.update(dict.fromkeys([presence.leaves[i] for i in presence.unknown.tolist()], True))
        for col, eq in presence.wanted:
            self._bulk(col, eq)
        out = np.ones(presence.rules, np.bool_)
        if len(presence.flat):
            out[presence.has] = np.logical_or.reduceat(self._pvec[presence.flat], presence.starts)
        return out

    def _bulk(self, col: str, eq: bool) -> None:
        """The presence of every equality (or every text test) of ``col`` in the group's plans."""
        self._done.add((col, eq))
        got = self._presence.by_column.get((col, eq)) if self._presence is not None else None
        if got is None or self._pvec is None or self._presence is None:
            return
        idx, a, b = got
        c = self.column(col)
        if eq:
            vals = _np(pc.is_in(pa.array(a, c.uniq.type), value_set=c.uniq)) if len(c.uniq) else np.zeros(len(idx), np.bool_)
        else:
            vals = self._hits(col, c).table[a, b]
        self._pvec[idx] = vals
        leaves = self._presence.leaves
        self._present.update(zip([leaves[i] for i in idx.tolist()], vals.tolist(), strict=True))

    def may_hold(self, node: Node) -> bool:
        """False when ``node`` holds on no row because a string test it needs holds on no value
        here (an ``and`` with such an operand, an ``or`` all of whose operands are such): decided
        from the presence of its tests alone, before any row mask is made. Stronger than
        :meth:`possible`, which looks at one operand of each ``and``."""
        if isinstance(node, Leaf):
            return self.maybe(node)
        if isinstance(node, And):
            return all(self.may_hold(a) for a in node.args)
        if isinstance(node, Or):
            return any(self.may_hold(a) for a in node.args)
        return True  # a negation or a field reference

    def maybe(self, leaf: Leaf) -> bool:
        """False when a string test holds on no value of its column here (then its mask is all
        false and need not be made); True when it does, or for tests the automata do not decide."""
        got = self._present.get(leaf)
        if got is None:
            if leaf.op not in _PRESENCE_OPS:
                return True
            key = (leaf.col, leaf.op == "eq")
            if self._presence is not None and key not in self._done:
                self._bulk(*key)
                got = self._present.get(leaf)
            if got is None:
                got = self._present[leaf] = self._holds_somewhere(leaf)
        return got

    def _holds_somewhere(self, leaf: Leaf) -> bool:
        c = self.column(leaf.col)
        if leaf.op == "eq":
            return leaf.arg in c.index()
        pats = self.patterns.get(leaf.col)
        slot = pats.slot.get(leaf) if pats is not None else None
        if slot is None:  # not in the automaton (an empty text …): assume it may hold
            return True
        return self._hits(leaf.col, c).present[leaf.op][slot]

    def _candidates(self, leaf: Leaf, c: _Column) -> Mask | None:
        """Distinct values holding one of a regex's / LIKE's necessary literals (None: no prefilter)."""
        pats = self.patterns.get(leaf.col)
        slots = pats.need.get(leaf) if pats is not None else None
        if not slots:
            return None
        hits = self._hits(leaf.col, c)
        out = hits.mask(slots[0], "contains", len(c.uniq))
        for s in slots[1:]:
            out |= hits.mask(s, "contains", len(c.uniq))
        return out

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
        if not c.distinct:  # values repeat: the index holds one position per value
            return _np(pc.fill_null(pc.equal(c.uniq, pa.scalar(text, c.uniq.type)), _FALSE))
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
            if not self.maybe(node):
                return None
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

    def _same_column(self, args: tuple[Node, ...]) -> tuple[list[Mask | None], list[Node]]:
        """Leaves of an ``or`` on one column combine over distinct values before they reach the
        rows; a text the column automaton decides is marked in place, with no mask of its own."""
        by_col: dict[str, list[Leaf]] = {}
        rest: list[Node] = []
        for a in args:
            if isinstance(a, Leaf) and a.op != "isnull":
                by_col.setdefault(a.col, []).append(a)
            else:
                rest.append(a)
        masks: list[Mask | None] = []
        for col, all_leaves in by_col.items():
            leaves = [lf for lf in all_leaves if self.maybe(lf)]  # the others hold nowhere: all false
            if len(leaves) <= 1:
                rest[:0] = leaves
                continue
            c = self.column(col)
            d = np.zeros(len(c.uniq), np.bool_)
            pats = self.patterns.get(col)
            for lf in leaves:
                m = self._dcache.get(lf)
                slot = pats.slot.get(lf) if m is None and pats is not None and lf.op in _TEXT_OPS else None
                if slot is not None:
                    self._hits(col, c).mark(d, slot, lf.op)
                else:
                    np.logical_or(d, self.dmask(lf) if m is None else m, out=d)
            masks.append(c.spread(d))
        return masks, rest

    def _or(self, args: tuple[Node, ...]) -> Mask | None:
        masks, rest = self._same_column(args)
        acc: Mask | None = None
        for m in [*masks, *(self.rows(a) for a in rest)]:
            if m is not None:
                acc = m.copy() if acc is None else np.logical_or(acc, m, out=acc)
        return acc

    def _and(self, args: tuple[Node, ...]) -> Mask | None:
        leaves = [a for a in args if isinstance(a, Leaf) and a.op != "isnull"]
        if len(leaves) > 1 and len({a.col for a in leaves}) == 1 and len(leaves) == len(args):
            if not all(self.maybe(lf) for lf in leaves):
                return None
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


__all__ = [
    "PY_REGEX_UDF",
    "And",
    "FieldRef",
    "GroupEval",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "Patterns",
    "Presence",
    "column_patterns",
    "necessary",
    "plan_leaves",
    "plan_rule",
]
