"""Watch mode: latency from a log line being written to its alert, and a kill -9 / restart midway.

Appends N sshd lines (default 10,000) at a steady pace to a file followed by a ``shoreup watch``
subprocess — a background of public-key sign-ins, cron sessions and a rare mistyped password — with
a brute-force burst every ``--burst-every`` lines (a fresh account, 8 failed
passwords from one address; ``brute_force`` fires on the 5th, inside its 60 s fast window). Latency
is measured from the moment the burst's 5th failure was flushed to the file to the moment its alert
line appears in the alerts JSON lines file (matched by account). Halfway, the watcher is killed
with SIGKILL while writing goes on, and restarted 3 s later; at the end the state file is checked:
every line read exactly once (records, line numbers of events), no alert raised twice.

    .venv/bin/python bench/watch_latency.py [--lines 10000] [--rate 250] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine

BURST = 8
FIRES_AT = 5  # brute_force's min_fast_failures: the line that completes the burst


@dataclass
class Written:
    lines: int = 0
    events: set[int] = field(default_factory=set)  # line numbers that are auth events
    bursts: dict[str, tuple[int, float]] = field(default_factory=dict)  # user -> (line, time flushed)
    killed_at: float = 0.0
    restarted_at: float = 0.0


def stamp() -> str:
    t = dt.datetime.now()
    return f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')}"


def watch_command(log: Path, state: Path, alerts: Path) -> list[str]:
    """``shoreup watch`` when the CLI has it, else the module entry point."""
    args = [str(log), "--state", str(state), "--alerts", str(alerts)]
    probe = subprocess.run([sys.executable, "-m", "shoreup", "watch", "--help"], capture_output=True, cwd=ROOT)
    if probe.returncode == 0:
        return [sys.executable, "-m", "shoreup", "watch", *args]
    return [sys.executable, "-m", "shoreup.watch", *args]


class AlertTail(threading.Thread):
    """Reads the alerts file as it grows and notes when each line was seen."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        offset, pending = 0, b""
        while not self.stop.is_set():
            try:
                with self.path.open("rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            now = time.time()
            if data:
                offset += len(data)
                pending += data
                *complete, pending = pending.split(b"\n")
                self.seen.extend((now, orjson.loads(x)) for x in complete if x.strip())
            self.stop.wait(0.005)


def start(cmd: list[str], err: Path) -> subprocess.Popen[bytes]:
    before = err.read_bytes().count(b"Ctrl-C to stop") if err.exists() else 0
    with err.open("ab") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 30
    while err.read_bytes().count(b"Ctrl-C to stop") <= before:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"watch did not start: {err.read_text()}")
        time.sleep(0.02)
    return proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=250.0, help="lines per second")
    ap.add_argument("--burst-every", type=int, default=250)
    ap.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    a = ap.parse_args()
    rng = random.Random(5)
    tmp = Path(tempfile.mkdtemp(prefix="shoreup-watch-bench-"))
    log, state, alerts, err = tmp / "auth.log", tmp / "state.duckdb", tmp / "alerts.jsonl", tmp / "stderr.txt"
    log.touch()
    cmd = watch_command(log, state, alerts)
    tail = AlertTail(alerts)
    tail.start()
    proc = start(cmd, err)
    w = Written()
    kill_at, restart_after = a.lines // 2, 3.0
    killed_at: float | None = None
    restarted = False
    pid = 1000
    queue: list[tuple[str, str | None]] = []  # (line, burst user completed by it)
    burst_no = 0
    started = time.time()
    interval = 1.0 / a.rate
    with log.open("a", encoding="utf-8") as f:
        while w.lines < a.lines:
            if not queue:
                if w.lines == a.lines - FIRES_AT:
                    # Last, a burst that fires on the very last line: its alert says all was read.
                    for i in range(FIRES_AT):
                        pid += 1
                        text = f"{stamp()} srv01 sshd[{pid}]: Failed password for sentinel from 192.0.2.1 port {40000 + i} ssh2"
                        queue.append((text, "sentinel" if i == FIRES_AT - 1 else None))
                elif w.lines and w.lines % a.burst_every == 0 and a.lines - w.lines > BURST + FIRES_AT:
                    burst_no += 1
                    user, ip = f"victim{burst_no}", f"203.0.113.{burst_no % 250}"
                    for i in range(BURST):
                        pid += 1
                        text = f"{stamp()} srv01 sshd[{pid}]: Failed password for {user} from {ip} port {40000 + i} ssh2"
                        queue.append((text, user if i == FIRES_AT - 1 else None))
                else:
                    pid += 1
                    u, ip = f"staff{rng.randrange(300)}", f"10.0.{rng.randrange(4)}.{rng.randrange(250)}"
                    kind = rng.random()
                    if kind < 0.1:
                        text = f"{stamp()} srv01 CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
                    elif kind < 0.11:  # a person mistyping, now and then: no attack
                        text = f"{stamp()} srv01 sshd[{pid}]: Failed password for {u} from {ip} port 5{pid % 10000} ssh2"
                    else:
                        text = f"{stamp()} srv01 sshd[{pid}]: Accepted publickey for {u} from {ip} port 5{pid % 10000} ssh2"
                    queue.append((text, None))
            text, completes = queue.pop(0)
            f.write(text + "\n")
            f.flush()
            w.lines += 1
            if "CRON" not in text:
                w.events.add(w.lines)
            if completes:
                w.bursts[completes] = (w.lines, time.time())
            if w.lines == kill_at:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed_at = w.killed_at = time.time()
            if killed_at is not None and not restarted and time.time() - killed_at >= restart_after:
                w.restarted_at = time.time()
                proc = start(cmd, err)
                restarted = True
            # Paced: the line number says when it is due.
            delay = started + w.lines * interval - time.time()
            if delay > 0:
                time.sleep(delay)
    write_seconds = time.time() - started
    deadline = time.time() + 30
    while time.time() < deadline:
        users = {x["users"][0] for _, x in tail.seen if x["detector"] == "brute_force" and x["users"]}
        if set(w.bursts) <= users:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # let the last tick commit
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(30)
    tail.stop.set()
    tail.join()

    # --- what the alerts say ------------------------------------------------------------------
    latencies: list[float] = []
    after_restart: list[float] = []  # written while the watcher was dead
    interrupted: list[float] = []  # written while it ran, killed before it alerted
    missing: list[str] = []
    slowest: list[tuple[float, int]] = []
    first_seen: dict[str, float] = {}
    for seen, x in tail.seen:
        if x["detector"] == "brute_force" and x["users"] and x["alert"]["kind"] == "new":
            first_seen.setdefault(x["users"][0], seen)
    for user, (_, written) in w.bursts.items():
        if user not in first_seen:
            missing.append(user)
        elif w.killed_at <= written < w.restarted_at:
            after_restart.append(first_seen[user] - written)
        elif written < w.killed_at < first_seen[user]:
            interrupted.append(first_seen[user] - written)
        else:
            latencies.append(first_seen[user] - written)
            slowest.append((first_seen[user] - written, w.bursts[user][0]))
    deliveries = [x["alert"]["delivery"] for _, x in tail.seen]
    repeated = len(deliveries) - len(set(deliveries))
    new_ids = [x["alert"]["id"] for _, x in tail.seen if x["alert"]["kind"] == "new"]
    repeated += len(new_ids) - len(set(new_ids))

    # --- what the state says ------------------------------------------------------------------
    with duckdb.connect(str(state), read_only=True) as con:
        rows = con.execute("SELECT ref_record FROM auth WHERE ref_file = ?", [str(log)]).fetchall()
        files = con.execute("SELECT records, line FROM watch_files WHERE path = ?", [str(log)]).fetchone()
    ingested = [int(r[0]) for r in rows]
    lost = len(w.events - set(ingested))
    duplicated = len(ingested) - len(set(ingested))
    extra = len(set(ingested) - w.events)
    records, last_line = (int(files[0]), int(files[1]) - 1) if files else (0, 0)

    def pct(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else float("nan")

    lines = [
        f"lines written: {w.lines:,} in {write_seconds:.1f} s ({w.lines / write_seconds:.0f}/s); "
        f"bursts: {len(w.bursts)}",
        f"latency write → alert (n={len(latencies)}): p50 {pct(latencies, 50):.2f} s, p99 {pct(latencies, 99):.2f} s, "
        f"max {max(latencies, default=float('nan')):.2f} s; slowest at line(s) "
        + ", ".join(f"{n:,} ({x:.2f} s)" for x, n in sorted(slowest, reverse=True)[:3]),
        f"bursts written while the watcher was dead ({restart_after:.0f} s) or before it was killed but not yet "
        f"alerted (n={len(after_restart)} + {len(interrupted)}): alerted after the restart, at most "
        f"{max(after_restart + interrupted, default=float('nan')):.2f} s after the line",
        f"state after kill -9 at line {kill_at:,} and restart: records read {records:,} (line {last_line:,}), "
        f"events {len(ingested):,} of {len(w.events):,} expected; lost {lost}, duplicated {duplicated}, "
        f"unexpected {extra}",
        f"alerts: {len(tail.seen)} line(s), repeated {repeated}, bursts never alerted {len(missing)}; "
        f"watch exit code {code}",
    ]
    for line in lines:
        print(line)
    ok = not (lost or duplicated or extra or repeated or missing) and records == w.lines
    print("OK" if ok else "FAILED")
    if not a.no_record:
        record(a, lines, cmd)
    return 0 if ok else 1


def record(a: argparse.Namespace, lines: list[str], cmd: list[str]) -> None:
    """Replace this script's own section of bench/RESULTS.md (others keep theirs)."""
    path = ROOT / "bench" / "RESULTS.md"
    entry = "watch" if cmd[2] == "shoreup" else "shoreup.watch"
    section = "\n".join([
        "## Watch",
        "",
        f"`.venv/bin/python bench/watch_latency.py --lines {a.lines} --rate {a.rate:g} "
        f"--burst-every {a.burst_every}` on {machine()} ({dt.date.today().isoformat()}; the watcher runs as "
        f"`python -m {entry}` with its defaults: poll 0.25 s, every detector, each run at most once a second and at most half "
        "the time; the machine shared with other jobs).",
        "",
        *[f"- {x}" for x in lines],
        "",
    ])
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find("\n## Watch\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + ("\n" + text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".md.tmp-watch")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
