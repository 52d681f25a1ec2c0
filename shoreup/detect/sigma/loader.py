"""Load Sigma rules from folders: parse with pySigma, place the logsource, compile, account for all.

Every YAML file found ends up in :class:`RuleSet`: each rule in it loaded (a :class:`LoadedRule`
or :class:`LoadedCorrelation`) or skipped with its reason (a :class:`Skip`). Nothing is dropped
silently.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
)
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from shoreup.errors import RuleError
from shoreup.findings import SEVERITIES

from ._files import BUILTIN_DIR as BUILTIN_DIR  # re-exported: where the pack lives
from ._files import Skip, yaml_files
from .compiler import Needs, rule_predicate
from .logsource import Source, resolve
from .prefilter import Atom, necessary
from .vectorized import Node, plan_rule

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass
class Meta:
    """What a finding needs to know about the rule that made it."""

    id: str
    name: str | None
    title: str
    path: str
    level: str
    confidence: float
    techniques: list[str]
    tags: list[str]
    description: str = ""


@dataclass
class LoadedRule:
    """A plain Sigma rule, compiled to a predicate over its source's group table."""

    meta: Meta
    rule: SigmaRule
    source: Source
    sql: str
    needs: Needs
    atoms: list[Atom] | None = None  # necessary conditions (see .prefilter); None: always run
    output: bool = True  # emits findings of its own (false when only a correlation uses it)
    plan: Node | None = None  # the same condition for the vectorized evaluator; None: run the SQL

    # Pickled (the compiled-rule cache, see .cache), the pySigma rule travels as its own pickle and is
    # rebuilt on first access only: nothing reads it after loading, and rebuilding 2,400 of them
    # would cost more than the rest of the RuleSet together.

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "rule" in state:
            state["_rule_pickle"] = pickle.dumps(state.pop("rule"), protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        blob = self.__dict__.get("_rule_pickle") if name == "rule" else None
        if blob is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        rule = pickle.loads(blob)
        self.__dict__["rule"] = rule
        del self.__dict__["_rule_pickle"]
        return rule


@dataclass
class LoadedCorrelation:
    """A Sigma correlation rule with its references resolved to loaded rule ids."""

    meta: Meta
    rule: SigmaCorrelationRule
    kind: str  # event_count, value_count, temporal, temporal_ordered, value_sum, …
    refs: list[str]  # ids of the referenced rules / correlations, in the rule's order
    ref_names: dict[str, str]  # how the rule names each reference (name or id) -> id
    group_by: list[str]
    aliases: dict[str, dict[str, str]]  # alias -> {referenced id: field}
    timespan_s: int
    op: str | None  # gte, gt, lte, lt, eq, neq; None for temporal without condition
    threshold: float | None
    fieldref: list[str]
    percentile: int | None
    extended: Any = None  # parsed extended condition (temporal), if any
    output: bool = True


@dataclass
class RuleSet:
    """Everything loaded from some folders."""

    rules: list[LoadedRule] = field(default_factory=list)
    correlations: list[LoadedCorrelation] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    files: int = 0
    #: What the runner derives from the rules alone and keeps between runs (per logsource group, the
    #: automata of its string tests); never part of equality.
    derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def loaded(self) -> int:
        return len(self.rules) + len(self.correlations)

    def by_id(self) -> dict[str, LoadedRule | LoadedCorrelation]:
        out: dict[str, LoadedRule | LoadedCorrelation] = {}
        for r in self.rules:
            out[r.meta.id] = r
        for c in self.correlations:
            out[c.meta.id] = c
        return out


def _meta(rule: SigmaRule | SigmaCorrelationRule, path: str) -> Meta:
    tags = [str(t) for t in (rule.tags or [])]
    techniques = [m.group(1).upper() for t in tags if (m := _TECHNIQUE.match(t))]
    level = str(rule.level.name).lower() if rule.level is not None else "medium"
    if level not in SEVERITIES:
        level = "medium"
    status = str(rule.status.name).lower() if rule.status is not None else ""
    confidence = {"stable": 0.8, "test": 0.7, "experimental": 0.6}.get(status, 0.6)
    return Meta(
        id=str(rule.id) if rule.id else f"{path}#{rule.title}",
        name=rule.name,
        title=rule.title or str(rule.id),
        path=path,
        level=level,
        confidence=confidence,
        techniques=techniques,
        tags=tags,
        description=(rule.description or "").strip(),
    )


def load(dirs: Iterable[str | Path], placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    """Parse and compile every rule under ``dirs``; what cannot be used is listed in ``skipped``."""
    rs = RuleSet()
    parsed: list[tuple[SigmaRule | SigmaCorrelationRule, str]] = []
    filters: list[SigmaFilter] = []
    for path in yaml_files(dirs):
        rs.files += 1
        spath = str(path)
        try:
            text = path.read_text(encoding="utf-8")
            coll = SigmaCollection.from_yaml(text, collect_errors=True, collect_filters=True, resolve_references=False)
        except yaml.MarkedYAMLError as e:  # the whole file is unusable
            mark = e.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            rs.skipped.append(Skip(spath, "", f"YAML error{where}: {e.problem or e.context}"))
            continue
        except Exception as e:
            rs.skipped.append(Skip(spath, "", f"unreadable: {_oneline(e)}"))
            continue
        if not coll.rules and coll.errors:
            rs.skipped.append(Skip(spath, "", _oneline(coll.errors[0])))
            continue
        for r in coll.rules:
            if isinstance(r, SigmaFilter):
                if r.errors:
                    rs.skipped.append(Skip(spath, str(r.id or ""), f"filter: {_oneline(r.errors[0])}"))
                else:
                    filters.append(r)
                continue
            if r.errors:
                rs.skipped.append(Skip(spath, str(r.id or ""), _oneline(r.errors[0]), r.title or ""))
                continue
            if isinstance(r, (SigmaRule, SigmaCorrelationRule)):
                parsed.append((r, spath))
    seen: set[str] = set()
    shared: dict[Node, Node] = {}  # equal leaves of all rules, one object each (see plan_rule)
    for r, spath in parsed:
        rid = str(r.id) if r.id else ""
        if rid and rid in seen:
            rs.skipped.append(Skip(spath, rid, "duplicate rule id (an earlier file has it)", r.title or ""))
            continue
        if rid:
            seen.add(rid)
        if isinstance(r, SigmaRule):
            try:
                for flt in filters:
                    applied = flt.apply_on_rule(r)
                    if isinstance(applied, SigmaRule):
                        r = applied
                rs.rules.append(_compile(r, spath, placeholders, shared))
            except RuleError as e:
                rs.skipped.append(Skip(spath, rid, str(e), r.title or ""))
            except Exception as e:
                rs.skipped.append(Skip(spath, rid, _oneline(e), r.title or ""))
    _correlations(rs, [(r, p) for r, p in parsed if isinstance(r, SigmaCorrelationRule)])
    return rs


def _compile(
    rule: SigmaRule,
    path: str,
    placeholders: dict[str, list[str]] | None,
    shared: dict[Node, Node] | None = None,
) -> LoadedRule:
    ls = rule.logsource
    source = resolve(ls.product, ls.category, ls.service)
    sql, needs = rule_predicate(rule, placeholders)
    try:
        plan: Node | None = plan_rule(rule, placeholders, shared)
    except RuleError:  # the SQL compiled it: that path runs it
        plan = None
    return LoadedRule(_meta(rule, path), rule, source, sql, needs, necessary(rule), plan=plan)


_OPS = {"gte": "gte", "gt": "gt", "lte": "lte", "lt": "lt", "eq": "eq", "neq": "neq"}


def _correlations(rs: RuleSet, corrs: list[tuple[SigmaCorrelationRule, str]]) -> None:
    """Resolve references (by name or id) and keep correlations whose whole chain is usable."""
    names: dict[str, str] = {}
    for r in rs.rules:
        names[r.meta.id] = r.meta.id
        if r.meta.name:
            names[r.meta.name] = r.meta.id
    pending: list[tuple[SigmaCorrelationRule, str]] = list(corrs)
    for c, _ in pending:  # correlations may refer to each other: know every name first
        cid = str(c.id) if c.id else ""
        if cid:
            names.setdefault(cid, cid)
        if c.name:
            names.setdefault(c.name, cid)
    loaded_ids = {r.meta.id for r in rs.rules}
    # settle correlations in dependency order; what never settles refers to something missing
    progress = True
    while pending and progress:
        progress = False
        rest: list[tuple[SigmaCorrelationRule, str]] = []
        for c, path in pending:
            refs_raw = _ref_names(c)
            missing = [n for n in refs_raw if n not in names]
            if missing:
                rs.skipped.append(Skip(path, str(c.id or ""), f"refers to unknown rule {missing[0]!r}", c.title))
                progress = True
                continue
            ids = [names[n] for n in refs_raw]
            if all(i in loaded_ids for i in ids):
                try:
                    lc = _correlation(c, path, refs_raw, ids)
                except RuleError as e:
                    rs.skipped.append(Skip(path, str(c.id or ""), str(e), c.title))
                else:
                    rs.correlations.append(lc)
                    loaded_ids.add(lc.meta.id)
                progress = True
            else:
                rest.append((c, path))
        pending = rest
    for c, path in pending:
        rs.skipped.append(
            Skip(path, str(c.id or ""), "refers to a rule that was skipped or forms a cycle", c.title)
        )
    # generate: false (the default) silences the referenced rules, as pySigma does
    by_id = rs.by_id()
    for lc in rs.correlations:
        if not lc.rule.generate:
            for i in lc.refs:
                by_id[i].output = False


def _ref_names(c: SigmaCorrelationRule) -> list[str]:
    if c.rules is not None:
        return [r.reference for r in c.rules]
    if isinstance(c.condition, SigmaExtendedCorrelationCondition):
        return c.condition.get_referenced_rules()
    return []


def _correlation(c: SigmaCorrelationRule, path: str, ref_names: list[str], ids: list[str]) -> LoadedCorrelation:
    kind = c.type.name.lower()
    op: str | None = None
    threshold: float | None = None
    fieldref: list[str] = []
    percentile: int | None = None
    extended = None
    cond = c.condition
    if isinstance(cond, SigmaCorrelationCondition):
        op = _OPS.get(cond.op.name.lower())
        if op is None:
            raise RuleError(f"unsupported correlation condition operator {cond.op.name}")
        threshold = float(cond.count)
        if cond.fieldref:
            fieldref = [cond.fieldref] if isinstance(cond.fieldref, str) else list(cond.fieldref)
        percentile = cond.percentile
    elif isinstance(cond, SigmaExtendedCorrelationCondition):
        extended = cond.parsed
        if c.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            raise RuleError("temporal_ordered with an extended (boolean) condition is not supported")
    if c.type == SigmaCorrelationType.VALUE_MEDIAN:
        kind, percentile = "value_percentile", 50
    if kind in ("value_count", "value_sum", "value_avg", "value_percentile") and not fieldref:
        raise RuleError(f"{kind} correlation without a field")
    if kind == "value_percentile" and percentile is None:
        raise RuleError("value_percentile correlation without a percentile")
    aliases: dict[str, dict[str, str]] = {}
    lookup = dict(zip(ref_names, ids, strict=True))
    for a in c.aliases:
        aliases[a.alias] = {lookup.get(ref.reference, ref.reference): f for ref, f in a.mapping.items()}
    meta = _meta(c, path)
    return LoadedCorrelation(
        meta=meta,
        rule=c,
        kind=kind,
        refs=ids,
        ref_names=lookup,
        group_by=list(c.group_by or []),
        aliases=aliases,
        timespan_s=int(c.timespan.seconds),
        op=op,
        threshold=threshold,
        fieldref=fieldref,
        percentile=percentile,
        extended=extended,
    )


def _oneline(e: object) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
