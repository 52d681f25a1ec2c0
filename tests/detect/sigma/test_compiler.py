"""Every Sigma modifier, keywords, `1 of` / `all of` and null values, compiled and run on DuckDB."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from conftest import run_yaml

from shoreup.detect.sigma import runner

RULE = """
title: t
id: 11111111-1111-4111-8111-111111111111
status: test
logsource:
  product: windows
  category: process_creation
detection:
{detection}
level: high
"""


def ev(**fields: object) -> dict[str, object]:
    return {"fields": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", **fields}}


B64 = base64.b64encode(b"Invoke-Mimikatz").decode()
WIDE_B64 = base64.b64encode("whoami".encode("utf-16le")).decode()

# (name, detection YAML, events, indexes of the events that must match)
CASES: list[tuple[str, str, list[dict[str, object]], list[int]]] = [
    ("plain equals is case-insensitive", "  s:\n    Image: 'C:\\\\Windows\\\\cmd.exe'\n  condition: s",
     [ev(Image="c:\\windows\\CMD.exe"), ev(Image="C:\\Windows\\cmd.exe.bak")], [0]),
    ("contains", "  s:\n    CommandLine|contains: 'delete shadows'\n  condition: s",
     [ev(CommandLine="vssadmin Delete Shadows /all"), ev(CommandLine="vssadmin list")], [0]),
    ("startswith", "  s:\n    CommandLine|startswith: 'net '\n  condition: s",
     [ev(CommandLine="net user"), ev(CommandLine="cmd /c net user")], [0]),
    ("endswith", "  s:\n    Image|endswith: '\\\\wbadmin.exe'\n  condition: s",
     [ev(Image="C:\\x\\WBADMIN.EXE"), ev(Image="C:\\x\\wbadmin.exe.txt")], [0]),
    ("wildcards * and ?", "  s:\n    CommandLine: 'a*b?d'\n  condition: s",
     [ev(CommandLine="aXXbcd"), ev(CommandLine="abd"), ev(CommandLine="a_%bzd")], [0, 2]),
    ("escaped wildcard is literal", "  s:\n    CommandLine: 'what\\?'\n  condition: s",
     [ev(CommandLine="what?"), ev(CommandLine="whatx")], [0]),
    ("all", "  s:\n    CommandLine|contains|all: ['a1', 'b2']\n  condition: s",
     [ev(CommandLine="a1 b2"), ev(CommandLine="a1")], [0]),
    ("re is case-sensitive", "  s:\n    CommandLine|re: 'Del[a-z]+ sh'\n  condition: s",
     [ev(CommandLine="x Delete sh"), ev(CommandLine="x delete sh")], [0]),
    ("re|i", "  s:\n    CommandLine|re|i: 'del[a-z]+ sh'\n  condition: s",
     [ev(CommandLine="x DELETE SH"), ev(CommandLine="nothing")], [0]),
    ("cidr", "  s:\n    SourceIp|cidr: '10.1.0.0/16'\n  condition: s",
     [ev(SourceIp="10.1.2.3"), ev(SourceIp="10.2.0.1")], [0]),
    ("base64", "  s:\n    CommandLine|base64: 'Invoke-Mimikatz'\n  condition: s",
     [ev(CommandLine=B64), ev(CommandLine="Invoke-Mimikatz")], [0]),
    ("base64offset|contains", "  s:\n    CommandLine|base64offset|contains: 'Mimikatz'\n  condition: s",
     [ev(CommandLine="powershell -enc " + B64), ev(CommandLine="plain")], [0]),
    ("utf16le|base64offset|contains", "  s:\n    CommandLine|wide|base64offset|contains: 'whoami'\n  condition: s",
     [ev(CommandLine="-enc " + WIDE_B64), ev(CommandLine="whoami")], [0]),
    ("utf16be|base64", "  s:\n    CommandLine|utf16be|base64: 'ab'\n  condition: s",
     [ev(CommandLine=base64.b64encode("ab".encode("utf-16be")).decode()), ev(CommandLine="ab")], [0]),
    ("windash", "  s:\n    CommandLine|windash|contains: ' -w:'\n  condition: s",
     [ev(CommandLine="cipher /w:C"), ev(CommandLine="cipher -w:C"), ev(CommandLine="cipher w:C")], [0, 1]),
    ("exists", "  s:\n    ParentImage|exists: true\n  condition: s",
     [ev(ParentImage="x"), ev(Image="y")], [0]),
    ("exists false", "  s:\n    ParentImage|exists: false\n  condition: s",
     [ev(ParentImage="x"), ev(Image="y")], [1]),
    ("null", "  s:\n    ParentImage: null\n  condition: s",
     [ev(ParentImage="x"), ev(Image="y")], [1]),
    ("fieldref", "  s:\n    ParentImage|fieldref: Image\n  condition: s",
     [ev(Image="a.exe", ParentImage="A.EXE"), ev(Image="a.exe", ParentImage="b.exe")], [0]),
    ("gt / lte", "  a:\n    ProcessId|gt: 100\n  b:\n    ProcessId|lte: 200\n  condition: a and b",
     [ev(ProcessId=150), ev(ProcessId="99"), ev(ProcessId=201)], [0]),
    ("gte / lt", "  a:\n    ProcessId|gte: 100\n  b:\n    ProcessId|lt: 101\n  condition: a and b",
     [ev(ProcessId=100), ev(ProcessId=101)], [0]),
    ("cased", "  s:\n    CommandLine|cased: 'ABC'\n  condition: s",
     [ev(CommandLine="ABC"), ev(CommandLine="abc")], [0]),
    ("number equals", "  s:\n    EventID: 1\n  condition: s", [ev(), {"fields": {"EventID": 2}}], [0]),
    ("1 of pattern", "  sel_a:\n    Image|endswith: 'a.exe'\n  sel_b:\n    Image|endswith: 'b.exe'\n  condition: 1 of sel_*",
     [ev(Image="a.exe"), ev(Image="b.exe"), ev(Image="c.exe")], [0, 1]),
    ("all of pattern", "  sel_a:\n    Image|endswith: 'a.exe'\n  sel_b:\n    User: 'x'\n  condition: all of sel_*",
     [ev(Image="a.exe", User="x"), ev(Image="a.exe", User="y")], [0]),
    ("not on a missing field passes", "  s:\n    Image|endswith: 'a.exe'\n  f:\n    User: 'admin'\n  condition: s and not f",
     [ev(Image="a.exe"), ev(Image="a.exe", User="ADMIN")], [0]),
    ("list of maps is OR", "  s:\n    - Image|endswith: 'a.exe'\n    - User: 'x'\n  condition: s",
     [ev(Image="a.exe"), ev(User="x"), ev(Image="b.exe")], [0, 1]),
    ("keywords", "  kw:\n    - 'mimikatz'\n    - 'sekurlsa::*pass'\n  condition: kw",
     [ev(CommandLine="run MimiKatz now"), ev(Image="C:\\sekurlsa::logonpasswords"), ev(CommandLine="ok")], [0, 1]),
    ("empty string value", "  s:\n    User: ''\n  condition: s", [ev(User=""), ev(User="x"), ev()], [0]),
    # what DuckDB's TRY_CAST reads as a number, NaN sorting above everything, as the SQL does
    ("numbers beyond plain integers", "  s:\n    ProcessId|gt: 5\n  condition: s",
     [ev(ProcessId="1_000"), ev(ProcessId=" 12 "), ev(ProcessId="nan"), ev(ProcessId="abc"), ev(ProcessId="3"),
      ev(ProcessId=7.5)], [0, 1, 2, 5]),
    ("number equals text or value", "  s:\n    ProcessId: 12\n  condition: s",
     [ev(ProcessId="12"), ev(ProcessId="12.0"), ev(ProcessId="+12"), ev(ProcessId="0012"), ev(ProcessId="121")],
     [0, 1, 2, 3]),
    ("? is one character, also outside ASCII", "  s:\n    CommandLine: 'a?b'\n  condition: s",
     [ev(CommandLine="a\u00e9b"), ev(CommandLine="ab"), ev(CommandLine="a\nb")], [0, 2]),
    ("regex, case-insensitive flag and dot", "  s:\n    CommandLine|re|i: 'a.b$'\n  condition: s",
     [ev(CommandLine="xA-B"), ev(CommandLine="a\nb"), ev(CommandLine="a-bc")], [0]),
    ("not of a missing field in a list", "  s:\n    Image|endswith: ['a.exe', 'b.exe']\n  f:\n    User: null\n  condition: s and not f",
     [ev(Image="a.exe", User="u"), ev(Image="b.exe"), ev(Image="c.exe", User="u")], [0]),
    ("keywords with not and a field", "  kw:\n    - 'evil'\n  s:\n    Image|endswith: 'a.exe'\n  condition: s and not kw",
     [ev(Image="a.exe", CommandLine="EVIL"), ev(Image="a.exe", CommandLine="good")], [1]),
]


@pytest.fixture(params=["vector", "sql"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each case both ways: the vectorized evaluator and the SQL reference."""
    monkeypatch.setattr(runner, "MODE", request.param)
    return str(request.param)


