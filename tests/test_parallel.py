"""Parallel reading gives exactly the store and the accounting of a serial read."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from shoreup import parallel, pipeline
from shoreup.engine.duckdb import Store
from shoreup.schema import TABLES

SAMPLES = Path(__file__).parent / "sources" / "samples"


def _snapshot(paths: list[str], jobs: int) -> tuple[dict[str, list[tuple[Any, ...]]], list[Any], list[str]]:
    with Store() as store:
        report = pipeline.ingest(paths, store, jobs=jobs)
        tables = {t: store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    files = [
        (
            f.path,
            f.format,
            f.records_read,
            f.events,
            dict(sorted(f.skipped.items())),
            [str(d) for d in f.damage],
            [str(w) for w in f.warnings],
        )
        for f in report.files
    ]
    return tables, files, [str(e) for e in report.errors]


def _same(
    paths: list[str], monkeypatch: pytest.MonkeyPatch, fallbacks: int | None = 0
) -> dict[str, list[Any]]:
    serial = _snapshot(paths, jobs=1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(parallel, "SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "SEGMENT_MAX_BYTES", 8192)
    read_here: list[str] = []
    original = pipeline._read_one

    def counted(inp: Any, *args: Any, **kwargs: Any) -> Any:
        read_here.append(inp.name)
        return original(inp, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_read_one", counted)
    used: list[bool] = []
    original_ingest = parallel.ingest

    def spied(*args: Any) -> bool:
        used.append(original_ingest(*args))
        return used[-1]

    monkeypatch.setattr(parallel, "ingest", spied)
    parallel_ = _snapshot(paths, jobs=2)
    assert used == [True]
    assert parallel_[1] == serial[1]  # accounting, damage and warnings, in input order
    assert parallel_[2] == serial[2]
    for table in TABLES:
        assert parallel_[0][table] == serial[0][table], table
    assert fallbacks is None or len(read_here) == fallbacks, read_here
    return serial[0]


def _winlogbeat(i: int, rid: int, second: int, host: str = "dc01.corp.example") -> str:
    return json.dumps(
        {
            "@timestamp": f"2024-03-01T10:{second // 60 % 60:02d}:{second % 60:02d}.000Z",
            "event": {"code": "4625"},
            "winlog": {
                "channel": "Security",
                "event_id": 4625 if i % 3 else 4624,
                "record_id": rid,
                "provider_name": "Microsoft-Windows-Security-Auditing",
                "computer_name": host,
                "event_data": {
                    "TargetUserName": f"user{i % 17}",
                    "TargetDomainName": "CORP",
                    "LogonType": "3",
                    "Status": "0xc000006d",
                    "SubStatus": "0xc000006a",
                    "IpAddress": f"203.0.113.{i % 250}",
                    "IpPort": str(40000 + i),
                },
            },
        }
    )


def _windows_folder(root: Path) -> list[str]:
    """Winlogbeat NDJSON with every kind of duplicate, across files and across byte ranges of one file."""
    lines = [_winlogbeat(i, 1000 + i, i) for i in range(600)]
    # the same records again further down (dropped), a reused id with another time (kept), that
    # second occurrence repeated (kept too: only the first time seen for an id counts), host case
    lines += lines[100:150]
    lines += [
        _winlogbeat(7, 1007, 3000),
        _winlogbeat(7, 1007, 3000),
        _winlogbeat(8, 1008, 8, "DC01.corp.example"),
    ]
    lines += [_winlogbeat(i, 5000 + i, i) for i in range(300)]
    (root / "a.ndjson").write_text("\n".join(lines) + "\n")
    # a second file overlapping the first, and a third reusing ids at other times
    (root / "b.ndjson").write_text("\n".join(lines[550:700]) + "\n")
    (root / "c.ndjson").write_text("\n".join(_winlogbeat(i, 1000 + i, 5000 + i) for i in range(40)) + "\n")
    return [str(root)]


def test_windows_duplicates_are_dropped_as_when_reading_serially(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = _same(_windows_folder(tmp_path), monkeypatch)
    assert len(tables["raw"]) > 900


def test_every_sample_format_folder_and_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLES, tmp_path / "samples")
    with zipfile.ZipFile(tmp_path / "samples.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((SAMPLES / "windows").iterdir()):
            zf.write(p, f"inner/{p.name}")
    # NDJSON samples with damaged or wrapper lines are cut, then read again whole
    _same([str(tmp_path / "samples"), str(tmp_path / "samples.zip")], monkeypatch, fallbacks=None)


@pytest.mark.parametrize(
    "sample",
    ["entra_diagnostic.ndjson", "entra_clean.ndjson", "okta_events.ndjson", "cloudtrail_events.ndjson"],
)
def test_large_ndjson_is_read_in_byte_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: str
) -> None:
    lines = [x for x in (SAMPLES / sample).read_text().splitlines() if _is_object(x)]
    big = tmp_path / sample
    big.write_text("\n".join(lines * max(1, 40_000 // len("".join(lines)))) + "\n")
    tables = _same([str(big)], monkeypatch)
    assert tables["raw"] and len({row[4] for row in tables["raw"]}) == len(
        tables["raw"]
    )  # refs: distinct lines


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_a_damaged_range_is_read_again_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [x for x in (SAMPLES / "entra_clean.ndjson").read_text().splitlines() if _is_object(x)] * 60
    lines[len(lines) // 2] = lines[len(lines) // 2][:-20]  # the damage report names the whole file's line
    (tmp_path / "e.ndjson").write_text("\n".join(lines) + "\n")
    _same([str(tmp_path / "e.ndjson")], monkeypatch, fallbacks=1)


def test_malformed_windows_lines_are_counted_in_their_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [_winlogbeat(i, 1000 + i, i) for i in range(800)]
    lines[500] = lines[500][:-20]  # skipped as malformed_json, no damage: the ranges stand
    (tmp_path / "w.ndjson").write_text("\n".join(lines) + "\n")
    _same([str(tmp_path / "w.ndjson")], monkeypatch)


def test_wrapper_lines_are_numbered_over_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (SAMPLES / "cloudtrail_events.ndjson").read_text().splitlines()
    records = [json.loads(x) for x in lines if _is_object(x)]
    line = json.dumps({"Records": records})
    (tmp_path / "ct.ndjson").write_text("\n".join([line] * 60) + "\n")
    _same([str(tmp_path / "ct.ndjson")], monkeypatch, fallbacks=1)


@pytest.mark.shared
def test_evtx_attack_samples_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    # every record of the second copy is a duplicate of the first
    folder = shared_data / "evtx-attack-samples"
    files = sorted(p for p in folder.rglob("*.evtx"))[:60]
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        for i, p in enumerate(files):
            shutil.copy(p, tmp_path / name / f"{i:03d}.evtx")
    _same([str(tmp_path / "one"), str(tmp_path / "two")], monkeypatch)
