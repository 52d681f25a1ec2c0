"""Every detector finds exactly the same on Spark as on DuckDB, over the same fixtures.

Credential detectors: the firing cases of the detector tables (``tests/detect/credential``), a tenant
that holds every attack and hard negative of ``_auth.py`` at once, and a small simulated organization
read from its native log formats. Sigma: every rule of shoreup's pack over the cases that make it
fire and stay silent (``tests/detect/sigma/test_pack.py``), every correlation type
(``test_correlation.py``), every modifier (``test_compiler.py``), the whole simulated chain, and
values Spark's JSON reader writes differently (the rules reading them are skipped, with the reason).
Findings are compared whole (``to_json()``). One local SparkSession serves the test run
(``conftest.py``); the tests skip, saying why, where pyspark or Java is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from shoreup import detect as registry
from shoreup.detect import sigma
from shoreup.detect.sigma.loader import BUILTIN_DIR, LoadedCorrelation, LoadedRule, RuleSet, load
from shoreup.engine.duckdb import Store
from shoreup.findings import Finding
from shoreup.schema import AUTH
from tests.detect.credential import (
    _auth,
    test_brute_force,
    test_compromise,
    test_distributed_spray,
    test_mfa_fatigue,
    test_password_spray,
)

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
from shoreup.engine import spark as engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detect" / "sigma"))  # the Sigma fixtures
import test_compiler
import test_correlation
import test_pack
from sigma_rawload import raw_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_WHY = engine.available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"Spark engine unavailable: {_WHY}")

CREDENTIAL = [n for n in registry.names() if n != "sigma"]

Rows = Callable[[], list[dict[str, Any]]]


def _cases() -> list[tuple[str, list[str], Rows]]:
    out: list[tuple[str, list[str], Rows]] = []
    tables: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("brute_force", test_brute_force.FIRE),
        ("password_spray", test_password_spray.FIRE),
        ("distributed_spray", test_distributed_spray.FIRE),
        ("mfa_fatigue", test_mfa_fatigue.FIRE),
        ("compromise", test_compromise.FIRE),
        ("mfa_gap", test_compromise.GAP_FIRE),
    ]
    for name, cases in tables:
        out.extend((f"{name}: {case[0]}", [name], case[1]) for case in cases)
    return out


def tenant() -> list[dict[str, Any]]:
    """Every attack and hard negative of ``_auth.py`` in one tenant, so that all of them interact."""
    a = _auth
    return [
        *a.normal_days(200, 4, mfa=False), *a.nat_egress(), *a.typos_then_success(), *a.stale_device(),
        *a.service_account(), *a.travel(), *a.spray_one_ip(60, at=a.DAY + 5 * a.HOUR), *a.distributed(),
        *a.daily_distributed(days=3, at=a.DAY), *a.scanners(4),
        *[a.ev(3 * a.DAY + k * 300, "user150", "185.220.101.4", reason="mfa_denied", method="mfa_push")
          for k in range(8)],
        a.ok(3 * a.DAY + 8 * 300, "user150", "185.220.101.4", method="mfa_push", mfa_used=True),
        *[a.ev(2 * a.DAY + k * 0.5, "root", "203.0.113.5") for k in range(40)],
        a.ok(2 * a.DAY + 30, "root", "203.0.113.5", source_format="sshd"),
        a.ok(2 * a.DAY + 16 * a.HOUR, "user042", "91.240.118.7", user_agent="curl/8", country="RU", asn=48666),
        # a web login form flooded from one address (no account logged, result not told), then a redirect
        *[a.ev(2 * a.DAY + 3 * a.HOUR + k, None, "198.51.100.77", "unknown", None) for k in range(40)],
        a.ev(2 * a.DAY + 3 * a.HOUR + 50, None, "198.51.100.77", "success", None),
    ]


#: One run of every detector over the whole tenant, then (marked slow: ~3 min on two cores) each
#: detector over each of its own firing cases.
CASES = [
    pytest.param("every _auth.py scenario in one tenant", CREDENTIAL, tenant, id="tenant"),
    *(pytest.param(*c, id=c[0], marks=pytest.mark.slow) for c in _cases()),
]


def _load(store: Store, events: list[dict[str, Any]]) -> None:
    if events:
        rows = [{f.name: e.get(f.name) for f in AUTH} for e in events]
        store.append("auth", pa.RecordBatch.from_pylist(rows, schema=AUTH))


def _compare(spark: SparkSession, store: Store, names: list[str], workdir: Path) -> None:
    """Run the detectors on both engines over the store's tables and demand the same findings."""
    with engine.spark_store(spark, store, workdir / "lake") as con:
        for name in names:
            module = registry.load(name)
            on_duckdb = [f.to_json() for f in module.detect(store.con, module.Params())]
            on_spark = [f.to_json() for f in module.detect(con, module.Params())]
            assert on_spark == on_duckdb, name


