"""Incidents along the chain: stages, joins, severity, actions, determinism."""

from __future__ import annotations

import datetime as dt

import pytest

from shoreup import incidents
from shoreup.findings import Finding, Ref
from tests.report import chain


@pytest.fixture(scope="module")
def analysis() -> incidents.Analysis:
    with chain.store() as s:
        return incidents.build(chain.findings(), s.con, chain.mail_doc())


def _f(detector: str, technique: str, **kw: object) -> Finding:
    base: dict[str, object] = {
        "title": "t", "severity": "low", "confidence": 0.5,
        "start": dt.datetime(2026, 3, 3, tzinfo=dt.UTC), "end": dt.datetime(2026, 3, 3, tzinfo=dt.UTC),
    }  # fmt: skip
    base.update(kw)
    return Finding(detector=detector, technique=technique, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("detector", "technique", "rule_tags", "stage"),
    [
        ("mail", "T1566.002", [], "phishing"),
        ("password_spray", "T1110.003", [], "credential_attack"),
        ("distributed_spray", "T1110.003", [], "credential_attack"),
        ("brute_force", "T1110.001", [], "credential_attack"),
        ("mfa_fatigue", "T1621", [], "credential_attack"),
        ("compromise", "T1078", [], "compromise"),
        ("mfa_gap", "T1078", [], None),  # a posture gap, not an attacker step
        ("rule-1", "T1070.001", ["T1070.001"], "tampering"),
        ("rule-2", "T1112", ["T1112", "T1562"], "tampering"),  # any tag of the rule counts
        ("rule-3", "T1490", ["T1490"], "destruction"),
        ("rule-4", "T1561.002", ["T1561.002", "T1006"], "destruction"),
        ("rule-5", "T1070", ["T1070", "T1485"], "destruction"),  # the deepest stage wins
        ("rule-6", "T1543.003", ["T1543.003"], None),
        ("rule-7", "", [], None),
    ],
)
def test_stage_table(detector: str, technique: str, rule_tags: list[str], stage: str | None) -> None:
    metrics = {"rule": {"id": detector, "techniques": rule_tags}} if rule_tags else {}
    assert incidents.stage_of(_f(detector, technique, metrics=metrics)) == stage


def test_full_chain_incident(analysis: incidents.Analysis) -> None:
    top = analysis.incidents[0]
    assert top.kind == "account"
    assert top.severity == "critical"
    assert top.stages == list(incidents.STAGES)
    assert top.title.startswith("Account alice: phishing mail delivered → password spraying → account compromised")
    assert "signed in to FS01.corp.local" in top.title
    assert "FS01.corp.local" in top.hosts
    # the logon stage is the 4624s after the compromise: not alice's morning logon, not the compromise
    # itself, not the DC's Kerberos ticket, not a logon past the horizon
    logons = [s for s in top.timeline if s.stage == "logon"]
    assert [s.what for s in logons] == [
        "alice signed in to FS01.corp.local from 10.0.0.23 (event 4624, logon type 10)",
        "alice signed in to FS01.corp.local from 10.0.0.23 (event 4624, logon type 3)",
    ]
    assert {r.record for s in logons for r in s.refs} == {100, 104}
    assert not {Ref("Security.evtx", n) for n in (90, 101, 900)} & set(top.evidence)
    # every finding of the chain, the unrelated workstation excluded
    by_id = analysis.by_id
    assert sorted(by_id[f].detector for f in top.finding_ids) == sorted(
        ["mail", "password_spray", "compromise", "0f4b5c1e-shadow", "9c1e-log-cleared"]
    )
    assert all("WS99" not in by_id[f].hosts for f in top.finding_ids)
    times = [s.time for s in top.timeline]
    assert times == sorted(times)
    assert top.start == min(times) and top.end >= max(times)


def test_actions_of_the_full_chain(analysis: incidents.Analysis) -> None:
    acts = {a.kind: a for a in analysis.incidents[0].actions}
    assert list(acts) == ["block_network", "reset_password", "revoke_sessions", "enforce_mfa", "isolate_host",
                          "verify_backups"]  # fmt: skip
    # the whole /28 sprayed, so it is one CIDR; the rest stay /32s; the internal 10.0.0.23 is not blocked
    assert acts["block_network"].targets == ("192.0.2.99", chain.SPRAY_NET, chain.LONE_IP)
    assert acts["reset_password"].targets == ("alice",)
    assert acts["enforce_mfa"].targets == ("alice",)  # bob signed in with MFA
    assert acts["isolate_host"].targets == ("FS01.corp.local",)
    assert acts["verify_backups"].targets == ("FS01.corp.local",)


