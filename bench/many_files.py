"""``shoreup hunt`` over a folder of many small logs (a collector's per-host files): seconds per file.

    .venv/bin/python bench/many_files.py [--files 2000] [--lines 5] [--repeat 3] [--keep DIR]

Writes ``--files`` sshd syslog files and a quarter as many access logs of ``--lines`` lines each (every
host its own file, a few of them under a brute force), then times, each in a child process,
``shoreup hunt DIR --json`` with the default worker processes and with ``--jobs 1``. Prints the best wall
time of ``--repeat`` runs, its CPU seconds, milliseconds per file and peak memory, and checks that every
line is accounted for. There is no peer figure: fail2ban-regex and the Sigma CLIs read one file per run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from sshd_throughput import best, load_average


def generate(folder: Path, files: int, lines: int, seed: int = 1) -> int:
    """The sshd and access-log files; how many lines they hold in all."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for h in range(files):
        attacked = h % 50 == 0  # a few hosts under a brute force: the hunt has something to find
        out = []
        for k in range(lines * (6 if attacked else 1)):
            second = k * (2 if attacked else rng.randrange(60, 600))
            stamp = f"Mar {1 + second // 86400 % 28:2d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            if attacked:
                msg = f"Failed password for root from 203.0.113.{h % 250} port {rng.randrange(1024, 65535)} ssh2"
            else:
                user = rng.choice(("alice", "bob", "deploy", "backup"))
                msg = f"Accepted publickey for {user} from 10.{h % 250}.0.{rng.randrange(1, 255)} port 22 ssh2"
            out.append(f"{stamp} host{h:05d} sshd[{1000 + k}]: {msg}\n")
        (folder / f"host{h:05d}.auth.log").write_text("".join(out))
        total += len(out)
    for w in range(files // 4):
        out = [
            f'198.51.100.{rng.randrange(1, 255)} - - [03/Mar/2026:04:{k // 60 % 60:02d}:{k % 60:02d} +0000] '
            f'"{rng.choice(("GET /", "GET /app.js", "POST /login"))} HTTP/1.1" {rng.choice((200, 200, 401))} 512 "-" "x"\n'
            for k in range(lines)
        ]
        (folder / f"site{w:05d}.access.log").write_text("".join(out))
        total += len(out)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--files", type=int, default=2000, help="sshd files (and a quarter as many access logs)")
    ap.add_argument("--lines", type=int, default=5, help="lines per file")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the best wall time is kept")
    ap.add_argument("--keep", type=Path, default=None, help="write the files here (kept)")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="shoreup-many-"))
    lines = generate(folder, args.files, args.lines)
    n_files = sum(1 for p in folder.iterdir() if p.is_file())
    print(f"machine: {machine()}; load average before: {load_average()}")
    print(f"input: {folder} — {n_files:,} files, {lines:,} lines; best of {args.repeat} runs each")
    for label, extra in (("hunt, worker processes", []), ("hunt --jobs 1", ["--jobs", "1"])):
        out = str(folder.parent / f"{folder.name}-hunt.json")
        run = best([sys.executable, "-m", "shoreup", "hunt", str(folder), "--json", *extra], args.repeat, out)
        doc = json.loads(Path(out).read_text())
        summary = doc["summary"]
        assert len(summary["files"]) == n_files and summary["records_read"] == lines, "every file and line read"
        print(f"{label:24s} {run.seconds:7.2f} s wall {run.cpu:7.2f} CPU-s {1000 * run.seconds / n_files:6.2f} ms/file "
              f"peak RSS {run.peak_rss_mb:6.0f} MB  findings {len(doc['findings'])}", flush=True)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
