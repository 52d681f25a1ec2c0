"""Alerts: which findings are new, which are an ongoing finding that grew, and where alerts go.

Identity. A detector's ``key`` names a finding within one run over one data set; in a watch the data
set slides (old events leave the retention window, new ones arrive), and some keys are numbered
(``user|run``) or derived from a finding's span, so a key may shift while the finding stays the
same. A finding is therefore the *same* as an alert already raised when the detector is the same,
their time spans overlap (or touch), and either the key is the same or they share an evidence ref
(a file and line). The refs seen for an alert are kept (at most ``MAX_REFS``, the latest).

Growth. A finding that matches an alert is not raised again; the alert's span, key and refs follow
it silently. One exception: when its severity rises (brute force followed by a sign-in from the
attacking address: medium → high), one *update* alert is raised with the reason, at most once per
severity level. So a person is told once that it started and once each time it got worse.

Every alert line is the finding in the ``shoreup.hunt/1`` contract with one more member, ``alert``:
``{"id", "delivery", "kind": "new" | "update", "reason", "raised_at", "detector_key"}``.
``delivery`` is unique per line: the JSON lines file is written exactly once per delivery (checked
against the file's tail at start), the webhook gets it at least once with the same
``Idempotency-Key`` header.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import queue
import random
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from shoreup.findings import SEVERITIES, Finding, iso
from shoreup.watch.state import AlertRecord

#: Evidence refs remembered per alert for recognising it again.
MAX_REFS = 1000


@dataclass
class Alert:
    """One line to deliver: a finding, and why it is raised now."""

    record: AlertRecord
    finding: Finding
    kind: str  # new | update
    reason: str
    delivery: str
    raised_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        doc = self.finding.to_json()
        doc["alert"] = {
            "id": self.record.alert_id,
            "delivery": self.delivery,
            "kind": self.kind,
            "reason": self.reason,
            "raised_at": iso(self.raised_at),
            "detector_key": self.finding.key,
        }
        return doc

    def body(self) -> bytes:
        return orjson.dumps(self.to_json())


def _overlap(a: AlertRecord, f: Finding) -> bool:
    return f.start <= a.end and f.end >= a.start


def _refs(f: Finding) -> set[tuple[str, int]]:
    return {(r.file, r.record) for r in f.evidence}


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class Deduper:
    """Decides, for each finding of a detection run, whether it raises an alert."""

    def __init__(self, records: Iterable[AlertRecord]) -> None:
        self.by_detector: dict[str, list[AlertRecord]] = {}
        for r in records:
            self.by_detector.setdefault(r.detector, []).append(r)

    def records(self) -> list[AlertRecord]:
        return [r for rs in self.by_detector.values() for r in rs]

    def match(self, f: Finding) -> AlertRecord | None:
        refs = _refs(f)
        best: AlertRecord | None = None
        for a in self.by_detector.get(f.detector, []):
            same = _overlap(a, f) and (a.key == f.key or not refs.isdisjoint(a.refs))
            if same and (best is None or a.raised_at < best.raised_at):
                best = a
        return best

    def decide(self, findings: list[Finding], now: dt.datetime) -> tuple[list[Alert], list[AlertRecord]]:
        """Alerts to raise, and every alert record that changed (to save)."""
        alerts: list[Alert] = []
        changed: dict[str, AlertRecord] = {}
        for f in findings:
            a = self.match(f)
            if a is None:
                digest = hashlib.sha256(f"{f.detector}|{f.key}|{iso(f.start)}".encode()).hexdigest()[:16]
                a = AlertRecord(
                    f"A-{digest}", f.detector, f.key, f.severity, f.start, f.end, now, now, 0, _cap(_refs(f))
                )
                self.by_detector.setdefault(f.detector, []).append(a)
                changed[a.alert_id] = a
                alerts.append(Alert(a, f, "new", "", f"{a.alert_id}.0", now))
                continue
            before = (a.key, a.start, a.end, a.severity, len(a.refs))
            escalated = _rank(f.severity) > _rank(a.severity)
            reason = f"severity {a.severity} → {f.severity}" if escalated else ""
            a.key, a.start, a.end = f.key, min(a.start, f.start), max(a.end, f.end)
            a.refs = _cap(a.refs | _refs(f))
            if escalated:
                a.severity = f.severity
                a.updates += 1
                a.updated_at = now
                alerts.append(Alert(a, f, "update", reason, f"{a.alert_id}.{a.updates}", now))
            if (a.key, a.start, a.end, a.severity, len(a.refs)) != before:
                changed[a.alert_id] = a
        return alerts, list(changed.values())

    def forget(self, alert_ids: set[str]) -> None:
        for det, rs in self.by_detector.items():
            self.by_detector[det] = [r for r in rs if r.alert_id not in alert_ids]

    def relabel(self, old: str, new: str) -> None:
        for r in self.records():
            if any(f == old for f, _ in r.refs):
                r.refs = {(new if f == old else f, n) for f, n in r.refs}


def _cap(refs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    if len(refs) <= MAX_REFS:
        return refs
    return set(sorted(refs, key=lambda r: (r[1], r[0]))[-MAX_REFS:])


# --- sinks ------------------------------------------------------------------------------------


def clean(text: str) -> str:
    """Attacker-controlled text made safe for a terminal: control and bidi characters shown escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def terminal_line(alert: Alert) -> str:
    f = alert.finding
    head = "ALERT" if alert.kind == "new" else "UPDATE"
    local = alert.raised_at.astimezone().strftime("%H:%M:%S")
    tail = f" [{alert.reason}]" if alert.reason else ""
    return clean(f"{local} {head} {f.severity.upper()} {f.detector}: {f.summary or f.title}{tail}")


