"""Entra ID sign-ins: Graph JSON, Azure Monitor NDJSON (fast and record paths), portal CSV."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import IO, Any, cast

import pytest

from shoreup.sources import _cloudjson as cj
from shoreup.sources import _entra_fast, entra
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"


def _by_ref(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["ref_record"]: r for r in rows}


def test_sniff_positive() -> None:
    for name in ("entra_diagnostic.ndjson", "entra_graph.json", "entra_records.json", "entra_portal.csv"):
        assert entra.sniff((SAMPLES / name).read_bytes()[:4096], name), name


def test_sniff_negative() -> None:
    for name in ("okta_events.json", "cloudtrail_records.json", "weblog_combined.log", "weblog_access.ndjson"):
        assert not entra.sniff((SAMPLES / name).read_bytes()[:4096], name), name
    audit = b'{"TenantId":"0","Category":"ApplicationManagement","InitiatedBy":"{\\"user\\":{\\"userPrincipalName\\":\\"a@b\\"}}"}'
    assert not entra.sniff(audit, "AADAuditEvents.json")
    assert not entra.sniff(b'{"winlog":{"event_id":4625,"channel":"Security"},"@timestamp":"2024-01-01T00:00:00Z"}', "w")


def test_diagnostic_ndjson_mapping() -> None:
    out, stats = read_bytes(entra, (SAMPLES / "entra_diagnostic.ndjson").read_bytes())
    auth = _by_ref(out["auth"])
    # 14 sign-ins, one AuditLogs record, one malformed line.
    assert stats.events == 14
    assert stats.skipped == {"not_signin_event": 1, "malformed_json": 1}
    assert stats.records_read == 16
    assert len(stats.damage) == 1 and stats.damage[0].position == "line 9"
    assert len(out["raw"]) == 14
    ok = auth[1]
    assert (ok["user"], ok["domain"], ok["outcome"], ok["reason"], ok["mfa_used"]) == (
        "alice", "contoso.com", "success", None, True)
    assert (ok["country"], ok["asn"], ok["application"], ok["host"]) == (
        "FR", 64500, "Office 365 Exchange Online", "11111111-2222-3333-4444-555555555555")
    assert ok["method"] == "password" and ok["logon_type"] == "interactive"
    assert ok["time"].isoformat() == "2024-05-01T10:00:01.123456+00:00"
    expected = {
        2: ("failure", "bad_password", "50126"),
        3: ("failure", "unknown_user", "50034"),
        4: ("failure", "locked", "50053"),
        6: ("failure", "password_ok_mfa_required", "50076"),
        7: ("failure", "mfa_denied", "500121"),
        8: ("failure", "mfa_timeout", "500121"),
        11: ("failure", "restriction", "53003"),
        12: ("unknown", "other", "50140"),
        14: ("failure", "disabled", "50057"),
        15: ("failure", "expired", "50055"),
        16: ("failure", "other", "99999"),
    }
    for ref, (outcome, reason, raw_reason) in expected.items():
        assert (auth[ref]["outcome"], auth[ref]["reason"], auth[ref]["raw_reason"]) == (outcome, reason, raw_reason), ref
    assert auth[2]["mfa_used"] is False  # singleFactorAuthentication
    assert auth[6]["mfa_used"] is None  # MFA required, not completed
    assert auth[10]["method"] == "legacy:imap4" and auth[10]["outcome"] == "success"
    assert auth[11]["method"] == "legacy:authenticated_smtp"
    machine = auth[13]
    assert machine["is_machine"] is True and machine["user"] == "backup-job" and machine["domain"] is None
    assert auth[14]["logon_type"] == "noninteractiveuser"
    fields = json.loads(_by_ref(out["raw"])[2]["fields"])
    assert fields["properties.status.errorCode"] == 50126 and fields["category"] == "SignInLogs"


def _read_both(data: bytes) -> tuple[Any, Any]:
    results = []
    for fast in (False, True):
        stats = FileStats("x")
        ctx = ReadContext("x", stats, ReadOptions())
        stream = io.BytesIO(data)
        head = cj.first_line(stream)
        if fast:
            batches = list(_entra_fast.read_ndjson(head, stream, ctx))
        else:
            batches = list(entra.read_records(cj.iter_ndjson(stream, ctx, entra._WRAPPERS, head), ctx))
        rows: dict[str, list[dict[str, Any]]] = {"auth": [], "raw": []}
        for table, batch in batches:
            rows[table].extend(batch.to_pylist())
        for row in rows["raw"]:
            row["fields"] = json.loads(row["fields"])
        results.append((rows, stats.to_json()))
    return results[0], results[1]


def test_fast_path_equals_record_path() -> None:
    data = (SAMPLES / "entra_clean.ndjson").read_bytes()
    table = __import__("pyarrow.json", fromlist=["read_json"]).read_json(io.BytesIO(data))
    auth, _raw, skipped = _entra_fast._map(table, 1, "x", plain=b"\\" not in data)
    assert auth.num_rows == 14 and skipped == 1  # the columnar path really ran
    slow, fast = _read_both(data)
    assert slow == fast


def test_fast_path_escapes_and_falls_back() -> None:
    lines = (SAMPLES / "entra_clean.ndjson").read_text().splitlines()
    record = json.loads(lines[1])
    record["properties"]["userAgent"] = 'Evil "agent"\\\n\x01'
    record["properties"]["userPrincipalName"] = "STRASSE\u00df@Example.COM"
    data = "\n".join([lines[0], json.dumps(record), *lines[2:]]).encode() + b"\n"
    slow, fast = _read_both(data)
    assert slow == fast
    assert slow[0]["auth"][1]["user"] == "strassess"
    # A malformed line sends its chunk to the record path: same result, damage named by line.
    slow, fast = _read_both(data + b'{"category": "SignInLogs", "properties": {\n' + lines[1].encode() + b"\n")
    assert slow == fast and slow[1]["skipped"] == {"malformed_json": 1, "not_signin_event": 1}


def test_gzip_stream() -> None:
    with gzip.open(SAMPLES / "entra_diagnostic.ndjson.gz", "rb") as stream:
        stats = FileStats("x.ndjson.gz")
        ctx = ReadContext("x.ndjson.gz", stats, ReadOptions())
        rows = sum(b.num_rows for t, b in entra.read(cast(IO[bytes], stream), ctx) if t == "auth")
    assert rows == 14 and stats.records_read == 16


def test_graph_json_and_records_wrapper() -> None:
    out, stats = read_bytes(entra, (SAMPLES / "entra_graph.json").read_bytes())
    assert stats.events == 3 and not stats.skipped and not stats.damage
    auth = _by_ref(out["auth"])
    assert auth[1]["mfa_used"] is True  # mfaDetail.authMethod
    assert auth[2]["reason"] == "bad_password" and auth[3]["reason"] == "unknown_user"
    assert auth[1]["event_code"] == "signIn" and auth[1]["host"] == "11111111-2222-3333-4444-555555555555"
    out, stats = read_bytes(entra, (SAMPLES / "entra_records.json").read_bytes())
    assert stats.events == 2 and stats.skipped == {"not_signin_event": 1}
    assert [r["ref_record"] for r in out["auth"]] == [1, 2]


def test_truncated_document_keeps_what_was_readable() -> None:
    out, stats = read_bytes(entra, (SAMPLES / "entra_truncated.json").read_bytes())
    assert stats.events == 2 and len(out["auth"]) == 2
    assert len(stats.damage) == 1 and "after record 2" in stats.damage[0].message
    assert stats.damage[0].position is not None and stats.damage[0].position.startswith("line ")


def test_portal_csv() -> None:
    out, stats = read_bytes(entra, (SAMPLES / "entra_portal.csv").read_bytes(), "signins.csv")
    assert stats.events == 4 and stats.skipped == {"malformed_csv_row": 1}
    auth = _by_ref(out["auth"])
    assert (auth[2]["outcome"], auth[2]["mfa_used"], auth[2]["country"], auth[2]["asn"]) == ("success", True, "FR", 64500)
    assert (auth[3]["reason"], auth[3]["method"], auth[3]["user_agent"]) == ("bad_password", "legacy:imap4", "IMAP4")
    assert auth[4]["reason"] == "password_ok_mfa_required"
    assert auth[6]["reason"] == "mfa_timeout" and auth[6]["user_agent"] == 'Mozilla/5.0 ("quoted")'


@pytest.mark.parametrize(
    "record",
    [
        {"category": "SignInLogs", "properties": {"status": "weird", "createdDateTime": 5}},
        {"category": "SignInLogs", "time": "2024-01-01T00:00:00Z", "properties": {"status": {"errorCode": "x"}}},
        {"createdDateTime": "2024-01-01T00:00:00Z", "status": {"errorCode": 0}, "appId": "a", "location": [1]},
        {"value": [1, "two", None]},
        [1, 2],
        "just a string",
    ],
)
def test_odd_shapes_never_crash(record: Any) -> None:
    out, stats = read_bytes(entra, json.dumps(record).encode() + b"\n")
    assert stats.records_read == stats.events + sum(stats.skipped.values())
    assert len(out["auth"]) == stats.events