def test_leftovers_become_host_and_campaign_incidents(analysis: incidents.Analysis) -> None:
    kinds = {i.kind: i for i in analysis.incidents}
    assert set(kinds) == {"account", "host", "campaign"}
    host = kinds["host"]
    assert host.title == "Host WS99: logs cleared" and host.severity == "high"
    assert [a.kind for a in host.actions] == ["isolate_host"]
    camp = kinds["campaign"]
    assert camp.stages == ["credential_attack"]
    assert {a.kind: a.targets for a in camp.actions} == {"block_network": ("192.0.2.50",), "enforce_mfa": ("root",)}
    assert [i.severity for i in analysis.incidents] == ["critical", "high", "medium"]


def test_hostile_networks_collapse_only_whole_ranges() -> None:
    full = [f"203.0.113.{i}" for i in range(8)]
    assert incidents.hostile_networks(full) == ["203.0.113.0/29"]
    assert incidents.hostile_networks(full[:7]) == ["203.0.113.0/30", "203.0.113.4/31", "203.0.113.6"]
    assert incidents.hostile_networks(["10.1.2.3", "192.168.1.1", "127.0.0.1", "fe80::1", "bogus"]) == []
    assert incidents.hostile_networks(["2001:db8::1", "198.51.100.1", "::ffff:198.51.100.2"]) == [
        "198.51.100.1", "198.51.100.2", "2001:db8::1"
    ]  # fmt: skip


def test_mail_verdicts_join_by_recipient() -> None:
    fs = incidents.mail_findings(chain.mail_doc())
    assert len(fs) == 1  # the clean message is no finding
    f = fs[0]
    assert f.users == ["alice", "dave"] and f.technique == "T1566.002" and f.metrics["time_known"]
    assert f.start == dt.datetime(2026, 3, 3, 8, 5, tzinfo=dt.UTC)
    undated = chain.mail_doc()
    del undated["messages"][0]["date"]
    fallback = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    g = incidents.mail_findings(undated, fallback)[0]
    assert g.start == fallback and g.metrics["time_known"] is False


def test_phishing_alone_is_an_incident_with_purge() -> None:
    a = incidents.build([], None, chain.mail_doc())
    (inc,) = a.incidents
    assert inc.kind == "phishing" and inc.stages == ["phishing"]
    assert [(x.kind, x.targets) for x in inc.actions] == [("purge_mail", ("alice@corp.example", "dave@corp.example"))]


def test_compromise_without_hosts_and_without_store() -> None:
    comp = _f("compromise", "T1078", users=["erin"], src_ips=["198.51.100.77"], severity="high",
              evidence=[Ref("okta.json", 1)])  # fmt: skip
    (inc,) = incidents.build([comp], None).incidents
    assert inc.stages == ["compromise"] and inc.severity == "high"
    assert [a.kind for a in inc.actions] == ["block_network", "reset_password", "revoke_sessions"]


def test_deterministic_whatever_the_input_order() -> None:
    fs = chain.findings()
    with chain.store() as s:
        one = incidents.build(fs, s.con, chain.mail_doc())
        two = incidents.build(list(reversed(chain.findings())), s.con, chain.mail_doc())
    assert [i.to_json() for i in one.incidents] == [i.to_json() for i in two.incidents]
    assert [i.id for i in one.incidents] == [i.id for i in two.incidents]


def _store(rows: list[dict[str, object]]) -> incidents.duckdb.DuckDBPyConnection:
    import pyarrow as pa

    from shoreup.engine.duckdb import Store
    from shoreup.schema import AUTH

    s = Store()
    full = []
    for r in rows:
        row: dict[str, object] = {f.name: None for f in AUTH}
        row.update(source_format="evtx", outcome="success", event_code="4624", ref_file="Security.evtx", **r)
        full.append(row)
    s.append("auth", pa.RecordBatch.from_pylist(full, schema=AUTH))
    return s.con


