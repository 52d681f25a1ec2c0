"""The fast sshd reader against its Arrow-only reference: identical auth rows, identical accounting.

``shoreup.sources._sshd_reference`` is the reader as it was before the byte-level fast path; every
input here is read by both, through the same streams, with the same options, and must give the same
rows in the same order and equal ``FileStats`` (events, skipped reasons, damage, warnings).
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import json
import os
import random
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pytest

from shoreup.sources import _base, _sshd_lines, _sshd_reference, sshd
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.sources.test_sshd import CASES, H

MTIME = dt.datetime(2026, 3, 10, tzinfo=dt.UTC).timestamp()
Rows = list[dict[str, Any]]


def _read(reader: Any, stream: IO[bytes], options: ReadOptions, mtime: float | None, first: int) -> tuple[Rows, FileStats]:
    stats = FileStats("x.log")
    ctx = ReadContext("x.log", stats, options, mtime, first_record=first)
    rows: Rows = []
    for table, batch in reader.read(stream, ctx):
        assert table == "auth" and batch.schema.equals(sshd.AUTH)
        rows.extend(pa.Table.from_batches([batch]).to_pylist())
    return rows, stats


def same(
    data: bytes | Callable[[], IO[bytes]],
    options: ReadOptions | None = None,
    mtime: float | None = MTIME,
    first: int = 1,
) -> tuple[Rows, FileStats]:
    """Read ``data`` (bytes, or a factory of fresh streams) with both readers; assert they agree."""
    opened: Callable[[], IO[bytes]] = (lambda: io.BytesIO(data)) if isinstance(data, bytes) else data
    opts = options or ReadOptions()
    fast = _read(sshd, opened(), opts, mtime, first)
    ref = _read(_sshd_reference, opened(), opts, mtime, first)
    assert fast[1] == ref[1], (fast[1], ref[1])
    assert len(fast[0]) == len(ref[0])
    for a, b in zip(fast[0], ref[0], strict=True):
        assert a == b, (a, b)
    return fast


@pytest.fixture(params=[_base.CHUNK_BYTES, 4096, 97], ids=["4MiB", "4KiB", "97B"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Both line iterators cut their blocks at the same size: also tiny, so lines cross blocks."""
    size = int(request.param)
    max_line = min(_base.MAX_LINE_BYTES, max(300, size // 2))
    monkeypatch.setattr(_base.iter_line_chunks, "__defaults__", (size, max_line))
    monkeypatch.setattr(_sshd_lines.iter_line_arrays, "__defaults__", (size, max_line))
    return size


@pytest.mark.parametrize(("line", "expected"), CASES)
def test_every_case_alone(line: str, expected: object) -> None:
    same((line + "\n").encode())
    same(line.encode())  # no final newline


def test_all_cases_together_and_repeated(chunk: int) -> None:
    data = "".join(line + "\n" for line, _ in CASES).encode()
    rows, stats = same(data * 7)
    assert stats.records_read == 7 * len(CASES) and rows


def test_cases_of_the_reader_tests(chunk: int) -> None:
    repeated = (H + "message repeated 3 times: [ Failed password for root from 203.0.113.5 port 22 ssh2]\n")
    same(repeated.encode())
    rollover = (
        b"Dec 31 23:59:58 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        b"Jan  1 00:00:03 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    )
    same(rollover, mtime=dt.datetime(2026, 1, 1, 0, 0, 5, tzinfo=dt.UTC).timestamp())
    same(rollover, options=ReadOptions(year=2019))
    same(rollover * 50, mtime=None)
    july = b"Jul  1 12:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    same(july, options=ReadOptions(year=2026, tz=zoneinfo.ZoneInfo("Europe/Paris")))
    same(july, options=ReadOptions(tz=zoneinfo.ZoneInfo("America/New_York")))
    same((
        "2026-03-03T04:05:06.250+01:00 srv02 sshd[9]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        '<38>1 2026-03-03T04:05:07Z srv03 sshd 10 - [meta x="\\]"] Accepted password for bob from 198.51.100.1 port 2 ssh2\n'
        "<38>1 2026-03-03T04:05:08Z srv03 sshd 10 ID47 - \ufeffInvalid user x from 198.51.100.1 port 3\n"
        "2026-03-03 04:05:09 srv02 sshd[9]: Invalid user y from 203.0.113.5\n"
        "2026-03-03T04:05:10 srv02 sshd[9]: Invalid user z from 203.0.113.5\n"
    ).encode(), options=ReadOptions(tz=zoneinfo.ZoneInfo("Asia/Tokyo")))
    recs = [
        {"__REALTIME_TIMESTAMP": "1772510706000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "sshd",
         "_PID": "5", "MESSAGE": "Failed password for root from 203.0.113.5 port 1 ssh2"},
        {"__REALTIME_TIMESTAMP": "1772510707000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "sshd",
         "_PID": "5", "MESSAGE": list(b"Invalid user \xff from 203.0.113.5 port 2")},
        {"__REALTIME_TIMESTAMP": "1772510708000000", "_HOSTNAME": "j1", "SYSLOG_IDENTIFIER": "systemd",
         "MESSAGE": "Started Session 1."},
    ]
    journal = b"\n".join(json.dumps(r).encode() for r in recs) + b"\n{not json\n"
    same(journal)
    same(journal + "".join(line + "\n" for line, _ in CASES).encode() + journal)
    same((
        (H + "Failed password for root from 203.0.113.5 port 1 ssh2\n") + "\n \t\n\u3000\n"
        + "garbage that is no syslog\n" + (H + "Server listening on 0.0.0.0 port 22.\n")
        + "Mar  3 04:05:06 srv01 kernel: eth0 up\n" + (H + "Accepted password for a from 198.51.100.1 port 2 ssh2")
    ).encode())
    same((
        b"Feb 30 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        b"Feb 28 25:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
        b"Feb 28 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
    ), options=ReadOptions(year=2026))
    same((H + "Failed password for root from 203.0.113.5 port 1 ssh2\n").encode() * 3, first=101)


def test_no_line_is_syslog() -> None:
    _, stats = same(b"".join(b"this is not syslog %d\n" % i for i in range(30)))
    assert stats.damage


# --- bad input shapes (tests/test_pipeline.py), through the same streams -------------------------
LINE = "Mar  3 04:05:{s:02d} srv01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
GOOD = "".join(LINE.format(s=s) for s in range(20)).encode()


def _gzip_stream(data: bytes) -> Callable[[], IO[bytes]]:
    return lambda: io.BufferedReader(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: GOOD,
        lambda: GOOD[:-1],
        lambda: os.urandom(4096),
        lambda: random.Random(3).randbytes(20000),
        lambda: GOOD[:-1] + b"\n" + gzip.compress(GOOD)[:40],
        lambda: GOOD + b"A" * (3 * 1024 * 1024),
        lambda: GOOD + b"A" * (3 * 1024 * 1024) + b"\n" + GOOD,
        lambda: b"B" * (1024 * 1024 + 1) + b"\n" + GOOD,
        lambda: GOOD + b"Mar  3 04:06:00 srv01 sshd[1]: Invalid user \xe9t\xe9 from 203.0.113.5 port 1\n" + GOOD,
        lambda: GOOD.replace(b"\n", b"\r\n"),
        lambda: GOOD.replace(b"\n", b"\r\n")[:-1] + b"\rX\r\n" + b"\r\r\n",
        lambda: b"\n\n" + GOOD + b"\n\n",
        lambda: b"\x00" * 100 + b"\n" + GOOD,
    ],
    ids=["good", "no-final-newline", "random", "random-seeded", "text-then-binary", "huge-final-line",
         "huge-middle-line", "huge-first-line", "non-utf8", "crlf", "lone-cr", "blank-edges", "nul-bytes"],
)
def test_bad_input_shapes(make: Callable[[], bytes], chunk: int) -> None:
    data = make()
    same(data)
    same(_gzip_stream(gzip.compress(data)))


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.9])
def test_truncated_compressed_streams(cut: float) -> None:
    big = GOOD * 500
    for packed, opener in (
        (gzip.compress(big), lambda b: gzip.GzipFile(fileobj=io.BytesIO(b), mode="rb")),
        (bz2.compress(big), lambda b: bz2.BZ2File(io.BytesIO(b), "rb")),
    ):
        part = packed[: int(len(packed) * cut)]
        _, stats = same(lambda part=part, opener=opener: io.BufferedReader(opener(part)))  # type: ignore[misc]
        assert stats.damage and stats.events < 10_000


