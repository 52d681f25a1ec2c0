"""Windows events as XML (Get-WinEvent ToXml, wevtutil /f:xml): mapping, encodings, damage."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from shoreup.sources import winxml
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples" / "windows"


def _data(name: str) -> bytes:
    data = (SAMPLES / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@pytest.mark.parametrize("name", ["events.getwinevent.xml", "events.getwinevent.xml.gz"])
def test_get_winevent_without_root(name: str) -> None:
    rows, stats = read_bytes(winxml, _data(name), name)
    (auth,) = rows["auth"]
    assert (auth["user"], auth["domain"], auth["src_ip"], auth["reason"], auth["raw_reason"], auth["method"]) == (
        "admin", "corp", "192.0.2.10", "bad_password", "0xc000006a", "ntlm",
    )
    assert auth["time"].isoformat() == "2024-03-03T09:00:00.123456+00:00"  # 7 digits cut to microseconds
    (cleared,) = rows["tamper"]
    assert (cleared["event_code"], cleared["target"], cleared["user"]) == (
        "104", "Microsoft-Windows-PowerShell/Operational", "admin",
    )
    fields = [orjson.loads(r["fields"]) for r in rows["raw"]]
    assert [f["EventID"] for f in fields] == [4625, 104, 7045, 15457, 31337]
    assert fields[1]["Channel"] == "System" and fields[1]["UserData_Channel"] == "Microsoft-Windows-PowerShell/Operational"
    assert fields[2]["ServiceName"] == "PSEXESVC" and fields[2]["Provider_Name"] == "Service Control Manager"
    assert (fields[3]["Data"], fields[3]["Data1"], fields[3]["Data2"]) == ("xp_cmdshell", "0", "1")
    assert "Message" not in fields[3]  # RenderingInfo is not event data
    assert fields[4]["Nested"] == "deep"
    assert stats.skipped == {"no_event_id": 1}
    assert stats.records_read == 6 and not stats.damage


def test_wevtutil_with_root_and_declaration() -> None:
    rows, stats = read_bytes(winxml, _data("events.wevtutil.xml"))
    (auth,) = rows["auth"]
    assert (auth["event_code"], auth["user"], auth["src_ip"], auth["src_port"], auth["reason"]) == (
        "4771", "heidi", "198.51.100.77", 61000, "bad_password",
    )
    (proc,) = rows["process"]
    assert proc["command_line"] == "bcdedit /set {default} recoveryenabled no"
    assert (proc["user"], proc["domain"]) == ("system", "nt authority")
    assert stats.events == 2


def test_utf16_powershell_out_file() -> None:
    data = _data("events.wevtutil.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert winxml.sniff(data[:8192], "events.xml")
    _rows, stats = read_bytes(winxml, data)
    assert stats.events == 2


def test_repeated_declarations() -> None:
    one = _data("events.wevtutil.xml").split(b"<Events>")[1].split(b"</Events>")[0]
    data = b'<?xml version="1.0"?>\n' + one + b'<?xml version="1.0"?>\n' + one.replace(b"300", b"400")
    _rows, stats = read_bytes(winxml, data)
    assert stats.events == 4


def test_broken_xml_keeps_what_came_before_and_reports_damage() -> None:
    rows, stats = read_bytes(winxml, _data("events.broken.xml"))
    assert len(rows["raw"]) == 1 and stats.events == 1
    (damage,) = stats.damage
    assert damage.position is not None and damage.position.startswith("line 2")


@pytest.mark.parametrize(
    ("data", "damaged"),
    [
        (b"Mar  3 04:05:06 srv01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n", True),
        (b"<Events></Events>\n", False),  # an export that holds no event: nothing to read, nothing lost
        (b'<?xml version="1.0"?>\n<Events/>', False),
        (b"  \n\t\n", False),
    ],
    ids=["text", "empty-export", "empty-element", "blank"],
)
def test_text_that_is_no_xml_is_damage(data: bytes, damaged: bool) -> None:
    """--format winxml on a text file: the parser sees only character data, so no event and no error —
    it was a quiet nothing and exit 0."""
    rows, stats = read_bytes(winxml, data)
    assert stats.events == 0 and not rows["raw"]
    assert bool(stats.damage) is damaged
    if damaged:
        assert "no XML element" in stats.damage[0].message


def test_event_without_time_is_skipped() -> None:
    data = b"<Event><System><EventID>4624</EventID></System></Event>"
    rows, stats = read_bytes(winxml, data)
    assert stats.skipped == {"no_time": 1} and not rows["raw"]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_data("events.getwinevent.xml")[:8192], True),
        (_data("events.wevtutil.xml")[:8192], True),
        (b"<Event><System><Provider Name='x'/><EventID>4624</EventID>", True),
        (b'<?xml version="1.0"?><rss><channel><title>news</title></channel></rss>', False),
        (b'<Objects><Object Type="System.Diagnostics.Eventing.Reader.EventLogRecord">', False),
        (b'{"EventID": 4624, "Channel": "Security"}', False),
    ],
)
def test_sniff(head: bytes, expected: bool) -> None:
    assert winxml.sniff(head, "input") is expected


def test_fields_of_element_are_those_of_evtx_shape() -> None:
    """The XML and the evtx-crate JSON of one event give the same flat field set."""
    from xml.etree.ElementTree import fromstring

    from shoreup.sources._windows import flatten_event

    xml = _data("events.getwinevent.xml").splitlines()[1]
    from_xml = winxml.event_fields(fromstring(xml))
    as_json: dict[str, Any] = {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}},
            "EventID": 104, "Level": 4, "Task": 104, "Keywords": "0x8000000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-03-03T09:01:00.0000000Z"}},
            "EventRecordID": 5501, "Channel": "System", "Computer": "SRV01.corp.example",
        },
        "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "admin",
                                        "SubjectDomainName": "CORP",
                                        "Channel": "Microsoft-Windows-PowerShell/Operational", "BackupPath": None}},
    }
    assert flatten_event(as_json) == from_xml
