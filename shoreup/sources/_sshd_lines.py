"""Line blocks as Arrow string arrays, built from the bytes without a Python string per line.

:func:`iter_line_arrays` has exactly the semantics of :func:`shoreup.sources._base.iter_line_chunks`
(CRLF, bytes that are not UTF-8, over-long lines, streams that break off, the accounting and the
warnings) — the tests run both over the same inputs — but yields each block as one
``pa.StringArray`` whose data buffer is the block with its newlines removed, plus that buffer and
the line offsets as NumPy arrays for byte-level parsing. :func:`spans` cuts per-row byte ranges out
of such a buffer, the one primitive Arrow compute lacks (its slices take one start for all rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.sources._base import CHUNK_BYTES, MAX_LINE_BYTES, ReadContext, read_block

_NL = 10


@dataclass(frozen=True)
class Lines:
    """One block of lines: the Arrow array, its bytes and where each line starts (``offsets``, n + 1)."""

    array: pa.StringArray
    data: np.ndarray  # uint8, the lines back to back without their newlines
    offsets: np.ndarray  # int64


def lines_array(run: bytes) -> Lines:
    """The lines of ``run`` (valid UTF-8, split on ``\\n`` like ``str.split``) as one string array."""
    buf = np.frombuffer(run, dtype=np.uint8)
    nl = np.flatnonzero(buf == _NL)
    n = len(nl) + 1
    data = run.replace(b"\n", b"") if len(nl) else run
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:-1] = nl - np.arange(len(nl), dtype=np.int64)
    offsets[-1] = len(data)
    return Lines(_string_array(n, offsets, data), np.frombuffer(data, dtype=np.uint8), offsets)


def _string_array(n: int, offsets: np.ndarray, data: bytes | np.ndarray) -> pa.StringArray:
    if offsets[-1] < 2**31 - 1:
        arr = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
        return arr
    big = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return big.cast(pa.string())


def spans(data: np.ndarray | bytes, starts: np.ndarray, ends: np.ndarray) -> pa.StringArray:
    """``data[starts[i]:ends[i]]`` for every i, as strings; the ranges are in order and do not overlap.

    Each range must begin and end on a character boundary (the callers cut at ASCII bytes). The
    ranges and the gaps between them become one array over ``data`` (no copy); taking every other
    element copies the ranges out in one kernel.
    """
    n = len(starts)
    if not n:
        return pa.array([], pa.string())
    offsets = np.empty(2 * n + 1, dtype=np.int64)
    offsets[0:-1:2] = starts
    offsets[1::2] = ends
    offsets[-1] = ends[-1]
    both = _string_array(2 * n, offsets, data)
    return both.take(pa.array(np.arange(0, 2 * n, 2)))


def find(a: pa.Array, pattern: str) -> np.ndarray:
    """Byte index of the first ``pattern`` in every string (-1 when absent)."""
    return pc.find_substring(a, pattern).to_numpy(zero_copy_only=False).astype(np.int64)


def iter_line_arrays(
    stream: IO[bytes], ctx: ReadContext, chunk_bytes: int = CHUNK_BYTES, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, Lines]]:
    """Yield ``(number of the first line, lines)``; the rules of ``iter_line_chunks``, line for line."""
    line_no = ctx.first_record
    warned_utf8 = False

    def decode(run: bytes, first: int) -> Lines:
        nonlocal warned_utf8
        if b"\r" in run:  # CRLF line ends (logs copied through Windows)
            run = run.replace(b"\r\n", b"\n")
        try:
            run.decode("utf-8")
        except UnicodeDecodeError as e:
            if not warned_utf8:
                warned_utf8 = True
                line = first + run.count(b"\n", 0, e.start)
                ctx.warn("bytes that are not UTF-8 were replaced (first here)", f"line {line}")
            run = run.decode("utf-8", "replace").encode("utf-8")
        return lines_array(run)

    def lines_of(complete: bytes) -> Iterator[tuple[int, Lines]]:
        nonlocal line_no
        first = line_no
        if len(complete) <= max_line:
            longest = len(complete)
            n_parts = complete.count(b"\n") + 1
        else:
            nl = np.flatnonzero(np.frombuffer(complete, dtype=np.uint8) == _NL)
            bounds = np.concatenate([[-1], nl, [len(complete)]])
            n_parts = len(nl) + 1
            longest = int((np.diff(bounds) - 1).max())
        if longest <= max_line:
            line_no = first + n_parts
            yield first, decode(complete, first)
            return
        parts = complete.split(b"\n")
        run: list[bytes] = []
        run_first = first
        for i, part in enumerate(parts):
            if len(part) > max_line:
                if run:
                    yield run_first, decode(b"\n".join(run), run_first)
                    run = []
                too_long(first + i)
                run_first = first + i + 1
            else:
                run.append(part)
        if run:
            yield run_first, decode(b"\n".join(run), run_first)
        line_no = first + len(parts)

    def too_long(line: int) -> None:
        ctx.skip("line_too_long")
        ctx.warn(f"line longer than {max_line} bytes skipped", f"line {line}")

    pending = b""
    dropping = False  # inside an over-long line, discarding up to its newline
    while True:
        block, broke = read_block(stream, chunk_bytes)
        if broke is not None and block:
            pending_break = broke
        else:
            pending_break = None
        if not block:
            if pending and not dropping:
                if broke is None:
                    yield from lines_of(pending)
                else:
                    ctx.skip("truncated_line")
                    line_no += 1
            if broke is not None:
                ctx.damage(f"input breaks off ({broke}); the lines before were read", f"line {line_no}")
            return
        if dropping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block, dropping = block[nl + 1 :], False
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
        else:
            pending = data[cut + 1 :]
            yield from lines_of(data[:cut])
        if len(pending) > max_line:
            too_long(line_no)
            line_no += 1
            pending, dropping = b"", True
        if pending_break is not None:
            if pending and not dropping:
                ctx.skip("truncated_line")
                line_no += 1
            ctx.damage(f"input breaks off ({pending_break}); the lines before were read", f"line {line_no}")
            return
