"""Watch mode: following logs through rotation and truncation, restarts, alert delivery, syslog."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from shoreup.errors import UsageError
from shoreup.watch import Watcher, main
from shoreup.watch.alerts import JsonLines, clean

ROOT = Path(__file__).resolve().parents[1]


def stamp() -> str:
    t = dt.datetime.now()
    return f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')}"


def failed(user: str, ip: str = "203.0.113.7", n: int = 1) -> str:
    return "".join(
        f"{stamp()} srv01 sshd[{4000 + i}]: Failed password for {user} from {ip} port {40000 + i} ssh2\n"
        for i in range(n)
    )


def accepted(user: str, ip: str) -> str:
    return f"{stamp()} srv01 sshd[5000]: Accepted password for {user} from {ip} port 50000 ssh2\n"


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def watcher(tmp: Path, paths: list[Path], **kw: Any) -> Watcher:
    kw.setdefault("state", str(tmp / "state.duckdb"))
    kw.setdefault("alerts", str(tmp / "alerts.jsonl"))
    kw.setdefault("detect_interval", 0.0)
    kw.setdefault("detectors", ["brute_force"])
    kw.setdefault("out", io.StringIO())
    kw.setdefault("err", io.StringIO())
    return Watcher([str(p) for p in paths], **kw)


def abandon(w: Watcher) -> None:
    """A crash between ticks: nothing more is written; only what was committed is on disk."""
    if w.webhook is not None:
        w.webhook.close(0.1)
    w.follower.close()
    w.store.close()


def alerts_of(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "alerts.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def refs(state: Path) -> list[tuple[str, int]]:
    with duckdb.connect(str(state), read_only=True) as con:
        return [(f, int(r)) for f, r in con.execute("SELECT ref_file, ref_record FROM auth ORDER BY 1, 2").fetchall()]


def lines_of(name: str, n: int, start: int = 1) -> list[tuple[str, int]]:
    return [(name, i) for i in range(start, start + n)]


def test_appended_lines_raise_one_alert_and_a_partial_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=4))
    out = io.StringIO()
    w = watcher(tmp_path, [log], out=out)
    r = w.tick()
    assert (r.lines, r.events, r.alerts) == (4, 4, [])
    # The burst completes with the 6th line; a 7th is still being written (no newline yet).
    partial = accepted("bob", "10.0.0.2")
    append(log, failed("alice", n=2) + partial[:30])
    r = w.tick()
    assert (r.lines, len(r.alerts)) == (2, 1)
    alert = alerts_of(tmp_path)[0]
    assert alert["detector"] == "brute_force" and alert["users"] == ["alice"]
    assert alert["alert"]["kind"] == "new"
    assert [e["record"] for e in alert["evidence"]] == [1, 2, 3, 4, 5, 6]
    assert "ALERT MEDIUM brute_force" in out.getvalue()
    assert w.tick().lines == 0  # the partial line waits for its newline
    append(log, partial[30:] + failed("alice", n=3))
    r = w.tick()
    assert (r.lines, r.events, r.alerts) == (4, 4, [])  # the finding grew: no repeat
    acct = w.accounting()[str(log)]
    assert acct == {"records_read": 10, "events": 10, "skipped": {}, "line": 10}
    w.close()
    assert refs(tmp_path / "state.duckdb") == lines_of(str(log), 10)
    assert len(alerts_of(tmp_path)) == 1


def test_rename_rotation_drains_the_old_file_and_follows_the_new(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=3))
    w = watcher(tmp_path, [log], drain_grace=0.0)
    assert w.tick().lines == 3
    append(log, failed("alice", n=2))  # not read yet when the file is renamed
    log.rename(tmp_path / "auth.log.1")
    append(tmp_path / "auth.log.1", failed("alice", n=1) + "Nov  1 00:00:00 srv01 sshd[1]: no newline")
    append(log, failed("bob", ip="198.51.100.9", n=4))
    total = 0
    for _ in range(3):
        total += w.tick().lines
    assert total == 4 + 4  # two unread, one written after the rename, its last unterminated line; four new
    w.close()
    got = refs(tmp_path / "state.duckdb")  # line 7 of auth.log.1 is read and skipped (not an sshd message)
    assert got == sorted(lines_of(str(tmp_path / "auth.log.1"), 6) + lines_of(str(log), 4))
    assert len(alerts_of(tmp_path)) == 1  # alice's burst spans the rotation: one alert
    assert alerts_of(tmp_path)[0]["evidence"][0]["file"] == str(tmp_path / "auth.log.1")


def test_copytruncate_reads_the_unread_rest_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=3))
    w = watcher(tmp_path, [log])
    assert w.tick().lines == 3
    append(log, failed("alice", n=2))  # written, then copied away before we read it
    shutil.copyfile(log, tmp_path / "auth.log.1")
    with log.open("r+") as f:
        f.truncate(0)
    append(log, failed("carol", ip="198.51.100.1", n=2))
    assert w.tick().lines == 4
    append(log, failed("carol", ip="198.51.100.1", n=1))
    assert w.tick().lines == 1
    w.close()
    got = refs(tmp_path / "state.duckdb")
    assert got == sorted(lines_of(str(tmp_path / "auth.log.1"), 5) + lines_of(str(log), 3))


def test_truncation_without_copy_starts_again_at_line_one(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=3))
    err = io.StringIO()
    w = watcher(tmp_path, [log], err=err)
    assert w.tick().lines == 3
    log.write_text(failed("dave", n=1))  # "> auth.log" and a new line, bigger than nothing
    with log.open("r+") as f:
        f.truncate(0)
    append(log, failed("dave", n=2))
    assert w.tick().lines == 2
    w.close()
    got = refs(tmp_path / "state.duckdb")
    old = f"{log} (before truncation at line 4)"
    assert got == sorted(lines_of(str(log), 2) + lines_of(old, 3))
    assert "truncated after line 3" in err.getvalue()


def test_restart_after_crashes_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=7))
    # Crash 1: events committed, detectors not run yet.
    w = watcher(tmp_path, [log], detect_interval=3600.0)
    w.dirty.clear()
    w.last_run["brute_force"] = time.monotonic()
    assert w.tick().events == 7 and not alerts_of(tmp_path)
    abandon(w)
    # Restart: detection runs over what was committed; crash 2: alert committed, the file write fails.
    w = watcher(tmp_path, [log])
    assert w.jsonl is not None

    def broken(bodies: list[bytes]) -> None:
        raise OSError("disk full")

    w.jsonl.write = broken  # type: ignore[method-assign]
    assert len(w.tick().alerts) == 1
    abandon(w)
    assert not alerts_of(tmp_path)
    # Restart: the outbox delivers it; crash 3: written, but the delivery not yet recorded.
    append(log, failed("alice", n=2))
    w = watcher(tmp_path, [log])
    assert len(alerts_of(tmp_path)) == 1
    assert w.tick().lines == 2
    abandon(w)
    # Restart: the file already holds it (found by its delivery id): nothing is written twice.
    append(log, failed("alice", n=1))
    w = watcher(tmp_path, [log])
    r = w.tick()
    assert (r.lines, r.alerts) == (1, [])
    w.close()
    assert len(alerts_of(tmp_path)) == 1
    assert refs(tmp_path / "state.duckdb") == lines_of(str(log), 10)


def test_alerts_file_partial_line_is_cut_on_start(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"alert": {"delivery": "A-1.0"}}\n{"alert": {"deliv')
    sink = JsonLines(str(path))
    assert path.read_bytes() == b'{"alert": {"delivery": "A-1.0"}}\n'
    assert sink.delivered({"A-1.0", "A-2.0"}) == {"A-1.0"}


def test_severity_escalation_raises_one_update(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, failed("erin", n=6))
    w = watcher(tmp_path, [log])
    assert [a.kind for a in w.tick().alerts] == ["new"]
    append(log, accepted("erin", "203.0.113.7"))  # the attacker got in
    r = w.tick()
    assert [(a.kind, a.reason) for a in r.alerts] == [("update", "severity medium → high")]
    append(log, failed("erin", n=2))
    assert w.tick().alerts == []
    w.close()
    lines = alerts_of(tmp_path)
    assert [x["alert"]["kind"] for x in lines] == ["new", "update"]
    assert len({x["alert"]["id"] for x in lines}) == 1
    assert len({x["alert"]["delivery"] for x in lines}) == 2


class _Hook(http.server.BaseHTTPRequestHandler):
    fail_first = 0
    seen: list[tuple[str, bytes]] = []  # noqa: RUF012 - reset per test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.headers["Idempotency-Key"], body))
        code = 503 if len(type(self).seen) <= type(self).fail_first else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"seen": [], "fail_first": 2})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", handler
    server.shutdown()
    server.server_close()


def until(cond: Callable[[], bool], timeout: float = 10.0, step: Callable[[], Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        if step:
            step()
        time.sleep(0.02)


def test_webhook_is_retried_with_backoff_without_blocking_ticks(tmp_path: Path, hook: tuple[str, type[_Hook]]) -> None:
    url, handler = hook
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=6))
    w = watcher(tmp_path, [log], webhook=url, webhook_backoff=0.05)
    started = time.monotonic()
    assert len(w.tick().alerts) == 1
    assert time.monotonic() - started < 2.0
    assert w.webhook is not None
    until(lambda: w.webhook is not None and w.webhook.idle(), step=w.tick)
    w.tick()
    w.close()
    assert len(handler.seen) == 3  # two 503s, then delivered
    keys = {k for k, _ in handler.seen}
    assert len(keys) == 1 and keys.pop().endswith(".0")
    assert orjson.loads(handler.seen[-1][1])["detector"] == "brute_force"
    with duckdb.connect(str(tmp_path / "state.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM watch_outbox").fetchone() == (0,)


def test_undelivered_webhook_alert_is_sent_after_restart(tmp_path: Path, hook: tuple[str, type[_Hook]]) -> None:
    url, handler = hook
    handler.fail_first = 10**6  # down
    log = tmp_path / "auth.log"
    append(log, failed("alice", n=6))
    w = watcher(tmp_path, [log], webhook=url, webhook_backoff=5.0)
    assert len(w.tick().alerts) == 1
    until(lambda: len(handler.seen) >= 1)
    w.close()  # stops while waiting to retry: the alert stays in the outbox
    handler.fail_first = 0
    handler.seen.clear()
    w = watcher(tmp_path, [log], webhook=url, webhook_backoff=0.05)
    until(lambda: len(handler.seen) == 1, step=w.tick)
    assert w.tick().alerts == []
    w.close()
    assert len(alerts_of(tmp_path)) == 1


def test_syslog_udp_and_tcp_on_loopback(tmp_path: Path) -> None:
    w = watcher(tmp_path, [], syslog_port=0)
    assert w.syslog is not None
    port = w.syslog.port
    assert w.syslog.udp.getsockname()[0] == "127.0.0.1" and w.syslog.tcp.getsockname()[0] == "127.0.0.1"
    lines = [f"<38>{x}" for x in failed("frank", n=6).splitlines()]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for x in lines[:2]:
            udp.sendto(x.encode(), ("127.0.0.1", port))
    with socket.create_connection(("127.0.0.1", port)) as tcp:
        framed = lines[2].encode()
        tcp.sendall(f"{len(framed)} ".encode() + framed + (lines[3] + "\n" + lines[4] + "\n").encode())
        tcp.sendall(lines[5].encode())  # the last frame ends with the connection
    got: list[Any] = []
    until(lambda: w.accounting()["syslog://127.0.0.1"]["events"] == 6, step=lambda: got.extend(w.tick().alerts))
    w.tick()
    w.close()
    assert len(got) == 1 and got[0].finding.users == ["frank"]
    assert refs(tmp_path / "state.duckdb") == lines_of("syslog://127.0.0.1", 6)


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be followed"):
        watcher(tmp_path, [tmp_path / "x.evtx"], fmt="evtx")
    err = io.StringIO()
    assert main([], err=err) == 2 and "at least one" in err.getvalue()
    assert main([str(tmp_path / "a.log")], webhook="file:///etc/passwd", err=err) == 2
    assert main([str(tmp_path)], state=str(tmp_path / "s.duckdb"), err=err) == 2
    assert "folder" in err.getvalue()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # `watch <(journalctl -f)`: was followed as a file that never grows, silently
    assert main([str(fifo)], err=err) == 2 and "is a pipe or device" in err.getvalue()
    assert clean("x\x1b[31my\u202e") == "x\\u001b[31my\\u202e"


def test_kill_9_and_restart_in_a_subprocess(tmp_path: Path) -> None:
    log, state, alerts = tmp_path / "auth.log", tmp_path / "state.duckdb", tmp_path / "alerts.jsonl"
    log.touch()
    cmd = [sys.executable, "-m", "shoreup.watch", str(log), "--state", str(state), "--alerts", str(alerts),
           "-d", "brute_force"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start() -> subprocess.Popen[bytes]:
        errors = tmp_path / "stderr.txt"
        errors.write_bytes(b"")
        with errors.open("wb") as sink:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sink, cwd=tmp_path)
        until(lambda: b"following" in errors.read_bytes() or proc.poll() is not None)
        assert proc.poll() is None, errors.read_text()
        return proc

    proc = start()
    append(log, failed("alice", n=6))
    until(lambda: len(alerts_of(tmp_path)) == 1)
    for i in range(20):  # keep writing while it is killed
        append(log, failed(f"user{i}", ip="10.1.1.1"))
        if i == 5:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    append(log, failed("bob", ip="198.51.100.2", n=6))
    proc = start()
    until(lambda: len(alerts_of(tmp_path)) == 2, timeout=20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    got = alerts_of(tmp_path)
    assert sorted(a["users"][0] for a in got) == ["alice", "bob"]
    assert refs(state) == lines_of(str(log), 32)
