"""Sigma rules: shoreup's wiper-chain pack and any rule folder you give, correlations on sliding windows.

Rules come from ``shoreup/rules/`` and every ``--rules DIR``; they run over the ``raw`` table. A plain
rule gives one finding per matching event; a correlation one finding per match, with its window,
group, distinct values and member events. Every rule that cannot be used is listed with its reason
(``shoreup rules check``); ``last_load_summary()`` tells ``hunt`` how many ran and how many were
skipped.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from shoreup.findings import Finding, Ref
from shoreup.schema import normalize_user

from ._files import BUILTIN_DIR, Skip, yaml_files
from .cache import cached_summary, load_cached

if TYPE_CHECKING:  # pySigma and the compiler are imported only when rules run (or are checked)
    import duckdb

    from .correlate import Match
    from .loader import LoadedCorrelation, LoadedRule, RuleSet
    from .runner import Event, RunStats

__all__ = [
    "NAME",
    "TECHNIQUE",
    "TITLE",
    "LoadSummary",
    "Params",
    "SigmaRun",
    "check",
    "detect",
    "findings_of",
    "last_load_summary",
    "load_rules",
    "run",
]

NAME = "sigma"
TECHNIQUE = ""  # each rule carries its own (from its attack.t… tags)
TITLE = "Sigma rules"


@dataclass
class Params:
    """Which rules run."""

    rule_dirs: list[str] = field(
        default_factory=list, metadata={"doc": "Extra folders (or files) of Sigma rules, e.g. a SigmaHQ checkout."}
    )
    include_builtin: bool = field(default=True, metadata={"doc": "Run shoreup's own rule pack (shoreup/rules)."})


@dataclass
class LoadSummary:
    """How many rules were loaded and ran, and which were skipped, for ``hunt``'s summary."""

    files: int = 0
    loaded: int = 0
    correlations: int = 0
    skipped: list[Skip] = field(default_factory=list)
    ran: int = 0  # rules evaluated (plain rules whose logsource has events, plus correlations)
    events: int = 0  # rows of raw scanned
    matches: int = 0  # rule-event matches before findings

    def line(self) -> str:
        """One sentence for the terminal."""
        return (
            f"Sigma: {self.loaded} rules loaded ({self.correlations} correlations), "
            f"{len(self.skipped)} skipped; {self.ran} ran over {self.events} events"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "loaded": self.loaded,
            "correlations": self.correlations,
            "ran": self.ran,
            "events": self.events,
            "skipped": [s.to_json() for s in self.skipped],
        }


@dataclass
class SigmaRun:
    """The result of one run: its findings and its load summary."""

    findings: list[Finding]
    summary: LoadSummary


_last: LoadSummary | None = None


def last_load_summary() -> LoadSummary | None:
    """The summary of the last ``detect`` in this process (None before the first)."""
    return _last


