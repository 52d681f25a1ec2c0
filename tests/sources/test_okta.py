"""Okta System Log: every event to raw, sign-in, push and ThreatInsight events to auth."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, cast

from shoreup.sources import okta
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"


def test_sniff() -> None:
    assert okta.sniff((SAMPLES / "okta_events.json").read_bytes()[:4096], "okta.json")
    assert okta.sniff((SAMPLES / "okta_events.ndjson").read_bytes()[:4096], "okta.ndjson")
    for name in ("entra_diagnostic.ndjson", "entra_graph.json", "cloudtrail_records.json", "weblog_combined.log"):
        assert not okta.sniff((SAMPLES / name).read_bytes()[:4096], name), name


def test_mapping() -> None:
    out, stats = read_bytes(okta, (SAMPLES / "okta_events.json").read_bytes())
    assert stats.events == 13 and not stats.skipped and not stats.damage
    assert len(out["raw"]) == 13
    auth = {r["ref_record"]: r for r in out["auth"]}
    assert sorted(auth) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # session.end, policy, lifecycle: raw only
    first = auth[1]
    assert (first["user"], first["domain"], first["outcome"], first["method"]) == (
        "alice", "example.com", "success", "password")
    assert (first["country"], first["asn"], first["src_ip"], first["session_id"]) == ("FR", 64496, "192.0.2.10", "sess1")
    assert first["user_agent"] == "Mozilla/5.0 (Okta test)"
    assert (auth[2]["reason"], auth[2]["raw_reason"]) == ("bad_password", "INVALID_CREDENTIALS")
    assert auth[3]["reason"] == "unknown_user"
    assert auth[4]["reason"] == "locked"
    assert (auth[5]["outcome"], auth[5]["reason"], auth[5]["method"]) == ("unknown", "mfa_push_sent", "mfa_push")
    assert (auth[6]["outcome"], auth[6]["reason"]) == ("failure", "mfa_denied")
    assert auth[7]["reason"] == "mfa_timeout"
    assert (auth[8]["outcome"], auth[8]["mfa_used"], auth[8]["method"]) == ("success", True, "mfa_push")
    assert (auth[9]["method"], auth[9]["application"]) == ("sso", "Salesforce.com")
    threat = auth[10]
    assert (threat["outcome"], threat["reason"], threat["raw_reason"]) == ("failure", "restriction", "Password Spray")
    assert threat["is_machine"] is True and threat["user"] is None
    fields = json.loads(out["raw"][0]["fields"])
    assert fields["securityContext.isProxy"] is True and fields["eventType"] == "user.session.start"


def test_ndjson_malformed_and_unknown_shapes_gzip() -> None:
    with gzip.open(SAMPLES / "okta_events.ndjson.gz", "rb") as stream:
        stats = FileStats("o.ndjson.gz")
        ctx = ReadContext("o.ndjson.gz", stats, ReadOptions())
        tables = [(t, b.num_rows) for t, b in okta.read(cast(IO[bytes], stream), ctx)]
    assert stats.events == 4
    assert stats.skipped == {"malformed_json": 1, "not_okta_event": 1, "not_json_object": 1}
    assert stats.records_read == 7
    assert next(str(d) for d in stats.damage).startswith("o.ndjson.gz (line 5)")
    assert sum(n for t, n in tables if t == "auth") == 4


def test_odd_values_never_crash() -> None:
    events = [
        {"eventType": "user.session.start", "published": "2024-01-01T00:00:00Z", "actor": "nope",
         "outcome": None, "client": [1], "target": "x"},
        {"eventType": "user.authentication.auth_via_mfa", "published": "bad time", "actor": {}},
        {"eventType": 5, "published": "2024-01-01T00:00:00Z", "outcome": {}},
    ]
    out, stats = read_bytes(okta, json.dumps(events).encode())
    assert stats.events == 1 and stats.skipped == {"no_timestamp": 1, "not_okta_event": 1}
    assert out["auth"][0]["outcome"] == "unknown"
