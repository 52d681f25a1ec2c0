"""Build ``raw`` tables for Sigma tests and benches: from rows we write, or from real files.

``raw_con(events)`` makes a DuckDB connection with a ``raw`` table in the schema.RAW shape from
small dicts (the project's own fixtures). ``load_files`` reads EVTX / Mordor NDJSON through the
project's readers (``shoreup.sources.evtx``; Mordor zips through the Windows JSON flattener) into a
``Store``, for the conformance test and the bench.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from shoreup.schema import RAW

T0 = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=dt.UTC)


def raw_table(events: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows of ``raw`` from event dicts: ``fields`` plus optional ``time`` (datetime or seconds after T0)."""
    cols: dict[str, list[Any]] = {n: [] for n in RAW.names}
    for n, ev in enumerate(events):
        fields = dict(ev.get("fields", {}))
        t = ev.get("time", n)
        when = t if isinstance(t, dt.datetime) else T0 + dt.timedelta(seconds=float(t))
        eid = fields.get("EventID")
        cols["time"].append(when)
        cols["host"].append(ev.get("host", fields.get("Computer", "ws01")))
        cols["source_format"].append(ev.get("source_format", "evtx"))
        cols["ref_file"].append(ev.get("ref_file", "fixture.evtx"))
        cols["ref_record"].append(ev.get("ref_record", n + 1))
        cols["channel"].append(ev.get("channel", fields.get("Channel")))
        cols["provider"].append(ev.get("provider", fields.get("Provider_Name")))
        cols["event_id"].append(int(eid) if eid is not None else None)
        cols["record_id"].append(n + 1)
        cols["fields"].append(orjson.dumps(fields).decode())
    return pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in RAW}, schema=RAW)


def raw_con(events: Iterable[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose ``raw`` table holds ``events``."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tbl = raw_table(events)
    con.register("_raw_in", tbl)
    con.execute("CREATE TABLE raw AS SELECT * FROM _raw_in")
    con.unregister("_raw_in")
    return con


def load_files(store: Any, paths: Iterable[Path]) -> int:
    """Read EVTX files and Mordor NDJSON zips into ``store``; the number of events read."""
    from shoreup.sources import evtx
    from shoreup.sources._base import FileStats, ReadContext, ReadOptions

    events = 0
    run_state: dict[str, Any] = {}
    for p in paths:
        stats = FileStats(str(p))
        ctx = ReadContext(str(p), stats, ReadOptions(), None, run_state)
        if p.suffix.lower() == ".evtx":
            with p.open("rb") as fh:
                for table, batch in evtx.read(fh, ctx):
                    store.append(table, batch)
        elif p.suffix.lower() == ".zip":
            _mordor(store, p, ctx)
        events += stats.events
    return events


def _mordor(store: Any, path: Path, ctx: Any) -> None:
    """Mordor zips hold flat Windows NDJSON; read each line through the Windows JSON flattener."""
    winjson: Any
    try:
        import shoreup.sources.winjson as winjson
    except ImportError:
        winjson = None
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.endswith(".json") or name.startswith("__MACOSX"):
                continue
            data = z.read(name)
            if winjson is not None:
                for table, batch in winjson.read(io.BytesIO(data), ctx):
                    store.append(table, batch)
                continue
            rows = []
            for n, line in enumerate(data.splitlines(), 1):
                if not line.strip():
                    continue
                ev = orjson.loads(line)
                ev.setdefault("Computer", ev.get("Hostname"))
                ev.setdefault("Provider_Name", ev.get("SourceName"))
                ts = ev.get("@timestamp") or ev.get("TimeCreated")
                rows.append(
                    {
                        "fields": ev,
                        "time": dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00")),
                        "host": ev.get("Hostname"),
                        "source_format": "winjson",
                        "ref_file": f"{path}/{name}",
                        "ref_record": n,
                    }
                )
                ctx.parsed()
            for i in range(0, len(rows), 50_000):
                tbl = raw_table(rows[i : i + 50_000])
                for b in tbl.to_batches():
                    store.append("raw", b)
