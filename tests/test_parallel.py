"""Parallel reading gives exactly the store and the accounting of a serial read."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from shoreup import parallel, pipeline
from shoreup.engine.duckdb import Store
from shoreup.schema import TABLES
from shoreup.sources._base import ReadOptions
from shoreup.sources.inputs import expand

SAMPLES = Path(__file__).parent / "sources" / "samples"


def _snapshot(
    paths: list[str], jobs: int, options: ReadOptions | None = None
) -> tuple[dict[str, list[tuple[Any, ...]]], list[Any], list[str]]:
    with Store() as store:
        report = pipeline.ingest(paths, store, options, jobs=jobs)
        tables = {t: store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    files = [
        (
            f.path,
            f.format,
            f.records_read,
            f.events,
            dict(sorted(f.skipped.items())),
            [str(d) for d in f.damage],
            [str(w) for w in f.warnings],
        )
        for f in report.files
    ]
    return tables, files, [str(e) for e in report.errors]


def _same(
    paths: list[str],
    monkeypatch: pytest.MonkeyPatch,
    fallbacks: int | None = 0,
    options: ReadOptions | None = None,
    segment_bytes: int = 8192,
) -> dict[str, list[Any]]:
    serial = _snapshot(paths, jobs=1, options=options)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "SEGMENT_MAX_BYTES", segment_bytes)
    read_here: list[str] = []
    original = pipeline._read_one

    def counted(inp: Any, *args: Any, **kwargs: Any) -> Any:
        read_here.append(inp.name)
        return original(inp, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_read_one", counted)
    used: list[bool] = []
    original_ingest = parallel.ingest

    def spied(*args: Any) -> bool:
        used.append(original_ingest(*args))
        return used[-1]

    monkeypatch.setattr(parallel, "ingest", spied)
    parallel_ = _snapshot(paths, jobs=2, options=options)
    assert used == [True]
    assert parallel_[1] == serial[1]  # accounting, damage and warnings, in input order
    assert parallel_[2] == serial[2]
    for table in TABLES:
        assert parallel_[0][table] == serial[0][table], table
    assert fallbacks is None or len(read_here) == fallbacks, read_here
    return serial[0]


def _winlogbeat(i: int, rid: int, second: int, host: str = "dc01.corp.example") -> str:
    return json.dumps(
        {
            "@timestamp": f"2024-03-01T10:{second // 60 % 60:02d}:{second % 60:02d}.000Z",
            "event": {"code": "4625"},
            "winlog": {
                "channel": "Security",
                "event_id": 4625 if i % 3 else 4624,
                "record_id": rid,
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": host,
                "event_data": {
                    "TargetUserName": f"user{i % 17}",
                    "TargetDomainName": "CORP",
                    "LogonType": "3",
                    "Status": "0xc000006d",
                    "SubStatus": "0xc000006a",
                    "IpAddress": f"203.0.113.{i % 250}",
                    "IpPort": str(40000 + i),
                },
            },
        }
    )


def _windows_folder(root: Path) -> list[str]:
    """Winlogbeat NDJSON with every kind of duplicate, across files and across byte ranges of one file."""
    lines = [_winlogbeat(i, 1000 + i, i) for i in range(600)]
    # the same records again further down (dropped), a reused id with another time (kept), that
    # second occurrence repeated (kept too: only the first time seen for an id counts), host case
    lines += lines[100:150]
    lines += [
        _winlogbeat(7, 1007, 3000),
        _winlogbeat(7, 1007, 3000),
        _winlogbeat(8, 1008, 8, "DC01.corp.example"),
    ]
    lines += [_winlogbeat(i, 5000 + i, i) for i in range(300)]
    (root / "a.ndjson").write_text("\n".join(lines) + "\n")
    # a second file overlapping the first, and a third reusing ids at other times
    (root / "b.ndjson").write_text("\n".join(lines[550:700]) + "\n")
    (root / "c.ndjson").write_text("\n".join(_winlogbeat(i, 1000 + i, 5000 + i) for i in range(40)) + "\n")
    return [str(root)]


def test_windows_duplicates_are_dropped_as_when_reading_serially(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = _same(_windows_folder(tmp_path), monkeypatch)
    assert len(tables["raw"]) > 900


def test_every_sample_format_folder_and_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    with zipfile.ZipFile(tmp_path / "samples.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((SAMPLES / "windows").iterdir()):
            zf.write(p, f"inner/{p.name}")
    # NDJSON samples with damaged or wrapper lines are cut, then read again whole
    _same([str(tmp_path / "samples"), str(tmp_path / "samples.zip")], monkeypatch, fallbacks=None)


@pytest.mark.parametrize(
    "sample",
    ["entra_diagnostic.ndjson", "entra_clean.ndjson", "okta_events.ndjson", "cloudtrail_events.ndjson"],
)
def test_large_ndjson_is_read_in_byte_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: str
) -> None:
    lines = [x for x in (SAMPLES / sample).read_text().splitlines() if _is_object(x)]
    big = tmp_path / sample
    big.write_text("\n".join(lines * max(1, 40_000 // len("".join(lines)))) + "\n")
    tables = _same([str(big)], monkeypatch)
    assert tables["raw"] and len({row[4] for row in tables["raw"]}) == len(
        tables["raw"]
    )  # refs: distinct lines


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_a_damaged_range_is_read_again_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [x for x in (SAMPLES / "entra_clean.ndjson").read_text().splitlines() if _is_object(x)] * 60
    lines[len(lines) // 2] = lines[len(lines) // 2][:-20]  # the damage report names the whole file's line
    (tmp_path / "e.ndjson").write_text("\n".join(lines) + "\n")
    _same([str(tmp_path / "e.ndjson")], monkeypatch, fallbacks=1)


def test_malformed_windows_lines_are_counted_in_their_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [_winlogbeat(i, 1000 + i, i) for i in range(800)]
    lines[500] = lines[500][:-20]  # skipped as malformed_json, no damage: the ranges stand
    (tmp_path / "w.ndjson").write_text("\n".join(lines) + "\n")
    _same([str(tmp_path / "w.ndjson")], monkeypatch)


def test_wrapper_lines_are_numbered_over_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (SAMPLES / "cloudtrail_events.ndjson").read_text().splitlines()
    records = [json.loads(x) for x in lines if _is_object(x)]
    line = json.dumps({"Records": records})
    (tmp_path / "ct.ndjson").write_text("\n".join([line] * 60) + "\n")
    _same([str(tmp_path / "ct.ndjson")], monkeypatch, fallbacks=1)


@pytest.mark.shared
def test_evtx_attack_samples_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    # every record of the second copy is a duplicate of the first
    folder = shared_data / "evtx-attack-samples"
    files = sorted(p for p in folder.rglob("*.evtx"))[:60]
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        for i, p in enumerate(files):
            shutil.copy(p, tmp_path / name / f"{i:03d}.evtx")
    _same([str(tmp_path / "one"), str(tmp_path / "two")], monkeypatch)


# --- sshd syslog: cut at any line start, the year of year-less timestamps checked range by range ----

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SSHD_MESSAGES = (
    "sshd[{pid}]: Failed password for root from 203.0.113.{a} port {port} ssh2",
    "sshd[{pid}]: Failed password for invalid user admin{u} from 198.51.100.{a} port {port} ssh2",
    "sshd[{pid}]: Invalid user test{u} from 198.51.100.{a} port {port}",
    "sshd[{pid}]: Accepted publickey for alice from 192.0.2.{a} port {port} ssh2: RSA SHA256:abc",
    "sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
    "rhost=203.0.113.{a}  user=root",
    "su[{pid}]: pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 "
    "ruser=bob rhost=  user=root",
    "sshd[{pid}]: message repeated 3 times: [ Failed password for root from 203.0.113.{a} port {port} ssh2]",
    "sshd[{pid}]: Connection closed by invalid user x{u} 203.0.113.{a} port {port} [preauth]",
    "CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "sshd[{pid}]: Received disconnect from 203.0.113.{a} port {port}:11: Bye Bye [preauth]",
)


def _sshd_lines(start: dt.datetime, end: dt.datetime, n: int, malformed_every: int = 997) -> list[str]:
    """``n`` auth.log lines spread evenly from ``start`` to ``end``: RFC 3164 mostly, with RFC 3339 and
    journald JSON lines, empty lines and (every ``malformed_every``) a line that is no syslog."""
    step = (end - start) / max(n - 1, 1)
    out: list[str] = []
    for i in range(n):
        t = start + i * step
        msg = _SSHD_MESSAGES[i % len(_SSHD_MESSAGES)].format(
            pid=1000 + i % 5000, a=i % 250, u=i % 40, port=1024 + i % 60000
        )
        if i % malformed_every == 5:
            out.append(f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S} bastion -- MARK --")
        elif i % 1499 == 7:
            out.append("")
        elif i % 701 == 3:
            out.append(f"{t.isoformat(timespec='microseconds')} bastion {msg}")
        elif i % 1303 == 11:
            stamp = int(t.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)
            body = msg.split(": ", 1)[1]
            out.append(json.dumps({"__REALTIME_TIMESTAMP": str(stamp), "_HOSTNAME": "bastion",
                                   "SYSLOG_IDENTIFIER": "sshd", "_PID": "77", "MESSAGE": body}))
        else:
            out.append(f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S} bastion {msg}")
    return out


def _write_log(path: Path, lines: list[str], mtime: dt.datetime) -> str:
    path.write_text("\n".join(lines) + "\n")
    stamp = mtime.replace(tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return str(path)


def _ranges(path: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """The byte ranges ``_same`` cuts the file into."""
    monkeypatch.setattr(parallel, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "SEGMENT_MAX_BYTES", 8192)
    split = parallel._segments(expand([path])[0][0], None, 2)
    assert split is not None and split[0] == "sshd"
    return split[1]


@pytest.mark.parametrize("year", [None, 2021])
def test_large_sshd_log_is_read_in_byte_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, year: int | None
) -> None:
    # ~3 MiB, March to September: every range's own first-line rule gives the year a whole read gives
    lines = _sshd_lines(dt.datetime(2024, 3, 1), dt.datetime(2024, 9, 30), 36_000)
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2024, 10, 2))
    assert os.path.getsize(path) > 3 << 20
    options = ReadOptions(year=year) if year else None
    tables = _same([path], monkeypatch, options=options, segment_bytes=256 << 10)
    assert len(tables["auth"]) > 25_000
    assert {row[0].year for row in tables["auth"]} == ({year, 2024} if year else {2024})  # ISO lines: 2024


def test_sshd_rollover_in_a_later_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 3339 lines first (no year-less line before the ranges that follow), then November to
    # February: the ranges after New Year assume the new year by the file's time, as a whole read does
    iso = [
        f"2024-10-{1 + i % 28:02d}T10:00:00+00:00 bastion sshd[9]: Failed password for root "
        f"from 203.0.113.{i % 250} port {2000 + i} ssh2"
        for i in range(300)
    ]
    lines = iso + _sshd_lines(dt.datetime(2024, 11, 1), dt.datetime(2025, 2, 27), 4000)
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2025, 3, 1))
    ranges = _ranges(path, monkeypatch)
    rollover = 300 + next(i for i, x in enumerate(lines[300:]) if x.startswith("Jan"))
    assert len(ranges) > 4 and ranges[1][2] < 300  # the first year-less line is in a later range
    assert ranges[1][2] < rollover + 1  # the rollover falls inside a later range
    tables = _same([path], monkeypatch)
    assert {2024, 2025} <= {row[0].year for row in tables["auth"]}  # the year-less lines: one too late


def test_sshd_forced_year_with_a_rollover_is_read_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --year 2019: the ranges after New Year assume 2019 too; the check refuses them, the file is
    # read again whole in the main process
    lines = _sshd_lines(dt.datetime(2024, 11, 1), dt.datetime(2025, 2, 27), 4000)
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2025, 3, 1))
    tables = _same([path], monkeypatch, fallbacks=1, options=ReadOptions(year=2019))
    assert {2019, 2020} <= {row[0].year for row in tables["auth"]}


def test_sshd_log_over_a_year_is_read_again_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # more than a year: a range in summer 2023 assumes 2022 by the file's time (a whole read: 2023)
    lines = _sshd_lines(dt.datetime(2023, 1, 1), dt.datetime(2024, 3, 1), 3000)
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2024, 4, 1))
    tables = _same([path], monkeypatch, fallbacks=1)
    assert {2024, 2025} <= {row[0].year for row in tables["auth"]}  # the year-less lines: one too late


@pytest.mark.parametrize(("run", "fallbacks"), [(10, 0), (11, 1)])
def test_sshd_malformed_run_across_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: int, fallbacks: int
) -> None:
    # a run of more than ten malformed lines may be damage in a whole-file read, whose blocks are
    # not the ranges' blocks: such a file is read whole; a shorter run does not matter
    lines = _sshd_lines(dt.datetime(2024, 3, 1), dt.datetime(2024, 5, 1), 3000, malformed_every=10**9)
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2024, 6, 1))
    boundary = _ranges(path, monkeypatch)[3][2] - 1  # index of the first line of range 3
    lines[boundary - run // 2 : boundary - run // 2 + run] = ["not syslog at all"] * run
    path = _write_log(tmp_path / "auth.log", lines, dt.datetime(2024, 6, 1))
    _same([path], monkeypatch, fallbacks=fallbacks)


def _access_lines(n: int) -> list[str]:
    """A text access log with what a range must not be cut before (blank lines, lines that start
    with ``{``), malformed lines and sign-ins among ordinary requests."""
    import random

    rng = random.Random(4)
    out = []
    for i in range(n):
        method, path = rng.choice([("GET", "/"), ("POST", "/login"), ("POST", "/wp-login.php?x=1"), ("GET", "/a")])
        status = rng.choice(["200", "302", "401", "403"])
        line = f'192.0.2.{i % 250} - - [10/Oct/2023:13:{i // 60 % 60:02d}:{i % 60:02d} +0000] "{method} {path} HTTP/1.1" {status} 1 "-" "ua {i}"'
        out.append(rng.choices([line, "", '{"not": "text"}', "junk line", "  "], weights=[70, 5, 15, 5, 5])[0])
    return out


def test_large_access_log_is_read_in_byte_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(("\n".join(_access_lines(6000)) + "\n").encode() + b"\xff\xfe odd bytes\n")
    tables = _same([str(path)], monkeypatch)
    assert len(tables["auth"]) > 1000 and len({row[4] for row in tables["auth"]}) == len(tables["auth"])


def test_large_json_access_log_is_read_in_byte_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        json.dumps({"remote_addr": f"198.51.100.{i % 200}", "time_local": "10/Oct/2023:13:55:36 +0000",
                    "request": f"POST /login?n={i} HTTP/1.1" if i % 3 else "GET / HTTP/1.1", "status": 401})
        for i in range(3000)
    ]  # fmt: skip
    (tmp_path / "access.json").write_text("\n".join(lines) + "\n")
    tables = _same([str(tmp_path / "access.json")], monkeypatch)
    assert len(tables["auth"]) == 2000


def test_newlines_counts_every_range_as_bytes_count(tmp_path: Path) -> None:
    import mmap

    data = b"".join(b"x" * (i % 97) + b"\n" for i in range(40_000)) + b"tail"  # ~1.9 MB, pieces not aligned
    path = tmp_path / "f"
    path.write_bytes(data)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for a, b in [(0, len(data)), (0, 0), (5, 5), (1, 1 << 20), (123, len(data) - 7), (len(data) - 4, len(data))]:
            assert parallel._newlines(mm, a, b) == data[a:b].count(b"\n"), (a, b)


def test_many_small_files_are_read_by_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty files of a few lines are far below MIN_PARALLEL_BYTES, but each costs ~2 ms however small:
    from MIN_PARALLEL_FILES inputs on, workers read them — with the result of a serial read."""
    line = "Mar  3 04:05:{s:02d} srv{h:02d} sshd[1]: Failed password for root from 203.0.113.{h} port 1 ssh2\n"
    for h in range(parallel.MIN_PARALLEL_FILES + 8):
        (tmp_path / f"host{h:02d}.log").write_text("".join(line.format(s=s, h=h) for s in range(5)))
    serial = _snapshot([str(tmp_path)], jobs=1)
    used: list[bool] = []
    original = parallel.ingest
    monkeypatch.setattr(parallel, "ingest", lambda *a: used.append(original(*a)) or used[-1])
    assert _snapshot([str(tmp_path)], jobs=2) == serial and used == [True]
    few = tmp_path / "few"
    few.mkdir()
    for h in range(3):
        (few / f"h{h}.log").write_text(line.format(s=1, h=h))
    _snapshot([str(few)], jobs=2)
    assert used == [True, False]  # three small files: read here
