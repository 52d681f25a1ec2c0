"""The hunt pipeline: inputs → readers → store → detectors → findings, with full accounting."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from shoreup import sources
from shoreup.engine.duckdb import Store
from shoreup.errors import InputError
from shoreup.findings import Finding
from shoreup.sources._base import Damage, FileStats, ReadContext, ReadOptions, SegmentUnsafe
from shoreup.sources.inputs import Input, expand, open_input, open_range

ProgressFn = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    """What was read: per-file accounting, inputs that could not be read at all, and totals."""

    files: list[FileStats] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def damaged(self) -> bool:
        return bool(self.errors) or any(f.damage for f in self.files)

    @property
    def records_read(self) -> int:
        return sum(f.records_read for f in self.files)

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def skipped(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.skipped)
        return total

    def problems(self) -> list[Damage]:
        out = [Damage(e.path, e.message, e.position) for e in self.errors]
        for f in self.files:
            out.extend(f.damage)
        return out

    def warnings(self) -> list[Damage]:
        return [w for f in self.files for w in f.warnings]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files],
            "records_read": self.records_read,
            "events": self.events,
            "skipped": dict(sorted(self.skipped.items())),
            "errors": [str(p) for p in self.problems()],
        }


def ingest(
    paths: list[str],
    store: Store,
    options: ReadOptions | None = None,
    fmt: str | None = None,
    progress: ProgressFn | None = None,
    jobs: int | None = None,
) -> IngestReport:
    """Read every input into ``store``; a broken input is reported and the rest still read.

    ``jobs`` worker processes read files (and line-aligned parts of large NDJSON files) in parallel,
    the store receiving their rows in input order: the result is the same as reading serially.
    None means one per CPU; 1 reads everything in this process.
    """
    options = options or ReadOptions()
    if fmt is not None:
        sources.load(fmt)  # an unknown --format is a usage error before any reading
    started = time.perf_counter()
    inputs, errors = expand(paths)
    report = IngestReport(errors=list(errors))
    explicit = set(paths)
    run_state: dict[str, Any] = {}
    from shoreup import parallel

    if parallel.ingest(inputs, store, options, fmt, explicit, run_state, report, progress, jobs):
        report.seconds = time.perf_counter() - started
        return report
    for n, inp in enumerate(inputs):
        if progress:
            progress(inp.name, n, len(inputs))
        report.files.append(_read_one(inp, store, options, fmt, run_state, named=inp.name in explicit))
    if progress:
        progress("", len(inputs), len(inputs))
    report.seconds = time.perf_counter() - started
    return report


def _read_one(
    inp: Input, store: Store, options: ReadOptions, fmt: str | None, run_state: dict[str, Any], named: bool
) -> FileStats:
    return read_input(inp, store.append, options, fmt, run_state, named)


def read_input(
    inp: Input,
    emit: Callable[[str, Any], None],
    options: ReadOptions,
    fmt: str | None,
    run_state: dict[str, Any],
    named: bool,
    segment: tuple[int, int, int] | None = None,
) -> FileStats:
    """Read one input, handing each ``(table, batch)`` to ``emit``; its accounting.

    ``segment`` is ``(start, end, first line)``: read only those bytes of the file (parallel reading).
    """
    stats = FileStats(inp.name)
    ctx = ReadContext(inp.name, stats, options, inp.mtime, run_state, first_record=segment[2] if segment else 1)
    ctx.segment = segment is not None
    try:
        with open_range(inp, segment[0], segment[1]) if segment else open_input(inp) as (stream, head):
            if not head:
                ctx.warn("empty file: nothing to read")
                return stats
            chosen = fmt or sources.sniff(head, inp.name)
            if chosen is None:
                # A file the user named is damage; one met while walking a folder (a README) a note.
                (ctx.damage if named else ctx.warn)("not a format shoreup reads (use --format to force one)", "byte 0")
                stats.format = "unrecognised"
                return stats
            stats.format = chosen
            reader = sources.load(chosen)
            for table, batch in reader.read(stream, ctx):
                emit(table, batch)
            _none_readable(stats, ctx)
    except SegmentUnsafe:
        raise
    except InputError as e:
        ctx.damage(e.message, e.position)
    except (OSError, EOFError) as e:
        ctx.damage(f"read failed: {e}")
    except Exception as e:  # a reader bug must not end the run; it is reported as damage, loudly
        ctx.damage(f"reader {stats.format or '?'} failed: {type(e).__name__}: {e}")
    return stats


#: Skip reasons that say a record is not of the format read (against ones that say it is, but is not a
#: sign-in, or repeats one).
MALFORMED: Final = frozenset({
    "malformed_line", "malformed_json", "malformed_record", "malformed_csv_row", "not_json_object",
    "parse_error", "truncated_line", "no_timestamp", "no_time", "bad_timestamp",
})
#: More records than this, every one malformed, make an input damaged (fewer: each is counted, no more).
DAMAGE_RECORDS: Final = 10


def _none_readable(stats: FileStats, ctx: ReadContext) -> None:
    """An input of which not one record could be read (``--format`` forced on the wrong file, a file
    sniffed by its head and garbage after it) is damaged: exit code 2 and a message, not a quiet
    count of skipped records. The readers that check this per block (sshd) have said so already."""
    if stats.events or stats.damage:
        return
    bad = sum(n for reason, n in stats.skipped.items() if reason in MALFORMED)
    if bad > DAMAGE_RECORDS and set(stats.skipped) <= MALFORMED | {"empty_line"}:
        ctx.damage(f"none of its {bad} records could be read as {stats.format}; is this the right format?",
                   f"record {ctx.first_record}")


def detect(
    store: Store, only: list[str] | None = None, params: dict[str, dict[str, Any]] | None = None
) -> list[Finding]:
    """Run the listed detectors (all by default) and return their findings in a stable order.

    ``params`` maps a detector name to keyword overrides of its ``Params`` (e.g. Sigma rule folders).
    """
    from shoreup import detect as registry

    names = only or registry.names()
    _prefetch_attacks(store, names, params or {})
    findings: list[Finding] = []
    for name in names:
        module = registry.load(name)
        findings.extend(module.detect(store.con, module.Params(**(params or {}).get(name, {}))))
    return sorted(findings, key=Finding.sort_key)


def _prefetch_attacks(store: Store, names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """The independent credential-attack detectors among ``names``, run two at a time up front (their
    findings remembered for the loop, and for the follow-up detectors that read them)."""
    from shoreup import detect as registry
    from shoreup.detect import credential
    from shoreup.detect.credential._campaigns import ATTACKS

    runs = []
    for name in names:
        if name in ATTACKS:
            module = registry.load(name)
            runs.append((module.detect, module.Params(**params.get(name, {}))))
    credential.prefetch(store.con, runs)
