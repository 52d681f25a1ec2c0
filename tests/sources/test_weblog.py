"""Web access logs: login requests to auth, everything else counted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, cast

from shoreup.sources import weblog
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"


def test_sniff() -> None:
    assert weblog.sniff((SAMPLES / "weblog_combined.log").read_bytes()[:4096], "access.log")
    assert weblog.sniff((SAMPLES / "weblog_access.ndjson").read_bytes()[:4096], "access.json")
    for name in ("entra_diagnostic.ndjson", "okta_events.ndjson", "cloudtrail_events.ndjson", "entra_portal.csv"):
        assert not weblog.sniff((SAMPLES / name).read_bytes()[:4096], name), name
    assert not weblog.sniff(b"Oct 10 13:55:36 host sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n", "x")


def test_combined_mapping_and_outcome_rule() -> None:
    out, stats = read_bytes(weblog, (SAMPLES / "weblog_combined.log").read_bytes())
    assert stats.events == 5
    assert stats.skipped == {"not_login_request": 3, "malformed_line": 1}
    auth = {r["ref_record"]: r for r in out["auth"]}
    assert sorted(auth) == [1, 2, 3, 8, 10]
    assert (auth[1]["outcome"], auth[1]["src_ip"], auth[1]["application"]) == ("unknown", "203.0.113.5", "/wp-login.php")
    assert auth[1]["time"].isoformat() == "2023-10-10T20:55:36+00:00"
    assert (auth[2]["outcome"], auth[2]["user_agent"]) == ("success", 'Mozilla/5.0 "quoted"')
    assert (auth[3]["outcome"], auth[3]["reason"], auth[3]["user"], auth[3]["application"]) == (
        "failure", "other", "alice", "/login")
    assert (auth[8]["outcome"], auth[8]["reason"]) == ("failure", "restriction")
    assert auth[10]["outcome"] == "unknown" and auth[10]["method"] == "password"
    fields = json.loads(out["raw"][2]["fields"])
    assert fields["cs-uri-query"] == "next=/admin" and fields["sc-status"] == 401


def test_configured_login_path_and_gzip() -> None:
    options = ReadOptions(login_paths=("/portal/",))
    with gzip.open(SAMPLES / "weblog_combined.log.gz", "rb") as stream:
        stats = FileStats("access.log.gz")
        ctx = ReadContext("access.log.gz", stats, options)
        rows = [r for t, b in weblog.read(cast(IO[bytes], stream), ctx) if t == "auth" for r in b.to_pylist()]
    assert stats.events == 6 and stats.skipped["not_login_request"] == 2
    portal = next(r for r in rows if r["application"] == "/portal/session")
    assert portal["outcome"] == "failure" and portal["ref_record"] == 9


def test_json_access_log() -> None:
    out, stats = read_bytes(weblog, (SAMPLES / "weblog_access.ndjson").read_bytes())
    assert stats.events == 2
    assert stats.skipped == {"not_login_request": 1, "malformed_json": 1, "malformed_line": 1}
    assert stats.damage[0].position == "line 4"
    first, second = out["auth"]
    assert (first["outcome"], first["application"], first["src_ip"]) == ("failure", "/user/login", "203.0.113.9")
    assert (second["outcome"], second["application"]) == ("success", "/signin")


def test_chunks_keep_line_numbers() -> None:
    line = b'192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
    login = b'192.0.2.2 - - [10/Oct/2023:13:55:36 +0000] "POST /login HTTP/1.1" 401 1 "-" "x"\n'
    data = line * 150_000 + login + b"\xff\xfe not utf-8\n" + line
    out, stats = read_bytes(weblog, data)
    assert [r["ref_record"] for r in out["auth"]] == [150_001]
    assert stats.records_read == 150_003 and stats.skipped["malformed_line"] == 1
