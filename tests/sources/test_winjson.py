"""Windows events as JSON: evtx_dump, Winlogbeat, flat (Mordor / Sentinel) — mapping and accounting."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from shoreup.sources import winjson
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples" / "windows"


def _read(name: str) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    data = (SAMPLES / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return read_bytes(winjson, data, name)


def _auth(rows: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return [
        (r["event_code"], r["user"], r["domain"], r["src_ip"], r["outcome"], r["reason"], r["raw_reason"])
        for r in rows["auth"]
    ]


@pytest.mark.parametrize("name", ["security.evtx_dump.jsonl", "security.evtx_dump.jsonl.gz"])
def test_evtx_dump_security_mapping(name: str) -> None:
    rows, stats = _read(name)
    assert _auth(rows) == [
        ("4624", "alice", "corp", "203.0.113.7", "success", None, None),
        ("4625", "bob", "corp", "198.51.100.23", "failure", "bad_password", "0xc000006a"),
        ("4625", "ghost", "corp", "198.51.100.23", "failure", "unknown_user", "0xc0000064"),
        ("4625", "carol", "corp", "198.51.100.23", "failure", "locked", "0xc0000234"),
        ("4625", "dave", "corp", "198.51.100.23", "failure", "disabled", "0xc0000072"),
        ("4648", "admin", "corp", None, "unknown", None, None),
        ("4768", "alice", "corp.example", "10.0.0.5", "success", None, None),
        ("4768", "nosuchuser", "corp.example", "203.0.113.9", "failure", "unknown_user", "0x6"),
        ("4771", "erin", None, "203.0.113.9", "failure", "bad_password", "0x18"),
        ("4771", "frank", None, "203.0.113.9", "failure", "locked", "0x12"),
        ("4776", "grace", None, None, "failure", "bad_password", "0xc000006a"),
        ("4776", "grace", None, None, "success", None, None),
        ("4740", "carol", "corp", None, "failure", "locked", "4740"),
        ("4624", "ws17$", "corp", "10.0.0.17", "success", None, None),
    ]
    first = rows["auth"][0]
    assert (first["logon_type"], first["method"], first["src_port"], first["session_id"]) == ("3", "ntlm", 49822, "0x3e7a1")
    assert [r["is_machine"] for r in rows["auth"]][-1] is True
    assert {r["method"] for r in rows["auth"] if r["event_code"] in ("4768", "4771")} == {"kerberos"}
    (proc,) = rows["process"]
    assert (proc["image"], proc["pid"], proc["parent_pid"], proc["integrity_level"], proc["user"]) == (
        "C:\\Windows\\System32\\vssadmin.exe", 0x1A2C, 0x9F0, "High", "alice",
    )
    (deleted,) = rows["file"]
    assert (deleted["action"], deleted["path"]) == ("delete", "C:\\Shares\\finance\\q1.xlsx")
    assert [(t["action"], t["target"], t["user"]) for t in rows["tamper"]] == [
        ("log_cleared", "Security", "administrator"),
        ("audit_policy_changed", "{0cce9215-69ae-11d9-bed3-505054503030}", "admin"),
    ]
    # every parsed record is in raw once, the unknown 5156 included
    assert len(rows["raw"]) == stats.events == 19
    assert 5156 in {r["event_id"] for r in rows["raw"]}
    assert stats.skipped == {"duplicate": 1, "malformed_json": 1, "no_time": 1}
    assert stats.records_read == 22
    assert not stats.damage


def test_raw_fields_are_flat_with_sigma_names() -> None:
    rows, _ = _read("security.evtx_dump.jsonl")
    fields = orjson.loads(rows["raw"][0]["fields"])
    assert fields["EventID"] == 4624
    assert fields["Channel"] == "Security"
    assert fields["Computer"] == "DC01.corp.example"
    assert fields["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    assert fields["EventRecordID"] == "1001"
    assert fields["TimeCreated"] == "2024-03-01T10:00:00.123456Z"
    assert fields["LogonType"] == "3"  # values as strings
    assert fields["IpAddress"] == "::ffff:203.0.113.7"  # raw keeps the source's value
    assert all(isinstance(v, str) for k, v in fields.items() if k != "EventID")
    raw = rows["raw"][0]
    assert (raw["channel"], raw["provider"], raw["event_id"], raw["record_id"]) == (
        "Security", "Microsoft-Windows-Security-Auditing", 4624, 1001,
    )
    cleared = orjson.loads(next(r["fields"] for r in rows["raw"] if r["event_id"] == 1102))
    assert cleared["SubjectUserName"] == "Administrator"  # UserData leaves by their own names


def test_evtx_dump_record_blocks() -> None:
    rows, stats = _read("security.evtx_dump.json")
    assert [r["ref_record"] for r in rows["raw"]] == [1001, 1002, 1003]
    assert stats.events == 3 and not stats.skipped


@pytest.mark.parametrize("name", ["sysmon.winlogbeat.ndjson", "sysmon.winlogbeat.ndjson.gz"])
def test_winlogbeat(name: str) -> None:
    rows, stats = _read(name)
    (proc,) = rows["process"]
    assert proc["command_line"] == "vssadmin.exe Delete Shadows /All /Quiet"
    assert (proc["user"], proc["domain"], proc["pid"], proc["parent_pid"]) == ("alice", "corp", 4242, 4000)
    assert [(f["event_code"], f["action"]) for f in rows["file"]] == [("11", "create"), ("23", "delete"), ("26", "delete")]
    assert _auth(rows) == [("4625", "administrator", "ws17", "192.0.2.44", "failure", "bad_password", "0xc000006a")]
    assert [(t["event_code"], t["action"]) for t in rows["tamper"]] == [("1102", "log_cleared")]
    ids = [r["event_id"] for r in rows["raw"]]
    assert ids == [1, 11, 23, 26, 6, 9, 4625, 1102, 1000]  # Sysmon 6 and 9 reach raw for Sigma
    app_error = orjson.loads(rows["raw"][-1]["fields"])
    assert (app_error["param1"], app_error["param2"], app_error["deep"]) == ("x.exe", "nested\nlist", "1")
    assert stats.skipped == {"not_a_windows_event": 1}
    assert stats.records_read == 10


@pytest.mark.parametrize("name", ["mordor.flat.ndjson", "mordor.flat.ndjson.gz"])
def test_flat_ndjson(name: str) -> None:
    rows, stats = _read(name)
    assert _auth(rows) == [
        ("4624", "pedro", "lab", "10.0.10.104", "success", None, None),
        ("4625", "svc_adfs", "lab", "192.0.2.50", "failure", "unknown_user", "0xc0000064"),
    ]
    assert rows["process"][0]["command_line"] == "wbadmin delete catalog -quiet"
    assert [(t["action"], t["target"]) for t in rows["tamper"]] == [("log_cleared", "System")]
    fields = orjson.loads(rows["raw"][0]["fields"])
    assert fields["Computer"] == "DC01.lab.example" and fields["Hostname"] == "DC01.lab.example"
    assert fields["Provider_Name"] == "Microsoft-Windows-Security-Auditing"
    odd = orjson.loads(rows["raw"][-1]["fields"])
    assert odd["EventID"] == 99999 and odd["Flag"] == "true" and odd["Odd"] == ""
    assert stats.skipped == {"malformed_json": 1}
    assert stats.records_read == 6


def test_json_array_and_events_wrapper() -> None:
    lines = (SAMPLES / "mordor.flat.ndjson").read_bytes().splitlines()[:3]
    objs = [orjson.loads(x) for x in lines]
    for doc in (orjson.dumps(objs, option=orjson.OPT_INDENT_2), orjson.dumps({"events": objs}, option=orjson.OPT_INDENT_2)):
        rows, stats = read_bytes(winjson, doc)
        assert stats.events == 3 and len(rows["raw"]) == 3


def test_utf16_with_bom() -> None:
    data = (SAMPLES / "mordor.flat.ndjson").read_bytes().decode().encode("utf-16")
    assert winjson.sniff(data[:8192], "x.json")
    _rows, stats = read_bytes(winjson, data)
    assert stats.events == 5


def test_duplicates_dropped_across_inputs_of_a_run() -> None:
    import io

    from shoreup.sources._base import FileStats, ReadContext, ReadOptions

    data = (SAMPLES / "security.evtx_dump.jsonl").read_bytes()
    state: dict[str, Any] = {}
    stats = []
    for name in ("a.jsonl", "b.jsonl"):
        s = FileStats(name)
        ctx = ReadContext(name, s, ReadOptions(), run_state=state)
        list(winjson.read(io.BytesIO(data), ctx))
        stats.append(s)
    assert stats[0].events == 19
    assert stats[1].events == 0 and stats[1].skipped["duplicate"] == 20


@pytest.mark.parametrize(
    "line",
    [
        b'{"EventID": 4625}',  # no time
        b'{"EventID": 4625, "@timestamp": "2024-01-01T00:00:00Z", "TargetUserName": null, "Status": 12}',
        b'{"EventID": 4624, "@timestamp": 1704067200000, "IpAddress": ["x"], "IpPort": "99999999"}',
        b'{"winlog": {"event_id": "abc", "event_data": "scalar"}, "@timestamp": "2024-01-01T00:00:00Z"}',
        b'{"Event": {"System": {"EventID": {"#text": 4688}, "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00Z"}}}, "EventData": null}}',
        b'{"Event": {"System": "odd"}}',
        b'[1, 2, 3]',
        b'{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "@timestamp": "2024-01-01T00:00:00Z", "ProcessId": "0xZZ"}',
    ],
)
def test_odd_shapes_never_crash(line: bytes) -> None:
    rows, stats = read_bytes(winjson, line + b"\n")
    assert stats.records_read == (3 if line.startswith(b"[") else 1)
    assert len(rows["raw"]) == stats.events


# Real-world heads: Windows exports are claimed, the cloud readers' inputs are not.
@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"Event":{"#attributes":{"xmlns":"x"},"System":{"EventID":4624,"Channel":"Security"}}}', True),
        (b'Record 1\n{\n  "Event": {\n    "System": {\n      "EventID": 4624,', True),
        (b'{"@timestamp":"2024-01-01T00:00:00Z","winlog":{"channel":"Security","event_id":4625}}', True),
        (b'{"SourceName":"ESENT","Channel":"Application","Hostname":"DC01","EventID":412}', True),
        (b'{"TimeGenerated":"2021-08-02T13:09:20Z","Computer":"ADFS01","EventID":412,"Channel":"Security"}', True),
        (b'{"Records":[{"eventVersion":"1.05","eventID":"3038ebd2","eventName":"ConsoleLogin"}]}', False),
        (b'{"actor":{"id":"00u1"},"eventType":"user.session.start","uuid":"x","published":"2024"}', False),
        (b'{"category":"SignInLogs","operationName":"Sign-in activity","properties":{"id":"x"}}', False),
        (b'Jan  1 00:00:00 host sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2', False),
        (b'<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>4624', False),
    ],
)
def test_sniff(head: bytes, expected: bool) -> None:
    assert winjson.sniff(head, "input") is expected


def test_pretty_objects_back_to_back() -> None:
    """evtx_dump -o json without Record headers (as in SigmaHQ's regression data)."""
    objs = []
    for line in (SAMPLES / "security.evtx_dump.jsonl").read_bytes().splitlines():
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the fixture's deliberately malformed line
        if isinstance(obj, dict) and "Event" in obj:
            objs.append(obj)
    data = b"".join(orjson.dumps(o, option=orjson.OPT_INDENT_2) + b"\n" for o in objs)
    _, line_by_line = read_bytes(winjson, b"\n".join(orjson.dumps(o) for o in objs) + b"\n", "ndjson.json")
    rows, stats = read_bytes(winjson, data, "back_to_back.json")
    assert stats.records_read == len(objs) and not stats.damage and stats.events > len(objs) // 2
    assert (stats.events, stats.skipped) == (line_by_line.events, line_by_line.skipped)
    assert len(rows["raw"]) == stats.events
    _, stats_broken = read_bytes(winjson, data + b"{ broken", "broken.json")
    assert stats_broken.events == stats.events and stats_broken.skipped["malformed_json"] == 1
    assert stats_broken.damage and "after" in stats_broken.damage[0].message
