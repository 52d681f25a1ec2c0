"""Turn what the user named (files, folders, globs, ``-``) into readable inputs.

Compressed files (.gz, .bz2, .zst — recognised by their magic bytes, not their names) are
decompressed as streams; zip archives are opened and each member becomes an input of its own,
named ``archive.zip!member``. Nothing here knows any log format.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import os
import stat
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from shoreup.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_MAGIC = b"PK\x03\x04"

#: How many bytes sniffing looks at.
HEAD_BYTES = 8192
#: Zip members larger than this many times their compressed size are refused (zip bombs).
MAX_ZIP_RATIO = 200
#: Skip zip members that are plainly not logs.
_ZIP_SKIP_SUFFIXES = (".yaml", ".yml", ".md", ".txt.sig", "/")


@dataclass(frozen=True)
class Input:
    """One readable input: a display name, how to open it, and its modification time."""

    name: str
    path: str | None  # file system path, None for stdin and archive members
    member: str | None = None  # zip member name
    mtime: float | None = None
    #: Standard input, a pipe, FIFO or device (``<(zcat auth.log.gz)``): its bytes can be read once, front
    #: to back, so it is opened once, never sniffed ahead, and read in the main process.
    stream: bool = False


def expand(specs: list[str]) -> tuple[list[Input], list[InputError]]:
    """Resolve user-given paths into inputs (sorted, stable), and the errors of those that don't exist."""
    inputs: list[Input] = []
    errors: list[InputError] = []
    seen: set[str] = set()
    #: Files already taken, by device and inode: one named twice (``auth.log`` and its folder, a symlink,
    #: ``./`` and ``../x/``) is read once — twice, every failure would count double.
    taken: set[tuple[int, int]] = set()

    def add_file(p: Path) -> None:
        key = str(p)
        if key in seen:
            return
        seen.add(key)
        try:
            st = p.stat()
        except OSError as e:
            errors.append(InputError(f"cannot read: {e.strerror}", key))
            return
        if not stat.S_ISREG(st.st_mode):
            # Opening it to look for a zip would consume what a pipe holds (or wait on a FIFO's writer).
            inputs.append(Input(key, key, None, None, stream=True))
            return
        if (st.st_dev, st.st_ino) in taken:
            return
        taken.add((st.st_dev, st.st_ino))
        if _is_zip(p):
            try:
                with zipfile.ZipFile(p) as zf:
                    for info in sorted(zf.infolist(), key=lambda i: i.filename):
                        if (
                            info.is_dir()
                            or info.filename.lower().endswith(_ZIP_SKIP_SUFFIXES)
                            or info.filename.startswith("__MACOSX/")  # resource forks of macOS archivers
                        ):
                            continue
                        inputs.append(Input(f"{key}!{info.filename}", key, info.filename, st.st_mtime))
            except (zipfile.BadZipFile, OSError) as e:
                errors.append(InputError(f"damaged zip archive: {e}", key))
            return
        inputs.append(Input(key, key, None, st.st_mtime))

    for spec in specs:
        if spec == "-":
            inputs.append(Input("<stdin>", None, stream=True))
            continue
        p = Path(spec)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
                add_file(f)
        elif p.exists():
            add_file(p)
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                errors.append(InputError("no file matches this pattern", spec))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    for f in sorted(x for x in mp.rglob("*") if x.is_file()):
                        add_file(f)
                else:
                    add_file(mp)
        else:
            errors.append(InputError("no such file or directory", spec))
    return inputs, errors


def _is_zip(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            return f.read(4) == ZIP_MAGIC
    except OSError:
        return False


@contextmanager
def open_input(inp: Input) -> Iterator[tuple[IO[bytes], bytes]]:
    """Open an input for reading, decompressed; yields the stream and its first bytes (not consumed)."""
    raw: IO[bytes]
    if inp.path is None:
        raw = sys.stdin.buffer
    elif inp.member is not None:
        zf = zipfile.ZipFile(inp.path)
        info = zf.getinfo(inp.member)
        if info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_ZIP_RATIO:
            zf.close()
            raise InputError(
                f"zip member expands {info.file_size // max(info.compress_size, 1)}x (limit {MAX_ZIP_RATIO}x): "
                "refused as a possible zip bomb",
                inp.name,
            )
        raw = zf.open(info)
    else:
        try:
            raw = open(inp.path, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise InputError(f"cannot open: {e.strerror}", inp.name) from None
    try:
        buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw), 1 << 16)
        magic = buffered.peek(4)[:4]
        stream: Any
        if magic.startswith(GZIP_MAGIC):
            stream = gzip.GzipFile(fileobj=buffered, mode="rb")
        elif magic.startswith(BZ2_MAGIC):
            stream = bz2.BZ2File(buffered, "rb")
        elif magic.startswith(ZSTD_MAGIC):
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        elif magic.startswith(ZIP_MAGIC) and inp.stream:
            raise InputError("a zip archive cannot be read from a pipe: name the file", inp.name, "byte 0")
        else:
            stream = buffered
        if stream is not buffered:
            stream = io.BufferedReader(stream, 1 << 16)
        try:
            head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
        except (OSError, EOFError, ValueError) as e:
            raise InputError(f"cannot decompress: {e}", inp.name, "byte 0") from None
        yield stream, head
    finally:
        if inp.path is not None:
            raw.close()


class _Range(io.RawIOBase):
    """Bytes ``[start, end)`` of an open file, as a raw stream."""

    def __init__(self, fh: IO[bytes], start: int, end: int) -> None:
        fh.seek(start)
        self._fh = fh
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:n])  # type: ignore[attr-defined]
        self._left -= got or 0
        return got or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


@contextmanager
def open_range(inp: Input, start: int, end: int) -> Iterator[tuple[IO[bytes], bytes]]:
    """Bytes ``[start, end)`` of an uncompressed regular file, as :func:`open_input` yields a whole one."""
    if inp.path is None or inp.member is not None:
        raise ValueError("only a plain file is read in byte ranges")
    try:
        fh = open(inp.path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise InputError(f"cannot open: {e.strerror}", inp.name) from None
    stream = io.BufferedReader(_Range(fh, start, end), 1 << 16)
    try:
        yield stream, stream.peek(HEAD_BYTES)[:HEAD_BYTES]
    finally:
        stream.close()


def display_name(path: str) -> str:
    """A short, stable name for a path: relative to the working directory when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
