"""Hunting millions of sign-ins: DuckDB (embedded) against Apache Spark (local), same detector SQL.

Writes ``--rows`` Entra-like sign-ins (default 1 M and 10 M) straight to a Parquet lake in
``shoreup ingest --to`` layout — a tenant of ``rows / 200`` people over a week, mostly successes,
some typos, internet scanners, and inside it a single-source spray (600 accounts, 1 IP) and a
distributed spray (300 proxies × 2 tries) — then hunts it once per engine, each in its own process:

* duckdb: load the lake into a Store (``--memory-limit``), run the detectors;
* spark:  ``local[*]`` SparkSession over the lake's Parquet, run the same detectors (SQL by sqlglot).

Detectors: every credential detector — the four attack detectors (brute_force, password_spray,
distributed_spray, mfa_fatigue) and their follow-ups (compromise, mfa_gap), which walk only the
targeted accounts' sign-ins in Python and ask the engine for the rest. Prints load and detect seconds,
peak memory of the whole process tree (Python + DuckDB or + the Spark JVM), the findings (which must be
the same on both engines), and how time grows from the smallest to the largest size.

    .venv/bin/python bench/spark_scale.py [--rows 1000000 10000000] [--engines duckdb spark]
        [--memory-limit 4GB] [--driver-memory 6g] [--workdir DIR] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DETECTORS = ["brute_force", "password_spray", "distributed_spray", "mfa_fatigue", "compromise", "mfa_gap"]
EPOCH = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
DAYS = 7
CHUNK = 1_000_000


# --- Data: numpy-vectorized sign-ins, written as a lake. -------------------------------------------


def _chunk(rng: Any, start: int, n: int, people: int) -> Any:
    import numpy as np
    import pyarrow as pa

    from shoreup.schema import AUTH

    k = np.arange(start, start + n)
    person = rng.integers(0, people, n)
    t_us = EPOCH.timestamp() * 1e6 + rng.integers(0, DAYS * 86_400 * 1_000_000, n)
    fail = rng.random(n) < 0.04  # typos
    unknown = np.zeros(n, dtype=bool)
    scan = rng.random(n) < 0.005  # internet scanners: random addresses, names that mostly do not exist
    ip = np.char.add("100.64.", (person % 250).astype(str))
    ip = np.char.add(np.char.add(ip, "."), (person // 250 % 250).astype(str))
    scan_ip = np.char.add("61.", rng.integers(0, 250, n).astype(str))
    scan_ip = np.char.add(np.char.add(scan_ip, "."), rng.integers(0, 250, n).astype(str))
    scan_ip = np.char.add(scan_ip, ".7")
    ip = np.where(scan, scan_ip, ip)
    fail |= scan
    unknown |= scan & (rng.random(n) < 0.9)
    user = np.where(unknown, np.char.add("svc", rng.integers(0, 40, n).astype(str)),
                    np.char.add("user", person.astype(str)))
    outcome = np.where(fail, "failure", "success")
    reason = np.where(unknown, "unknown_user", "bad_password")
    columns = {
        "time": pa.array(t_us.astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "host": pa.array(["contoso.onmicrosoft.com"] * n),
        "source_format": pa.array(["entra"] * n),
        "ref_file": pa.array(np.char.add("signins-", (k // CHUNK).astype(str)).tolist()),
        "ref_record": pa.array(k, pa.int64()),
        "user": pa.array(user.tolist()),
        "domain": pa.array(["contoso.com"] * n),
        "src_ip": pa.array(ip.tolist()),
        "outcome": pa.array(outcome.tolist()),
        "reason": pa.array(reason.tolist(), mask=~fail),
        "raw_reason": pa.array(np.where(unknown, "50034", np.where(fail, "50126", "0")).tolist()),
        "method": pa.array(["password"] * n),
        "mfa_used": pa.array((~fail).tolist()),
        "user_agent": pa.array(np.char.add("Browser/", (person % 7).astype(str)).tolist()),
        "application": pa.array(["Office 365"] * n),
        "country": pa.array(["US"] * n),
        "asn": pa.array(np.full(n, 7922), pa.int64()),
        "event_code": pa.array(["signIn"] * n),
    }
    return pa.table([columns.get(f.name, pa.nulls(n, f.type)) for f in AUTH], schema=AUTH)


def _attacks(start: int, people: int) -> Any:
    """A single-source spray (600 accounts from one IP, one every 30 s) and a distributed one."""
    import pyarrow as pa

    from shoreup.schema import AUTH

    rows: list[dict[str, Any]] = []
    t0 = EPOCH + dt.timedelta(days=3, hours=2)
    for j in range(600):
        rows.append({"time": t0 + dt.timedelta(seconds=30 * j), "user": f"user{(j * 7) % people}",
                     "src_ip": "203.0.113.9", "user_agent": "python-requests/2.31"})
    t1 = EPOCH + dt.timedelta(days=4, hours=1)
    for j in range(600):  # 300 proxies x 2 tries over 6 h, walking 150 accounts
        rows.append({"time": t1 + dt.timedelta(seconds=36 * j), "user": f"user{(j % 150) * 3 % people}",
                     "src_ip": f"45.{130 + (j % 300) // 250}.{(j % 300) % 250}.9", "user_agent": "Spray/1",
                     "asn": 9009, "country": "NL"})
    for j, r in enumerate(rows):
        r.update(host="contoso.onmicrosoft.com", source_format="entra", ref_file="signins-attack",
                 ref_record=start + j, outcome="failure", reason="bad_password", raw_reason="50126",
                 method="password", mfa_used=None, domain="contoso.com")
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in AUTH} for r in rows], schema=AUTH)


def make_lake(root: Path, rows: int, seed: int = 8) -> float:
    """Write ``rows`` sign-ins (attacks included) as ``root/auth/date=…/part-*.parquet``; returns seconds."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    people = max(100, rows // 200)
    attacks = _attacks(rows, people)
    n_bg = rows - attacks.num_rows
    for i, start in enumerate(range(0, n_bg, CHUNK)):
        table = _chunk(rng, start, min(CHUNK, n_bg - start), people)
        if i == 0:
            import pyarrow as pa

            table = pa.concat_tables([table, attacks])
        table = table.append_column("date", pc.strftime(table["time"], "%Y-%m-%d"))
        ds.write_dataset(table, root / "auth", format="parquet", partitioning=["date"],
                         partitioning_flavor="hive", basename_template=f"part-{i}-{{i}}.parquet",
                         existing_data_behavior="overwrite_or_ignore")
    return time.perf_counter() - started