def _fingerprint(dirs: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in yaml_files(dirs):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


@lru_cache(maxsize=4)
def _load_cached(dirs: tuple[str, ...], fingerprint: tuple[tuple[str, int, int], ...]) -> RuleSet:
    del fingerprint  # part of the in-process key only: a changed file reloads
    return load_cached(list(dirs))


def load_rules(params: Params) -> RuleSet:
    """The RuleSet for ``params``: kept in the process while the rule files are unchanged, and in
    the compiled-rule cache on disk between processes (see :mod:`.cache`; ``SHOREUP_NO_CACHE=1``
    turns that off)."""
    t = _dirs(params)
    return _load_cached(t, _fingerprint(t))


def _dirs(params: Params) -> tuple[str, ...]:
    return tuple(([str(BUILTIN_DIR)] if params.include_builtin else []) + [str(d) for d in params.rule_dirs])


def run(con: duckdb.DuckDBPyConnection, params: Params, rules: RuleSet | None = None) -> SigmaRun:
    """Run the rules over ``con``'s ``raw`` table; findings sorted, with the load summary.

    With no ``raw`` rows (a hunt of Linux or cloud logs) nothing runs: the summary comes from the
    compiled-rule cache's head when it has the entry, so pySigma is not even imported."""
    if rules is None and not _has_rows(con, "raw"):
        known = cached_summary(_dirs(params))
        if known is not None:
            return SigmaRun([], LoadSummary(**known))
    rs = rules if rules is not None else load_rules(params)
    summary = LoadSummary(
        files=rs.files, loaded=rs.loaded, correlations=len(rs.correlations), skipped=list(rs.skipped)
    )
    if not _has_table(con, "raw"):
        return SigmaRun([], summary)
    from .runner import Runner

    runner = Runner(con, rs)
    events = runner.run()
    stats: RunStats = runner.stats
    summary.events, summary.matches = stats.events, stats.matches
    summary.ran = stats.rules_run + (len(rs.correlations) if stats.events else 0)
    return SigmaRun(findings_of(rs, events, runner.details), summary)


def findings_of(
    rs: RuleSet, events: dict[str, list[Event]], details: Callable[[Iterable[int]], dict[int, dict[str, Any]]]
) -> list[Finding]:
    """The findings of the matched events of ``rs``'s plain rules (by rule id), correlations included.

    ``details`` gives the entity and display fields of events by their ``row`` (see
    ``Runner.details``). Every engine ends here, so a match makes the same finding on each.
    """
    from .correlate import correlate

    findings: list[Finding] = []
    by_rule = {r.meta.id: r for r in rs.rules}
    plain = [(by_rule[i], evs) for i, evs in events.items() if by_rule[i].output]
    plain_details = details(e.row for _, evs in plain for e in evs)
    seen: dict[int, _Shown] = {}  # what a finding shows of an event, once per event (rules share events)
    for rule, evs in plain:
        findings.extend(_plain_finding(rule, e, plain_details.get(e.row, {}), seen) for e in evs)
    matches: dict[str, list[Match]] = {}
    for c in rs.correlations:  # loader order: every correlation after those it refers to
        matches[c.meta.id] = correlate(c, events, matches)
    corr_rows = [e.row for c in rs.correlations if c.output for m in matches[c.meta.id] for e in m.members]
    cdetails = details(corr_rows)
    for c in rs.correlations:
        if c.output:
            findings.extend(_corr_finding(c, m, cdetails) for m in matches[c.meta.id])
    findings.sort(key=Finding.sort_key)
    return findings


def detect(con: duckdb.DuckDBPyConnection, params: Params) -> list[Finding]:
    """Findings of every loaded Sigma rule over the ``raw`` table (see ``last_load_summary``).

    A connection of another engine that runs the rules its own way offers ``sigma_run(params)``
    (:class:`shoreup.engine.spark.SparkConnection`); a DuckDB connection runs :func:`run`.
    """
    global _last
    engine_run = getattr(con, "sigma_run", None)
    result: SigmaRun = engine_run(params) if callable(engine_run) else run(con, params)
    _last = result.summary
    return result.findings


def _has_rows(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    if not _has_table(con, name):
        return False
    row = con.execute(f"SELECT EXISTS (SELECT 1 FROM {name})").fetchone()
    return bool(row and row[0])


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? UNION ALL "
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
        [name, name],
    ).fetchall()
    return any(int(r[0]) for r in row)


def _entities(d: dict[str, Any]) -> tuple[list[str], list[str]]:
    from .runner import IP_FIELDS, USER_FIELDS

    users = []
    for f in USER_FIELDS:
        if f in d:
            u, _ = normalize_user(str(d[f]))
            if u:
                users.append(u)
                break
    ips = [str(d[f]) for f in IP_FIELDS if f in d and str(d[f]) not in ("::1", "127.0.0.1", "-")][:1]
    return users, ips


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class _Shown:
    """What a plain rule's finding shows of one event, whichever rule matched it."""

    users: list[str]
    ips: list[str]
    fields: dict[str, Any]
    what: str
    time: dt.datetime


def _plain_finding(rule: LoadedRule, e: Event, d: dict[str, Any], seen: dict[int, _Shown] | None = None) -> Finding:
    from .runner import SHOW_FIELDS

    v = seen.get(e.row) if seen is not None else None
    if v is None:
        users, ips = _entities(d)
        what = next((str(d[k]) for k in ("CommandLine", "TargetFilename", "ImageLoaded", "ServiceName") if k in d), "")
        v = _Shown(users, ips, {k: d[k] for k in SHOW_FIELDS if k in d}, what, _utc(e.time))
        if seen is not None:
            seen[e.row] = v
    host = e.host or "an unknown host"
    summary = f"{rule.meta.title} on {host}" + (f": {_clip(v.what)}" if v.what else "")
    return Finding(
        detector=rule.meta.id,
        technique=rule.meta.techniques[0] if rule.meta.techniques else "",
        title=rule.meta.title,
        severity=rule.meta.level,
        confidence=rule.meta.confidence,
        start=v.time,
        end=v.time,
        users=list(v.users),
        src_ips=list(v.ips),
        hosts=[e.host] if e.host else [],
        metrics={
            "rule": {"id": rule.meta.id, "path": rule.meta.path, "techniques": rule.meta.techniques},
            "fields": dict(v.fields),
        },
        evidence=[Ref(e.ref_file, e.ref_record)],
        summary=summary,
        key=f"{e.ref_file}:{e.ref_record}",
    )


def _corr_finding(c: LoadedCorrelation, m: Match, details: dict[int, dict[str, Any]]) -> Finding:
    users: list[str] = []
    ips: list[str] = []
    for e in m.members:
        u, i = _entities(details.get(e.row, {}))
        users += u
        ips += i
    start = dt.datetime.fromtimestamp(m.start_us / 1e6, dt.UTC)
    end = dt.datetime.fromtimestamp(m.end_us / 1e6, dt.UTC)
    group = {k: v for k, v in m.group.items()}
    measure = {
        "event_count": "events",
        "value_count": f"distinct {', '.join(c.fieldref)}",
        "value_sum": f"sum of {', '.join(c.fieldref)}",
        "value_avg": f"average {', '.join(c.fieldref)}",
        "value_percentile": f"p{c.percentile} of {', '.join(c.fieldref)}",
        "temporal": "rules seen",
        "temporal_ordered": "rules seen in order",
    }.get(c.kind, c.kind)
    value = int(m.value) if float(m.value).is_integer() else round(m.value, 3)
    who = ", ".join(f"{k}={v}" for k, v in group.items()) or "all events"
    summary = (
        f"{c.meta.title}: {value} {measure} within {c.rule.timespan.spec} for {_clip(who)}, "
        f"{len(m.members)} events from {_iso(start)} to {_iso(end)}"
    )
    return Finding(
        detector=c.meta.id,
        technique=c.meta.techniques[0] if c.meta.techniques else "",
        title=c.meta.title,
        severity=c.meta.level,
        confidence=c.meta.confidence,
        start=start,
        end=end,
        users=users,
        src_ips=ips,
        hosts=[e.host for e in m.members if e.host],
        metrics={
            "rule": {"id": c.meta.id, "path": c.meta.path, "techniques": c.meta.techniques},
            "correlation": c.kind,
            "timespan": c.rule.timespan.spec,
            "window_start": _iso(start),
            "window_end": _iso(end),
            "group": group,
            "value": value,
            "condition": {"op": c.op, "threshold": c.threshold} if c.op else None,
            "distinct": m.distinct[:100],
            "distinct_total": len(m.distinct),
            "events": len(m.members),
            "rules_seen": m.rules_seen,
        },
        evidence=[Ref(e.ref_file, e.ref_record) for e in m.members],
        summary=summary,
        key=orjson.dumps(group, option=orjson.OPT_SORT_KEYS).decode(),
    )


def _iso(t: dt.datetime) -> str:
    from shoreup.findings import iso

    return iso(t)


def _clip(s: str, n: int = 160) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def check(dirs: list[str], json_out: bool) -> int:
    """``shoreup rules check [DIR…]``: list every rule as loaded or skipped (with why); 0 ok, 2 bad dir."""
    targets = dirs or [str(BUILTIN_DIR)]
    bad = [d for d in targets if not Path(d).exists()]
    unreadable = [d for d in targets if Path(d).exists() and not _readable(Path(d))]
    if bad or unreadable:
        for d in bad:
            print(f"shoreup: rules folder not found: {d}", file=sys.stderr)
        for d in unreadable:
            print(f"shoreup: rules folder not readable: {d}", file=sys.stderr)
        return 2
    from .loader import load

    rs = load(targets)
    if json_out:
        doc = {"loaded": rs.loaded, "skipped": [s.to_json() for s in rs.skipped]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    rows: list[tuple[str, str, str, str]] = []
    for r in rs.rules:
        rows.append(("loaded", r.meta.path, r.meta.id, f"{r.source.key}{' (by name)' if r.source.generic else ''}"))
    for c in rs.correlations:
        rows.append(("loaded", c.meta.path, c.meta.id, f"correlation {c.kind} over {len(c.refs)} rules"))
    for s in rs.skipped:
        rows.append(("skipped", s.path, s.id, s.reason))
    rows.sort(key=lambda r: (r[1], r[2]))
    for status, path, rid, note in rows:
        print(f"{status:8} {_safe(path)}  {_safe(rid) or '-'}  {_safe(note)}")
    total = rs.loaded + len(rs.skipped)
    share = 100.0 * rs.loaded / total if total else 100.0
    print(f"{rs.loaded} loaded, {len(rs.skipped)} skipped ({share:.1f} % loaded) from {rs.files} files")
    return 0


def _readable(p: Path) -> bool:
    try:
        if p.is_dir():
            next(iter(p.iterdir()), None)
        else:
            with p.open("rb"):
                pass
    except OSError:
        return False
    return True


def _safe(s: str) -> str:
    """Strip terminal control characters from rule-supplied text."""
    return "".join(ch if ch.isprintable() else "?" for ch in s)
