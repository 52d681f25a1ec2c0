"""Compile a Sigma rule's detection into one DuckDB boolean expression.

The expression reads columns of the rule's group table (see :mod:`.runner`): for each Sigma field
``F`` the column ``"v:F"`` holds its value as text and ``"l:F"`` its lower-cased text; ``__kw`` holds
every value of the event, lower-cased, for keyword searches. Every leaf is two-valued (a missing
field is false, never NULL), so ``not`` behaves as Sigma says: a filter on an absent field passes.

Case: plain strings compare case-insensitively; ``|cased`` and ``|re`` compare as written.
Regular expressions run on RE2 (DuckDB); one RE2 refuses (look-around, back-references) runs on
Python's ``re`` through a UDF, so no rule is lost to the dialect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import duckdb
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
    Placeholder,
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
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from shoreup.errors import RuleError

#: Name of the Python-regex UDF registered on the connection when a rule needs it.
PY_REGEX_UDF = "shoreup_sigma_re"

Node = Any  # the pySigma condition tree: ConditionItem or a leaf expression


@dataclass
class Needs:
    """What a compiled expression reads from its group table."""

    values: set[str] = field(default_factory=set)  # fields read as text ("v:F")
    lowered: set[str] = field(default_factory=set)  # fields read lower-cased ("l:F")
    keywords: bool = False  # reads __kw
    py_regex: bool = False  # calls the Python regex UDF

    def merge(self, other: Needs) -> None:
        self.values |= other.values
        self.lowered |= other.lowered
        self.keywords |= other.keywords
        self.py_regex |= other.py_regex


def vcol(name: str) -> str:
    return '"v:' + name.replace('"', '""') + '"'


def lcol(name: str) -> str:
    return '"l:' + name.replace('"', '""') + '"'


def lit(s: str) -> str:
    """A SQL string literal; NUL characters (from ``|wide`` strings) are spliced in with chr(0)."""
    parts = s.split("\x00")
    quoted = ["'" + p.replace("'", "''") + "'" for p in parts]
    return " || chr(0) || ".join(quoted) if len(parts) > 1 else quoted[0]


class Compiler:
    """Turns one rule's condition tree into SQL; ``placeholders`` give values for ``|expand``."""

    def __init__(self, placeholders: dict[str, list[str]] | None = None) -> None:
        self.placeholders = placeholders or {}
        self.needs = Needs()

    # -- entry points -------------------------------------------------------------------------

    def rule(self, rule: SigmaRule) -> str:
        conditions = rule.detection.parsed_condition
        if not conditions:
            raise RuleError("detection has no condition")
        parts = [self.node(c.parsed) for c in conditions]
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def node(self, node: Node) -> str:
        if isinstance(node, ConditionAND):
            return "(" + " AND ".join(self.node(a) for a in node.args) + ")"
        if isinstance(node, ConditionOR):
            return "(" + " OR ".join(self.node(a) for a in node.args) + ")"
        if isinstance(node, ConditionNOT):
            return "(NOT " + self.node(node.args[0]) + ")"
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field_value(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return self.keyword(node.value)
        if node is None:
            raise RuleError("empty condition")
        raise RuleError(f"unsupported condition element {type(node).__name__}")

    # -- field = value -----------------------------------------------------------------------

    def field_value(self, name: str, value: Any) -> str:
        if isinstance(value, SigmaExpansion):
            return "(" + " OR ".join(self.field_value(name, v) for v in value.values) + ")"
        if isinstance(value, SigmaNull):
            self.needs.values.add(name)
            return f"({vcol(name)} IS NULL)"
        if isinstance(value, SigmaExists):
            self.needs.values.add(name)
            return f"({vcol(name)} IS {'NOT ' if value.exists else ''}NULL)"
        if isinstance(value, SigmaCasedString):
            return self._string(name, value, cased=True)
        if isinstance(value, SigmaString):
            return self._string(name, value, cased=False)
        if isinstance(value, SigmaBool):
            self.needs.lowered.add(name)
            return f"coalesce({lcol(name)} = {lit('true' if value.boolean else 'false')}, false)"
        if isinstance(value, SigmaCompareExpression):
            self.needs.values.add(name)
            op = {
                CompareOperators.LT: "<",
                CompareOperators.LTE: "<=",
                CompareOperators.GT: ">",
                CompareOperators.GTE: ">=",
                CompareOperators.NEQ: "<>",
            }[value.op]
            return f"coalesce(TRY_CAST({vcol(name)} AS DOUBLE) {op} {_num(value.number.number)}, false)"
        if isinstance(value, SigmaNumber):
            self.needs.values.add(name)
            n = value.number
            return (
                f"coalesce({vcol(name)} = {lit(str(n))} OR TRY_CAST({vcol(name)} AS DOUBLE) = {_num(n)}, false)"
            )
        if isinstance(value, SigmaRegularExpression):
            return self._regex(name, value)
        if isinstance(value, SigmaCIDRExpression):
            pats = value.expand(wildcard="*")
            return "(" + " OR ".join(self._string(name, SigmaString(p), cased=True) for p in pats) + ")"
        if isinstance(value, SigmaFieldReference):
            self.needs.lowered.update((name, value.field))
            a, b = lcol(name), lcol(value.field)
            if value.starts_with and value.ends_with:
                expr = f"contains({a}, {b})"
            elif value.starts_with:
                expr = f"starts_with({a}, {b})"
            elif value.ends_with:
                expr = f"ends_with({a}, {b})"
            else:
                expr = f"{a} = {b}"
            return f"coalesce({expr}, false)"
        raise RuleError(f"unsupported value type {type(value).__name__} for field {name!r}")

    def _string(self, name: str, value: SigmaString, cased: bool) -> str:
        variants = self._expand_placeholders(value)
        if len(variants) > 1:
            return "(" + " OR ".join(self._string(name, v, cased) for v in variants) + ")"
        parts = list(variants[0].s)
        col = vcol(name) if cased else lcol(name)
        (self.needs.values if cased else self.needs.lowered).add(name)
        return f"coalesce({_match(col, parts, lower=not cased)}, false)"

    def _expand_placeholders(self, value: SigmaString) -> list[SigmaString]:
        if not value.contains_placeholder():
            return [value]

        def values(p: Placeholder) -> Iterator[SigmaString]:
            repl = self.placeholders.get(p.name)
            if repl is None:
                raise RuleError(f"placeholder %{p.name}% has no value")
            for r in repl:
                yield SigmaString(r)

        return value.replace_placeholders(values)

    def _regex(self, name: str, value: SigmaRegularExpression) -> str:
        full = regex_text(value)
        pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
        self.needs.values.add(name)
        if re2_ok(full):
            return f"coalesce(regexp_matches({vcol(name)}, {lit(full)}), false)"
        try:
            re.compile(full)
        except re.error as e:
            raise RuleError(f"invalid regular expression {pattern!r}: {e}") from None
        self.needs.py_regex = True
        return f"coalesce({PY_REGEX_UDF}({vcol(name)}, {lit(full)}), false)"

    # -- keywords ----------------------------------------------------------------------------

    def keyword(self, value: Any) -> str:
        if isinstance(value, SigmaExpansion):
            return "(" + " OR ".join(self.keyword(v) for v in value.values) + ")"
        self.needs.keywords = True
        if isinstance(value, SigmaString):
            variants = self._expand_placeholders(value)
            exprs = []
            for v in variants:
                parts = list(v.s)
                # a keyword matches anywhere in the event: implicit wildcards on both sides
                if not parts or parts[0] != SpecialChars.WILDCARD_MULTI:
                    parts.insert(0, SpecialChars.WILDCARD_MULTI)
                if parts[-1] != SpecialChars.WILDCARD_MULTI:
                    parts.append(SpecialChars.WILDCARD_MULTI)
                exprs.append(f"coalesce({_match('__kw', parts, lower=True)}, false)")
            return exprs[0] if len(exprs) == 1 else "(" + " OR ".join(exprs) + ")"
        if isinstance(value, (SigmaNumber, SigmaBool)):
            text = str(value.number if isinstance(value, SigmaNumber) else value.boolean).lower()
            return f"coalesce(contains(__kw, {lit(text)}), false)"
        if isinstance(value, SigmaRegularExpression):
            pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
            if not re2_ok(pattern):
                raise RuleError(f"keyword regular expression {pattern!r} is not RE2")
            return f"coalesce(regexp_matches(__kw, {lit('(?i)' + pattern)}), false)"
        raise RuleError(f"unsupported keyword value type {type(value).__name__}")


def _num(n: int | float) -> str:
    return repr(float(n)) if isinstance(n, float) else str(n)


#: How a wildcard string compares: (op, text) with op one of eq, contains, notnull, endswith,
#: startswith, like (text then a LIKE pattern with ``\\`` escapes). Shared by the SQL renderer and
#: the vectorized evaluator (:mod:`.vectorized`), so both decide alike.
MatchSpec = tuple[str, str]


def match_spec(parts: list[Any], lower: bool) -> MatchSpec:
    """The comparison a wildcard string stands for: equality, contains/starts/ends_with, or LIKE."""

    def text(p: str) -> str:
        return p.lower() if lower else p

    if any(isinstance(p, Placeholder) for p in parts):
        raise RuleError("unresolved placeholder")
    stars = [i for i, p in enumerate(parts) if p == SpecialChars.WILDCARD_MULTI]
    singles = any(p == SpecialChars.WILDCARD_SINGLE for p in parts)
    if not singles:
        inner = parts[:]
        lead = bool(inner) and inner[0] == SpecialChars.WILDCARD_MULTI
        trail = len(inner) > 1 and inner[-1] == SpecialChars.WILDCARD_MULTI
        core = inner[(1 if lead else 0) : (len(inner) - 1 if trail else len(inner))]
        if all(isinstance(p, str) for p in core):
            s = text("".join(core))
            if not stars:
                return ("eq", s)
            if lead and trail:
                return ("contains", s) if s else ("notnull", "")
            if lead and len(stars) == 1:
                return ("endswith", s)
            if trail and len(stars) == 1:
                return ("startswith", s)
    like = []
    for p in parts:
        if p == SpecialChars.WILDCARD_MULTI:
            like.append("%")
        elif p == SpecialChars.WILDCARD_SINGLE:
            like.append("_")
        else:
            like.append(re.sub(r"([\\%_])", r"\\\1", text(str(p))))
    return ("like", "".join(like))


def render_match(col: str, spec: MatchSpec) -> str:
    """SQL for a :func:`match_spec` over column ``col``."""
    op, s = spec
    if op == "eq":
        return f"{col} = {lit(s)}"
    if op == "contains":
        return f"contains({col}, {lit(s)})"
    if op == "notnull":
        return f"{col} IS NOT NULL"
    if op == "endswith":
        return f"ends_with({col}, {lit(s)})"
    if op == "startswith":
        return f"starts_with({col}, {lit(s)})"
    return f"{col} LIKE {lit(s)} ESCAPE '\\'"


def _match(col: str, parts: list[Any], lower: bool) -> str:
    """SQL for a wildcard string: equality, contains/starts/ends_with, or LIKE."""
    return render_match(col, match_spec(parts, lower))


def regex_text(value: SigmaRegularExpression) -> str:
    """A ``|re`` value's pattern with its flags in front, as the SQL and the vectorized path use it."""
    pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
    flags = ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    if SigmaRegularExpressionFlag.DOTALL in value.flags:
        flags += "s"
    return (f"(?{flags})" if flags else "") + pattern


_validator: duckdb.DuckDBPyConnection | None = None


@cache
def re2_ok(pattern: str) -> bool:
    """Whether DuckDB's RE2 accepts ``pattern``."""
    global _validator
    if _validator is None:
        _validator = duckdb.connect()
    try:
        _validator.execute(f"SELECT regexp_matches('', {lit(pattern)})").fetchall()
    except duckdb.Error:
        return False
    return True


def rule_predicate(rule: SigmaRule, placeholders: dict[str, list[str]] | None = None) -> tuple[str, Needs]:
    """Compile ``rule`` to a SQL predicate and what it reads."""
    c = Compiler(placeholders)
    try:
        sql = c.rule(rule)
    except RuleError:
        raise
    except Exception as e:  # pySigma raises its own errors while resolving the condition
        raise RuleError(f"{type(e).__name__}: {e}") from None
    return sql, c.needs