def test_host_joins_only_after_the_attackers_own_logon() -> None:
    t0 = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)
    comp = _f("compromise", "T1078", users=["erin"], src_ips=["198.51.100.77"], start=t0, end=t0, severity="high",
              evidence=[Ref("signins.json", 1)])  # fmt: skip
    wipe = _f("rule-x", "T1490", hosts=["FS02"], start=t0 + dt.timedelta(hours=2), end=t0 + dt.timedelta(hours=2),
              severity="high")  # fmt: skip
    # erin maps a drive on FS02 from her own desk (type 3, internal): the wipe there is not her chain
    con = _store([{"time": (t0 + dt.timedelta(hours=1)).replace(tzinfo=None), "host": "FS02", "user": "erin",
                   "src_ip": "10.1.1.1", "logon_type": "3", "ref_record": 1}])  # fmt: skip
    kinds = sorted(i.kind for i in incidents.build([comp, wipe], con).incidents)
    assert kinds == ["account", "host"]
    # the attacker's address signs in there: now it is
    con = _store([{"time": (t0 + dt.timedelta(hours=1)).replace(tzinfo=None), "host": "fs02.corp.local",
                   "user": "erin", "src_ip": "198.51.100.77", "logon_type": "3", "ref_record": 1}])  # fmt: skip
    (inc,) = incidents.build([comp, wipe], con).incidents
    assert inc.stages == ["compromise", "logon", "destruction"] and inc.severity == "critical"
    assert ("isolate_host", ("FS02",)) in [(a.kind, a.targets) for a in inc.actions]


def test_upstream_within_lookback_or_named_by_the_compromise() -> None:
    t0 = dt.datetime(2026, 3, 30, tzinfo=dt.UTC)
    old = _f("password_spray", "T1110.003", users=["erin"], src_ips=["192.0.2.1"], key="old",
             start=t0 - dt.timedelta(days=40), end=t0 - dt.timedelta(days=39))  # fmt: skip
    guessed = _f("password_spray", "T1110.003", users=["frank"], src_ips=["192.0.2.2"], key="guessed",
                 start=t0 - dt.timedelta(hours=2), end=t0 - dt.timedelta(hours=1))  # fmt: skip
    comp = _f("compromise", "T1078", users=["erin"], src_ips=["198.51.100.77"], start=t0, end=t0,
              metrics={"campaign": guessed.id})  # fmt: skip
    a = incidents.build([old, guessed, comp], None)
    account = next(i for i in a.incidents if i.kind == "account")
    assert account.finding_ids == [guessed.id, comp.id]
    assert [i.kind for i in a.incidents if old.id in i.finding_ids] == ["campaign"]


def test_integer_collapse_equals_ipaddress_collapse() -> None:
    import ipaddress
    import random

    from shoreup.incidents import _v4_blocks

    rng = random.Random(7)
    for _ in range(200):
        base = rng.randrange(1 << 32)
        ints = sorted({(base + rng.randrange(600)) % (1 << 32) for _ in range(rng.randrange(1, 400))})
        ref = [
            n.with_prefixlen if n.num_addresses > 1 else str(n.network_address)
            for n in ipaddress.collapse_addresses([ipaddress.IPv4Address(i) for i in ints])
        ]
        assert _v4_blocks(ints) == ref


def test_sharing_pairs_equal_first_holder_of_each_shared_element() -> None:
    import random

    from shoreup.incidents import _sharing

    rng = random.Random(11)
    for _ in range(200):
        pool = [f"10.0.{rng.randrange(4)}.{rng.randrange(40)}" for _ in range(rng.randrange(1, 120))]
        sets = [frozenset(rng.sample(pool, rng.randrange(0, min(len(pool), 30) + 1))) for _ in range(rng.randrange(1, 9))]
        first: dict[str, int] = {}
        want: set[tuple[int, int]] = set()
        for i, s in enumerate(sets):
            for x in sorted(s):
                j = first.setdefault(x, i)
                if j != i:
                    want.add((i, j))
        assert sorted(_sharing(sets)) == sorted(want)
    assert _sharing([frozenset(), frozenset()]) == []


@pytest.mark.parametrize("extra", [[], ["2001:db8::1", "::1", "not-an-ip", "", "1.2.3.04"]])
def test_sorted_ips_numeric_then_v6_then_text(extra: list[str]) -> None:
    import random

    from shoreup.incidents import _ip_order, _sorted_ips

    rng = random.Random(5)
    quads = {f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(300)}
    ips = list(quads | set(extra))
    rng.shuffle(ips)
    assert _sorted_ips(ips) == sorted(ips, key=_ip_order)