@pytest.mark.parametrize(("name", "detection", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_modifier(
    tmp_path: Path, mode: str, name: str, detection: str, events: list[dict[str, object]], expected: list[int]
) -> None:
    res = run_yaml(tmp_path, RULE.format(detection=detection), events)
    assert sorted(f.evidence[0].record - 1 for f in res.findings) == expected, f"{name} ({mode})"


def test_expand_needs_a_value(tmp_path: Path) -> None:
    p = tmp_path / "r.yml"
    p.write_text(RULE.format(detection="  s:\n    User|expand: '%admins%'\n  condition: s"))
    from shoreup.detect.sigma.loader import load

    rs = load([p])
    assert not rs.rules and "placeholder %admins% has no value" in rs.skipped[0].reason
    rs = load([p], placeholders={"admins": ["root", "adm*"]})
    assert rs.rules and "'root'" in rs.rules[0].sql


def test_logsource_selects_channel_and_event(tmp_path: Path) -> None:
    events = [
        ev(Image="a.exe"),
        {"fields": {"EventID": 4688, "Channel": "Security", "NewProcessName": "C:\\a.exe"}},
        {"fields": {"EventID": 11, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "a.exe"}},
    ]
    res = run_yaml(tmp_path, RULE.format(detection="  s:\n    Image|endswith: 'a.exe'\n  condition: s"), events)
    assert sorted(f.evidence[0].record for f in res.findings) == [1, 2]


def test_finding_contract(tmp_path: Path) -> None:
    text = RULE.format(detection="  s:\n    Image|endswith: 'a.exe'\n  condition: s").replace(
        "level: high", "level: high\ntags:\n  - attack.impact\n  - attack.t1490"
    )
    res = run_yaml(tmp_path, text, [ev(Image="a.exe", User="CORP\\Bob")])
    (f,) = res.findings
    assert f.detector == "11111111-1111-4111-8111-111111111111"
    assert f.technique == "T1490" and f.title == "t" and f.severity == "high"
    assert f.users == ["bob"] and f.hosts == ["ws01"]


def test_regex_outside_re2_is_skipped_with_reason(tmp_path: Path) -> None:
    from shoreup.detect.sigma.loader import load

    p = tmp_path / "r.yml"
    p.write_text(RULE.format(detection="  s:\n    CommandLine|re: 'foo(?!bar)'\n  condition: s"))
    rs = load([p])
    assert not rs.rules and "invalid" in rs.skipped[0].reason


def test_regex_re2_refuses_runs_on_python_re(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern DuckDB's RE2 cannot run goes through Python's ``re`` (a UDF that sees NULLs)."""
    from shoreup.detect.sigma import compiler

    monkeypatch.setattr(compiler, "re2_ok", lambda pattern: "b.d" not in pattern)
    events = [ev(CommandLine=c) for c in ("abcde", "bd", "BxD", "xb\nd")] + [ev(Image="no.exe")]
    res = run_yaml(tmp_path, RULE.format(detection="  s:\n    CommandLine|re: 'b.d'\n  condition: s"), events)
    assert sorted(f.evidence[0].record - 1 for f in res.findings) == [0], mode
