"""shoreup vs fail2ban-regex on the same simulated auth.log: lines/s and peak memory.

    .venv/bin/python bench/sshd_throughput.py [--lines 1000000] [--keep DIR]

Generates a realistic sshd log of about ``--lines`` lines with ``shoreup simulate`` (background users,
internet scanners, a brute force and a spray), then times ``shoreup hunt FILE --json`` (reading,
storing, detecting) and ``fail2ban-regex FILE sshd`` (matching only). fail2ban comes from Debian's
package, installed by this script when missing. Targets (issue 2): ≥ 20× fail2ban-regex's lines/s,
peak RSS < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, measure

LINES_PER_SCANNER_DAY = 10  # about 1.9 tries × ~5 lines each (measured on the simulator's output)


def ensure_fail2ban() -> str | None:
    exe = shutil.which("fail2ban-regex")
    if exe:
        return exe
    print("installing Debian package fail2ban …", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "fail2ban"], check=False, env=env, capture_output=True)
    return shutil.which("fail2ban-regex")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated log here")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="shoreup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    days = 5
    per_day = max(30, args.lines // (days * LINES_PER_SCANNER_DAY))
    shoreup = [sys.executable, "-m", "shoreup"]
    log = work / "auth.log"
    if not log.exists():
        subprocess.run([*shoreup, "simulate", "--out", str(work), "--seed", "1", "--days", str(days),
                        "--scanners-per-day", str(per_day)], check=True)
    n_lines = sum(1 for _ in log.open("rb"))
    size_mb = log.stat().st_size / 1e6
    print(f"machine: {machine()}")
    print(f"input: {log} — {n_lines:,} lines, {size_mb:.0f} MB")

    out_json = str(work / "hunt.json")
    ours = measure([*shoreup, "hunt", str(log), "--json"], stdout_to=out_json)
    doc = json.loads(Path(out_json).read_text())
    assert doc["summary"]["records_read"] == n_lines, "accounting must cover every line"
    ours_lps = n_lines / ours.seconds
    print(f"shoreup hunt:    {ours.seconds:7.2f} s  {ours_lps:12,.0f} lines/s  peak RSS {ours.peak_rss_mb:7.0f} MB  "
          f"findings {len(doc['findings'])}")

    f2b = ensure_fail2ban()
    if not f2b:
        print("fail2ban-regex: not available (apt-get install fail2ban failed); no ratio")
        return 0
    theirs = measure([f2b, str(log), "sshd"])
    f2b_lps = n_lines / theirs.seconds
    print(f"fail2ban-regex:  {theirs.seconds:7.2f} s  {f2b_lps:12,.0f} lines/s  peak RSS {theirs.peak_rss_mb:7.0f} MB")
    print(f"ratio: shoreup is {ours_lps / f2b_lps:.1f}× fail2ban-regex's lines/s "
          f"(target ≥ 20×), peak RSS {ours.peak_rss_mb:.0f} MB (target < 1024 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
