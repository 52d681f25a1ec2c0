"""Line blocks as Arrow string arrays, built from the bytes without a Python string per line.

:func:`iter_line_arrays` takes the runs of :func:`shoreup.sources._base.iter_line_runs` (CRLF, bytes
that are not UTF-8, over-long lines, streams that break off, the accounting and the warnings are
handled there, once for every line reader) and yields each as one
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

from shoreup.sources._base import CHUNK_BYTES, MAX_LINE_BYTES, ReadContext, iter_line_runs

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
    """Yield ``(number of the first line, lines)``: the runs of ``iter_line_runs`` as Arrow arrays."""
    for first, run in iter_line_runs(stream, ctx, chunk_bytes, max_line):
        yield first, lines_array(run)
