"""How fast the parsers themselves go, with nothing else done: the ceiling for issue 3's read targets.

    .venv/bin/python bench/read_ceiling.py [--data ../shared/data] [--records 200000] [--entra 100000]
        [--repeat 3]

``bench/read_throughput.py`` times shoreup reading into the store. This script times, on the same
inputs and the same machine, the fastest parsers there are for them doing *only* the parse — no
mapping, no normalized tables, no ``raw`` fields, no store — so that a target above these figures is
known to be out of reach of any reader built on them:

- JSON (the Mordor datasets, a generated Winlogbeat NDJSON and a generated Entra ID NDJSON; the bytes
  decompressed and in memory before the clock starts): ``pyarrow.json.read_json`` (C++, every core),
  DuckDB's ``read_json`` into a table (C++, every core) and ``orjson.loads`` of each line (one core);
- EVTX (the EVTX-ATTACK-SAMPLES folder): the ``evtx`` crate's ``records_json`` over every file, in one
  process and in one process per CPU (files dealt round robin), alone and with ``orjson.loads`` of each
  record (the least any reader needs to look into a record).

JSON lines are also parsed by ``orjson`` in one process per CPU (the file cut at line ends, forked
processes). Time to start the processes is counted: a reader pays it too.

The best of ``--repeat`` runs is printed beside issue 3's target.
"""

from __future__ import annotations

import argparse
import io
import itertools
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from read_throughput import TARGETS, generate_winlogbeat  # noqa: E402


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, float, int]:
    """The best wall seconds of ``repeat`` calls, that call's CPU seconds, and what it counted."""
    best = (float("inf"), 0.0, 0)
    for _ in range(repeat):
        cpu, start = _cpu(), time.perf_counter()
        n = fn()
        wall = time.perf_counter() - start
        if wall < best[0]:
            best = (wall, _cpu() - cpu, n)
    return best


def mordor_lines(folder: Path) -> bytes:
    """Every JSON object line of every zipped dataset under ``folder``, decompressed, one NDJSON text
    (lines no parser takes — damaged, not UTF-8 — left out, so that every parser reads the same)."""
    import orjson

    out = io.BytesIO()
    for z in sorted(folder.rglob("*.zip")):
        try:
            with zipfile.ZipFile(z) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    for line in zf.read(info).splitlines():
                        line = line.strip()
                        try:
                            if isinstance(orjson.loads(line), dict):
                                out.write(line + b"\n")
                        except orjson.JSONDecodeError:
                            continue
        except zipfile.BadZipFile:
            continue
    return out.getvalue()


_DATA: list[bytes] = []  # the input of the forked line-parsing processes


def _lines_in(bounds: tuple[int, int]) -> int:
    import orjson

    loads = orjson.loads
    data = _DATA[0]
    return sum(1 for line in data[bounds[0] : bounds[1]].splitlines() if loads(line) is not None)


def _cut(data: bytes, parts: int) -> list[tuple[int, int]]:
    bounds = [0]
    for k in range(1, parts):
        nl = data.find(b"\n", k * len(data) // parts)
        bounds.append(len(data) if nl < 0 else nl + 1)
    bounds.append(len(data))
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def json_parsers(data: bytes) -> dict[str, Callable[[], int]]:
    import duckdb
    import orjson
    import pyarrow.json as pj

    def arrow() -> int:
        return int(pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=4 << 20)).num_rows)

    def duck() -> int:
        with tempfile.NamedTemporaryFile(suffix=".ndjson") as fh:
            fh.write(data)
            fh.flush()
            con = duckdb.connect()
            con.execute(
                "CREATE TABLE t AS SELECT * FROM read_json(?, format = 'newline_delimited', "
                "maximum_object_size = 16777216, sample_size = -1, union_by_name = true)",
                [fh.name],
            )
            row = con.execute("SELECT count(*) FROM t").fetchone()
            return int(row[0]) if row else 0

    def per_line() -> int:
        loads = orjson.loads
        return sum(1 for line in data.splitlines() if loads(line) is not None)

    def per_line_spread() -> int:
        _DATA[:] = [data]
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(_procs(), mp_context=ctx) as pool:
            return sum(pool.map(_lines_in, _cut(data, 4 * _procs())))

    return {
        "pyarrow.json (all cores)": arrow,
        "duckdb read_json (all cores)": duck,
        "orjson per line (1 process)": per_line,
        f"orjson per line ({_procs()} processes)": per_line_spread,
    }


