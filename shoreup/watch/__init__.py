"""Watch mode: follow growing logs and loopback syslog, keep state in DuckDB, raise alerts in seconds.

How it holds together:

* ``follow``  — files are read by byte offset, complete lines only, through rotation (rename and new
  file; copytruncate) and truncation; see :mod:`shoreup.watch.follow`.
* ``syslog``  — optional UDP and TCP listeners on 127.0.0.1 only.
* ``state``   — the DuckDB file: the normalized events of the retention window, each generation's
  offset / inode / line number, the alerts raised and an outbox of alert lines to deliver.
* ``watcher`` — one tick = poll → parse → **one transaction** (events + offsets + relabels) → detect
  (rate-limited, only after new events) → **one transaction** (alerts + outbox) → deliver.
  A ``kill -9`` anywhere leaves offsets and events consistent: a restart reads on from the committed
  offsets (no line lost, none counted twice) and detection runs again over the store, where already
  raised alerts are recognised (no alert repeated).
* ``alerts``  — which findings are new, when a growing one earns an update alert, and the sinks:
  terminal line, JSON lines file (exactly once), webhook (at least once, retried with backoff from
  a background thread, ``Idempotency-Key`` per line).

A file seen for the first time is read from its beginning (its old lines count within the retention
window). Network is used only for ``--webhook`` and ``--syslog-port`` (loopback).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import stat
import sys
import threading
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from shoreup.report.text import message

if TYPE_CHECKING:
    from shoreup.sources._base import ReadOptions
    from shoreup.watch.watcher import Watcher

__all__ = ["Watcher", "main"]


def __getattr__(name: str) -> Any:
    if name == "Watcher":  # imported on use: it brings duckdb and pyarrow
        from shoreup.watch.watcher import Watcher

        return Watcher
    raise AttributeError(name)


def main(
    paths: Sequence[str],
    state: str | None = None,
    alerts: str | None = None,
    webhook: str | None = None,
    syslog_port: int | None = None,
    fmt: str | None = None,
    *,
    year: int | None = None,
    tz: dt.tzinfo = dt.UTC,
    options: ReadOptions | None = None,
    detectors: Sequence[str] | None = None,
    retention_hours: float = 168.0,
    memory_limit: str = "1GB",
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Follow ``paths`` (and syslog on ``127.0.0.1:syslog_port``) until interrupted. Exit 0 when stopped
    by Ctrl-C or SIGTERM, 2 on bad usage or when the state file cannot be used."""
    err = err or sys.stderr
    problem = _check(paths, webhook, syslog_port, retention_hours)
    if problem:
        err.write(f"shoreup: {message(problem)}\n")
        return 2
    from shoreup.errors import ShoreupError
    from shoreup.sources._base import ReadOptions
    from shoreup.watch.watcher import Watcher

    try:
        watcher = Watcher(
            paths, state, alerts, webhook, syslog_port, fmt,
            options=options or ReadOptions(year=year, tz=tz), detectors=detectors,
            retention=dt.timedelta(hours=retention_hours), memory_limit=memory_limit, out=out, err=err,
        )
    except ShoreupError as e:
        err.write(f"shoreup: {message(e)}\n")
        return 2
    except OSError as e:
        err.write(f"shoreup: cannot start watching: {message(e)}\n")
        return 2
    except Exception as e:  # e.g. the state file is locked by another watch
        if type(e).__module__.startswith("duckdb"):
            err.write(f"shoreup: cannot open the state file {message(state)}: {message(e)}\n")
            return 2
        raise
    stop = stop or threading.Event()
    restore = _on_signals(stop)
    parts = [f"following {len(watcher.paths)} file(s)"]
    if watcher.syslog is not None:
        parts.append(f"syslog on udp+tcp 127.0.0.1:{watcher.syslog.port}")
    parts.append(f"state in {state}" if state else "state in memory (a restart starts over: use --state)")
    if alerts:
        parts.append(f"alerts to {alerts}")
    err.write(f"shoreup watch: {message('; '.join(parts))}. Ctrl-C to stop.\n")
    err.flush()
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        restore()
    return 0


def _check(paths: Sequence[str], webhook: str | None, syslog_port: int | None, retention_hours: float) -> str:
    if not paths and syslog_port is None:
        return "name at least one log file to follow, or --syslog-port"
    if "-" in paths:
        return "watch follows files; standard input cannot be followed (pipe it to a file)"
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # not there yet: followed once it appears
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return (f"watch follows files; {path} is a pipe or device, whose bytes cannot be read again after a "
                    "restart (pipe it to a file, or send syslog to --syslog-port)")
    if webhook is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"--webhook must be an http:// or https:// URL, not {webhook!r}"
    if syslog_port is not None and not 0 <= syslog_port <= 65535:
        return f"--syslog-port must be between 0 (any free port) and 65535, not {syslog_port}"
    if retention_hours <= 0:
        return "the retention window must be positive"
    return ""


def _on_signals(stop: threading.Event) -> Any:
    """SIGINT and SIGTERM end the watch cleanly (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for s in previous:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore
