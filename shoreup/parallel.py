"""Reading inputs in worker processes, with the same result as reading them one after the other.

A folder of EVTX files, Mordor zips or several logs is read file by file in a pool of worker
processes; a large NDJSON file (Winlogbeat, Entra diagnostic export, Okta, CloudTrail) or sshd
syslog file is cut at line boundaries into byte ranges read by several workers, each numbering its
lines from where its range starts. A worker writes the Arrow record batches it reads to Arrow IPC files in a temporary
folder (memory stays flat whatever the input size) and returns the input's accounting; this process
appends the batches to the store strictly in input order, so tables and accounting are those of a
serial read:

* Windows records repeated across inputs (:func:`shoreup.sources._windows.drop_duplicates`) are
  dropped here, in input order, from keys the workers send along (``_stamp`` / ``_seq`` columns);
* a byte range whose reader needs lines outside it (``SegmentUnsafe``) or that met damage or a
  warning (whose wording and count depend on the whole file) is discarded and the file read whole
  in this process; so is any input whose worker failed;
* a reader whose state carries from line to line reads a range optimistically (sshd: the year of
  year-less timestamps, assumed for the range's first one as for a file's first line) and says what
  it assumed (``FileStats.carry``); this process checks each range against the ones before it (the
  reader's ``join``) and reads the file whole when an assumption does not hold.

Nothing runs in parallel for one job, a single input that cannot be cut, inputs smaller than
:data:`MIN_PARALLEL_BYTES` in all (and fewer than :data:`MIN_PARALLEL_FILES` inputs), standard input
or a pipe (read here, in its turn), or when no worker process can be started.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
import pyarrow as pa

from shoreup.schema import TABLES
from shoreup.sources._base import FileStats, ReadOptions, SegmentUnsafe
from shoreup.sources.inputs import BZ2_MAGIC, GZIP_MAGIC, ZIP_MAGIC, ZSTD_MAGIC, Input

if TYPE_CHECKING:
    from shoreup.engine.duckdb import Store
    from shoreup.pipeline import IngestReport

#: Below this many bytes of input in all, reading stays in this process (starting workers costs more) —
#: unless there are at least :data:`MIN_PARALLEL_FILES` inputs: each costs ~2 ms however small it is.
MIN_PARALLEL_BYTES: Final = 4 << 20
MIN_PARALLEL_FILES: Final = 32
#: A plain NDJSON file of at least this size is cut into byte ranges read by several workers.
SPLIT_MIN_BYTES: Final = 8 << 20
#: Largest byte range one worker reads at a time (its output is spooled to disk, not held).
SEGMENT_MAX_BYTES: Final = 16 << 20
#: Readers whose lines can be read range by range (each honours ``ctx.first_record``): NDJSON lines
#: independent of one another, web access logs (text or JSON lines), and sshd syslog, whose ranges the main process checks with the
#: reader's ``join`` (the year of year-less timestamps carries from line to line).
SPLITTABLE: Final = frozenset({"winjson", "entra", "okta", "cloudtrail", "sshd", "weblog"})
#: Of those, the readers whose files may be cut at any line start (not only before a JSON object).
_ANY_LINE: Final = frozenset({"sshd"})
#: Of those, the readers whose ranges are appended as they arrive, inside a store transaction rolled
#: back when a later range fails (winjson's: only once every range is in, as its duplicate keys go to
#: ``run_state``, which a rollback would not restore).
_UNDOABLE: Final = SPLITTABLE - {"winjson"}
#: A range must start with a line that is a JSON object shorter than this (readers peek 64 KiB).
_MAX_FIRST_LINE: Final = 60_000
#: ``run_state`` key telling readers how many threads their own native code may use.
THREADS_KEY: Final = "reader.threads"


def default_jobs() -> int:
    """One worker per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Task:
    key: int
    inputs: tuple[tuple[Input, bool], ...]  # (input, named by the user), consecutive in input order
    fmt: str | None
    segment: tuple[int, int, int] | None = None  # (start byte, end byte, number of the first line)
    spool: bool = False  # write the batches to files (large outputs) instead of returning them


@dataclass
class _Result:
    #: Per input: its accounting (None: a byte range that cannot be read on its own) and the range
    #: of the task's raw rows it produced.
    stats: list[FileStats | None] = field(default_factory=list)
    raw_rows: list[tuple[int, int]] = field(default_factory=list)
    #: ``(table, IPC stream)`` in write order: a file path when spooled, else the bytes.
    parts: list[tuple[str, str | bytes]] = field(default_factory=list)


