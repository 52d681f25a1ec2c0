"""Inputs of every kind, and bad input: a clear message, the rest processed, exit code 2."""

from __future__ import annotations

import bz2
import gzip
import os
import threading
import zipfile
from pathlib import Path

import pytest
import zstandard

from shoreup import pipeline
from shoreup.engine.duckdb import Store

LINE = "Mar  3 04:05:{s:02d} srv01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n"
GOOD = "".join(LINE.format(s=s) for s in range(20)).encode()


def _ingest(*paths: str) -> pipeline.IngestReport:
    with Store() as store:
        report = pipeline.ingest(list(paths), store)
        assert store.count("auth") == sum(f.events for f in report.files if f.format == "sshd")
        return report


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, bz2.compress, lambda b: zstandard.ZstdCompressor().compress(b)],
    ids=["plain", "gz", "bz2", "zst"],
)
def test_compressed_inputs_are_read_by_content(tmp_path: Path, compress: object) -> None:
    p = tmp_path / "auth.log.whatever"
    p.write_bytes(compress(GOOD))  # type: ignore[operator]
    report = _ingest(str(p))
    assert not report.damaged
    assert report.files[0].format == "sshd" and report.files[0].events == 20


def test_folders_globs_and_zip_members(tmp_path: Path) -> None:
    import zipfile

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "auth.log").write_bytes(GOOD)
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "auth.log.1.gz").write_bytes(gzip.compress(GOOD))
    with zipfile.ZipFile(tmp_path / "logs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner/auth.log", GOOD)
    report = _ingest(str(tmp_path / "a"), str(tmp_path / "*.zip"))
    names = sorted(f.path for f in report.files)
    assert len(names) == 3 and any(n.endswith("logs.zip!inner/auth.log") for n in names)
    assert report.events == 60 and not report.damaged