class JsonLines:
    """Appends alert lines to a file, each written once (checked against the file after a crash)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._repair()

    def _repair(self) -> None:
        """A crash in the middle of a write leaves a partial last line: cut it (it is re-sent)."""
        try:
            with open(self.path, "rb+") as f:
                size = f.seek(0, os.SEEK_END)
                if size == 0:
                    return
                f.seek(max(0, size - (1 << 20)))
                tail = f.read()
                if tail.endswith(b"\n"):
                    return
                cut = tail.rfind(b"\n")
                f.truncate(size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= (1 << 20) else size))
        except FileNotFoundError:
            return

    def delivered(self, wanted: set[str], tail_bytes: int = 32 << 20) -> set[str]:
        """Which of the ``wanted`` deliveries the file already holds (searched in its tail)."""
        if not wanted:
            return set()
        try:
            with open(self.path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - tail_bytes))
                data = f.read()
        except FileNotFoundError:
            return set()
        found: set[str] = set()
        for line in data.split(b"\n"):
            if b'"delivery"' not in line:
                continue
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                d = orjson.loads(line)["alert"]["delivery"]
                if d in wanted:
                    found.add(d)
        return found

    def write(self, bodies: list[bytes]) -> None:
        if not bodies:
            return
        with open(self.path, "ab") as f:
            f.write(b"".join(b + b"\n" for b in bodies))
            f.flush()
            os.fsync(f.fileno())


@dataclass
class Delivery:
    seq: int
    delivery: str
    body: bytes


class Webhook:
    """POSTs alert lines to a URL from a background thread, with retries and exponential backoff.

    The reader never waits for it: alerts are queued, and each outcome comes back through
    ``results()`` (a delivered or abandoned sequence number) for the watcher to record. A 2xx answer
    is success; a network error, a timeout, 408, 429 or 5xx is retried (backoff from ``backoff``
    seconds, doubling, capped at ``max_backoff``, with jitter) up to ``attempts`` times; any other
    answer is final. What is not delivered when the watcher stops stays in the outbox for next time.
    """

    def __init__(
        self, url: str, attempts: int = 10, backoff: float = 0.5, max_backoff: float = 60.0, timeout: float = 5.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._results: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self._stop = threading.Event()
        self._queued: set[int] = set()
        self._thread = threading.Thread(target=self._run, name="shoreup-webhook", daemon=True)
        self._thread.start()

    def send(self, item: Delivery) -> None:
        if item.seq in self._queued:
            return
        self._queued.add(item.seq)
        self._queue.put(item)

    def results(self) -> list[tuple[int, str | None]]:
        """(seq, error or None) of every delivery finished since the last call."""
        out: list[tuple[int, str | None]] = []
        while True:
            try:
                seq, error = self._results.get_nowait()
            except queue.Empty:
                return out
            self._queued.discard(seq)
            out.append((seq, error))

    def idle(self) -> bool:
        return not self._queued

    def close(self, wait: float = 2.0) -> None:
        """Stop after the delivery in flight (at most ``wait`` seconds); the rest stays queued in state."""
        self._stop.set()
        self._queue.put(None)
        self._thread.join(wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            error = self._deliver(item)
            if error == "stopped":
                return
            self._results.put((item.seq, error))

    def _deliver(self, item: Delivery) -> str | None:
        from shoreup import __version__

        last = ""
        for attempt in range(self.attempts):
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                    return "stopped"
            request = urllib.request.Request(
                self.url, data=item.body, method="POST",
                headers={"Content-Type": "application/json", "Idempotency-Key": item.delivery,
                         "User-Agent": f"shoreup/{__version__}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    resp.read()
                    return None
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
                if e.code not in (408, 429) and e.code < 500:
                    break
            except (urllib.error.URLError, OSError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if self._stop.is_set():
                return "stopped"
        message = f"webhook: alert {item.delivery} not delivered after {attempt + 1} attempt(s): {last}"
        self.log(message)
        return last or "failed"


def write_terminal(stream: IO[str], alerts: list[Alert]) -> None:
    for a in alerts:
        stream.write(terminal_line(a) + "\n")
    with contextlib.suppress(OSError, ValueError):
        stream.flush()
