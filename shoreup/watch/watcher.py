"""The watcher: each tick reads new complete lines, commits them with their offsets, detects, alerts."""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shoreup import sources
from shoreup.engine.duckdb import Store
from shoreup.errors import UsageError
from shoreup.findings import Finding
from shoreup.sources._base import Batch, FileStats, ReadContext, ReadOptions
from shoreup.watch.alerts import Alert, Deduper, Delivery, JsonLines, Webhook, clean, write_terminal
from shoreup.watch.follow import UNRECOGNISED, Chunk, Follower, Generation
from shoreup.watch.state import OutboxItem, State
from shoreup.watch.syslog import SyslogReceiver

#: Readers whose input is lines, and that can therefore be followed from any line on.
LINE_FORMATS = frozenset({"sshd", "weblog"})
#: Readers that also read newline-delimited JSON: followed when the file is NDJSON.
NDJSON_FORMATS = frozenset({"entra", "okta", "cloudtrail", "winjson"})
#: The pseudo-path under which syslog received on the loopback port is recorded.
SYSLOG_PATH = "syslog://127.0.0.1"
#: Notes of one kind printed per tick at most (a flood of malformed lines stays readable).
MAX_NOTES = 5


def followable(fmt: str, head: bytes = b"{") -> bool:
    if fmt in LINE_FORMATS:
        return True
    return fmt in NDJSON_FORMATS and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


@dataclass
class TickResult:
    """What one tick did."""

    lines: int = 0  # records read (lines)
    events: int = 0  # events committed
    alerts: list[Alert] = field(default_factory=list)
    detected: bool = False  # detectors ran
    more: bool = False  # input is waiting: tick again at once


