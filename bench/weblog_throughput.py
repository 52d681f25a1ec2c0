"""shoreup vs fail2ban-regex on the same web access log: lines/s, CPU seconds and peak memory.

    .venv/bin/python bench/weblog_throughput.py [--lines 1000000] [--logins 0.2] [--keep DIR] [--repeat 3]

Writes an Apache / nginx combined log of ``--lines`` lines (seeded): ordinary browsing by a few
thousand clients, and sign-in posts — a WordPress brute force from a handful of addresses
(``POST /wp-login.php`` answered 200, as WordPress answers a wrong password), XML-RPC guessing and a
distributed spray on ``/login`` (401, six hours, one or two tries per address) — making up ``--logins`` of the lines. Then times, each in a
child process:

- ``shoreup hunt FILE --json`` (reading, storing, every detector);
- reading into the store alone (``pipeline.ingest`` + final flush), one worker per CPU and in one
  process;
- ``fail2ban-regex FILE <failregex>`` with the usual hand-written WordPress / login jail filter
  (``^<HOST> \\S+ \\S+ \\[[^\\]]*\\] "POST /(wp-login\\.php|xmlrpc\\.php|login|signin)``): fail2ban ships no filter for
  sign-in posts in access logs, so this is what its users write, with the log's date pattern given as
  a jail gives it (Debian's package, installed when missing).

Each line gives the best wall time of ``--repeat`` runs and that run's CPU seconds. There is no issue
target for web logs; the figures are recorded in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine
from sshd_throughput import _INGEST, Run, best, ensure_fail2ban, load_average

FAILREGEX = r'^<HOST> \S+ \S+ \[[^\]]*\] "POST /(?:wp-login\.php|xmlrpc\.php|login|signin)'
#: The log's time format, given as a jail would (fail2ban's automatic date detection is ~7x slower).
DATEPATTERN = "%d/%b/%Y:%H:%M:%S %z"

_PAGES = ["/", "/blog/", "/about", "/contact", "/wp-content/themes/site/style.css", "/feed/", "/shop/cart",
          "/api/v1/items?page=2", "/favicon.ico", "/wp-json/wp/v2/posts", "/search?q=shoes", "/images/logo.png"]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]


#: The spray's six hours (from 02:00 on the second day), one or two tries from each of its addresses.
_SPRAY_FROM, _SPRAY_SECONDS = 86400 + 7200, 6 * 3600


def generate(path: Path, lines: int, login_share: float, seed: int = 1) -> int:
    """Write the log; the number of sign-in posts in it."""
    rng = random.Random(seed)
    clients = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
               for _ in range(4000)]
    brute = [f"203.0.113.{k}" for k in (7, 8, 9)]
    spray = [f"198.{rng.randrange(18, 20)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(20000)]
    logins = 0
    second = 0
    with path.open("w") as out:
        for _ in range(lines):
            second += rng.choice((0, 0, 1))
            day, rest = divmod(second, 86400)
            stamp = f"{1 + day % 28:02d}/Mar/2026:{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d} +0000"
            if rng.random() < login_share:
                logins += 1
                kind = rng.random()
                spraying = _SPRAY_FROM <= second < _SPRAY_FROM + _SPRAY_SECONDS
                if kind < 0.6 or (kind >= 0.8 and not spraying):
                    ip, req, status, agent = rng.choice(brute), "POST /wp-login.php HTTP/1.1", 200, "Mozilla/5.0"
                elif kind < 0.8:
                    ip, req, status, agent = rng.choice(brute), "POST /xmlrpc.php HTTP/1.1", 200, "Mozilla/5.0"
                else:
                    ip, req, status, agent = rng.choice(spray), "POST /login HTTP/1.1", 401, rng.choice(_AGENTS)
                referer = "-"
            else:
                ip, agent = rng.choice(clients), rng.choice(_AGENTS)
                req, status = f"GET {rng.choice(_PAGES)} HTTP/1.1", rng.choice((200, 200, 200, 304, 404))
                referer = "https://www.example.org/"
            out.write(f'{ip} - - [{stamp}] "{req}" {status} {rng.randrange(200, 60000)} "{referer}" "{agent}"\n')
    return logins


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--logins", type=float, default=0.2, help="share of the lines that are sign-in posts")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated log here")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the best wall time is kept")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="shoreup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "access.log"
    logins = generate(log, args.lines, args.logins)
    print(f"machine: {machine()}; load average before: {load_average()}")
    print(f"input: {log} — {args.lines:,} lines ({logins:,} sign-in posts), {log.stat().st_size / 1e6:.0f} MB; "
          f"best of {args.repeat} runs each")

    def show(label: str, run: Run, extra: str = "") -> float:
        lps = args.lines / run.seconds
        print(f"{label:28s} {run.seconds:7.2f} s wall {run.cpu:7.2f} CPU-s {lps:12,.0f} lines/s "
              f"{args.lines / run.cpu:12,.0f} lines/CPU-s  peak RSS {run.peak_rss_mb:6.0f} MB{extra}", flush=True)
        return lps

    rates: dict[str, float] = {}
    for jobs in (0, 1):
        out = str(work / "ingest.txt")
        run = best([sys.executable, "-c", _INGEST, str(log), "weblog", str(jobs)], args.repeat, out)
        read, rows = (int(x) for x in Path(out).read_text().split())
        assert read == args.lines, "accounting must cover every line"
        label = "read+store (" + ("workers" if jobs == 0 else "1 process") + ")"
        rates[label] = show(label, run, f"  rows {rows:,}")
    out_json = str(work / "hunt.json")
    run = best([sys.executable, "-m", "shoreup", "hunt", str(log), "--json"], args.repeat, out_json)
    doc = json.loads(Path(out_json).read_text())
    assert doc["summary"]["records_read"] == args.lines, "accounting must cover every line"
    found = sorted({f["detector"] for f in doc["findings"]})
    rates["hunt"] = show("hunt (every detector)", run, f"  findings {len(doc['findings'])} ({', '.join(found)})")

    f2b = ensure_fail2ban()
    if not f2b:
        print("fail2ban-regex: not available (apt-get install fail2ban failed); no ratio")
        return 0
    theirs = best([f2b, "-d", DATEPATTERN, str(log), FAILREGEX], 1)
    f2b_lps = show("fail2ban-regex", theirs)
    for label in ("hunt", "read+store (workers)"):
        print(f"ratio {label:22s}: {rates[label] / f2b_lps:5.1f}× fail2ban-regex's lines/s")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