# --- simulated logs ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_simulated_logs(tmp_path: Path, seed: int) -> None:
    from shoreup.simulate import generate

    generate(tmp_path, seed=seed, days=2, scanners_per_day=40, formats=["sshd"])
    (log,) = [p for p in tmp_path.iterdir() if p.name != "truth.json"]
    data = log.read_bytes()
    rows, stats = same(data, mtime=log.stat().st_mtime)
    assert stats.events > 100 and rows
    same(data, options=ReadOptions(year=2025, tz=zoneinfo.ZoneInfo("Europe/Berlin")))


def _noisy_lines(rng: random.Random, n: int) -> Iterator[str]:
    """Lines built from real pieces and random damage: headers of every kind, odd hosts and tags."""
    hosts = ["srv01", "h", "wéb-01", "2001:db8::1", "a:b", "a:", "a[1]:", "x[1]", "ho\tst", "", "host.example.com"]
    tags = ["sshd[12]", "sshd", "sshd-session[9]", "su[1]", "CRON[3]", "sshd[]", "sshd[x]", "sshd[1]x", "sshd:",
            "ssh d[1]", "sshd[1", "[1]", "sshd-auth[77]", "sshd[123][4]"]
    stamps = ["Mar  3 04:05:06", "Dec 31 23:59:59", "Jan  1 00:00:00", "Feb 30 10:00:00", "Mar 13 24:00:00",
              "Mar  3 04:05:06.123", "Foo  3 04:05:06", "Mar 3 04:05:06", "Mar  3 4:05:06"]
    bodies = [line[len(H):] for line, _ in CASES if line.startswith(H)] + [
        "message repeated 2 times: [ Failed password for root from 203.0.113.5 port 22 ssh2]",
        "message repeated 0 times: [ Invalid user a from 1.2.3.4]",
        "message repeated x times: [ Invalid user a from 1.2.3.4]",
        "Failed password for a from b from 1.2.3.4 port 22 ssh2: from y",
        "Failed password for  from 1.2.3.4 port 22 ssh2",
        "Failed password for invalid user from 1.2.3.4 port 22 ssh2",
        "Failed password for invalid user  from 1.2.3.4 port 22 ssh2",
        "Accepted publickey for invalid user from from 1.2.3.4 port 22 ssh2: RSA x",
        "Invalid user from 1.2.3.4", "Invalid user  from 1.2.3.4 port 7\t",
        "Connection closed by invalid user  1.2.3.4 port 22 [preauth]",
        "Disconnected from authenticating user a user b 1.2.3.4 port 22:11: x [preauth]",
        "pam_unix(sshd:auth): authentication failure; rhost= user=x",
        "pam_unix(sshd:auth): authentication failure; rhost=a rhost=b\u3000",
        "Invalid user   from 1.2.3.4 port 22  ",
        "Accepted password for é from ::ffff:10.0.0.1 port 22 ssh2",
        "Connection reset by authenticating user root 10.0.0.1 port 22 [preauth]",
        "Disconnected from invalid user a b c 10.0.0.1 port 22 foo [preauth]",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=  user=a b",
        "pam_unix(login:auth): authentication failure; logname= rhost=x user=ROOT@EXAMPLE.ORG",
        "error: PAM: User not known to the underlying authentication module for invalid user q from 1.2.3.4",
        "maximum authentication attempts exceeded for invalid user z from 1.2.3.4 port 2 ssh2 [preauth]",
        "", " ", "Failed", "Accepted x for y from z port 1:2",
    ]
    for _ in range(n):
        r = rng.random()
        body = rng.choice(bodies)
        if r < 0.05:
            yield "".join(rng.choice(" :[]\t{}abcé0") for _ in range(rng.randrange(0, 40)))
        elif r < 0.1:
            yield f"2026-03-03T04:05:{rng.randrange(60):02d}{rng.choice(['', 'Z', '+02:00', '.5-0130'])} {rng.choice(hosts)} {rng.choice(tags)}: {body}"
        elif r < 0.13:
            yield f"<38>1 2026-03-03T04:05:07Z {rng.choice(hosts)} sshd 10 - - {body}"
        else:
            sep = rng.choice([": ", ": ", ": ", ":", " "])
            yield f"{rng.choice(stamps)} {rng.choice(hosts)} {rng.choice(tags)}{sep}{body}"


