"""AWS CloudTrail: every event to raw, ConsoleLogin to auth."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, cast

from shoreup.sources import cloudtrail
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"


def test_sniff() -> None:
    assert cloudtrail.sniff((SAMPLES / "cloudtrail_records.json").read_bytes()[:4096], "ct.json")
    assert cloudtrail.sniff((SAMPLES / "cloudtrail_events.ndjson").read_bytes()[:4096], "ct.ndjson")
    for name in ("entra_diagnostic.ndjson", "okta_events.json", "weblog_access.ndjson", "weblog_combined.log"):
        assert not cloudtrail.sniff((SAMPLES / name).read_bytes()[:4096], name), name


def test_console_login_mapping() -> None:
    with gzip.open(SAMPLES / "cloudtrail_records.json.gz", "rb") as stream:
        stats = FileStats("ct.json.gz")
        ctx = ReadContext("ct.json.gz", stats, ReadOptions())
        batches = list(cloudtrail.read(cast(IO[bytes], stream), ctx))
    auth = {r["ref_record"]: r for t, b in batches if t == "auth" for r in b.to_pylist()}
    raw = [r for t, b in batches if t == "raw" for r in b.to_pylist()]
    assert stats.events == 7 and stats.skipped == {"not_cloudtrail_event": 1} and not stats.damage
    assert len(raw) == 7 and sorted(auth) == [1, 2, 3, 4, 5, 7]  # DeleteTrail (6) is raw only
    assert (auth[1]["user"], auth[1]["domain"], auth[1]["outcome"], auth[1]["mfa_used"]) == (
        "alice", "111122223333", "success", True)
    assert (auth[2]["outcome"], auth[2]["reason"], auth[2]["raw_reason"], auth[2]["mfa_used"]) == (
        "failure", "bad_password", "Failed authentication", False)
    assert (auth[3]["user"], auth[3]["reason"]) == (None, "unknown_user")
    assert (auth[4]["user"], auth[4]["logon_type"], auth[4]["method"]) == ("root", "Root", "password")
    assert (auth[5]["user"], auth[5]["method"]) == ("jane@example.com", "federated")
    assert auth[7]["reason"] == "other"
    assert auth[1]["time"].isoformat() == "2024-05-03T07:00:01+00:00" and auth[1]["src_ip"] == "192.0.2.1"
    trail = json.loads(raw[5]["fields"])
    assert trail["eventName"] == "DeleteTrail" and trail["requestParameters.name"] == "main-trail"
    assert raw[5]["provider"] == "cloudtrail.amazonaws.com"


def test_ndjson_malformed_line() -> None:
    _out, stats = read_bytes(cloudtrail, (SAMPLES / "cloudtrail_events.ndjson").read_bytes())
    assert stats.events == 3 and stats.skipped == {"malformed_json": 1}
    assert stats.damage[0].position == "line 4"


def test_truncated_records_file() -> None:
    out, stats = read_bytes(cloudtrail, (SAMPLES / "cloudtrail_truncated.json").read_bytes())
    assert stats.events == 3 and len(stats.damage) == 1
    assert [r["ref_record"] for r in out["auth"]] == [1, 2, 3]


def test_odd_values_never_crash() -> None:
    records = {"Records": [
        {"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", "eventTime": "2024-01-01T00:00:00Z",
         "userIdentity": "weird", "responseElements": "x", "additionalEventData": [1]},
        {"eventName": "ConsoleLogin", "userIdentity": {}, "@timestamp": "2024-01-01T00:00:00.000Z"},
        {"eventName": "GetObject", "eventSource": "s3.amazonaws.com"},
        7,
    ]}
    out, stats = read_bytes(cloudtrail, json.dumps(records).encode())
    assert stats.events == 2 and stats.skipped == {"no_timestamp": 1, "not_json_object": 1}
    assert [r["outcome"] for r in out["auth"]] == ["unknown", "unknown"]
