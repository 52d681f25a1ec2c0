"""sshd / PAM syslog reader: each line shape, sniffing, timestamps, accounting."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shoreup.sources import sshd
from shoreup.sources._base import ReadOptions
from tests.helpers import read_bytes

H = "Mar  3 04:05:06 srv01 sshd[4242]: "

# line, expected (event_code, outcome, reason, user, src_ip, src_port, method) or None when skipped
CASES: list[tuple[str, tuple[object, ...] | None]] = [
    (H + "Failed password for root from 203.0.113.5 port 50022 ssh2",
     ("failed", "failure", "bad_password", "root", "203.0.113.5", 50022, "password")),
    (H + "Failed password for invalid user admin from 203.0.113.5 port 50022 ssh2",
     ("failed", "failure", "unknown_user", "admin", "203.0.113.5", 50022, "password")),
    (H + "Failed password for invalid user  from 203.0.113.5 port 1 ssh2",
     ("failed", "failure", "unknown_user", None, "203.0.113.5", 1, "password")),
    (H + "Failed password for invalid user john smith from 2001:db8::7 port 22 ssh2",
     ("failed", "failure", "unknown_user", "john smith", "2001:db8::7", 22, "password")),
    (H + "Failed publickey for alice from 203.0.113.9 port 4000 ssh2: RSA SHA256:abc",
     ("failed", "failure", "other", "alice", "203.0.113.9", 4000, "publickey")),
    (H + "Failed keyboard-interactive/pam for Bob from ::ffff:198.51.100.4 port 99 ssh2",
     ("failed", "failure", "bad_password", "bob", "198.51.100.4", 99, "keyboard-interactive")),
    (H + "Accepted password for alice from 198.51.100.4 port 51000 ssh2",
     ("accepted", "success", None, "alice", "198.51.100.4", 51000, "password")),
    (H + "Accepted publickey for alice from 198.51.100.4 port 51000 ssh2: ED25519 SHA256:x",
     ("accepted", "success", None, "alice", "198.51.100.4", 51000, "publickey")),
    (H + "Accepted keyboard-interactive/pam for alice@CORP.EXAMPLE from 198.51.100.4 port 5 ssh2",
     ("accepted", "success", None, "alice", "198.51.100.4", 5, "keyboard-interactive")),
    (H + "Invalid user oracle from 203.0.113.5 port 40000",
     ("invalid_user", "unknown", "unknown_user", "oracle", "203.0.113.5", 40000, None)),
    (H + "Invalid user test9 from 52.80.34.196",
     ("invalid_user", "unknown", "unknown_user", "test9", "52.80.34.196", None, None)),
    (H + "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root",
     ("pam_failure", "unknown", "bad_password", "root", "203.0.113.5", None, "password")),
    ("Mar  3 04:05:06 srv01 su[77]: pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root",
     ("pam_failure", "failure", "bad_password", "root", None, None, "password")),
    (H + "error: maximum authentication attempts exceeded for root from 203.0.113.5 port 50022 ssh2 [preauth]",
     ("max_auth_attempts", "unknown", "bad_password", "root", "203.0.113.5", 50022, None)),
    (H + "Disconnected from invalid user guest 203.0.113.5 port 50022 [preauth]",
     ("preauth_close", "unknown", "unknown_user", "guest", "203.0.113.5", 50022, None)),
    (H + "Connection closed by authenticating user root 203.0.113.5 port 50022 [preauth]",
     ("preauth_close", "unknown", None, "root", "203.0.113.5", 50022, None)),
    (H + "error: PAM: Authentication failure for illegal user zz from 203.0.113.5",
     ("pam_error", "unknown", "unknown_user", "zz", "203.0.113.5", None, "password")),
    ("Mar  3 04:05:06 srv01 sshd-session[4242]: Failed password for root from 203.0.113.5 port 50022 ssh2",
     ("failed", "failure", "bad_password", "root", "203.0.113.5", 50022, "password")),
    # Lines that are no auth event: counted as skipped, never lost.
    (H + "Received disconnect from 203.0.113.5 port 50022:11: Bye Bye [preauth]", None),
    (H + "pam_unix(sshd:session): session opened for user alice by (uid=0)", None),
    ("Mar  3 04:05:06 srv01 CRON[1]: Failed password for root from 203.0.113.5 port 1 ssh2", None),
]


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_line_shapes(line: str, expected: tuple[object, ...] | None) -> None:
    rows, stats = read_bytes(sshd, (line + "\n").encode(), mtime=dt.datetime(2026, 3, 10, tzinfo=dt.UTC).timestamp())
    assert stats.records_read == 1
    auth = rows["auth"]
    if expected is None:
        assert auth == [] and stats.events == 0 and sum(stats.skipped.values()) == 1
        return
    assert stats.events == 1 and len(auth) == 1
    r = auth[0]
    got = (r["event_code"], r["outcome"], r["reason"], r["user"], r["src_ip"], r["src_port"], r["method"])
    assert got == expected
    assert r["time"] == dt.datetime(2026, 3, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert r["ref_record"] == 1 and r["host"] == "srv01"


def test_domain_is_split_from_user() -> None:
    rows, _ = read_bytes(sshd, (H + "Accepted password for Alice@Corp.Example from 198.51.100.4 port 5 ssh2\n").encode())
    assert (rows["auth"][0]["user"], rows["auth"][0]["domain"]) == ("alice", "corp.example")


def test_message_repeated_counts_n_events_for_one_record() -> None:
    data = (H + "message repeated 3 times: [ Failed password for root from 203.0.113.5 port 22 ssh2]\n").encode()
    rows, stats = read_bytes(sshd, data)
    assert stats.records_read == 1 and stats.events == 1
    assert [r["outcome"] for r in rows["auth"]] == ["failure"] * 3
    assert {r["ref_record"] for r in rows["auth"]} == {1}


def test_year_rollover_december_to_january() -> None:
    lines = [
        "Dec 31 23:59:58 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2",
        "Jan  1 00:00:03 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2",
    ]
    mtime = dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC).timestamp()
    rows, _ = read_bytes(sshd, ("\n".join(lines) + "\n").encode(), mtime=mtime)
    assert [r["time"].year for r in rows["auth"]] == [2025, 2026]
    rows, _ = read_bytes(sshd, ("\n".join(lines) + "\n").encode(), options=ReadOptions(year=2019))
    assert [r["time"].year for r in rows["auth"]] == [2019, 2020]


def test_local_time_zone_option() -> None:
    import zoneinfo

    line = "Jul  1 12:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    rows, _ = read_bytes(sshd, line.encode(), options=ReadOptions(year=2026, tz=zoneinfo.ZoneInfo("Europe/Paris")))
    assert rows["auth"][0]["time"] == dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)


def test_rfc3339_and_rfc5424_headers() -> None:
    data = (
        "2026-03-03T04:05:06.250+01:00 srv02 sshd[9]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        '<38>1 2026-03-03T04:05:07Z srv03 sshd 10 - [meta x="\\]"] Accepted password for bob from 198.51.100.1 port 2 ssh2\n'
        "<38>1 2026-03-03T04:05:08Z srv03 sshd 10 ID47 - \ufeffInvalid user x from 198.51.100.1 port 3\n"
    ).encode()
    rows, stats = read_bytes(sshd, data)
    assert stats.events == 3
    got = [(r["host"], r["time"], r["outcome"]) for r in rows["auth"]]
    assert got == [
        ("srv02", dt.datetime(2026, 3, 3, 3, 5, 6, 250000, tzinfo=dt.UTC), "failure"),
        ("srv03", dt.datetime(2026, 3, 3, 4, 5, 7, tzinfo=dt.UTC), "success"),
        ("srv03", dt.datetime(2026, 3, 3, 4, 5, 8, tzinfo=dt.UTC), "unknown"),
    ]


def test_journald_json_export() -> None:
    recs = [
        {"__REALTIME_TIMESTAMP": "1772510706000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "sshd",
         "_PID": "5", "MESSAGE": "Failed password for root from 203.0.113.5 port 1 ssh2"},
        {"__REALTIME_TIMESTAMP": "1772510707000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "sshd",
         "_PID": "5", "MESSAGE": list(b"Invalid user \xff from 203.0.113.5 port 2")},
        {"__REALTIME_TIMESTAMP": "1772510708000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "systemd",
         "MESSAGE": "Started Session 1."},
    ]
    data = b"\n".join(json.dumps(r).encode() for r in recs) + b"\n{not json\n"
    assert sshd.sniff(data, "x.json")
    rows, stats = read_bytes(sshd, data)
    assert [r["event_code"] for r in rows["auth"]] == ["failed", "invalid_user"]
    assert rows["auth"][0]["time"] == dt.datetime.fromtimestamp(1772510706, dt.UTC)
    assert stats.records_read == 4 and stats.skipped == {"other_program": 1, "malformed_json": 1}


def test_accounting_covers_every_line() -> None:
    data = (
        (H + "Failed password for root from 203.0.113.5 port 1 ssh2\n")
        + "\n"
        + "garbage that is no syslog\n"
        + (H + "Server listening on 0.0.0.0 port 22.\n")
        + "Mar  3 04:05:06 srv01 kernel: eth0 up\n"
        + (H + "Accepted password for a from 198.51.100.1 port 2 ssh2")  # no final newline
    ).encode()
    _, stats = read_bytes(sshd, data)
    assert stats.records_read == 6
    assert stats.events == 2
    assert stats.skipped == {"empty_line": 1, "malformed_line": 1, "not_auth_message": 1, "other_program": 1}


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user x from 1.2.3.4\n", True),
        (b"2026-01-01T00:00:00+00:00 h sshd[1]: x\n", True),
        (b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - msg\n", True),
        (b'{"__REALTIME_TIMESTAMP":"1","MESSAGE":"x"}\n', True),
        (b'{"Records": [{"eventName": "ConsoleLogin"}]}', False),
        (b'127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326\n', False),
        (b"\x00\x01\x02binary", False),
        (b"", False),
    ],
)
def test_sniff(head: bytes, expected: bool) -> None:
    assert sshd.sniff(head, "x") is expected


def test_impossible_dates_are_counted_not_invented() -> None:
    data = (
        b"Feb 30 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        b"Feb 28 25:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        b"Feb 28 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    )
    rows, stats = read_bytes(sshd, data, options=ReadOptions(year=2026))
    assert len(rows["auth"]) == 1 and stats.skipped == {"bad_timestamp": 2} and stats.records_read == 3


def _without_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    monkeypatch.setattr(sshd, "_KINDS", tuple(dataclasses.replace(k, fast=None) for k in sshd._KINDS))


def test_fast_paths_equal_the_reference_regexes(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(line + "\n" for line, _ in CASES).encode() * 3
    fast_rows, fast_stats = read_bytes(sshd, data)
    _without_fast_paths(monkeypatch)
    slow_rows, slow_stats = read_bytes(sshd, data)
    assert fast_rows == slow_rows and fast_stats == slow_stats


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("failed", "Failed password for invalid user a b from 203.0.113.5 port 22 ssh2"),
        ("accepted", "Accepted publickey for a from 2001:db8::1 port 22 ssh2: RSA SHA256:x"),
        ("invalid_user", "Invalid user a from 203.0.113.5 port 22"),
        ("invalid_user", "Invalid user a from 203.0.113.5"),
        ("preauth_close", "Connection closed by invalid user a 203.0.113.5 port 22 [preauth]"),
        ("preauth_close", "Received disconnect from authenticating user root 203.0.113.5 port 22:11: Bye [preauth]"),
        ("pam_failure", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=r"),
        ("pam_failure", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4"),
    ],
)
def test_common_shapes_take_the_fast_path(kind: str, message: str) -> None:
    import pyarrow as pa

    (k,) = [k for k in sshd._KINDS if k.name == kind]
    assert k.fast is not None
    ok, _ = k.fast(pa.array([message]))
    assert ok.to_pylist() == [True]


@pytest.mark.shared
def test_fast_paths_on_real_log(shared_data: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    data = (Path(str(shared_data)) / "sshd" / "OpenSSH_2k.log").read_bytes()
    fast = read_bytes(sshd, data)
    _without_fast_paths(monkeypatch)
    assert read_bytes(sshd, data) == fast


def test_first_record_offsets_line_numbers() -> None:
    import io

    from shoreup.sources._base import FileStats, ReadContext

    ctx = ReadContext("f", FileStats("f"), ReadOptions(), first_record=101)
    line = H + "Failed password for root from 203.0.113.5 port 1 ssh2\n"
    (batch,) = [b for _, b in sshd.read(io.BytesIO((line * 2).encode()), ctx)]
    assert batch.column("ref_record").to_pylist() == [101, 102]


def test_rfc3164_and_iso_events_in_one_block() -> None:
    data = (
        H + "Failed password for root from 203.0.113.5 port 1 ssh2\n"
        "2026-03-03T04:05:07Z srv02 sshd[9]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    ).encode()
    rows, stats = read_bytes(sshd, data, options=ReadOptions(year=2026))
    assert stats.events == 2 and not stats.damage
    assert [r["time"] for r in rows["auth"]] == [
        dt.datetime(2026, 3, 3, 4, 5, 6, tzinfo=dt.UTC), dt.datetime(2026, 3, 3, 4, 5, 7, tzinfo=dt.UTC)]


def test_verdict_without_user_after_invalid_user_goes_to_the_regex() -> None:
    rows, stats = read_bytes(sshd, (H + "Failed password for invalid user from 203.0.113.5 port 22 ssh2\n").encode())
    assert stats.events == 1
    assert (rows["auth"][0]["user"], rows["auth"][0]["reason"]) == ("invalid user", "bad_password")


def test_runs_of_malformed_lines_fold_across_pieces() -> None:
    # the runs of a file's ranges, folded in order, are those of the whole file
    import functools

    import numpy as np

    rng = np.random.default_rng(7)
    for _ in range(200):
        bad = rng.random(int(rng.integers(0, 60))) < rng.choice([0.1, 0.5, 0.9])
        cuts = sorted(int(c) for c in rng.integers(0, len(bad) + 1, int(rng.integers(0, 5))))
        pieces = np.split(bad, cuts)
        folded = functools.reduce(sshd._Runs.then, (sshd._Runs.of(p) for p in pieces), sshd._Runs())
        assert folded == sshd._Runs.of(bad)


@pytest.mark.parametrize(
    ("before", "assumed", "ok"),
    [
        (None, (2020, 5), True),  # no year-less line before: a whole read applies the same rule
        ((2024, 3), (2024, 4), True),
        ((2024, 12), (2025, 1), True),  # New Year between the ranges
        ((2024, 12), (2024, 1), False),
        ((2024, 5), (2023, 6), False),
        ((2024, 7), (2024, 2), True),  # a drop of five months is disorder, not a new year
    ],
)
def test_a_range_continues_the_year_before_it(
    before: tuple[int, int] | None, assumed: tuple[int, int], ok: bool
) -> None:
    assert sshd.continues(before, assumed) is ok
