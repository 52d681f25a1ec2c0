"""Throughput and peak memory of the Windows readers (EVTX, winjson), reader output only.

    .venv/bin/python bench/read_throughput.py [--data ../shared/data] [--records 1000000]

Each measurement runs in its own process so that its peak RSS is its own. The Winlogbeat-style
NDJSON is generated into a temporary folder at two sizes to show whether memory stays flat.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _consume(reader: Any, stream: Any, name: str, state: dict[str, Any]) -> tuple[int, int]:
    from shoreup.sources._base import FileStats, ReadContext, ReadOptions

    stats = FileStats(name)
    ctx = ReadContext(name, stats, ReadOptions(), run_state=state)
    rows = 0
    for _table, batch in reader.read(stream, ctx):
        rows += batch.num_rows
    return stats.records_read, rows


def phase(kind: str, target: str) -> dict[str, Any]:
    from shoreup.sources import evtx, winjson

    state: dict[str, Any] = {}
    records = rows = 0
    start = time.perf_counter()
    if kind == "evtx":
        for path in sorted(Path(target).rglob("*.evtx")):
            with path.open("rb") as fh:
                r, n = _consume(evtx, fh, str(path), state)
            records, rows = records + r, rows + n
    elif kind == "mordor":
        for path in sorted(Path(target).rglob("*")):
            if path.suffix.lower() != ".zip":
                continue
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.filename.startswith("__MACOSX") or info.is_dir():
                        continue
                    with zf.open(info) as member:
                        stream = io.BufferedReader(member, 1 << 16)  # type: ignore[type-var]
                        head = stream.peek(8192)[:8192]
                        if not winjson.sniff(head, info.filename):
                            continue
                        r, n = _consume(winjson, stream, f"{path}!{info.filename}", state)
                    records, rows = records + r, rows + n
    else:
        with open(target, "rb") as fh:
            records, rows = _consume(winjson, fh, target, state)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "input": kind,
        "records": records,
        "rows": rows,
        "seconds": round(seconds, 3),
        "records_per_s": round(records / seconds) if seconds else None,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def generate_winlogbeat(path: Path, n: int) -> None:
    """Winlogbeat-shaped Security and Sysmon events: failed / successful logons, process creation."""
    rnd = random.Random(7)
    users = [f"user{i:04d}" for i in range(500)]
    with path.open("w") as out:
        for i in range(n):
            ts = f"2024-03-{1 + (i // 2_000_000) % 28:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
            kind = i % 4
            if kind == 3:
                winlog = {
                    "channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1, "record_id": i,
                    "provider_name": "Microsoft-Windows-Sysmon", "computer_name": f"ws{i % 50:02d}.corp.example",
                    "event_data": {
                        "ProcessId": str(1000 + i % 5000), "Image": "C:\\Windows\\System32\\cmd.exe",
                        "CommandLine": f"cmd.exe /c echo {i}", "User": f"CORP\\{rnd.choice(users)}",
                        "ParentProcessId": "900", "ParentImage": "C:\\Windows\\explorer.exe",
                        "IntegrityLevel": "Medium", "Hashes": "SHA256=" + "0" * 64,
                    },
                }
            else:
                winlog = {
                    "channel": "Security", "event_id": 4625 if kind else 4624, "record_id": i,
                    "provider_name": "Microsoft-Windows-Security-Auditing", "computer_name": "dc01.corp.example",
                    "event_data": {
                        "TargetUserName": rnd.choice(users), "TargetDomainName": "CORP", "LogonType": "3",
                        "Status": "0xc000006d", "SubStatus": "0xc000006a", "AuthenticationPackageName": "NTLM",
                        "WorkstationName": "KALI", "IpAddress": f"203.0.113.{i % 250}", "IpPort": str(40000 + i % 20000),
                        "ProcessName": "-",
                    },
                }
            event = {"@timestamp": ts, "event": {"code": str(winlog["event_id"]), "kind": "event"},
                     "host": {"name": winlog["computer_name"]}, "winlog": winlog}
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--records", type=int, default=1_000_000, help="size of the larger generated NDJSON")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.target)))
        return

    def run(kind: str, target: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, __file__, "--phase", kind, "--target", target],
            check=True, capture_output=True, text=True,
        )
        return json.loads(out.stdout)

    data = Path(args.data)
    results = []
    if (data / "evtx-attack-samples").is_dir():
        results.append(run("evtx", str(data / "evtx-attack-samples")))
    else:
        print(f"{data} absent: EVTX and Mordor measurements skipped", file=sys.stderr)
    if (data / "mordor").is_dir():
        results.append(run("mordor", str(data / "mordor")))
    with tempfile.TemporaryDirectory(prefix="shoreup-bench-") as tmp:
        for n in (args.records // 5, args.records):
            path = Path(tmp) / f"winlogbeat-{n}.ndjson"
            generate_winlogbeat(path, n)
            res = run("winlogbeat", str(path))
            res["input"] = f"winlogbeat {n:,} records, {os.path.getsize(path) / 2**20:.0f} MiB"
            results.append(res)
            path.unlink()
    print(f"{'input':<42} {'records':>10} {'seconds':>8} {'records/s':>10} {'peak RSS MiB':>13}")
    for r in results:
        print(f"{r['input']:<42} {r['records']:>10,} {r['seconds']:>8} {r['records_per_s']:>10,} {r['peak_rss_mib']:>13}")


if __name__ == "__main__":
    main()