# --- One engine, in its own process. -----------------------------------------------------------------


def run_engine(engine: str, lake: Path, memory_limit: str, driver_memory: str) -> dict[str, Any]:
    from shoreup import detect as registry

    out: dict[str, Any] = {"engine": engine}
    started = time.perf_counter()
    if engine == "duckdb":
        from shoreup.engine.duckdb import Store

        store = Store(memory_limit=memory_limit)
        con: Any = store.con
        glob = str(lake / "auth" / "*" / "*.parquet").replace("'", "''")
        con.execute(f"INSERT INTO auth BY NAME SELECT * EXCLUDE (date) REPLACE (CAST(time AS TIMESTAMP) AS time) "
                    f"FROM read_parquet('{glob}', hive_partitioning = true)")
    else:
        from shoreup.engine import spark

        session = spark.session("local[*]", driver_memory=driver_memory)
        con = spark.connect(session, lake)
    out["load_s"] = round(time.perf_counter() - started, 2)
    found: dict[str, list[Any]] = {}
    detect_started = time.perf_counter()
    for name in DETECTORS:
        t = time.perf_counter()
        module = registry.load(name)
        findings = module.detect(con, module.Params())
        out[f"{name}_s"] = round(time.perf_counter() - t, 2)
        found[name] = [f.to_json() for f in findings]
    out["detect_s"] = round(time.perf_counter() - detect_started, 2)
    out["findings"] = {n: len(v) for n, v in found.items()}
    out["digest"] = _digest(found)
    return out


def _digest(found: dict[str, list[Any]]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(found, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def measure(engine: str, lake: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, "--lake", str(lake), "--memory-limit", args.memory_limit,
           "--driver-memory", args.driver_memory]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = [0]

    def poll() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    started = time.perf_counter()
    watcher.start()
    stdout, _ = proc.communicate()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{engine} run failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(peak[0] / 2**20)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit")
    parser.add_argument("--driver-memory", default="6g", help="Spark driver memory (local mode: all of Spark)")
    parser.add_argument("--workdir", type=Path, help="keep the lakes here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_engine(args.child, args.lake, args.memory_limit, args.driver_memory)))
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="shoreup-spark-scale-"))
    results: list[dict[str, Any]] = []
    try:
        for rows in args.rows:
            lake = work / f"lake-{rows}"
            if not (lake / "auth").is_dir():
                gen = make_lake(lake, rows)
                print(f"{rows:>11,} rows: lake written in {gen:.1f} s", file=sys.stderr)
            for engine in args.engines:
                r = measure(engine, lake, args) | {"rows": rows}
                results.append(r)
                print(f"{rows:>11,} rows  {engine:<6}  load {r['load_s']:>7.1f} s  detect {r['detect_s']:>7.1f} s  "
                      f"wall {r['wall_s']:>7.1f} s  peak {r['peak_rss_mb']:>6} MB  findings {r['findings']}  "
                      f"digest {r['digest']}", file=sys.stderr)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    _report(results, args.rows)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _report(results: list[dict[str, Any]], sizes: list[int]) -> None:
    lo, hi = min(sizes), max(sizes)
    for engine in ("duckdb", "spark"):
        a = next((r for r in results if r["engine"] == engine and r["rows"] == lo), None)
        b = next((r for r in results if r["engine"] == engine and r["rows"] == hi), None)
        if a and b and lo != hi:
            print(f"{engine}: rows x{hi / lo:.0f} -> detect time x{b['detect_s'] / max(a['detect_s'], 0.01):.1f}, "
                  f"wall x{b['wall_s'] / max(a['wall_s'], 0.01):.1f}, peak memory x"
                  f"{b['peak_rss_mb'] / max(a['peak_rss_mb'], 1):.1f}", file=sys.stderr)
    for rows in sizes:
        digests = {r["digest"] for r in results if r["rows"] == rows}
        if len(digests) > 1:
            print(f"MISMATCH at {rows:,} rows: the engines found different things", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
