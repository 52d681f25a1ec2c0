"""Necessary conditions: string tests a rule cannot match without, to skip rules early.

Most rules of a large ruleset target one tool or one malware and match nothing in a given log.
Planning their SQL costs more than evaluating it, so before a group's rules run, every rule's
*necessary atoms* — a list of (field, op, text) tests of which at least one must hold on some row
for the rule to match — are checked against the group's distinct values in one join. A rule none
of whose atoms holds anywhere is not run: it cannot match. The check is conservative: a rule whose
condition gives no such list (a ``not`` at the top, regular expressions only, keywords …) always runs.
"""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.rule import SigmaRule
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaString, SpecialChars

Atom = tuple[str, str, str]  # (field, op: eq | contains | startswith | endswith, lower-cased text)

#: Beyond this many atoms a rule is cheaper to run than to check.
MAX_ATOMS = 20_000


def necessary(rule: SigmaRule) -> list[Atom] | None:
    """Atoms of which one must hold for ``rule`` to match; None when no such list is known."""
    try:
        conds = [c.parsed for c in rule.detection.parsed_condition]
    except Exception:
        return None
    out: list[Atom] = []
    for c in conds:  # several conditions are OR-ed
        atoms = _node(c)
        if atoms is None:
            return None
        out += atoms
    out = list(dict.fromkeys(out))
    return out if out and len(out) <= MAX_ATOMS else None


def _node(node: Any) -> list[Atom] | None:
    if isinstance(node, ConditionOR):
        acc: list[Atom] = []
        for a in node.args:
            sub = _node(a)
            if sub is None:
                return None
            acc += sub
        return acc
    if isinstance(node, ConditionAND):
        best: list[Atom] | None = None
        for a in node.args:
            sub = _node(a)
            if sub is not None and (best is None or _score(sub) > _score(best)):
                best = sub
        return best
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node.field, node.value)
    return None


def _score(atoms: list[Atom]) -> float:
    """Prefer short lists of long, exact texts: they rule out the most rows."""
    return sum(min(len(a[2]), 12) + (6 if a[1] == "eq" else 0) for a in atoms) / len(atoms) ** 1.5


def _leaf(field: str, value: Any) -> list[Atom] | None:
    if isinstance(value, SigmaExpansion):
        acc: list[Atom] = []
        for v in value.values:
            sub = _leaf(field, v)
            if sub is None:
                return None
            acc += sub
        return acc
    if isinstance(value, SigmaCasedString) or not isinstance(value, SigmaString):
        return None
    if value.contains_placeholder():
        return None
    parts = list(value.s)
    if any(p == SpecialChars.WILDCARD_SINGLE for p in parts):
        return _longest(field, parts)
    lead = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
    trail = len(parts) > 1 and parts[-1] == SpecialChars.WILDCARD_MULTI
    core = parts[(1 if lead else 0) : (len(parts) - 1 if trail else len(parts))]
    if not all(isinstance(p, str) for p in core):
        return _longest(field, parts)
    text = "".join(str(p) for p in core).lower()
    if not text:
        return None
    if lead and trail:
        return [(field, "contains", text)]
    if lead:
        return [(field, "endswith", text)]
    if trail:
        return [(field, "startswith", text)]
    return [(field, "eq", text)]


def _longest(field: str, parts: list[Any]) -> list[Atom] | None:
    """For a pattern with inner wildcards: its longest literal piece must be contained."""
    pieces: list[str] = []
    cur = ""
    for p in parts:
        if isinstance(p, str):
            cur += p
        else:
            pieces.append(cur)
            cur = ""
    pieces.append(cur)
    best = max(pieces, key=len).lower()
    return [(field, "contains", best)] if len(best) >= 3 else None
