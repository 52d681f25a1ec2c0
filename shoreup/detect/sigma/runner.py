"""Run a RuleSet over the ``raw`` table: each event's JSON parsed once, every rule over Arrow columns.

The rows of ``raw`` fall into classes by (channel, event id, source format); per class, one query
extracts from the ``fields`` JSON every key that the logsource groups covering it read, as text and
lower-cased text (``json_extract_string`` / ``lower``, exactly what the SQL compiler's columns hold).
Each logsource group then gets its ``v:F`` / ``l:F`` / ``__kw`` columns as Arrow arrays, and its
rules are evaluated by :mod:`.vectorized` — no per-rule query. Rules the vectorized planner cannot
express run their SQL over the same columns.

``mode="sql"`` keeps the reference path: one temporary table per group and one SELECT per rule
that can match (see :mod:`.prefilter`); the parity tests run both and demand the same matches.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .compiler import PY_REGEX_UDF, lcol, lit, vcol
from .loader import LoadedCorrelation, LoadedRule, RuleSet
from .logsource import Source, Variant
from .prefilter import Atom
from .vectorized import KW, GroupEval, Leaf, Patterns, Presence, column_patterns, necessary

#: How plain rules are evaluated: "vector" (Arrow / NumPy, the default) or "sql" (one query per rule).
MODE = "vector"

#: Below this many rows in all, extraction stays on the one connection (threads cost more than they save).
_SPLIT_ROWS = 2_000

#: Cost model for grouping row classes into extraction queries (microseconds, measured on 2 cores):
#: a query's fixed cost, the JSON parse per row, each extracted key per row, the keyword text per row.
_Q_US, _ROW_US, _KEY_US, _KW_US = 4000.0, 4.0, 0.25, 10.0

#: Fields read for a finding's entities, in order of preference.
USER_FIELDS = (
    "TargetUserName",
    "User",
    "SubjectUserName",
    "UserName",
    "AccountName",
    "userPrincipalName",
    "UserPrincipalName",
    "userIdentity.userName",
    "actor.alternateId",
    "user",
)
IP_FIELDS = (
    "IpAddress",
    "SourceIp",
    "SourceAddress",
    "ClientAddress",
    "IPAddress",
    "ipAddress",
    "sourceIPAddress",
    "client.ipAddress",
    "callerIpAddress",
    "src_ip",
)
#: Fields shown in a plain rule's finding (what a person wants to see first).
SHOW_FIELDS = (
    "CommandLine",
    "Image",
    "ParentImage",
    "TargetFilename",
    "TargetObject",
    "ImageLoaded",
    "Device",
    "ServiceName",
    "ImagePath",
    "ScriptBlockText",
    "Channel",
    "EventID",
)


@dataclass
class Event:
    """One event a rule matched: where it is and the values correlations need."""

    row: int
    time: dt.datetime
    us: int  # microseconds since the epoch, for window arithmetic
    host: str | None
    ref_file: str
    ref_record: int
    values: dict[str, str | None] = field(default_factory=dict)


@dataclass
class RunStats:
    events: int = 0
    groups: int = 0
    rules_run: int = 0
    rules_evaluated: int = 0  # rules whose SQL ran (the rest could not match: see .prefilter)
    matches: int = 0


def _path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def correlation_fields(rs: RuleSet) -> dict[str, set[str]]:
    """Per base-rule id, the fields its correlations group on or aggregate (aliases resolved)."""
    by_id = rs.by_id()
    out: dict[str, set[str]] = defaultdict(set)

    def base_ids(i: str) -> list[str]:
        t = by_id[i]
        if isinstance(t, LoadedCorrelation):
            return [b for r in t.refs for b in base_ids(r)]
        return [i]

    for c in rs.correlations:
        for ref in c.refs:
            for b in base_ids(ref):
                for g in [*c.group_by, *c.fieldref]:
                    out[b].add(c.aliases.get(g, {}).get(ref, g))
                # a chained correlation groups on its inner correlation's fields, which the base rules carry
                inner = by_id[ref]
                if isinstance(inner, LoadedCorrelation):
                    for g in inner.group_by:
                        out[b].add(inner.aliases.get(g, {}).get(b, g))
    return out


def needed_rules(rs: RuleSet) -> set[str]:
    """Rules that must run: those with output, and those a correlation uses."""
    need = {r.meta.id for r in rs.rules if r.output}
    by_id = rs.by_id()

    def walk(i: str) -> None:
        t = by_id[i]
        if isinstance(t, LoadedCorrelation):
            for r in t.refs:
                walk(r)
        else:
            need.add(i)

    for c in rs.correlations:
        walk(c.meta.id)
    return need


def rule_groups(rs: RuleSet, needed: set[str]) -> dict[str, list[LoadedRule]]:
    """The needed plain rules by logsource group (the Source key), in load order."""
    groups: dict[str, list[LoadedRule]] = defaultdict(list)
    for r in rs.rules:
        if r.meta.id in needed:
            groups[r.source.key].append(r)
    return dict(groups)


@dataclass
class _GroupPlan:
    """Per logsource group, from the rules alone: :class:`.vectorized.Patterns` per column and,
    per rule (in the group's order), its :func:`.vectorized.necessary` tests."""

    patterns: dict[str, Patterns]
    necessary: list[tuple[Leaf, ...] | None]
    presence: Presence


def group_plan(rs: RuleSet, key: str, rules: list[LoadedRule]) -> _GroupPlan:
    """What a group's rules give before any data (built once per RuleSet and group, kept in
    ``RuleSet.derived``, so pickled with it)."""
    k = ("group", key, tuple(r.meta.id for r in rules))
    got = rs.derived.get(k)
    if not isinstance(got, _GroupPlan):
        plans = [r.plan for r in rules if r.plan is not None]
        patterns = column_patterns(plans)
        tests = [None if r.plan is None else necessary(r.plan) for r in rules]
        got = rs.derived[k] = _GroupPlan(patterns, tests, Presence(plans, tests, patterns))
    return got


def prepare(rs: RuleSet) -> RuleSet:
    """Derive every group's plan now (what the first run would otherwise do); ``rs`` itself returned."""
    for key, rules in rule_groups(rs, needed_rules(rs)).items():
        group_plan(rs, key, rules)
    return rs


class Runner:
    """Evaluates the plain rules of a RuleSet on one connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, rs: RuleSet, table: str = "raw", mode: str | None = None
    ) -> None:
        self.con = con
        self.rs = rs
        self.table = table
        self.mode = mode or MODE
        if self.mode not in ("vector", "sql"):
            raise ValueError(f"unknown Sigma evaluation mode {self.mode!r}")
        self.stats = RunStats()
        self.corr_fields = correlation_fields(rs)
        self.needed = needed_rules(rs)

    def run(self) -> dict[str, list[Event]]:
        """Every needed rule's matching events, by rule id (rules without matches absent)."""
        self.stats.events = int(self.con.execute(f"SELECT count(*) FROM {self.table}").fetchall()[0][0])
        out: dict[str, list[Event]] = {}
        if not self.stats.events:
            return out
        if any(r.needs.py_regex for r in self.rs.rules):
            _register_py_regex(self.con)
        groups = rule_groups(self.rs, self.needed)
        sources = {key: rules[0].source for key, rules in groups.items()}
        if self.mode == "vector":
            return self._vector(sources, groups)
        for n, key in enumerate(sorted(groups)):
            out.update(self._group(n, sources[key], groups[key]))
        return out

    # -- vectorized path ---------------------------------------------------------------------------

    def _vector(self, sources: dict[str, Source], groups: dict[str, list[LoadedRule]]) -> dict[str, list[Event]]:
        keys = sorted(groups)
        # the distinct (channel, event id, format) of the table: which groups (and variants) cover each
        tuples: list[_Tuple] = [
            (c, e, f, int(n), int(lo), int(hi))
            for c, e, f, n, lo, hi in self.con.execute(
                "SELECT lower(channel), event_id, lower(source_format), count(*), min(rowid), max(rowid) "
                f"FROM {self.table} GROUP BY ALL"
            ).fetchall()
        ]
        needs = self._needs(groups)
        members: dict[str, dict[int, int]] = {k: {} for k in keys}  # group -> tuple index -> variant index
        items: list[tuple[int, int, frozenset[str], frozenset[str], bool]] = []
        for t, (c, e, f, n, *_) in enumerate(tuples):
            covering, values, lowered, kw = self._coverage(c, e, f, keys, sources, needs)
            for key, vi in covering:
                members[key][t] = vi
            if covering:
                items.append((t, n, values, lowered, kw))
        self.stats.rules_run += sum(len(groups[k]) for k in keys)
        classes = _classes(items)
        extracted = self._extract_classes(classes, tuples)
        hits: dict[str, tuple[str, npt.NDArray[np.int64], list[str], dict[str, pa.Array]]] = {}
        for key in keys:
            if not members[key]:
                continue
            rows, cols = self._group_columns(sources[key], members[key], needs[key], extracted, len(tuples))
            if not len(rows):
                continue
            self.stats.groups += 1
            self.stats.rules_evaluated += len(groups[key])
            derived = group_plan(self.rs, key, groups[key])
            ge = GroupEval(cols, len(rows), self.con, derived.patterns)
            table: pa.Table | None = None
            # a rule none of whose necessary tests holds on a value of this group cannot match here
            for i in np.flatnonzero(ge.possible_rules(derived.presence)).tolist():
                r = groups[key][i]
                if r.plan is not None:
                    if not ge.may_hold(r.plan):
                        continue
                    mask = ge.rows(r.plan)
                    if mask is None:
                        continue
                    idx = np.flatnonzero(mask)
                else:
                    if table is None:
                        table = pa.table({"__r": pa.array(np.arange(len(rows), dtype=np.int64)), **cols})
                    idx = self._sql_over(table, r.sql)
                    if not len(idx):
                        continue
                extra = sorted(self.corr_fields.get(r.meta.id, set()))
                carried = {f: cols[f"v:{f}"].take(pa.array(idx)) for f in extra}
                hits[r.meta.id] = (key, rows[idx], extra, carried)
        return self._vector_events(hits)

    def _needs(self, groups: dict[str, list[LoadedRule]]) -> dict[str, tuple[set[str], set[str], bool]]:
        """Per group, the fields its rules (and their correlations) read as text, lower-cased, and
        whether they need the keyword text (from the rules alone: kept per RuleSet)."""
        k = ("needs", tuple(sorted((key, len(rules)) for key, rules in groups.items())))
        got = self.rs.derived.get(k)
        if got is None:
            got = {}
            for key, rules in groups.items():
                values: set[str] = set()
                lowered: set[str] = set()
                kw = False
                for r in rules:
                    values |= r.needs.values | self.corr_fields.get(r.meta.id, set())
                    lowered |= r.needs.lowered
                    kw |= r.needs.keywords
                got[key] = (values, lowered, kw)
            self.rs.derived[k] = got
        return got

    def _coverage(
        self,
        c: str | None,
        e: int | None,
        f: str | None,
        keys: list[str],
        sources: dict[str, Source],
        needs: dict[str, tuple[set[str], set[str], bool]],
    ) -> tuple[tuple[tuple[str, int], ...], frozenset[str], frozenset[str], bool]:
        """The groups (with the variant) that cover events of one (lower(channel), event id,
        lower(format)), and the keys they read there as text and lower-cased, and whether the keyword
        text: from the rules alone, so kept per RuleSet and tuple."""
        cache = self.rs.derived.setdefault(("coverage", tuple(keys)), {})
        got = cache.get((c, e, f))
        if got is None:
            covering: list[tuple[str, int]] = []
            want_v: set[str] = set()
            want_l: set[str] = set()
            want_kw = False
            for key in keys:
                src = sources[key]
                vi = next((i for i, v in enumerate(src.variants) if _holds(v, c, e, f)), None)
                if vi is None:
                    continue
                covering.append((key, vi))
                var = src.variants[vi]
                values, lowered, kw = needs[key]
                for fld in values:
                    want_v.update(src.keys_for(fld, var))
                for fld in lowered:
                    want_l.update(src.keys_for(fld, var))
                want_kw |= kw
            got = cache[(c, e, f)] = (tuple(covering), frozenset(want_v), frozenset(want_l), want_kw)
        return got

    def _sql_over(self, table: pa.Table, sql: str) -> npt.NDArray[np.int64]:
        """Positions of ``table`` (a group's columns) where the rule's SQL holds."""
        self.con.register("__shoreup_sigma_group", table)
        try:
            got = self.con.execute(f"SELECT __r FROM __shoreup_sigma_group WHERE {sql}").fetchall()
        finally:
            self.con.unregister("__shoreup_sigma_group")
        return np.array(sorted(int(r[0]) for r in got), dtype=np.int64)

    def _extract_classes(self, classes: list[_Class], tuples: list[_Tuple]) -> list[_Extracted]:
        """Every class's extract; side by side on two cursors where the machine and table allow.

        DuckDB splits a scan by row groups (122,880 rows), so one class query over a few thousand
        events runs on one core: two queries at once (DuckDB releases the GIL) use two, and a class
        with more than its share of the work is cut into row-id ranges for both.
        """
        cons = self._cursors(_workers(self.con) if sum(c.rows for c in classes) >= _SPLIT_ROWS else 1)
        if len(cons) < 2:
            return [self._extract_class(c, tuples, self.con) for c in classes]
        try:
            fair = sum(c.cost() for c in classes) / len(cons)
            jobs: list[tuple[int, tuple[int, int] | None, float]] = []  # class, row-id range, cost
            for i, c in enumerate(classes):
                parts = min(len(cons), math.ceil(c.cost() / fair)) if c.rows >= _SPLIT_ROWS else 1
                lo = min(tuples[t][4] for t in c.tuples)
                hi = max(tuples[t][5] for t in c.tuples)
                if parts < 2 or hi - lo < parts:
                    jobs.append((i, None, c.cost()))
                    continue
                step = (hi - lo + 1) / parts
                cuts = [lo + round(step * k) for k in range(parts)] + [hi + 1]
                jobs += [(i, (cuts[k], cuts[k + 1] - 1), c.cost() / parts) for k in range(parts)]
            # longest first, each to the cursor with the least work so far
            share: list[list[int]] = [[] for _ in cons]
            load = [0.0] * len(cons)
            for j in sorted(range(len(jobs)), key=lambda j: -jobs[j][2]):
                w = load.index(min(load))
                share[w].append(j)
                load[w] += jobs[j][2]

            def work(w: int) -> list[tuple[int, _Extracted]]:
                out = []
                for j in share[w]:
                    i, rows, _ = jobs[j]
                    out.append((j, self._extract_class(classes[i], tuples, cons[w], rows)))
                return out

            done: dict[int, _Extracted] = {}
            with ThreadPoolExecutor(len(cons)) as ex:
                for part in ex.map(work, range(len(cons))):
                    done.update(part)
            return [done[j] for j in range(len(jobs))]
        finally:
            for cur in cons:
                cur.close()

    def _cursors(self, n: int) -> list[duckdb.DuckDBPyConnection]:
        """``n`` cursors on the database that see this table as the connection does; [] when not."""
        if n < 2:
            return []
        cons: list[duckdb.DuckDBPyConnection] = []
        try:
            for _ in range(n):
                cur = self.con.cursor()
                cons.append(cur)
                # a temporary table or a registered view is the connection's own, and an open
                # transaction's rows are not seen elsewhere: the same row count, or no cursors
                got = cur.execute(f"SELECT count(*) FROM {self.table}").fetchall()[0][0]
                if int(got) != self.stats.events:
                    raise LookupError(self.table)
        except (duckdb.Error, LookupError):
            for c in cons:
                c.close()
            return []
        return cons

    def _extract_class(
        self,
        cls: _Class,
        tuples: list[_Tuple],
        con: duckdb.DuckDBPyConnection,
        rows: tuple[int, int] | None = None,
    ) -> _Extracted:
        """One query: the class's rows (those with a row id in ``rows``, if given), their tuple
        index, and the keys its groups read."""
        paths = sorted(cls.values | cls.lowered)
        # the keys as one list per row (and its lower-cased copy): one expression each, where one
        # column per key cost DuckDB ~0.1 ms per column to bind — more than the query ran for
        sel = ["__r", "__t", "__e"]
        if cls.lowered:
            sel.append(f"list_transform(__e, {_LOWER_EACH}) AS __le")
        if cls.keywords:
            sel.append(f"lower(array_to_string(json_extract_string(fields, '$.*'), chr(10))) AS {KW}")
        path_list = "[" + ", ".join(lit(_path(k)) for k in paths) + "]" if paths else "['$.__none__']"
        # the class's rows by a hash join on its (channel, event id, format) tuples: a CASE over
        # them costs a comparison per tuple per row, which dominates once a class has many tuples
        keys = pa.table(
            {
                "c": pa.array([tuples[t][0] for t in cls.tuples], pa.string()),
                "e": pa.array([tuples[t][1] for t in cls.tuples], pa.int64()),
                "f": pa.array([tuples[t][2] for t in cls.tuples], pa.string()),
                "t": pa.array(cls.tuples, pa.int64()),
            }
        )
        inner = (
            f"SELECT r.rowid AS __r, k.t AS __t, r.fields AS fields, "
            f"json_extract_string(r.fields, {path_list}) AS __e FROM {self.table} r "
            "JOIN __shoreup_sigma_keys k ON lower(r.channel) IS NOT DISTINCT FROM k.c "
            "AND r.event_id IS NOT DISTINCT FROM k.e AND lower(r.source_format) IS NOT DISTINCT FROM k.f"
            + (f" WHERE r.rowid BETWEEN {int(rows[0])} AND {int(rows[1])}" if rows is not None else "")
        )
        con.register("__shoreup_sigma_keys", keys)
        try:
            tbl = _arrow(con, f"SELECT {', '.join(sel)} FROM ({inner})")
        finally:
            con.unregister("__shoreup_sigma_keys")
        return _Extracted(tbl, {k: i for i, k in enumerate(paths)})

    def _group_columns(
        self,
        source: Source,
        members: dict[int, int],
        needs: tuple[set[str], set[str], bool],
        extracted: list[_Extracted],
        n_tuples: int,
    ) -> tuple[npt.NDArray[np.int64], _Columns]:
        """A group's row ids and its ``v:F`` / ``l:F`` / ``__kw`` columns (built when first read)."""
        values, lowered, kw = needs
        names = [f"v:{f}" for f in sorted(values)] + [f"l:{f}" for f in sorted(lowered)] + ([KW] if kw else [])
        variant_of = np.full(n_tuples, -1, np.int64)  # tuple index -> the group's variant (-1: not in it)
        for t, vi in members.items():
            variant_of[t] = vi
        parts: list[tuple[_Extracted, _Part, Variant]] = []
        row_pieces: list[npt.NDArray[np.int64]] = []
        for ex in extracted:
            vis = variant_of[ex.t]
            for vi in np.flatnonzero(np.bincount(vis + 1, minlength=1)[1:]).tolist():  # those present, in order
                part = ex.part(vis == vi)
                parts.append((ex, part, source.variants[vi]))
                row_pieces.append(ex.r if part is None else ex.r[part[1]])
        if not row_pieces:
            return np.zeros(0, np.int64), _Columns(source, [], [])
        return np.concatenate(row_pieces), _Columns(source, names, parts)

    def _vector_events(
        self, hits: dict[str, tuple[str, npt.NDArray[np.int64], list[str], dict[str, pa.Array]]]
    ) -> dict[str, list[Event]]:
        if not hits:
            return {}
        rows = np.unique(np.concatenate([h[1] for h in hits.values()]))
        self.con.register("__shoreup_sigma_rows", pa.table({"r": pa.array(rows, pa.int64())}))
        try:
            got = self.con.execute(
                f"SELECT t.rowid, t.time, epoch_us(t.time), t.host, t.ref_file, t.ref_record FROM {self.table} t "
                "JOIN __shoreup_sigma_rows s ON t.rowid = s.r"
            ).fetchall()
        finally:
            self.con.unregister("__shoreup_sigma_rows")
        base = {int(r[0]): r for r in got}
        out: dict[str, list[Event]] = {}
        shared: dict[tuple[str, int], Event] = {}  # one Event per (group, row), as the SQL path makes
        for rid, (key, rws, extra, values) in hits.items():
            vals = {f: values[f].to_pylist() for f in extra}
            evs: list[Event] = []
            for i, row in enumerate(rws.tolist()):
                rec = base.get(row)
                if rec is None:
                    continue
                ev = shared.get((key, row))
                if ev is None:
                    ev = shared[(key, row)] = Event(
                        row=row, time=rec[1], us=int(rec[2]), host=rec[3], ref_file=rec[4], ref_record=int(rec[5])
                    )
                for f in extra:
                    ev.values[f] = vals[f][i]
                evs.append(ev)
            evs.sort(key=lambda e: (e.us, e.ref_file, e.ref_record))
            self.stats.matches += len(rws)
            out[rid] = evs
        return out

    def _group(self, n: int, source: Source, rules: list[LoadedRule]) -> dict[str, list[Event]]:
        tmp = f"__shoreup_sigma_g{n}"
        values: set[str] = set()
        lowered: set[str] = set()
        keywords = False
        for r in rules:
            values |= r.needs.values
            lowered |= r.needs.lowered
            keywords |= r.needs.keywords
            values |= self.corr_fields.get(r.meta.id, set())
        fields = sorted(values | lowered)
        count = self._extract(tmp, source, fields, values, lowered, keywords)
        self.stats.rules_run += len(rules)
        if not count:
            self.con.execute(f"DROP TABLE IF EXISTS {tmp}")
            return {}
        self.stats.groups += 1
        rules = self._possible(tmp, rules)
        self.stats.rules_evaluated += len(rules)
        hits: dict[int, list[int]] = defaultdict(list)  # rule index -> rows
        # One small query per rule that can match: DuckDB plans a narrow WHERE much faster than one
        # wide expression over many rules, and the optimizer finds nothing to gain on these.
        self.con.execute("PRAGMA disable_optimizer")
        try:
            for i, r in enumerate(rules):
                for (row,) in self.con.execute(f"SELECT __r FROM {tmp} WHERE {r.sql}").fetchall():
                    hits[i].append(int(row))
        finally:
            self.con.execute("PRAGMA enable_optimizer")
        out: dict[str, list[Event]] = {}
        if hits:
            out = self._events(tmp, rules, hits)
        self.con.execute(f"DROP TABLE IF EXISTS {tmp}")
        return out

    def _possible(self, tmp: str, rules: list[LoadedRule]) -> list[LoadedRule]:
        """The rules that can match some row of ``tmp``: their necessary atoms hold somewhere."""
        atoms: dict[Atom, int] = {}
        for r in rules:
            for a in r.atoms or ():
                atoms.setdefault(a, len(atoms))
        if not atoms:
            return rules
        fields = sorted({a[0] for a in atoms})
        items = list(atoms.items())
        table = pa.table(
            {
                "id": pa.array([i for _, i in items], pa.int32()),
                "f": [a[0] for a, _ in items],
                "op": [a[1] for a, _ in items],
                "pat": [a[2] for a, _ in items],
            }
        )
        self.con.register("__shoreup_sigma_atoms", table)
        values = " UNION ALL ".join(
            f"SELECT DISTINCT {lit(f)} AS f, {lcol(f)} AS val FROM {tmp} WHERE {lcol(f)} IS NOT NULL" for f in fields
        )
        q = (
            f"SELECT DISTINCT a.id FROM __shoreup_sigma_atoms a JOIN ({values}) v ON v.f = a.f WHERE "
            "CASE a.op WHEN 'eq' THEN v.val = a.pat WHEN 'contains' THEN contains(v.val, a.pat) "
            "WHEN 'startswith' THEN starts_with(v.val, a.pat) ELSE ends_with(v.val, a.pat) END"
        )
        hit = {int(r[0]) for r in self.con.execute(q).fetchall()}
        self.con.unregister("__shoreup_sigma_atoms")
        return [r for r in rules if r.atoms is None or any(atoms[a] in hit for a in r.atoms)]

    def _extract(
        self, tmp: str, source: Source, fields: list[str], values: set[str], lowered: set[str], keywords: bool
    ) -> int:
        paths: dict[str, int] = {}
        cols: list[str] = ["__r", "time"]

        def idx(key: str) -> str:
            if key not in paths:
                paths[key] = len(paths) + 1
            return f"__e[{paths[key]}]"

        for f in fields:
            per_variant = [(v, source.keys_for(f, v)) for v in source.variants]
            distinct = {keys for _, keys in per_variant}
            if len(distinct) == 1:
                keys = next(iter(distinct))
                expr = idx(keys[0]) if len(keys) == 1 else "coalesce(" + ", ".join(idx(k) for k in keys) + ")"
            else:
                whens = []
                for v, keys in per_variant:
                    e = idx(keys[0]) if len(keys) == 1 else "coalesce(" + ", ".join(idx(k) for k in keys) + ")"
                    whens.append(f"WHEN {v.predicate()} THEN {e}")
                expr = "CASE " + " ".join(whens) + " END"
            if f in values:
                cols.append(f"{expr} AS {vcol(f)}")
            if f in lowered:
                cols.append(f"lower({expr}) AS {lcol(f)}")
        if keywords:
            cols.append("lower(array_to_string(json_extract_string(fields, '$.*'), chr(10))) AS __kw")
        path_list = "[" + ", ".join(lit(_path(k)) for k in paths) + "]" if paths else "['$.__none__']"
        inner = (
            f"SELECT rowid AS __r, time, channel, event_id, provider, source_format, fields, "
            f"json_extract_string(fields, {path_list}) AS __e FROM {self.table} WHERE {source.predicate()}"
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {tmp} AS SELECT {', '.join(cols)} FROM ({inner})")
        return int(self.con.execute(f"SELECT count(*) FROM {tmp}").fetchall()[0][0])

    def _events(self, tmp: str, rules: list[LoadedRule], hits: dict[int, list[int]]) -> dict[str, list[Event]]:
        rows = sorted({r for rows in hits.values() for r in rows})
        wanted: set[str] = set()
        for i in hits:
            wanted |= self.corr_fields.get(rules[i].meta.id, set())
        extra = sorted(wanted)
        sel = ", ".join(vcol(f) for f in extra)
        self.con.register("__shoreup_sigma_rows", pa.table({"r": pa.array(rows, pa.int64())}))
        q = (
            f"SELECT t.rowid, t.time, epoch_us(t.time), t.host, t.ref_file, t.ref_record"
            f"{', ' + sel if sel else ''} FROM {self.table} t "
            f"JOIN __shoreup_sigma_rows s ON t.rowid = s.r "
            f"{'JOIN ' + tmp + ' g ON g.__r = t.rowid' if sel else ''}"
        )
        by_row: dict[int, Event] = {}
        for rec in self.con.execute(q).fetchall():
            ev = Event(
                row=int(rec[0]),
                time=rec[1],
                us=int(rec[2]),
                host=rec[3],
                ref_file=rec[4],
                ref_record=int(rec[5]),
                values=dict(zip(extra, rec[6:], strict=True)),
            )
            by_row[ev.row] = ev
        self.con.unregister("__shoreup_sigma_rows")
        self.stats.matches += sum(len(v) for v in hits.values())
        out: dict[str, list[Event]] = {}
        for i, rws in hits.items():
            evs = [by_row[r] for r in rws if r in by_row]
            evs.sort(key=lambda e: (e.us, e.ref_file, e.ref_record))
            out[rules[i].meta.id] = evs
        return out

    def details(self, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Entity and display fields of some raw rows, for findings."""
        keys = list(dict.fromkeys([*USER_FIELDS, *IP_FIELDS, *SHOW_FIELDS]))
        rows = sorted(set(rows))
        if not rows:
            return {}
        self.con.register("__shoreup_sigma_rows", pa.table({"r": pa.array(rows, pa.int64())}))
        paths = "[" + ", ".join(lit(_path(k)) for k in keys) + "]"
        q = (
            f"SELECT t.rowid, json_extract_string(t.fields, {paths}) FROM {self.table} t "
            "JOIN __shoreup_sigma_rows s ON t.rowid = s.r"
        )
        out: dict[int, dict[str, Any]] = {}
        for row, vals in self.con.execute(q).fetchall():
            out[int(row)] = {k: v for k, v in zip(keys, vals, strict=True) if v not in (None, "", "-")}
        self.con.unregister("__shoreup_sigma_rows")
        return out


_Tuple = tuple[Any, Any, Any, int, int, int]  # lower(channel), event id, lower(format), rows, min and max row id


@dataclass
class _Class:
    """Tuples of (channel, event id, format) extracted by one query, with the keys they need."""

    tuples: list[int]
    rows: int
    values: set[str]
    lowered: set[str]
    keywords: bool

    def cost(self) -> float:
        per_row = _ROW_US + _KEY_US * len(self.values | self.lowered) + (_KW_US if self.keywords else 0.0)
        return _Q_US + self.rows * per_row


def _classes(items: list[tuple[int, int, frozenset[str], frozenset[str], bool]]) -> list[_Class]:
    """Group tuples into extraction queries: same needs share one; small ones merge while cheaper."""
    by_sig: dict[tuple[frozenset[str], frozenset[str], bool], _Class] = {}
    for t, n, v, lo, kw in items:
        sig = (frozenset(v), frozenset(lo), kw)
        c = by_sig.get(sig)
        if c is None:
            by_sig[sig] = _Class([t], n, set(v), set(lo), kw)
        else:
            c.tuples.append(t)
            c.rows += n
    cls = list(by_sig.values())
    # greedy: merge the pair that saves the most, until none saves anything (first pair on ties);
    # the gains sit in a matrix, so a merge recomputes one row and column, not every pair
    k = len(cls)
    if k < 2:
        return cls
    gain = np.full((k, k), -np.inf)
    for i in range(k):
        for j in range(i + 1, k):
            gain[i, j] = _gain(cls[i], cls[j])
    alive = list(range(k))  # positions in ``gain`` of the classes in ``cls`` order
    while len(cls) > 1:
        sub = gain[np.ix_(alive, alive)]
        best = int(np.argmax(sub))
        i, j = divmod(best, len(alive))
        if not sub[i, j] > 0:
            break
        a, b = cls[i], cls[j]
        cls[i] = _Class(a.tuples + b.tuples, a.rows + b.rows, a.values | b.values, a.lowered | b.lowered, a.keywords or b.keywords)
        del cls[j], alive[j]
        for x in range(len(cls)):
            if x != i:
                first, second = min(x, i), max(x, i)
                gain[alive[first], alive[second]] = _gain(cls[first], cls[second])
    return cls


def _gain(a: _Class, b: _Class) -> float:
    merged = _Class([], a.rows + b.rows, a.values | b.values, a.lowered | b.lowered, a.keywords or b.keywords)
    return a.cost() + b.cost() - merged.cost()


_Part = tuple[bytes, npt.NDArray[np.int64]] | None  # rows of an extract: (key, positions); None: all


class _Extracted:
    """One class query's result: ``__r``, ``__t``, ``__e`` (the keys' values, a list per row, in
    ``index`` order), maybe ``__le`` (the same lower-cased) and ``__kw``. Columns are cut from it
    when a group first reads them, and kept: groups that share rows share them."""

    def __init__(self, table: pa.Table, index: dict[str, int]) -> None:
        self.table = table
        self.index = index
        self.t = table.column("__t").to_numpy()
        self.r = table.column("__r").to_numpy().astype(np.int64)
        self._lists: dict[str, tuple[pa.Array, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}
        self._cut: dict[tuple[str, str, bytes | None], pa.Array] = {}

    def part(self, sel: npt.NDArray[np.bool_]) -> _Part:
        """The rows ``sel`` picks (None: every row)."""
        if sel.all():
            return None
        return (np.packbits(sel).tobytes(), np.flatnonzero(sel))

    def array(self, kind: str, key: str, part: _Part) -> pa.Array:
        """Key ``key``'s values (``kind`` "v") or lower-cased values ("l"), or the keyword text
        (``kind`` KW), over the rows of ``part``."""
        ck = (kind, key, None if part is None else part[0])
        got = self._cut.get(ck)
        if got is None:
            if kind == KW:
                got = self._cut.get((KW, key, None))
                if got is None:
                    got = self._cut[(KW, key, None)] = _text(self.table.column(KW).combine_chunks())
                if part is not None:
                    got = got.take(pa.array(part[1]))
            else:
                got = self._element(kind, self.index[key], None if part is None else part[1])
            self._cut[ck] = got
        return got

    def _element(self, kind: str, i: int, rows: npt.NDArray[np.int64] | None) -> pa.Array:
        """Element ``i`` of the lists of ``rows`` (all: None), null where a list is null or shorter:
        one take from the lists' values (``pc.list_element`` costs more to call than to run, and
        would copy every row before the rows are picked)."""
        got = self._lists.get(kind)
        if got is None:
            lists = self.table.column("__e" if kind == "v" else "__le").combine_chunks()
            off = lists.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
            valid = lists.is_valid().to_numpy(zero_copy_only=False)
            got = self._lists[kind] = (lists.values, off[:-1], np.where(valid, np.diff(off), 0))
        values, starts, lens = got
        if rows is not None:
            starts, lens = starts[rows], lens[rows]
        short = lens <= i
        idx = pa.array(starts + i, pa.int64(), mask=short if short.any() else None)
        return _text(values.take(idx))


class _Columns(Mapping[str, pa.Array]):
    """A group's columns by name (``v:F``, ``l:F``, ``__kw``), each assembled from the class extracts
    the first time it is read: a column only the rules a group skips would read is never made."""

    def __init__(self, source: Source, names: list[str], parts: list[tuple[_Extracted, _Part, Variant]]) -> None:
        self.source = source
        self.names = dict.fromkeys(names)
        self.parts = parts
        self._built: dict[str, pa.Array] = {}

    def __getitem__(self, name: str) -> pa.Array:
        got = self._built.get(name)
        if got is not None:
            return got
        if name not in self.names:
            raise KeyError(name)
        pieces: list[pa.Array] = []
        for ex, part, var in self.parts:
            if name == KW:
                pieces.append(ex.array(KW, "", part))
                continue
            kind, fld = name.split(":", 1)
            arrs = [ex.array(kind, k, part) for k in self.source.keys_for(fld, var)]
            pieces.append(arrs[0] if len(arrs) == 1 else pc.coalesce(*arrs))
        got = self._built[name] = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A query's result as an Arrow table.

    Through the DB-API result where the connection offers it: measured on the evtx-attack-samples
    bench, the relation API's Python-side parse and bind cost ~20 ms a query, far more than the copy of
    the (few thousand) rows it saves, about which this DuckDB build warns — silenced here, for this call.
    """
    fetch_result = getattr(con, "to_arrow_table", None)
    if fetch_result is None:  # a DuckDB without it: the relation API
        rel = con.sql(sql)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        table: pa.Table = fetch()
        return table
    con.execute(sql)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        out: pa.Table = fetch_result()
    return out


def _workers(con: duckdb.DuckDBPyConnection) -> int:
    """How many extraction queries run side by side: DuckDB's thread setting, at most the cores."""
    try:
        threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    except (duckdb.Error, ValueError, TypeError):
        return 1
    return max(1, min(threads, os.cpu_count() or 1))


def _text(arr: pa.Array) -> pa.Array:
    return arr if arr.type == pa.string() else arr.cast(pa.string())


#: ``lower`` on each element of a list, in the lambda syntax of this DuckDB (``lambda x: …`` from
#: 1.3 on; 2.0 refuses the older ``x -> …``)
_LOWER_EACH = (
    "lambda x: lower(x)" if tuple(int(p) for p in re.findall(r"\d+", duckdb.__version__)[:2]) >= (1, 3) else "x -> lower(x)"
)


def _holds(v: Variant, c: str | None, e: int | None, f: str | None) -> bool:
    """``Variant.predicate()`` on one (lower(channel), event_id, lower(source_format)), with SQL's NULLs."""
    if v.channels and (c is None or c not in v.channels):
        return False
    if v.event_ids and (e is None or e not in v.event_ids):
        return False
    return not v.formats or (f is not None and f in v.formats) or (c is not None and c in v.formats)


_PY_RE: dict[str, re.Pattern[str]] = {}


def py_regex(value: str | None, pattern: str) -> bool | None:
    """Python's ``re.search``, NULL on NULL: the Sigma compiler's function for what RE2 refuses."""
    if value is None:
        return None
    rx = _PY_RE.get(pattern)
    if rx is None:
        rx = _PY_RE[pattern] = re.compile(pattern)
    return rx.search(value) is not None


def _null_special() -> Any:
    """DuckDB's ``FunctionNullHandling.SPECIAL`` (the function sees NULLs): ``duckdb.func`` in DuckDB 2,
    the top-level module before."""
    try:
        from duckdb.func import FunctionNullHandling  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        FunctionNullHandling = duckdb.FunctionNullHandling  # type: ignore[attr-defined,misc,unused-ignore]
    return FunctionNullHandling.SPECIAL


def _register_py_regex(con: duckdb.DuckDBPyConnection) -> None:
    match = py_regex

    try:
        con.create_function(
            PY_REGEX_UDF,
            match,
            ["VARCHAR", "VARCHAR"],
            "BOOLEAN",
            null_handling=_null_special(),
        )
    except duckdb.Error as e:  # already registered on this connection
        if "already exists" not in str(e):
            raise
