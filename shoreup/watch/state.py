"""The watch state: tables kept next to the normalized events in one DuckDB file.

``watch_files``        one row per generation being read: path, device and inode, where it lives
                       now, byte offset (always after a newline), next line number, reader, the hash
                       of its first bytes, and its record accounting
``watch_alerts``       one row per alert raised: detector, key, severity, time span; with
``watch_alert_refs``   the evidence refs seen for it (how a finding is recognised again)
``watch_outbox``       every alert line to deliver, and whether the JSON lines file and the webhook
                       have it yet: written with the alert, so a crash between raising and
                       delivering re-delivers at the next start instead of losing or repeating
``watch_meta``         schema version and counters

The watcher writes one transaction per tick (events, offsets, relabels) and one per detection run
(alerts and outbox), so the file is consistent after a ``kill -9`` at any moment.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import orjson

from shoreup.schema import TABLES
from shoreup.watch.follow import Generation

SCHEMA_VERSION = "1"

_DDL = [
    "CREATE TABLE IF NOT EXISTS watch_meta (name VARCHAR, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS watch_files (
        path VARCHAR, dev HUGEINT, ino HUGEINT, name VARCHAR, role VARCHAR, "offset" BIGINT, line BIGINT,
        fmt VARCHAR, head_len INTEGER, head_hash VARCHAR, skipping BOOLEAN,
        records BIGINT, events BIGINT, skipped VARCHAR, updated TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS watch_alerts (
        alert_id VARCHAR, detector VARCHAR, key VARCHAR, severity VARCHAR, start TIMESTAMP, "end" TIMESTAMP,
        raised_at TIMESTAMP, updated_at TIMESTAMP, updates INTEGER)""",
    "CREATE TABLE IF NOT EXISTS watch_alert_refs (alert_id VARCHAR, file VARCHAR, record BIGINT)",
    """CREATE TABLE IF NOT EXISTS watch_outbox (
        seq BIGINT, delivery VARCHAR, body VARCHAR, jsonl_done BOOLEAN, webhook_done BOOLEAN,
        webhook_error VARCHAR, created TIMESTAMP)""",
]


@dataclass
class AlertRecord:
    """An alert already raised: what a later finding is compared with."""

    alert_id: str
    detector: str
    key: str
    severity: str
    start: dt.datetime
    end: dt.datetime
    raised_at: dt.datetime
    updated_at: dt.datetime
    updates: int = 0
    refs: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class OutboxItem:
    seq: int
    delivery: str
    body: bytes
    jsonl_done: bool
    webhook_done: bool


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