@pytest.mark.parametrize("seed", range(4))
def test_noisy_lines(seed: int, chunk: int) -> None:
    rng = random.Random(seed)
    n = 3000 if chunk > 4096 else 600 if chunk == 4096 else 120  # tiny blocks: a block a line
    data = "\n".join(_noisy_lines(rng, n)).encode()
    same(data)
    same(data, options=ReadOptions(year=2020, tz=zoneinfo.ZoneInfo("Europe/Paris")))


@pytest.mark.shared
def test_real_openssh_log(shared_data: object, chunk: int) -> None:
    data = (Path(str(shared_data)) / "sshd" / "OpenSSH_2k.log").read_bytes()
    rows, stats = same(data)
    assert stats.records_read == 2000 and rows


@pytest.mark.parametrize(
    "data",
    [b"", b"\n", b"a\nb", "é\n\u2028x\n".encode(), b"x" * 200 + b"\n" + b"y" * 50, b"\r\n\r\n", b"a\r\nb\rc\n"],
)
def test_line_arrays_equal_line_chunks(data: bytes, chunk: int) -> None:
    def run(fn: Callable[..., Any]) -> tuple[list[tuple[int, list[str]]], FileStats]:
        stats = FileStats("x")
        ctx = ReadContext("x", stats, ReadOptions())
        out = [(first, got if isinstance(got, list) else got.array.to_pylist()) for first, got in fn(io.BytesIO(data), ctx)]
        return out, stats

    assert run(_sshd_lines.iter_line_arrays) == run(_base.iter_line_chunks)