# --- worker side --------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init(options: ReadOptions, tmpdir: str) -> None:
    _WORKER["options"] = options
    _WORKER["tmpdir"] = tmpdir
    with contextlib.suppress(Exception):
        pa.set_cpu_count(1)  # the pool is the parallelism; Arrow's own threads would only compete
        pa.set_io_thread_count(1)


class _Writers:
    """One Arrow IPC stream per table (a new one when the schema changes), to a file or memory."""

    def __init__(self, task: _Task, result: _Result) -> None:
        self.task = task
        self.result = result
        self.open: dict[str, tuple[Any, Any, pa.Schema, int]] = {}
        self.raw_rows = 0
        self.seq_offset = 0

    def emit(self, table: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if table == "raw":
            self.raw_rows += batch.num_rows
        elif self.seq_offset and "_seq" in batch.schema.names:
            i = batch.schema.get_field_index("_seq")
            seq = pa.compute.add(batch.column(i), self.seq_offset)
            batch = batch.set_column(i, "_seq", seq)
        current = self.open.get(table)
        if current is None or not current[2].equals(batch.schema, check_metadata=True):
            if current is not None:
                self._close(table)
            n = len(self.result.parts)
            if self.task.spool:
                sink: Any = os.path.join(_WORKER["tmpdir"], f"{self.task.key}-{n}-{table}.arrow")
            else:
                sink = pa.BufferOutputStream()
            self.result.parts.append((table, ""))
            current = self.open[table] = (pa.ipc.new_stream(sink, batch.schema), sink, batch.schema, n)
        current[0].write_batch(batch)

    def _close(self, table: str) -> None:
        writer, sink, _, n = self.open.pop(table)
        writer.close()
        self.result.parts[n] = (table, sink if isinstance(sink, str) else sink.getvalue().to_pybytes())

    def close(self) -> None:
        for table in list(self.open):
            self._close(table)


def _work(task: _Task) -> _Result:
    import pyarrow.compute  # noqa: F401 - used by _Writers

    from shoreup.pipeline import read_input
    from shoreup.sources._windows import DEFER_DEDUP

    result = _Result()
    writers = _Writers(task, result)
    try:
        for inp, named in task.inputs:
            run_state: dict[str, Any] = {DEFER_DEDUP: True, THREADS_KEY: 1}
            first = writers.seq_offset = writers.raw_rows
            try:
                stats = read_input(
                    inp, writers.emit, _WORKER["options"], task.fmt, run_state, named, task.segment
                )
            except SegmentUnsafe:
                stats = None
            result.stats.append(stats)
            result.raw_rows.append((first, writers.raw_rows))
    finally:
        writers.close()
    return result


# --- planning -----------------------------------------------------------------------------------


def _size(inp: Input) -> int:
    if inp.path is None:
        return 0
    try:
        return os.path.getsize(inp.path)
    except OSError:
        return 0


def _sizes(inputs: list[Input]) -> dict[str, int]:
    """Bytes per input: file sizes, and the uncompressed size of zip members."""
    import zipfile

    sizes: dict[str, int] = {}
    archives: dict[str, dict[str, int]] = {}
    for inp in inputs:
        if inp.member is not None and inp.path is not None:
            if inp.path not in archives:
                try:
                    with zipfile.ZipFile(inp.path) as zf:
                        archives[inp.path] = {i.filename: i.file_size for i in zf.infolist()}
                except (OSError, zipfile.BadZipFile):
                    archives[inp.path] = {}
            sizes[inp.name] = archives[inp.path].get(inp.member, 0)
        else:
            sizes[inp.name] = _size(inp)
    return sizes


def _is_object_line(line: bytes) -> bool:
    text = line.strip()
    if not text.startswith(b"{") or len(text) >= _MAX_FIRST_LINE:
        return False
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def _segments(inp: Input, fmt: str | None, jobs: int) -> tuple[str, list[tuple[int, int, int]]] | None:
    """The format and line-aligned byte ranges of a large plain NDJSON or syslog file; None when it is
    read whole."""
    if inp.path is None or inp.member is not None:
        return None
    size = _size(inp)
    if size < SPLIT_MIN_BYTES:
        return None
    from shoreup import sources

    try:
        with open(inp.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = mm[:8192]
            if head.startswith((GZIP_MAGIC, BZ2_MAGIC, ZSTD_MAGIC, ZIP_MAGIC, b"\xff\xfe", b"\xfe\xff")):
                return None
            chosen = fmt or sources.sniff(head, inp.name)
            if chosen not in SPLITTABLE:
                return None
            any_line = chosen in _ANY_LINE
            text_only = False  # a text access log: cut before a line its reader also takes for text
            if chosen == "weblog":
                first = next((ln for ln in head.lstrip(b"\xef\xbb\xbf").split(b"\n") if ln.strip()), b"")
                any_line = text_only = not first.lstrip(b" \t").startswith(b"{")
            if not any_line:
                body = 3 if head.startswith(b"\xef\xbb\xbf") else 0
                while body < size and mm[body : body + 1] in (b"\n", b"\r", b" ", b"\t"):
                    body += 1
                end = mm.find(b"\n", body)
                if not _is_object_line(mm[body : end if end >= 0 else size]):
                    return None  # a JSON document, CSV, or an NDJSON file that starts damaged: read whole
            parts = max(2 * jobs, -(-size // SEGMENT_MAX_BYTES))
            bounds = [0]
            for k in range(1, parts):
                start = _line_start(mm, max(k * size // parts, bounds[-1] + 1), size, any_line, text_only=text_only)
                if start is not None and start > bounds[-1]:
                    bounds.append(start)
            if len(bounds) < 2:
                return None
            bounds.append(size)
            ranges: list[tuple[int, int, int]] = []
            line = 1
            for a, b in itertools.pairwise(bounds):
                ranges.append((a, b, line))
                line += _newlines(mm, a, b)
            return chosen, ranges
    except (OSError, ValueError):
        return None


def _newlines(mm: mmap.mmap, start: int, end: int) -> int:
    """How many ``\n`` bytes ``mm[start:end]`` holds: NumPy over the mapping, in 1 MiB pieces that stay
    in the CPU's cache (3x faster than ``bytes.count`` on copies)."""
    import numpy as np

    view = np.frombuffer(mm, dtype=np.uint8, count=end - start, offset=start)
    try:
        return sum(int(np.count_nonzero(view[i : i + (1 << 20)] == 10)) for i in range(0, end - start, 1 << 20))
    finally:
        del view  # the mapping closes only once no array holds it


def _line_start(
    mm: mmap.mmap, target: int, size: int, any_line: bool = False, tries: int = 64, text_only: bool = False
) -> int | None:
    """The start of the first line at or after ``target`` that is a whole JSON object (any line; with
    ``text_only``, a line that is not blank and does not start with ``{``, so that the reader of the
    range takes it, as the whole file, for text)."""
    pos = mm.find(b"\n", target - 1)
    for _ in range(tries):
        if pos < 0 or pos + 1 >= size:
            return None
        start = pos + 1
        if any_line and not text_only:
            return start
        end = mm.find(b"\n", start)
        line = mm[start : end if end >= 0 else size]
        if (_is_text_line(line) if text_only else _is_object_line(line)):
            return start
        pos = end
    return None


def _is_text_line(line: bytes) -> bool:
    return bool(line.strip()) and not line.lstrip(b" \t").startswith(b"{")


# --- gathering ----------------------------------------------------------------------------------


def _batches(where: str | bytes) -> list[pa.RecordBatch]:
    if isinstance(where, bytes):
        return list(pa.ipc.open_stream(pa.py_buffer(where)))
    with pa.memory_map(where) as source:
        batches = list(pa.ipc.open_stream(source))
    os.unlink(where)  # the batches keep the mapping alive
    return batches


def _discard(result: _Result | None) -> None:
    for _, where in result.parts if result else ():
        if isinstance(where, str) and where:
            with contextlib.suppress(OSError):
                os.unlink(where)


def _apply(result: _Result, store: Store, run_state: dict[str, Any], stats: list[FileStats]) -> None:
    """Append one task's batches to the store, dropping cross-input duplicates; fix the accounting."""
    import numpy as np

    from shoreup.sources._windows import drop_duplicates

    masks: list[np.ndarray] = []
    kept: pa.Array | None = None
    ordered = [p for p in result.parts if p[0] == "raw"] + [p for p in result.parts if p[0] != "raw"]
    for table, where in ordered:
        schema = TABLES[table]
        batches = _batches(where)
        if table == "raw" and len(batches) > 1:
            batches = [pa.concat_batches(batches)]  # one duplicate check per stream, not per input
        for batch in batches:
            if table == "raw":
                if "_stamp" in batch.schema.names:
                    mask = drop_duplicates(run_state, batch)
                    masks.append(mask)
                    if not mask.all():
                        batch = batch.filter(pa.array(mask))
                    batch = _strip(batch, schema)
                else:
                    masks.append(np.ones(batch.num_rows, dtype=bool))
            elif "_seq" in batch.schema.names:
                if kept is None:
                    kept = pa.array(np.concatenate(masks) if masks else np.zeros(0, dtype=bool))
                if kept.false_count != 0:
                    batch = batch.filter(kept.take(batch.column("_seq")))
                batch = _strip(batch, schema)
            store.append(table, batch)
    if not masks:
        return
    every = np.concatenate(masks)
    for st, (first, end) in zip(stats, result.raw_rows, strict=True):
        dropped = int(end - first - every[first:end].sum())
        if dropped:
            st.events -= dropped
            st.skipped["duplicate"] += dropped


def _strip(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns[: len(schema)], schema=schema)


def _merge(path: str, parts: list[FileStats]) -> FileStats:
    merged = FileStats(path, parts[0].format)
    total: Counter[str] = Counter()
    for p in parts:
        merged.events += p.events
        total.update(p.skipped)
    merged.skipped = total
    return merged


def _context() -> Any:
    import multiprocessing

    # fork: workers start at once with every module already imported; elsewhere spawn is the safe one.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def ingest(
    inputs: list[Input],
    store: Store,
    options: ReadOptions,
    fmt: str | None,
    explicit: set[str],
    run_state: dict[str, Any],
    report: IngestReport,
    progress: Callable[[str, int, int], None] | None,
    jobs: int | None,
) -> bool:
    """Read ``inputs`` in worker processes into ``report``; False (nothing done) when not worth it."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs <= 1 or not inputs:
        return False
    sizes = _sizes(inputs)
    if sum(sizes.values()) < MIN_PARALLEL_BYTES and len(inputs) < MIN_PARALLEL_FILES:
        return False
    from shoreup import pipeline

    def size(inp: Input) -> int:
        return sizes.get(inp.name, 0)

    # Units in input order: ("here", input) read in this process, ("files", task) a task of whole
    # inputs, ("split", input, tasks) one input cut into byte ranges.
    units: list[tuple[Any, ...]] = []
    tasks: list[_Task] = []
    group: list[tuple[Input, bool]] = []
    group_bytes = 0
    target = min(max(sum(size(i) for i in inputs) // (4 * jobs), 256 << 10), 8 << 20)
    per_task = min(64, -(-len(inputs) // (4 * jobs)))  # many small files: still ~4 tasks per worker

    def close_group() -> None:
        nonlocal group, group_bytes
        if group:
            task = _Task(len(tasks), tuple(group), fmt, spool=group_bytes > target)
            tasks.append(task)
            units.append(("files", task))
        group, group_bytes = [], 0

    for inp in inputs:
        if inp.stream:
            close_group()
            units.append(("here", inp))  # standard input, a pipe: read once, here, in its turn
            continue
        named = inp.name in explicit
        split = _segments(inp, fmt, jobs)
        if split is not None:
            close_group()
            mine = [
                _Task(len(tasks) + k, ((inp, named),), split[0], r, spool=True)
                for k, r in enumerate(split[1])
            ]
            tasks.extend(mine)
            units.append(("split", inp, mine))
            continue
        group.append((inp, named))
        group_bytes += size(inp)
        if group_bytes >= target or len(group) >= per_task:
            close_group()
    close_group()
    if len(tasks) < 2:
        return False
    _warm(tasks, fmt)
    tmpdir = tempfile.mkdtemp(prefix="shoreup-read-")
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)),
            mp_context=_context(),
            initializer=_init,
            initargs=(options, tmpdir),
        )
    except (OSError, ImportError, NotImplementedError, ValueError):
        shutil.rmtree(tmpdir, ignore_errors=True)
        return False
    futures: list[Future[_Result]] = []
    window = 2 * jobs + 2
    broken = False

    def result(task: _Task) -> _Result | None:
        nonlocal broken
        while not broken and len(futures) < min(len(tasks), task.key + window):
            try:
                futures.append(pool.submit(_work, tasks[len(futures)]))
            except RuntimeError:  # the pool broke (a worker died): the rest is read here
                broken = True
        if task.key >= len(futures):
            return None
        try:
            return futures[task.key].result()
        except Exception:
            return None

    def serial(inp: Input) -> FileStats:
        return pipeline._read_one(inp, store, options, fmt, run_state, named=inp.name in explicit)

    done = 0

    def step(name: str) -> None:
        nonlocal done
        if progress:
            progress(name, done, len(inputs))
        done += 1

    try:
        for unit in units:
            if unit[0] == "here":
                step(unit[1].name)
                report.files.append(serial(unit[1]))
            elif unit[0] == "files":
                task = unit[1]
                res = result(task)
                if res is None or any(st is None for st in res.stats):
                    _discard(res)
                    for inp, _ in task.inputs:
                        step(inp.name)
                        report.files.append(serial(inp))
                    continue
                for inp, _ in task.inputs:
                    step(inp.name)
                got = [st for st in res.stats if st is not None]
                _apply(res, store, run_state, got)
                report.files.extend(got)
            else:
                inp, mine = unit[1], unit[2]
                step(inp.name)
                # Ranges are checked in file order as they arrive; those of an undoable format are
                # appended at once (the store's transaction is rolled back if a later one fails).
                undo = mine[0].fmt in _UNDOABLE and store.begin()
                check = _Check(mine[0].fmt)
                results: list[_Result | None] = []
                held: list[tuple[_Result, FileStats]] = []
                try:
                    for t in mine:
                        r = result(t)
                        results.append(r)
                        st = r.stats[0] if r is not None and len(r.stats) == 1 else None
                        if not check.ok or not check.add(st) or r is None or st is None:
                            continue
                        if undo:
                            _apply(r, store, run_state, [st])
                        else:
                            held.append((r, st))
                except BaseException:
                    if undo:
                        store.rollback()
                    raise
                if not check.ok:
                    if undo:
                        store.rollback()
                    for r in results:
                        _discard(r)
                    report.files.append(serial(inp))
                    continue
                if undo:
                    store.commit()
                for r, st in held:
                    _apply(r, store, run_state, [st])
                report.files.append(_merge(inp.name, [st for r in results if r for st in r.stats if st]))
        if progress:
            progress("", len(inputs), len(inputs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(tmpdir, ignore_errors=True)
    return True


class _Check:
    """Whether the ranges of one file, each read on its own and given in file order, hold what one
    read of the whole file would (``ok``).

    A range fails when it could not be read alone (``SegmentUnsafe``), its worker failed, or it met
    damage or a warning. A reader whose ranges carry state (``FileStats.carry``, set in every range)
    defines ``join(joined, carry)``, folded over the ranges in file order; it raises
    ``SegmentUnsafe`` at a range that does not continue the ones before it (e.g. sshd: year-less
    timestamps given another year than a whole read gives them).
    """

    def __init__(self, fmt: str | None) -> None:
        from shoreup import sources

        self.join = getattr(sources.load(fmt), "join", None) if fmt else None
        self.joined: Any = None
        self.ok = True

    def add(self, st: FileStats | None) -> bool:
        if st is None or st.damage or st.warnings:
            self.ok = False
        elif self.join is not None or st.carry is not None:
            try:
                if self.join is None or st.carry is None:  # e.g. a reader swapped in that says nothing
                    raise SegmentUnsafe("a range without the state its reader joins")
                self.joined = self.join(self.joined, st.carry)
            except SegmentUnsafe:
                self.ok = False
        return self.ok


def _warm(tasks: list[_Task], fmt: str | None) -> None:
    """Import, once and before the workers fork, what they will use: the readers of the first input of
    every task (sniffing imports them), ``pyarrow.compute``, and ``numpy.ma``, which pyarrow imports
    at its first conversion of a NumPy array (50 ms, otherwise paid again in every worker)."""
    import numpy.ma  # noqa: F401
    import pyarrow.compute  # noqa: F401

    from shoreup import sources
    from shoreup.sources.inputs import open_input

    if fmt is not None:
        sources.load(fmt)
        return
    for task in tasks:
        with contextlib.suppress(Exception), open_input(task.inputs[0][0]) as (_, head):
            sources.sniff(head, task.inputs[0][0].name)