def _procs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _evtx_chunk(args: tuple[list[str], bool]) -> int:
    import evtx
    import orjson

    files, decode = args
    n = 0
    for f in files:
        try:
            for rec in evtx.PyEvtxParser(f, 1).records_json():
                if decode:
                    orjson.loads(rec["data"])
                n += 1
        except (OSError, RuntimeError):
            continue
    return n


def evtx_parsers(files: list[str]) -> dict[str, Callable[[], int]]:
    procs = _procs()

    def spread(decode: bool) -> Callable[[], int]:
        def go() -> int:
            with ProcessPoolExecutor(procs) as pool:
                return sum(pool.map(_evtx_chunk, [(files[i::procs], decode) for i in range(procs)]))

        return go

    return {
        "evtx crate, 1 process": lambda: _evtx_chunk((files, False)),
        f"evtx crate, {procs} processes": spread(False),
        "evtx crate + orjson.loads, 1 process": lambda: _evtx_chunk((files, True)),
        f"evtx crate + orjson.loads, {procs} processes": spread(True),
    }


def report(label: str, kind: str, parsers: dict[str, Callable[[], int]], repeat: int) -> float:
    """Print each parser's best records/s; the best of them (the ceiling)."""
    ceiling = 0.0
    print(f"{label}")
    for name, fn in parsers.items():
        try:
            wall, cpu, n = best_of(repeat, fn)
        except Exception as e:  # a parser that cannot read this input says so and the rest go on
            print(f"  {name:44s} failed: {type(e).__name__}: {str(e)[:100]}")
            continue
        rate = n / wall if wall > 0 else 0.0
        ceiling = max(ceiling, rate)
        print(f"  {name:44s} {n:>9,} records {wall:7.3f} s {cpu:7.2f} CPU-s {rate:>11,.0f} rec/s")
    target = TARGETS[kind]
    verdict = "above the ceiling: out of reach" if target > ceiling else "below the ceiling"
    print(f"  ceiling {ceiling:,.0f} rec/s; issue 3's target {target:,} rec/s is {verdict}\n")
    return ceiling


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--records", type=int, default=200_000, help="size of the generated Winlogbeat NDJSON")
    ap.add_argument("--entra", type=int, default=100_000, help="size of the generated Entra NDJSON")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from _common import machine
    from read_cloud import generate_entra

    print(f"machine: {machine()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    data = Path(args.data)
    samples = data / "evtx-attack-samples"
    if samples.is_dir():
        files = sorted(str(p) for p in samples.rglob("*.evtx"))
        report(f"EVTX: {samples.name} ({len(files)} files)", "evtx", evtx_parsers(files), args.repeat)
    if (data / "mordor").is_dir():
        lines = mordor_lines(data / "mordor")
        report(f"JSON: mordor ({len(lines) / 2**20:.0f} MiB decompressed)", "json", json_parsers(lines), args.repeat)
    with tempfile.TemporaryDirectory(prefix="shoreup-ceiling-") as tmp:
        path = Path(tmp) / "winlogbeat.ndjson"
        generate_winlogbeat(path, args.records)
        blob = path.read_bytes()
        path.unlink()
        report(f"JSON: winlogbeat {args.records:,} ({len(blob) / 2**20:.0f} MiB)", "json", json_parsers(blob), args.repeat)
        path = Path(tmp) / "entra.ndjson"
        generate_entra(path, args.entra)
        blob = path.read_bytes()
        path.unlink()
        report(f"JSON: entra {args.entra:,} ({len(blob) / 2**20:.0f} MiB)", "json", json_parsers(blob), args.repeat)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