@pytest.mark.parametrize(
    ("content", "damaged", "message"),
    [
        (os.urandom(4096), True, "not a format"),
        (b"", False, "empty file"),
        (GOOD[:-1] + b"\n" + gzip.compress(GOOD)[:40], False, None),
    ],
    ids=["random-bytes", "empty", "text-then-binary"],
)
def test_bad_files(tmp_path: Path, content: bytes, damaged: bool, message: str | None) -> None:
    bad = tmp_path / "bad.log"
    bad.write_bytes(content)
    good = tmp_path / "good.log"
    good.write_bytes(GOOD)
    report = _ingest(str(bad), str(good))
    assert report.damaged is damaged
    if message:
        notes = [str(p) for p in report.problems() + report.warnings()]
        assert any(message in n and "bad.log" in n for n in notes), notes
    assert next(f for f in report.files if f.path.endswith("good.log")).events == 20


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    big = GOOD * 500
    data = gzip.compress(big)
    p = tmp_path / "auth.log.gz"
    p.write_bytes(data[: len(data) // 2])
    report = _ingest(str(p))
    assert report.damaged
    (problem,) = report.problems()
    assert "breaks off" in problem.message and problem.position and problem.position.startswith("line ")
    f = report.files[0]
    assert 0 < f.events < 10_000 and f.records_read == f.events + sum(f.skipped.values())


def test_huge_line_without_newline(tmp_path: Path) -> None:
    p = tmp_path / "auth.log"
    p.write_bytes(GOOD + b"A" * (10 * 1024 * 1024))
    report = _ingest(str(p))
    f = report.files[0]
    assert f.events == 20 and f.skipped["line_too_long"] == 1 and f.records_read == 21
    assert any("longer than" in w.message and w.position == "line 21" for w in f.warnings)


def test_non_utf8_line_is_read_and_named(tmp_path: Path) -> None:
    p = tmp_path / "auth.log"
    p.write_bytes(GOOD + b"Mar  3 04:06:00 srv01 sshd[1]: Invalid user \xe9t\xe9 from 203.0.113.5 port 1\n")
    report = _ingest(str(p))
    f = report.files[0]
    assert f.events == 21 and not report.damaged
    assert any("UTF-8" in w.message and w.position == "line 21" for w in f.warnings)


def test_missing_path(tmp_path: Path) -> None:
    (tmp_path / "good.log").write_bytes(GOOD)
    report = _ingest(str(tmp_path / "nope.log"), str(tmp_path / "good.log"))
    assert report.damaged and "no such file" in str(report.problems()[0])
    assert report.events == 20


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    p = tmp_path / "locked.log"
    p.write_bytes(GOOD)
    p.chmod(0)
    assert _ingest(str(p)).damaged


def _writer(path_or_fd: str | int, data: bytes) -> threading.Thread:
    """A thread writing ``data`` into a FIFO (by path) or a pipe's write end (by descriptor), then closing it."""

    def run() -> None:
        fd = os.open(path_or_fd, os.O_WRONLY) if isinstance(path_or_fd, str) else path_or_fd
        with os.fdopen(fd, "wb") as out:
            out.write(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_pipe_is_read_once_and_whole(gz: bool) -> None:
    """``shoreup hunt <(zcat auth.log.gz)``: a pipe's bytes can be read once; nothing may be read ahead
    of the reader (a zip check used to swallow its first 8 KB — all of a small input, silently)."""
    data = GOOD * 500  # 130 KB: more than a pipe holds, so the writer must wait for the reader
    r, w = os.pipe()
    writer = _writer(w, gzip.compress(data) if gz else data)
    try:
        report = _ingest(f"/dev/fd/{r}")
    finally:
        os.close(r)
    writer.join(5)
    assert not report.damaged and report.events == 20 * 500 and report.records_read == 20 * 500


def test_a_fifo_is_read_without_waiting_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = _writer(str(fifo), GOOD)
    report = _ingest(str(fifo), str(tmp_path / "fifo"))  # named twice: read once
    writer.join(5)
    assert report.events == 20 and len(report.files) == 1


def test_a_zip_from_a_pipe_is_named_not_misread(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("auth.log", GOOD)
    r, w = os.pipe()
    writer = _writer(w, archive.read_bytes())
    try:
        report = _ingest(f"/dev/fd/{r}")
    finally:
        os.close(r)
    writer.join(5)
    assert report.damaged and "zip archive cannot be read from a pipe" in str(report.problems()[0])


def test_a_pipe_beside_large_files_is_read_here_in_its_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With worker processes reading a large file in ranges, a pipe is still read once, by this process."""
    from shoreup import parallel

    used: list[bool] = []
    real = parallel.ingest
    monkeypatch.setattr(parallel, "ingest", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
    big = tmp_path / "big.log"
    big.write_bytes(GOOD * 5200)  # over parallel.SPLIT_MIN_BYTES: cut into ranges
    r, w = os.pipe()
    writer = _writer(w, GOOD * 3)
    try:
        with Store() as store:
            report = pipeline.ingest([str(big), f"/dev/fd/{r}", str(big)], store, jobs=2)
            assert store.count("auth") == report.events
    finally:
        os.close(r)
    writer.join(5)
    assert used == [True]  # the workers read big.log
    assert [f.events for f in report.files] == [20 * 5200, 60] and not report.damaged


def test_one_file_named_twice_is_read_once(tmp_path: Path) -> None:
    """Its folder, a symlink, another spelling of its path, a hard link: read twice, every failure would
    count double (and a brute-force threshold be crossed at half the real rate)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "auth.log").write_bytes(GOOD)
    (logs / "current.log").symlink_to("auth.log")
    os.link(logs / "auth.log", tmp_path / "hard.log")
    (tmp_path / "copy.log").write_bytes(GOOD)  # a copy is another file: read
    report = _ingest(str(logs / "auth.log"), str(logs), str(logs / ".." / "logs" / "auth.log"),
                     str(tmp_path / "hard.log"), str(tmp_path / "copy.log"))
    assert [Path(f.path).name for f in report.files] == ["auth.log", "copy.log"]
    assert report.events == 40 and not report.damaged


@pytest.mark.parametrize("fmt", ["weblog", "winjson", "entra"])
def test_a_file_none_of_whose_records_is_the_format_is_damaged(tmp_path: Path, fmt: str) -> None:
    """--format forced on the wrong file: 20 sshd lines read as an access log, Windows JSON or Entra CSV
    were a quiet count of skipped records and exit 0; now damage, named (the sshd reader said so already)."""
    p = tmp_path / "auth.log"
    p.write_bytes(GOOD)
    with Store() as store:
        report = pipeline.ingest([str(p)], store, fmt=fmt)
    (f,) = report.files
    assert f.events == 0 and report.damaged
    assert any("could be read as" in d.message and d.path == str(p) for d in f.damage)
    assert f.records_read == sum(f.skipped.values())  # still counted, reason by reason


def test_few_malformed_records_or_records_that_are_no_sign_ins_are_no_damage(tmp_path: Path) -> None:
    few = tmp_path / "few.log"
    few.write_bytes(GOOD[: GOOD.index(b"\n", 500) + 1])  # a handful of lines, all malformed as weblog
    gets = tmp_path / "access.log"
    gets.write_text("".join(
        f'203.0.113.{i} - - [03/Mar/2026:04:05:06 +0000] "GET /index.html HTTP/1.1" 200 12 "-" "x"\n' for i in range(30)
    ))
    with Store() as store:
        report = pipeline.ingest([str(few)], store, fmt="weblog")
        assert report.files[0].events == 0 and not report.damaged
        report = pipeline.ingest([str(gets)], store)
        assert report.files[0].format == "weblog" and report.files[0].skipped == {"not_login_request": 30}
        assert not report.damaged