@pytest.mark.parametrize(("case", "names", "make"), CASES)
def test_same_findings(spark: SparkSession, tmp_path: Path, case: str, names: list[str], make: Rows) -> None:
    with Store() as store:
        _load(store, make())
        _compare(spark, store, names, tmp_path)


def test_simulated_organization(spark: SparkSession, tmp_path: Path) -> None:
    from shoreup import pipeline
    from shoreup.simulate import generate

    generate(tmp_path / "logs", seed=7, users=60, days=2, formats=["sshd", "entra", "okta", "cloudtrail"])
    with Store() as store:
        report = pipeline.ingest([str(tmp_path / "logs")], store)
        assert report.events and store.count("auth")
        on_duckdb = [f.to_json() for f in pipeline.detect(store, CREDENTIAL)]
        assert on_duckdb, "the simulated attacks are found"
        with engine.spark_store(spark, store, tmp_path / "lake") as con:
            on_spark, skipped = engine.detect(con, CREDENTIAL)
    assert skipped == {}
    assert [f.to_json() for f in on_spark] == on_duckdb




# --- Sigma -----------------------------------------------------------------------------------------

#: Each fixture case gets its own time slot: longer than any case (2 h) plus its rules' windows (1 h).
SLOT = 3 * 3600.0


def _raw_store(events: list[dict[str, Any]]) -> Store:
    store = Store()
    for batch in raw_table(events).to_batches():
        store.append("raw", batch)
    return store


def _slotted(events: list[dict[str, Any]], slot: int, ref_file: str) -> list[dict[str, Any]]:
    """Events moved into time slot ``slot`` of their own file (records numbered from 1)."""
    return [
        {**ev, "time": slot * SLOT + float(ev.get("time", j)), "ref_file": ref_file, "ref_record": j + 1}
        for j, ev in enumerate(events)
    ]


def _sigma_both(
    spark: SparkSession, store: Store, workdir: Path, params: sigma.Params, rules: RuleSet | None = None
) -> tuple[list[Finding], list[Finding], dict[str, str]]:
    """The Sigma detector over the store's raw table on DuckDB and on Spark, and what Spark skipped."""
    on_duckdb = sigma.run(store.con, params, rules)
    with engine.spark_store(spark, store, workdir / "lake") as con:
        on_spark, skipped = engine.run_sigma(con, params, rules)
    assert on_spark.summary.events == on_duckdb.summary.events
    assert len(on_spark.summary.skipped) == len(on_duckdb.summary.skipped) + len(skipped)
    return on_duckdb.findings, on_spark.findings, skipped


def _same(on_duckdb: list[Finding], on_spark: list[Finding], skipped: dict[str, str] | None = None) -> None:
    """Spark's findings are DuckDB's, less those of the rules Spark skipped."""
    expected = [f.to_json() for f in on_duckdb if f.detector not in (skipped or {})]
    assert [f.to_json() for f in on_spark] == expected


def _yaml_rules(tmp_path: Path, docs: list[str]) -> RuleSet:
    path = tmp_path / "rules.yml"
    path.write_text("\n---\n".join(docs), encoding="utf-8")
    rs = load([path])
    assert not rs.skipped, rs.skipped
    return rs


