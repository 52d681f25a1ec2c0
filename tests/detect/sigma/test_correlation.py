"""Sigma v2.1 correlations on true sliding windows: counts, values, temporal order, chains, generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import run_yaml

BASE = """
title: failed logon
id: 22222222-2222-4222-8222-222222222201
name: failed
status: test
logsource:
  product: windows
  service: security
detection:
  s:
    EventID: 4625
  condition: s
level: low
"""
BASE_B = """
title: success logon
id: 22222222-2222-4222-8222-222222222202
name: success
status: test
logsource:
  product: windows
  service: security
detection:
  s:
    EventID: 4624
  condition: s
level: low
"""


def corr(body: str, cid: str = "33333333-3333-4333-8333-333333333301", extra: str = "") -> str:
    return f"""
title: corr
id: {cid}
{extra}status: test
correlation:
{body}
level: high
tags:
  - attack.t1110
"""


def fail(t: float, user: str = "bob", ip: str = "10.0.0.1", **kw: Any) -> dict[str, Any]:
    return {"time": t, "fields": {"EventID": 4625, "Channel": "Security", "TargetUserName": user, "IpAddress": ip, **kw}}


def ok(t: float, user: str = "bob", ip: str = "10.0.0.1") -> dict[str, Any]:
    return {"time": t, "fields": {"EventID": 4624, "Channel": "Security", "TargetUserName": user, "IpAddress": ip}}


EVENT_COUNT = corr("  type: event_count\n  rules: [failed]\n  group-by: [TargetUserName]\n  timespan: 5m\n  condition:\n    gte: 5")


def test_burst_across_a_clock_bucket_edge_is_one_match(tmp_path: Path) -> None:
    # 10:04:00 … 10:06:00: five failures in two minutes straddling the 10:05 bucket edge —
    # fixed 5-minute buckets would see 3 + 2 and miss it.
    events = [fail(240 + 30 * i) for i in range(5)]
    res = run_yaml(tmp_path, BASE + "---" + EVENT_COUNT, events)
    (f,) = res.findings
    assert f.metrics["correlation"] == "event_count" and f.metrics["value"] == 5
    assert f.metrics["group"] == {"TargetUserName": "bob"}
    assert f.metrics["window_start"] == "2026-03-01T10:04:00Z" and f.metrics["window_end"] == "2026-03-01T10:06:00Z"
    assert [r.record for r in f.evidence] == [1, 2, 3, 4, 5]
    assert f.technique == "T1110"


def test_spread_out_events_do_not_match_and_groups_are_apart(tmp_path: Path) -> None:
    slow = [fail(200 * i) for i in range(6)]  # one every 200 s: never 5 within 5 minutes
    split = [fail(i, user="u1" if i % 2 else "u2") for i in range(8)]  # 4 per user
    assert run_yaml(tmp_path, BASE + "---" + EVENT_COUNT, slow + split).findings == []


def test_overlapping_windows_merge_into_one_match_and_a_gap_starts_another(tmp_path: Path) -> None:
    events = [fail(i * 10) for i in range(20)] + [fail(3600 + i) for i in range(5)]
    res = run_yaml(tmp_path, BASE + "---" + EVENT_COUNT, events)
    assert [len(f.evidence) for f in res.findings] == [20, 5]
    assert res.findings[0].metrics["value"] == 20


def test_value_count_reports_distinct_values(tmp_path: Path) -> None:
    body = "  type: value_count\n  rules: [failed]\n  group-by: [IpAddress]\n  timespan: 1h\n  condition:\n    field: TargetUserName\n    gte: 3"
    events = [fail(i, user=f"user{i % 3}") for i in range(6)] + [fail(i, user="same", ip="10.9.9.9") for i in range(9)]
    (f,) = run_yaml(tmp_path, BASE + "---" + corr(body), events).findings
    assert f.metrics["group"] == {"IpAddress": "10.0.0.1"}
    assert f.metrics["distinct"] == ["user0", "user1", "user2"] and f.metrics["value"] == 3


def test_value_sum_avg_percentile(tmp_path: Path) -> None:
    events = [fail(i, Bytes=v) for i, v in enumerate([10, 20, 30, 1000])]
    for body, value in [
        ("  type: value_sum\n  rules: [failed]\n  timespan: 1m\n  condition:\n    field: Bytes\n    gt: 1000", 1060),
        ("  type: value_avg\n  rules: [failed]\n  timespan: 1m\n  condition:\n    field: Bytes\n    gte: 200", 265),
        ("  type: value_percentile\n  rules: [failed]\n  timespan: 1m\n  condition:\n    field: Bytes\n    percentile: 50\n    gte: 25", 25),
    ]:
        (f,) = run_yaml(tmp_path, BASE + "---" + corr(body), events).findings
        assert f.metrics["value"] == value, body


def test_temporal_needs_every_rule_within_the_window(tmp_path: Path) -> None:
    body = "  type: temporal\n  rules: [failed, success]\n  group-by: [TargetUserName]\n  timespan: 10m"
    events = [fail(0), ok(120), fail(0, user="eve"), ok(1200, user="eve")]
    (f,) = run_yaml(tmp_path, BASE + "---" + BASE_B + "---" + corr(body), events).findings
    assert f.metrics["group"] == {"TargetUserName": "bob"} and f.metrics["rules_seen"] == sorted(
        ["22222222-2222-4222-8222-222222222201", "22222222-2222-4222-8222-222222222202"]
    )


def test_temporal_ordered_respects_the_order(tmp_path: Path) -> None:
    body = "  type: temporal_ordered\n  rules: [failed, success]\n  group-by: [TargetUserName]\n  timespan: 10m"
    events = [fail(0), ok(60), ok(0, user="eve"), fail(60, user="eve")]
    (f,) = run_yaml(tmp_path, BASE + "---" + BASE_B + "---" + corr(body), events).findings
    assert f.metrics["group"] == {"TargetUserName": "bob"}


def test_aliases_group_different_field_names(tmp_path: Path) -> None:
    base_b = BASE_B.replace("4624", "4648")
    body = (
        "  type: temporal\n  rules: [failed, success]\n  group-by: [account]\n  timespan: 10m\n"
        "  aliases:\n    account:\n      failed: TargetUserName\n      success: SubjectUserName"
    )
    events = [fail(0), {"time": 30, "fields": {"EventID": 4648, "Channel": "Security", "SubjectUserName": "bob"}}]
    (f,) = run_yaml(tmp_path, BASE + "---" + base_b + "---" + corr(body), events).findings
    assert f.metrics["group"] == {"account": "bob"}


def test_chained_correlation(tmp_path: Path) -> None:
    inner = corr(
        "  type: event_count\n  rules: [failed]\n  group-by: [TargetUserName]\n  timespan: 5m\n  condition:\n    gte: 3",
        cid="33333333-3333-4333-8333-333333333302",
        extra="name: many_failures\n",
    )
    outer = corr("  type: temporal_ordered\n  rules: [many_failures, success]\n  group-by: [TargetUserName]\n  timespan: 1h")
    events = [fail(i) for i in range(3)] + [ok(600)] + [fail(0, user="eve"), ok(600, user="eve")]
    res = run_yaml(tmp_path, BASE + "---" + BASE_B + "---" + inner + "---" + outer, events)
    assert [f.detector for f in res.findings] == ["33333333-3333-4333-8333-333333333301"]
    assert len(res.findings[0].evidence) == 4


def test_generate_keeps_the_base_rule_findings(tmp_path: Path) -> None:
    events = [fail(i) for i in range(5)]
    silent = run_yaml(tmp_path, BASE + "---" + EVENT_COUNT, events)
    assert {f.detector for f in silent.findings} == {"33333333-3333-4333-8333-333333333301"}
    loud = run_yaml(tmp_path, BASE + "---" + EVENT_COUNT.replace("  type: event_count", "  type: event_count\n  generate: true"), events)
    assert len(loud.findings) == 6