def _nameless(ip: str, minute: float, file: str = "access.log", title: str = "Brute force from one address") -> Finding:
    start = dt.datetime(2026, 3, 3, 8, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return _f("brute_force", "T1110.001", title=title, src_ips=[ip], start=start, end=start + dt.timedelta(minutes=3),
              evidence=[Ref(file, int(minute * 10) + 1)], key=f"ip|{ip}")  # fmt: skip


# (name, findings, campaigns expected as sets of source addresses)
FLEETS: list[tuple[str, list[Finding], list[set[str]]]] = [
    ("200 addresses brute-forcing one web form in turn, minutes apart: one campaign",
     [_nameless(f"45.60.{i // 200}.{i % 200 + 1}", 1.7 * i) for i in range(200)],
     [{f"45.60.{i // 200}.{i % 200 + 1}" for i in range(200)}]),
    ("two runs against one form three hours apart: two campaigns",
     [_nameless("45.60.0.1", 0), _nameless("45.61.0.1", 180)], [{"45.60.0.1"}, {"45.61.0.1"}]),
    ("the chain holds while each starts within the gap of the latest end before it",
     [_nameless("45.60.0.1", 0), _nameless("45.60.0.2", 50), _nameless("45.60.0.3", 110)],
     [{"45.60.0.1", "45.60.0.2", "45.60.0.3"}]),
    ("the same minutes against two sites (two logs): two campaigns",
     [_nameless("45.60.0.1", 0, "a.log"), _nameless("45.60.0.2", 1, "b.log")], [{"45.60.0.1"}, {"45.60.0.2"}]),
    ("another detector's finding on the same form is another campaign",
     [_nameless("45.60.0.1", 0), _nameless("45.60.0.2", 1, title="Distributed password spraying")],
     [{"45.60.0.1"}, {"45.60.0.2"}]),
    ("findings that name accounts never join by time alone",
     [_f("brute_force", "T1110.001", users=["ann"], src_ips=["45.60.0.1"], evidence=[Ref("access.log", 1)], key="ann"),
      _f("brute_force", "T1110.001", users=["bob"], src_ips=["45.60.0.2"], evidence=[Ref("access.log", 2)], key="bob")],
     [{"45.60.0.1"}, {"45.60.0.2"}]),
]


@pytest.mark.parametrize(("name", "found", "expect"), FLEETS, ids=[c[0] for c in FLEETS])
def test_nameless_runs_against_one_target_join_one_campaign(name: str, found: list[Finding], expect: list[set[str]]) -> None:
    got = incidents.build(found, None).incidents
    assert all(i.kind == "campaign" for i in got)
    assert sorted(map(sorted, (set(i.src_ips) for i in got))) == sorted(map(sorted, expect))
    if len(expect) == 1:
        (inc,) = got
        assert inc.title == f"Brute force from {len(expect[0])} IP(s)"
        assert len(inc.finding_ids) == len(found)


def _addressless(user: str, host: str, second: float, file: str = "Security.evtx") -> Finding:
    start = dt.datetime(2023, 9, 25, 20, 39, 50, tzinfo=dt.UTC) + dt.timedelta(seconds=second)
    return _f("brute_force", "T1110.001", title="Brute force against one account", users=[user], hosts=[host],
              start=start, end=start + dt.timedelta(seconds=1), evidence=[Ref(file, int(second) + 1)], key=user)


@pytest.mark.parametrize(
    ("found", "titles"),
    [
        # a local brute-force tool walking its list of accounts; the host logs no source address
        ([_addressless("admin", "WIN", 0), _addressless("administrator", "WIN", 0.5)],
         ["Brute force against 2 account(s) on WIN (source address not logged)"]),
        ([_addressless("admin", "WIN", 0), _addressless("admin", "DC1", 0, "dc1.evtx")],
         ["Brute force against 1 account(s) on DC1 (source address not logged)",
          "Brute force against 1 account(s) on WIN (source address not logged)"]),
        ([_addressless("admin", "WIN", 0), _addressless("bob", "WIN", 4 * 3600)],
         ["Brute force against 1 account(s) on WIN (source address not logged)"] * 2),
    ],
)
def test_addressless_runs_on_one_host_join_one_campaign(found: list[Finding], titles: list[str]) -> None:
    assert sorted(i.title for i in incidents.build(found, None).incidents) == titles
