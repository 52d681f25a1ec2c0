"""Benchmark of the cloud sign-in readers: records per second and peak memory of one reader alone.

    python bench/read_cloud.py                 # 500,000 Entra sign-ins (Azure Monitor NDJSON)
    python bench/read_cloud.py --records 100000

The input is generated in a temporary folder (realistic record size, ~1.8 KB, mixed error codes),
then read in a child process so that the peak RSS is the reader's alone. Records are read into
Arrow batches (``auth`` and ``raw``) and dropped; no store is written.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CODES = [0] * 14 + [50126, 50126, 50053, 50076, 500121, 50034, 50140, 53003]
_APPS = ["Office 365 Exchange Online", "Microsoft Teams", "Azure Portal", "Office 365 SharePoint Online"]
_CLIENTS = ["Browser"] * 6 + ["Mobile Apps and Desktop clients"] * 3 + ["IMAP4", "Authenticated SMTP"]
_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def _signin(rnd: random.Random, i: int) -> dict[str, object]:
    code = rnd.choice(_CODES)
    user = f"user{rnd.randrange(5000)}@contoso.com"
    ip = f"203.0.{rnd.randrange(256)}.{rnd.randrange(256)}"
    second = i % 86400
    stamp = f"2024-03-{1 + (i // 86400) % 28:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    stamp += f".{rnd.randrange(10**7):07d}Z"
    guid = f"{rnd.getrandbits(128):032x}"
    guid = f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}"
    details = [{"authenticationStepDateTime": stamp, "authenticationMethod": "Password", "succeeded": code != 50126,
                "authenticationStepResultDetail": "Correct password" if code != 50126 else "Invalid password"}]
    if code in (0, 500121):
        details.append({"authenticationStepDateTime": stamp, "authenticationMethod": "Mobile app notification",
                        "succeeded": code == 0, "authenticationStepResultDetail":
                        "MFA successfully completed" if code == 0 else "MFA denied; user declined the authentication"})
    return {
        "time": stamp,
        "resourceId": "/tenants/0b1c2d3e-1111-2222-3333-444455556666/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "operationVersion": "1.0",
        "category": "SignInLogs" if i % 3 else "NonInteractiveUserSignInLogs",
        "tenantId": "0b1c2d3e-1111-2222-3333-444455556666",
        "resultType": str(code),
        "resultSignature": "None",
        "resultDescription": "" if code == 0 else "Invalid username or password or Invalid on-premise username.",
        "durationMs": 0,
        "callerIpAddress": ip,
        "correlationId": guid,
        "identity": user.split("@")[0],
        "Level": 4,
        "location": "US",
        "properties": {
            "id": guid,
            "createdDateTime": stamp,
            "userDisplayName": user.split("@")[0],
            "userPrincipalName": user,
            "userId": guid,
            "appId": guid,
            "appDisplayName": rnd.choice(_APPS),
            "ipAddress": ip,
            "status": {"errorCode": code, **({"failureReason": "Invalid username or password."} if code else {})},
            "clientAppUsed": rnd.choice(_CLIENTS),
            "userAgent": _UA,
            "deviceDetail": {"deviceId": "", "operatingSystem": "Windows10", "browser": "Chrome 120.0.0"},
            "location": {"city": "Redmond", "state": "Washington", "countryOrRegion": "US",
                         "geoCoordinates": {"latitude": 47.68, "longitude": -122.12}},
            "correlationId": guid,
            "conditionalAccessStatus": "notApplied",
            "isInteractive": bool(i % 3),
            "tokenIssuerType": "AzureAD",
            "authenticationRequirement": "multiFactorAuthentication" if i % 2 else "singleFactorAuthentication",
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none",
            "riskState": "none",
            "authenticationDetails": details,
            "autonomousSystemNumber": 8075,
        },
    }


def generate_entra(path: Path, records: int, seed: int = 7) -> int:
    """Write ``records`` Entra sign-ins as Azure Monitor NDJSON to ``path``; returns its size in bytes."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(records):
            out.write(json.dumps(_signin(rnd, i), separators=(",", ":")))
            out.write("\n")
    return path.stat().st_size


def read_once(path: Path, fmt: str) -> dict[str, float]:
    """Read one file with one reader; records/s and peak RSS of this process."""
    sys.path.insert(0, str(ROOT))
    from shoreup.sources import load
    from shoreup.sources._base import FileStats, ReadContext, ReadOptions

    reader = load(fmt)
    stats = FileStats(str(path), fmt)
    ctx = ReadContext(str(path), stats, ReadOptions())
    start = time.perf_counter()
    rows = 0
    with path.open("rb") as stream:
        for _table, batch in reader.read(stream, ctx):
            rows += batch.num_rows
    elapsed = time.perf_counter() - start
    return {
        "records": stats.records_read,
        "events": stats.events,
        "rows": rows,
        "seconds": round(elapsed, 3),
        "records_per_s": round(stats.records_read / elapsed),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "damage": len(stats.damage),
    }


def bench_entra(records: int) -> dict[str, float]:
    """Generate ``records`` Entra sign-ins in a temp dir and read them in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signins.ndjson"
        size = generate_entra(path, records)
        out = subprocess.run(
            [sys.executable, __file__, "--read", str(path), "--format", "entra"],
            check=True, capture_output=True, text=True,
        )
        result: dict[str, float] = json.loads(out.stdout)
        result["input_mib"] = round(size / 2**20, 1)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--format", default="entra", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_once(args.read, args.format)))
        return
    result = bench_entra(args.records)
    print(f"entra NDJSON: {result['records']:,} records ({result['input_mib']} MiB) in {result['seconds']} s = "
          f"{result['records_per_s']:,} records/s; peak RSS {result['peak_rss_mib']} MiB; "
          f"cores available {os.cpu_count()}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