class Watcher:
    """Follows files (and loopback syslog), keeps state in DuckDB, raises each alert once.

    ``tick()`` does one round without threads or sleeping (tests drive it directly); ``run(stop)``
    ticks until ``stop`` is set. Paths that do not exist yet are waited for.
    """

    def __init__(
        self,
        paths: Sequence[str],
        state: str | None = None,
        alerts: str | None = None,
        webhook: str | None = None,
        syslog_port: int | None = None,
        fmt: str | None = None,
        *,
        options: ReadOptions | None = None,
        detectors: Sequence[str] | None = None,
        retention: dt.timedelta = dt.timedelta(days=7),
        poll_interval: float = 0.25,
        detect_interval: float = 1.0,
        detect_budget: float = 0.3,
        prune_interval: float = 60.0,
        drain_grace: float = 5.0,
        webhook_attempts: int = 10,
        webhook_backoff: float = 0.5,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        memory_limit: str = "1GB",
    ) -> None:
        from shoreup import detect as registry

        if fmt is not None:
            sources.load(fmt)
            if not followable(fmt):
                raise UsageError(
                    f"format {fmt!r} cannot be followed line by line; watch reads "
                    f"{', '.join(sorted(LINE_FORMATS))} and NDJSON of {', '.join(sorted(NDJSON_FORMATS))}"
                )
        self.detectors = list(detectors) if detectors else registry.names()
        for name in self.detectors:
            registry.load(name)
        self.paths = [os.path.abspath(p) for p in paths]
        for p in self.paths:
            if os.path.isdir(p):
                raise UsageError(f"{p} is a folder: name the log files to follow")
        self.fmt = fmt
        self.options = options or ReadOptions()
        self.retention = retention
        self.poll_interval = poll_interval
        self.detect_interval = detect_interval
        self.prune_interval = prune_interval
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.run_state: dict[str, Any] = {}
        self.store = Store(state, memory_limit=memory_limit)
        self.state = State(self.store.con)
        self.follower = Follower(self.paths, self._choose, drain_grace=drain_grace)
        saved = self.state.generations()
        self.syslog_gen = next((g for g in saved if g.path == SYSLOG_PATH), None) or self._fresh_syslog_gen()
        self._kept = [g for g in saved if g.path != SYSLOG_PATH and g.path not in self.paths]
        self.follower.restore(saved)
        self.deduper = Deduper(self.state.alerts())
        self.jsonl = JsonLines(alerts) if alerts else None
        self.webhook = (
            Webhook(webhook, attempts=webhook_attempts, backoff=webhook_backoff, log=self._note) if webhook else None
        )
        self.syslog = SyslogReceiver(syslog_port) if syslog_port is not None else None
        self._marks: list[tuple[list[int], str, str | None]] = []
        self._outbox_seqs: set[int] = set()
        # Events committed before a crash may never have been looked at: every detector starts dirty.
        self.dirty: set[str] = set(self.detectors)
        self.last_run: dict[str, float] = dict.fromkeys(self.detectors, -1e18)
        # What each detector cost last time (kept in state): after a restart the cheap ones go first.
        saved_costs = orjson.loads(self.state.meta("detector_costs") or "{}")
        self.cost: dict[str, float] = {d: float(saved_costs.get(d, 0.0)) for d in self.detectors}
        self._costs_saved = dict(self.cost)
        self.detect_budget = detect_budget
        self.last_prune = time.monotonic()
        self.detector_errors: set[str] = set()
        self.lost: list[str] = []
        self._retry_at: float | None = None
        self._recover_outbox()

    # --- the tick -----------------------------------------------------------------------------

    def tick(self, force_detect: bool = False, detect: bool = True) -> TickResult:
        """Read what is new, commit it with its offsets in one transaction, then maybe detect."""
        result = TickResult()
        if self.webhook is not None:
            for seq, error in self.webhook.results():
                self._marks.append(([seq], "webhook", error))
        if self._retry_at is not None and time.monotonic() >= self._retry_at:
            self._retry_at = None
            self._recover_outbox()
        poll = self.follower.poll()
        syslog_data, dropped = self.syslog.take() if self.syslog is not None else (b"", 0)
        for message in poll.notes:
            self._note(message)
        for message in poll.lost:
            self.lost.append(message)
            self._note(f"lost: {message}")
        if dropped:
            self.syslog_gen.skipped["syslog_buffer_full"] += dropped
            self.syslog_gen.records += dropped
            self._note(f"syslog: {dropped} message(s) dropped, the receive buffer was full")
        prune_due = time.monotonic() - self.last_prune >= self.prune_interval
        busy = poll.changed or poll.chunks or syslog_data or dropped or poll.relabels or self._marks
        if busy or prune_due:
            self._commit(poll.chunks, poll.relabels, syslog_data, prune_due, result)
        if result.events:
            self.dirty.update(self.detectors)
        spent = 0.0
        while detect and (spent < self.detect_budget or force_detect):
            name = self._next_detector(force_detect)
            if name is None:
                break
            started = time.monotonic()
            result.alerts.extend(self.detect_and_alert([name]))
            result.detected = True
            spent += time.monotonic() - started
        result.more = poll.more or (detect and self._next_detector(False) is not None)
        return result

    def _next_detector(self, force: bool) -> str | None:
        """The dirty detector to run next: the stalest relative to its cost, so that cheap detectors
        (brute force) answer within a second while costly ones still run, each at most once per
        ``detect_interval`` and never more than half the time."""
        now = time.monotonic()
        # detect_interval 0 (tests) runs every dirty detector at every tick.
        due = [
            d for d in self.dirty
            if force or now - self.last_run[d] >= (self.detect_interval and max(self.detect_interval, self.cost[d]))
        ]
        if not due:
            return None
        order = {d: i for i, d in enumerate(self.detectors)}
        return max(due, key=lambda d: ((now - self.last_run[d]) / (self.cost[d] + 0.05), -order[d]))

    def _commit(
        self, chunks: list[Chunk], relabels: list[Any], syslog_data: bytes, prune: bool, result: TickResult
    ) -> None:
        con = self.store.con
        marks, self._marks = self._marks, []
        con.execute("BEGIN TRANSACTION")
        try:
            stamp = dt.datetime.now(dt.UTC)
            for r in relabels:
                # Before the new lines go in: they may carry the old name again (the new live file).
                aside = self.state.relabel(r.old, r.new, stamp)
                if aside is not None:
                    self.deduper.relabel(r.new, aside)
                self.deduper.relabel(r.old, r.new)
            for chunk in chunks:
                self._ingest(chunk.gen, chunk.data, chunk.first_line, chunk.lines, chunk.gen.name, chunk.mtime, result)
            if syslog_data:
                g = self.syslog_gen
                n = syslog_data.count(b"\n")
                self._ingest(g, syslog_data, g.line, n, SYSLOG_PATH, time.time(), result)
                g.line += n
            self.store.flush()
            self.state.save_generations([*self.follower.generations(), *self._kept, self.syslog_gen])
            for seqs, sink, error in marks:
                self.state.mark(seqs, sink, error)
            if self.cost != self._costs_saved:
                self.state.set_meta("detector_costs", orjson.dumps({k: round(v, 4) for k, v in self.cost.items()}).decode())
                self._costs_saved = dict(self.cost)
            if prune:
                self.last_prune = time.monotonic()
                _, forgotten = self.state.prune(self.retention, dt.datetime.now(dt.UTC))
                self.deduper.forget(set(forgotten))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            # Back to what the state file says: the same lines are read again next time.
            saved = self.state.generations()
            self.follower.restore(saved)
            self.syslog_gen = next((g for g in saved if g.path == SYSLOG_PATH), self._fresh_syslog_gen())
            self.deduper = Deduper(self.state.alerts())
            self._marks = marks + self._marks
            raise

    def _ingest(
        self, g: Generation, data: bytes, first_line: int, lines: int, label: str, mtime: float, result: TickResult
    ) -> None:
        result.lines += lines
        if g.fmt == UNRECOGNISED:
            g.records += lines
            g.skipped["unrecognised_format"] += lines
            return
        stats = FileStats(label, g.fmt)
        # Readers number records from 1 in the stream they are handed; the shift makes them file lines.
        ctx = ReadContext(label, stats, self.options, mtime, self.run_state, first_record=1)
        batches: list[Batch] = []
        try:
            batches = list(sources.load(g.fmt).read(io.BytesIO(data), ctx))
        except Exception as e:  # a reader bug must not stop the watch: the lines are counted and named
            batches = []
            stats = FileStats(label, g.fmt)
            stats.skipped["reader_error"] += lines
            self._note(f"{label} (lines {first_line}–{first_line + lines - 1}): reader {g.fmt} failed: "
                       f"{type(e).__name__}: {e}")
        shift = first_line - 1
        for table, batch in batches:
            if shift:
                i = batch.schema.get_field_index("ref_record")
                batch = batch.set_column(i, batch.schema.field(i), pc.add(batch.column(i), pa.scalar(shift, pa.int64())))
            self.store.append(table, batch)
        g.records += stats.records_read
        g.events += stats.events
        g.skipped.update(stats.skipped)
        result.events += stats.events
        for kind, items in (("damaged", stats.damage), ("note", stats.warnings)):
            for w in items[:MAX_NOTES]:
                self._note(f"{kind}: {label} ({_shift_position(w.position, shift)}): {w.message}")
            if len(items) > MAX_NOTES:
                self._note(f"{kind}: {label}: {len(items) - MAX_NOTES} more like these")

    # --- detection and alerts -----------------------------------------------------------------

    def detect_and_alert(self, names: Sequence[str] | None = None) -> list[Alert]:
        """Run detectors (all by default) over the store; raise what is new or got worse; deliver it."""
        from shoreup import detect as registry

        con = self.store.con
        findings: list[Finding] = []
        for name in names or self.detectors:
            self.dirty.discard(name)
            started = time.monotonic()
            module = registry.load(name)
            try:
                findings.extend(module.detect(con, module.Params()))
            except Exception as e:  # one broken detector must not silence the others
                if name not in self.detector_errors:
                    self.detector_errors.add(name)
                    self._note(f"detector {name} failed: {type(e).__name__}: {e}")
            ended = time.monotonic()
            self.last_run[name] = ended
            self.cost[name] = 0.7 * self.cost[name] + 0.3 * (ended - started) if self.cost[name] else ended - started
        findings.sort(key=Finding.sort_key)
        now = dt.datetime.now(dt.UTC)
        alerts, changed = self.deduper.decide(findings, now)
        if not alerts and not changed:
            return []
        items: list[OutboxItem] = []
        con.execute("BEGIN TRANSACTION")
        try:
            seq = self.state.next_seq()
            for record in changed:
                self.state.save_alert(record)
            for a in alerts:
                item = OutboxItem(seq, a.delivery, a.body(), self.jsonl is None, self.webhook is None)
                self.state.add_outbox(item)
                items.append(item)
                seq += 1
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            self.deduper = Deduper(self.state.alerts())
            raise
        write_terminal(self.out, alerts)
        self._deliver(items)
        return alerts

    def _deliver(self, items: list[OutboxItem]) -> None:
        if self.jsonl is not None:
            todo = [i for i in items if not i.jsonl_done]
            try:
                self.jsonl.write([i.body for i in todo])
            except OSError as e:
                # The alerts stay in the outbox: tried again shortly, and at the next start.
                self._note(f"cannot write alerts to {self.jsonl.path}: {e}; trying again in 5 s")
                self._retry_at = time.monotonic() + 5.0
            else:
                if todo:
                    self._marks.append(([i.seq for i in todo], "jsonl", None))
        if self.webhook is not None:
            for i in items:
                if not i.webhook_done:
                    self.webhook.send(Delivery(i.seq, i.delivery, i.body))

    def _recover_outbox(self) -> None:
        """Alerts raised before a stop or crash and not yet delivered everywhere: deliver them now."""
        pending = self.state.pending()
        if not pending:
            return
        if self.jsonl is None:
            self._marks.append(([i.seq for i in pending if not i.jsonl_done], "jsonl", None))
        else:
            wanted = {i.delivery for i in pending if not i.jsonl_done}
            there = self.jsonl.delivered(wanted)
            already = [i.seq for i in pending if not i.jsonl_done and i.delivery in there]
            if already:
                self._marks.append((already, "jsonl", None))
            for i in pending:
                if i.delivery in there:
                    i.jsonl_done = True
        if self.webhook is None:
            self._marks.append(([i.seq for i in pending if not i.webhook_done], "webhook", None))
            for i in pending:
                i.webhook_done = True
        self._deliver(pending)
        self._note(f"delivering {len(pending)} alert(s) raised earlier and not yet delivered everywhere")

    # --- format, notes, lifetime -------------------------------------------------------------

    def _fresh_syslog_gen(self) -> Generation:
        return Generation(SYSLOG_PATH, 0, 0, SYSLOG_PATH, role="syslog", fmt=self.fmt or "sshd")

    def _choose(self, head: bytes, enough: bool) -> str | None:
        fmt = self.fmt or sources.sniff(head, "")
        if fmt is None:
            if not enough:
                return None
            self._note("a followed file is not in a format shoreup reads (use --format); its lines are skipped")
            return ""
        if not followable(fmt, head):
            self._note(f"a followed file is {fmt}, which cannot be followed line by line; its lines are skipped")
            return ""
        return fmt

    def _note(self, message: str) -> None:
        try:
            self.err.write(f"shoreup watch: {clean(message)}\n")
            self.err.flush()
        except (OSError, ValueError):
            pass

    def accounting(self) -> dict[str, Any]:
        """Records read, events and skips per followed generation (what ``read = parsed + skipped`` says)."""
        return {
            g.name: {"records_read": g.records, "events": g.events, "skipped": dict(g.skipped), "line": g.line - 1}
            for g in [*self.follower.generations(), self.syslog_gen]
        }

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set: every ``poll_interval`` seconds, or at once while input waits."""
        if self.syslog is not None:
            self.syslog.start()
        try:
            while not stop.is_set():
                try:
                    result = self.tick()
                except (OSError, duckdb.Error) as e:
                    # Disk full, state file trouble: nothing was committed, the same lines come again.
                    self._note(f"tick failed: {type(e).__name__}: {e}; trying again in 1 s")
                    stop.wait(1.0)
                    continue
                if not result.more:
                    stop.wait(self.poll_interval)
        finally:
            self.close()

    def close(self) -> None:
        """Commit the complete lines there are now (detected at the next start), record deliveries that
        finished, stop the helpers, close the state file."""
        for _ in range(4):
            try:
                if not self.tick(detect=False).more:
                    break
            except (OSError, duckdb.Error) as e:
                self._note(f"last read before stopping failed: {type(e).__name__}: {e}")
                break
        if self.webhook is not None:
            self.webhook.close()
            for seq, error in self.webhook.results():
                self._marks.append(([seq], "webhook", error))
        if self.syslog is not None:
            self.syslog.close()
        try:
            if self._marks:
                con = self.store.con
                con.execute("BEGIN TRANSACTION")
                for seqs, sink, error in self._marks:
                    self.state.mark(seqs, sink, error)
                con.execute("COMMIT")
                self._marks = []
        finally:
            self.follower.close()
            self.store.close()


def _shift_position(position: str | None, shift: int) -> str:
    if position and position.startswith("line ") and position[5:].isdigit():
        return f"line {int(position[5:]) + shift}"
    return position or "?"