class State:
    """Reads and writes the watch tables on the store's connection (the caller owns transactions)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        for ddl in _DDL:
            con.execute(ddl)
        row = con.execute("SELECT value FROM watch_meta WHERE name = 'schema'").fetchone()
        if row is None:
            con.execute("INSERT INTO watch_meta VALUES ('schema', ?)", [SCHEMA_VERSION])
        elif row[0] != SCHEMA_VERSION:
            from shoreup.errors import UsageError

            raise UsageError(f"the state file has watch schema {row[0]}, this shoreup writes {SCHEMA_VERSION}")

    # --- files --------------------------------------------------------------------------------

    def generations(self) -> list[Generation]:
        rows = self.con.execute(
            'SELECT path, dev, ino, name, role, "offset", line, fmt, head_len, head_hash, skipping, records, '
            "events, skipped FROM watch_files ORDER BY path, role DESC, ino"
        ).fetchall()
        out = []
        for r in rows:
            out.append(Generation(
                path=r[0], dev=int(r[1]), ino=int(r[2]), name=r[3], role=r[4], offset=int(r[5]), line=int(r[6]),
                fmt=r[7] or "", head_len=int(r[8]), head_hash=r[9] or "", skipping=bool(r[10]),
                records=int(r[11]), events=int(r[12]), skipped=Counter(orjson.loads(r[13] or "{}")),
            ))
        return out

    def save_generations(self, gens: list[Generation]) -> None:
        now = _naive(dt.datetime.now(dt.UTC))
        self.con.execute("DELETE FROM watch_files")
        if gens:
            self.con.executemany(
                "INSERT INTO watch_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [g.path, g.dev, g.ino, g.name, g.role, g.offset, g.line, g.fmt, g.head_len, g.head_hash,
                     g.skipping, g.records, g.events, orjson.dumps(dict(sorted(g.skipped.items()))).decode(), now]
                    for g in gens
                ],
            )

    def relabel(self, old: str, new: str, when: dt.datetime) -> str | None:
        """Events and alert refs recorded under file name ``old`` now name ``new``. When an older
        generation already carries ``new`` (rotated again since), it is renamed out of the way first
        and that name is returned."""
        if old == new:
            return None
        aside = None
        if self._name_used(new):
            aside = f"{new} (rotated before {when.strftime('%Y-%m-%dT%H:%M:%SZ')})"
            self._rename(new, aside)
        self._rename(old, new)
        return aside

    def _rename(self, old: str, new: str) -> None:
        for table in TABLES:
            self.con.execute(f"UPDATE {table} SET ref_file = ? WHERE ref_file = ?", [new, old])
        self.con.execute("UPDATE watch_alert_refs SET file = ? WHERE file = ?", [new, old])

    def _name_used(self, name: str) -> bool:
        for table in TABLES:
            if self.con.execute(f"SELECT 1 FROM {table} WHERE ref_file = ? LIMIT 1", [name]).fetchone():
                return True
        return False

    def meta(self, name: str) -> str | None:
        row = self.con.execute("SELECT value FROM watch_meta WHERE name = ?", [name]).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        self.con.execute("DELETE FROM watch_meta WHERE name = ?", [name])
        self.con.execute("INSERT INTO watch_meta VALUES (?, ?)", [name, value])

    def counter(self, name: str) -> int:
        return int(self.meta(name) or 0)

    def set_counter(self, name: str, value: int) -> None:
        self.set_meta(name, str(value))

    # --- alerts -------------------------------------------------------------------------------

    def alerts(self) -> list[AlertRecord]:
        refs: dict[str, set[tuple[str, int]]] = {}
        for a, f, r in self.con.execute("SELECT alert_id, file, record FROM watch_alert_refs").fetchall():
            refs.setdefault(a, set()).add((f, int(r)))
        out = []
        for r in self.con.execute(
            'SELECT alert_id, detector, key, severity, start, "end", raised_at, updated_at, updates '
            "FROM watch_alerts ORDER BY raised_at, alert_id"
        ).fetchall():
            out.append(AlertRecord(
                r[0], r[1], r[2], r[3], _aware(r[4]), _aware(r[5]), _aware(r[6]), _aware(r[7]), int(r[8]),
                refs.get(r[0], set()),
            ))
        return out

    def save_alert(self, a: AlertRecord) -> None:
        self.con.execute("DELETE FROM watch_alerts WHERE alert_id = ?", [a.alert_id])
        self.con.execute(
            "INSERT INTO watch_alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [a.alert_id, a.detector, a.key, a.severity, _naive(a.start), _naive(a.end), _naive(a.raised_at),
             _naive(a.updated_at), a.updates],
        )
        self.con.execute("DELETE FROM watch_alert_refs WHERE alert_id = ?", [a.alert_id])
        if a.refs:
            self.con.executemany(
                "INSERT INTO watch_alert_refs VALUES (?, ?, ?)", [[a.alert_id, f, r] for f, r in sorted(a.refs)]
            )

    def forget_alerts_before(self, cutoff: dt.datetime) -> list[str]:
        """Alerts whose findings ended before ``cutoff``: their events are gone, they cannot return."""
        gone = [r[0] for r in self.con.execute(
            'SELECT alert_id FROM watch_alerts WHERE "end" < ?', [_naive(cutoff)]
        ).fetchall()]
        for alert_id in gone:
            self.con.execute("DELETE FROM watch_alerts WHERE alert_id = ?", [alert_id])
            self.con.execute("DELETE FROM watch_alert_refs WHERE alert_id = ?", [alert_id])
        return gone

    # --- outbox -------------------------------------------------------------------------------

    def next_seq(self) -> int:
        row = self.con.execute("SELECT max(seq) FROM watch_outbox").fetchone()
        return max(int(row[0]) if row and row[0] is not None else 0, self.counter("last_seq")) + 1

    def add_outbox(self, item: OutboxItem) -> None:
        self.con.execute(
            "INSERT INTO watch_outbox VALUES (?, ?, ?, ?, ?, NULL, ?)",
            [item.seq, item.delivery, item.body.decode(), item.jsonl_done, item.webhook_done,
             _naive(dt.datetime.now(dt.UTC))],
        )
        self.set_counter("last_seq", item.seq)

    def pending(self) -> list[OutboxItem]:
        return [
            OutboxItem(int(r[0]), r[1], r[2].encode(), bool(r[3]), bool(r[4]))
            for r in self.con.execute(
                "SELECT seq, delivery, body, jsonl_done, webhook_done FROM watch_outbox "
                "WHERE NOT (jsonl_done AND webhook_done) ORDER BY seq"
            ).fetchall()
        ]

    def mark(self, seqs: list[int], sink: str, error: str | None = None) -> None:
        column = {"jsonl": "jsonl_done", "webhook": "webhook_done"}[sink]
        for seq in seqs:
            self.con.execute(f"UPDATE watch_outbox SET {column} = true WHERE seq = ?", [seq])
            if error:
                self.con.execute("UPDATE watch_outbox SET webhook_error = ? WHERE seq = ?", [error, seq])
        # Delivered everywhere: nothing left to do with it (the alert rows keep what dedup needs).
        self.con.execute("DELETE FROM watch_outbox WHERE jsonl_done AND webhook_done AND webhook_error IS NULL")

    # --- retention ----------------------------------------------------------------------------

    def prune(self, retention: dt.timedelta, now: dt.datetime) -> tuple[int, list[str]]:
        """Drop events older than the window (measured back from the newest event, never the future)."""
        newest: dt.datetime | None = None
        for table in TABLES:
            row = self.con.execute(f"SELECT max(time) FROM {table}").fetchone()
            if row and row[0] is not None and (newest is None or row[0] > newest):
                newest = row[0]
        if newest is None:
            return 0, []
        cutoff = min(_aware(newest), now) - retention
        dropped = 0
        for table in TABLES:
            row = self.con.execute(f"DELETE FROM {table} WHERE time < ?", [_naive(cutoff)]).fetchone()
            dropped += int(row[0]) if row else 0
        return dropped, self.forget_alerts_before(cutoff - retention)
