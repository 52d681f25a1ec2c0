"""Run a RuleSet over the ``raw`` table: one extraction per logsource, many rules per pass.

For each logsource group, the fields its rules read are extracted from the ``fields`` JSON once
(one ``json_extract_string`` with every path) into a temporary table of text and lower-cased
columns. Rules that cannot match (their necessary atoms hold nowhere, see :mod:`.prefilter`) are
dropped in one join; the rest run as one narrow SELECT each. Only matching rows travel back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from .compiler import PY_REGEX_UDF, lcol, lit, vcol
from .loader import LoadedCorrelation, LoadedRule, RuleSet
from .logsource import Source
from .prefilter import Atom

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


class Runner:
    """Evaluates the plain rules of a RuleSet on one connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, rs: RuleSet, table: str = "raw") -> None:
        self.con = con
        self.rs = rs
        self.table = table
        self.stats = RunStats()
        self.corr_fields = correlation_fields(rs)
        self.needed = self._needed_rules()

    def _needed_rules(self) -> set[str]:
        """Rules that must run: those with output, and those a correlation uses."""
        need = {r.meta.id for r in self.rs.rules if r.output}
        by_id = self.rs.by_id()

        def walk(i: str) -> None:
            t = by_id[i]
            if isinstance(t, LoadedCorrelation):
                for r in t.refs:
                    walk(r)
            else:
                need.add(i)

        for c in self.rs.correlations:
            walk(c.meta.id)
        return need

    def run(self) -> dict[str, list[Event]]:
        """Every needed rule's matching events, by rule id (rules without matches absent)."""
        self.stats.events = int(self.con.execute(f"SELECT count(*) FROM {self.table}").fetchall()[0][0])
        out: dict[str, list[Event]] = {}
        if not self.stats.events:
            return out
        if any(r.needs.py_regex for r in self.rs.rules):
            _register_py_regex(self.con)
        groups: dict[str, list[LoadedRule]] = defaultdict(list)
        sources: dict[str, Source] = {}
        for r in self.rs.rules:
            if r.meta.id in self.needed:
                groups[r.source.key].append(r)
                sources[r.source.key] = r.source
        for n, key in enumerate(sorted(groups)):
            out.update(self._group(n, sources[key], groups[key]))
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


def _register_py_regex(con: duckdb.DuckDBPyConnection) -> None:
    cache: dict[str, re.Pattern[str]] = {}

    def match(value: str | None, pattern: str) -> bool | None:
        if value is None:
            return None
        rx = cache.get(pattern)
        if rx is None:
            rx = cache[pattern] = re.compile(pattern)
        return rx.search(value) is not None

    try:
        con.create_function(
            PY_REGEX_UDF,
            match,
            ["VARCHAR", "VARCHAR"],
            "BOOLEAN",
            null_handling=duckdb.FunctionNullHandling.SPECIAL,  # type: ignore[attr-defined]
        )
    except duckdb.Error as e:  # already registered on this connection
        if "already exists" not in str(e):
            raise