def test_sigma_pack_fires_and_stays_silent_alike(spark: SparkSession, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    files: dict[str, tuple[str, str]] = {}
    for n, title in enumerate(sorted(test_pack.CASES)):
        fire, silent = test_pack.CASES[title]
        files[title] = (f"pack{n:02d}-fire.evtx", f"pack{n:02d}-silent.evtx")
        events += _slotted(fire, 2 * n, files[title][0]) + _slotted(silent, 2 * n + 1, files[title][1])
    rs = load([BUILTIN_DIR])
    loaded: list[LoadedRule | LoadedCorrelation] = [*rs.rules, *rs.correlations]
    ids = {x.meta.title: x.meta.id for x in loaded if x.output}
    assert set(ids) == set(test_pack.CASES)
    with _raw_store(events) as store:
        on_duckdb, on_spark, skipped = _sigma_both(spark, store, tmp_path, sigma.Params())
    assert skipped == {}
    _same(on_duckdb, on_spark)
    for title, (fire, silent) in files.items():
        hit = {ref.file for f in on_spark if f.detector == ids[title] for ref in f.evidence}
        assert fire in hit, f"{title} did not fire on Spark"
        assert silent not in hit, f"{title} fired on its silent case on Spark"


def test_sigma_correlations_of_every_type(spark: SparkSession, tmp_path: Path) -> None:
    tc = test_correlation
    base_c = tc.BASE_B.replace("4624", "4648").replace("success logon", "explicit logon").replace(
        "222222222202", "222222222203"
    ).replace("name: success", "name: explicit")

    def cid(n: int) -> str:
        return f"44444444-4444-4444-8444-{n:012d}"

    bodies = {
        "event_count": "  type: event_count\n  rules: [failed]\n  group-by: [TargetUserName]\n  timespan: 5m\n"
        "  condition:\n    gte: 5",
        "value_count": "  type: value_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 1h\n"
        "  condition:\n    field: TargetUserName\n    gte: 3",
        "value_sum": "  type: value_sum\n  rules: [failed]\n  timespan: 1m\n  condition:\n    field: Bytes\n    gt: 1000",
        "value_avg": "  type: value_avg\n  rules: [failed]\n  timespan: 1m\n  condition:\n    field: Bytes\n    gte: 200",
        "value_percentile": "  type: value_percentile\n  rules: [failed]\n  timespan: 1m\n  condition:\n"
        "    field: Bytes\n    percentile: 50\n    gte: 25",
        "temporal": "  type: temporal\n  rules: [failed, success]\n  group-by: [TargetUserName]\n  timespan: 10m",
        "temporal_ordered": "  type: temporal_ordered\n  rules: [failed, success]\n  group-by: [TargetUserName]\n"
        "  timespan: 10m",
        "aliases": "  type: temporal\n  rules: [failed, explicit]\n  group-by: [account]\n  timespan: 10m\n"
        "  aliases:\n    account:\n      failed: TargetUserName\n      explicit: SubjectUserName",
        "chained": "  type: temporal_ordered\n  rules: [many_failures, success]\n  group-by: [TargetUserName]\n"
        "  timespan: 1h",
    }
    docs = [tc.BASE, tc.BASE_B, base_c]
    docs += [tc.corr(body, cid=cid(n)) for n, body in enumerate(bodies.values())]
    docs.append(tc.corr(
        "  type: event_count\n  rules: [failed]\n  group-by: [TargetUserName]\n  timespan: 5m\n  condition:\n    gte: 3",
        cid=cid(99), extra="name: many_failures\n",
    ))
    docs.append(tc.corr(
        "  type: event_count\n  generate: true\n  rules: [success]\n  timespan: 1h\n  condition:\n    gte: 1",
        cid=cid(98),
    ))
    rs = _yaml_rules(tmp_path, docs)
    scenarios: list[list[dict[str, Any]]] = [
        [tc.fail(240 + 30 * i) for i in range(5)],  # a burst across a clock-bucket edge
        [tc.fail(200 * i) for i in range(6)] + [tc.fail(i, user="u1" if i % 2 else "u2") for i in range(8)],
        [tc.fail(i * 10) for i in range(20)] + [tc.fail(3600 + i) for i in range(5)],  # merged windows, a gap
        [tc.fail(i, user=f"user{i % 3}") for i in range(6)] + [tc.fail(i, user="same", ip="10.9.9.9") for i in range(9)],
        [tc.fail(i, Bytes=v) for i, v in enumerate([10, 20, 30, 1000])],
        [tc.fail(0), tc.ok(120), tc.fail(0, user="eve"), tc.ok(1200, user="eve")],
        [tc.fail(0), tc.ok(60), tc.ok(0, user="eve"), tc.fail(60, user="eve")],
        [tc.fail(0), {"time": 30, "fields": {"EventID": 4648, "Channel": "Security", "SubjectUserName": "bob"}}],
        [tc.fail(i) for i in range(3)] + [tc.ok(600)] + [tc.fail(0, user="eve"), tc.ok(600, user="eve")],
    ]
    events = [ev for n, evs in enumerate(scenarios) for ev in _slotted(evs, n, f"corr{n}.evtx")]
    with _raw_store(events) as store:
        on_duckdb, on_spark, skipped = _sigma_both(spark, store, tmp_path, sigma.Params(include_builtin=False), rs)
    assert skipped == {}
    _same(on_duckdb, on_spark)
    kinds = {f.metrics.get("correlation") for f in on_spark}
    assert {"event_count", "value_count", "value_sum", "value_avg", "value_percentile", "temporal",
            "temporal_ordered"} <= kinds
    fired = {f.detector for f in on_spark}
    assert {cid(n) for n in range(len(bodies))} | {cid(98)} <= fired  # cid(99) feeds the chain only


@pytest.mark.parametrize("per_query", [engine.SIGMA_PREDICATES_PER_QUERY, 4], ids=["one query", "a cached group"])
def test_sigma_every_modifier(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_query: int
) -> None:
    """Every modifier of the compiler's table; with 4 rules a query, the group is made once and cached."""
    monkeypatch.setattr(engine, "SIGMA_PREDICATES_PER_QUERY", per_query)
    docs, events = [], []
    for n, (name, detection, evs, _) in enumerate(test_compiler.CASES):
        rule = test_compiler.RULE.format(detection=detection)
        docs.append(rule.replace("11111111-1111-4111-8111-111111111111", f"55555555-5555-4555-8555-{n:012d}")
                    .replace("title: t", f"title: {name!r}"))
        events += _slotted([dict(e) for e in evs], n, f"mod{n:02d}.evtx")
    rs = _yaml_rules(tmp_path, docs)
    with _raw_store(events) as store:
        on_duckdb, on_spark, skipped = _sigma_both(spark, store, tmp_path, sigma.Params(include_builtin=False), rs)
    assert skipped == {}
    _same(on_duckdb, on_spark)
    for n, (name, _, _, expected) in enumerate(test_compiler.CASES):
        got = sorted(r.record - 1 for f in on_spark if f.detector.endswith(f"{n:012d}")
                     for r in f.evidence if r.file == f"mod{n:02d}.evtx")
        assert got == expected, name


def test_sigma_simulated_chain(spark: SparkSession, tmp_path: Path) -> None:
    from shoreup import pipeline
    from shoreup.simulate import generate

    generate(tmp_path / "logs", seed=7, users=40, days=2)
    with Store() as store:
        report = pipeline.ingest([str(tmp_path / "logs")], store)
        assert report.events and store.count("raw")
        on_duckdb, on_spark, skipped = _sigma_both(spark, store, tmp_path, sigma.Params())
    assert skipped == {}
    assert {f.title for f in on_duckdb} >= {"Shadow Copies Deleted or Shrunk", "Security Event Log Cleared"}
    _same(on_duckdb, on_spark)


SKIP_RULES = """
title: letters
id: 66666666-6666-4666-8666-000000000001
name: letters
status: test
logsource:
  product: windows
  category: process_creation
detection:
  s:
    CommandLine|re: '\\p{Lu}{3}'
  condition: s
level: low
---
title: score
id: 66666666-6666-4666-8666-000000000002
status: test
logsource:
  product: windows
  category: process_creation
detection:
  s:
    Score|contains: '0.00001'
  condition: s
level: low
---
title: keyword
id: 66666666-6666-4666-8666-000000000003
status: test
logsource:
  product: windows
  category: process_creation
detection:
  kw:
    - 'evil'
  condition: kw
level: low
---
title: plain
id: 66666666-6666-4666-8666-000000000004
status: test
logsource:
  product: windows
  category: process_creation
detection:
  s:
    CommandLine|contains: 'evil'
  condition: s
level: low
---
title: many letters
id: 66666666-6666-4666-8666-000000000005
status: test
correlation:
  type: event_count
  rules: [letters]
  timespan: 1h
  condition:
    gte: 1
level: high
"""


def test_sigma_skips_what_spark_cannot_do_exactly(spark: SparkSession, tmp_path: Path) -> None:
    """A Unicode regex class, and values Spark's JSON reader writes differently: skipped, with why."""
    rs = _yaml_rules(tmp_path, [SKIP_RULES])
    sysmon = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"}
    events = [
        {"fields": {**sysmon, "CommandLine": "ABC evil", "Score": 1e-05}},  # DuckDB: 0.00001, Spark: 1.0E-5
        {"fields": {**sysmon, "CommandLine": "evil too", "Extra": [1.5, {"x": 2.5e-8}]}},
        {"fields": {**sysmon, "CommandLine": "benign", "Score": 0.25}},
    ]
    with _raw_store(events) as store:
        on_duckdb, on_spark, skipped = _sigma_both(spark, store, tmp_path, sigma.Params(include_builtin=False), rs)
        assert {f.detector for f in on_duckdb} >= {"66666666-6666-4666-8666-000000000002"}
        assert set(skipped) == {f"66666666-6666-4666-8666-00000000000{i}" for i in (1, 2, 3, 5)}
        assert "\\p" in skipped["66666666-6666-4666-8666-000000000001"]
        assert "Score" in skipped["66666666-6666-4666-8666-000000000002"]
        assert "keywords" in skipped["66666666-6666-4666-8666-000000000003"]
        assert "'letters'" in skipped["66666666-6666-4666-8666-000000000005"]
        _same(on_duckdb, on_spark, skipped)
        assert [f.detector for f in on_spark] == ["66666666-6666-4666-8666-000000000004"] * 2
        # hunt --engine spark names each skipped rule and its reason
        rules_dir = tmp_path / "rules.yml"
        with engine.spark_store(spark, store, tmp_path / "lake") as con:
            found, left_out = engine.detect(con, ["sigma"], {"sigma": {"rule_dirs": [str(rules_dir)],
                                                                      "include_builtin": False}})
        summary = sigma.last_load_summary()
    assert [f.to_json() for f in found] == [f.to_json() for f in on_spark]
    assert "sigma rule 'score' (66666666-6666-4666-8666-000000000002)" in left_out and len(left_out) == 4
    assert summary is not None and sum(s.reason.startswith("not run on Spark") for s in summary.skipped) == 4


def test_sigma_python_regex_runs_as_a_spark_udf(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pattern DuckDB's RE2 refuses runs on Python's re: on Spark through the same function, as a UDF.

    (Compared with Python's own answer: the DuckDB runner registers its function with
    ``duckdb.FunctionNullHandling``, which DuckDB 2 moved to ``duckdb.func``.)
    """
    import re

    from shoreup.detect.sigma import compiler

    monkeypatch.setattr(compiler, "re2_ok", lambda pattern: "b.d" not in pattern)
    rs = _yaml_rules(tmp_path, [test_compiler.RULE.format(detection="  s:\n    CommandLine|re: 'b.d'\n  condition: s")])
    assert rs.rules[0].needs.py_regex and compiler.PY_REGEX_UDF in rs.rules[0].sql
    lines = ["abcde", "bd", "BxD", "xb\nd", None]
    store = _raw_store([test_compiler.ev(CommandLine=c) for c in lines])
    with store, engine.spark_store(spark, store, tmp_path / "lake") as con:
        run, skipped = engine.run_sigma(con, sigma.Params(include_builtin=False), rs)
    assert skipped == {}
    expected = [i + 1 for i, c in enumerate(lines) if c is not None and re.search("b.d", c)]
    assert [r.record for f in run.findings for r in f.evidence] == expected == [1]
