"""Follow growing log files by byte offset, through rotation (rename or copytruncate) and truncation.

A file is followed as a series of *generations*: one inode's content from byte 0. The live generation
is the one the path names now; when the path starts naming another inode (rename rotation, or delete
and recreate), the old one keeps being read as *draining* until it has been quiet for
``drain_grace`` seconds (a writer that has not reopened its log yet still writes there), and its
last unterminated line is then taken as complete. When the path keeps its inode but shrinks, or its
first bytes change (``copytruncate``, ``> file``), the lines not read yet are looked for in the
copy next to it (same first bytes, e.g. ``auth.log.1``) before reading starts again at byte 0.

Only complete lines are consumed: the offset of a generation is always just after a newline, so a
line that is being written waits for its newline. Nothing here writes to the state database: the
follower proposes chunks and moves its offsets in memory, and the watcher commits those offsets
with the events of the chunks in one transaction (on failure it reloads the follower from state).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

#: Bytes read from one generation per tick at most (a large backlog is read over several ticks).
READ_BYTES = 8 << 20
#: First bytes whose hash identifies a generation (detects truncation, regrowth and inode reuse).
HEAD_BYTES = 1024
#: A line longer than this is skipped (counted as ``line_too_long``) instead of being held.
MAX_LINE_BYTES = 1 << 20
#: Bytes shown to the format chooser (a reader's ``sniff``).
SNIFF_BYTES = 64 << 10

#: ``chooser(head, final)``: the reader for a generation starting with ``head`` (complete lines);
#: None to wait for more lines, "" when no reader recognises it.
Chooser = Callable[[bytes, bool], str | None]
#: ``fmt`` of a generation that no reader recognised: its lines are counted as skipped.
UNRECOGNISED = "-"


@dataclass
class Generation:
    """One inode of a followed path, and how far its complete lines have been consumed."""

    path: str  # the path the user named (absolute)
    dev: int
    ino: int
    name: str  # where this content lives now: ``path`` while live, the rotated name afterwards
    role: str = "live"  # live | draining
    offset: int = 0  # bytes consumed: always just after a newline
    line: int = 1  # number of the next line
    fmt: str = ""  # reader chosen for this generation ("" = not chosen yet)
    head_len: int = 0
    head_hash: str = ""
    skipping: bool = False  # inside an over-long line, discarding up to its newline
    records: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    fd: int | None = None
    quiet_since: float = 0.0  # monotonic time of the last growth while draining
    last_size: int = -1
    last_mtime: float = -1.0

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.dev, self.ino)

    @property
    def is_copy(self) -> bool:
        """A copy that ``copytruncate`` left: read once to its end (its key has dev -1)."""
        return self.dev < 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class Chunk:
    """Complete lines of one generation: bytes ``[start, end)`` holding lines ``first_line…``."""

    gen: Generation
    data: bytes
    start: int
    end: int
    first_line: int
    lines: int
    mtime: float


@dataclass
class Relabel:
    """Events recorded under ``old`` name now live in ``new`` (the file was rotated or truncated)."""

    old: str
    new: str


@dataclass
class Poll:
    """What one pass over the followed files found."""

    chunks: list[Chunk] = field(default_factory=list)
    relabels: list[Relabel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rotation, truncation …: for the log
    lost: list[str] = field(default_factory=list)  # content that could not be read: loud
    finished: list[Generation] = field(default_factory=list)  # drained generations to forget
    changed: bool = False  # generations were created, moved or forgotten
    more: bool = False  # a generation has more bytes than one tick reads


def head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _pread(fd: int, size: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        part = os.pread(fd, size, offset)
        if not part:
            break
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return b"".join(parts)


def _open(name: str) -> tuple[int, os.stat_result] | None:
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


def _siblings(path: str) -> list[str]:
    """Files next to ``path`` whose name starts with its name: where rotation puts it (auth.log.1)."""
    folder, base = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    out = [os.path.join(folder, n) for n in names if n.startswith(base) and n != base]
    # The most recent rotation is usually the shortest suffix (.1, -20240101) first.
    return sorted(out, key=lambda n: (len(n), n))


def find_inode(path: str, dev: int, ino: int) -> str | None:
    """Where the inode ``(dev, ino)`` of ``path`` lives now: the path itself or a rotated sibling."""
    for name in [path, *_siblings(path)]:
        try:
            st = os.stat(name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (dev, ino):
            return name
    return None


def find_copy(path: str, head_len: int, digest: str, min_size: int) -> str | None:
    """A sibling that starts with the same ``head_len`` bytes and holds ``min_size`` bytes: the copy
    ``copytruncate`` made before truncating."""
    if head_len <= 0:
        return None
    for name in _siblings(path):
        opened = _open(name)
        if opened is None:
            continue
        fd, st = opened
        try:
            if st.st_size >= min_size and head_hash(_pread(fd, head_len, 0)) == digest:
                return name
        finally:
            os.close(fd)
    return None


class Follower:
    """The generations of every followed path; ``poll`` hands out their new complete lines."""

    def __init__(
        self, paths: list[str], chooser: Chooser, drain_grace: float = 5.0, read_bytes: int = READ_BYTES
    ) -> None:
        self.paths = paths
        self.chooser = chooser
        self.drain_grace = drain_grace
        self.read_bytes = read_bytes
        self.gens: dict[str, list[Generation]] = {p: [] for p in paths}
        self._pending = Poll()

    # --- state --------------------------------------------------------------------------------

    def restore(self, saved: list[Generation]) -> None:
        """Take the generations kept in state and reopen each where it lives now.

        What moved while nobody watched (renamed, copied and truncated, deleted) is found out here;
        the relabels and losses it implies come out of the next ``poll``.
        """
        self.close()
        self.gens = {p: [] for p in self.paths}
        pending = Poll()
        for g in saved:
            if g.path not in self.gens:
                continue  # a path no longer watched: its state is kept, not followed
            if self._reopen(g, pending):
                self.gens[g.path].append(g)
            pending.changed = True
        self._pending = pending

    def _reopen(self, g: Generation, out: Poll) -> bool:
        def matches(name: str) -> int | None:
            opened = _open(name)
            if opened is None:
                return None
            fd, _ = opened
            if g.head_len and head_hash(_pread(fd, g.head_len, 0)) != g.head_hash:
                os.close(fd)  # another file now (inode reused, or truncated)
                return None
            return fd

        was = g.name
        where = find_copy(g.path, g.head_len, g.head_hash, g.offset) if g.is_copy else find_inode(g.path, g.dev, g.ino)
        fd = matches(where) if where else None
        if fd is None and not g.is_copy and g.head_len:
            # Copied and truncated while nobody watched: the rest is in the copy.
            where = find_copy(g.path, g.head_len, g.head_hash, g.offset)
            fd = matches(where) if where else None
            if fd is not None:
                g.dev, g.ino = -1, -g.ino - 1
        if fd is None or where is None:
            gone = f"{g.path} (gone, inode {g.ino})" if g.name == g.path else g.name
            if was != gone:
                out.relabels.append(Relabel(was, gone))
            out.lost.append(
                f"{was}: rotated away or deleted before it was read to the end (after line {g.line - 1}); "
                "what followed that line is lost"
            )
            return False
        g.fd = fd
        if where != g.path or g.is_copy:
            g.role = "draining"
            g.name = where
            g.quiet_since = time.monotonic()
            if was != where:
                out.relabels.append(Relabel(was, where))
                out.notes.append(f"{g.path}: rotated while not watched; reading the rest of {where}")
        return True

    def generations(self) -> list[Generation]:
        return [g for gens in self.gens.values() for g in gens]

    def close(self) -> None:
        for g in self.generations():
            g.close()

    # --- polling ------------------------------------------------------------------------------

    def poll(self) -> Poll:
        out, self._pending = self._pending, Poll()
        now = time.monotonic()
        for path in self.paths:
            self._poll_path(path, now, out)
        return out

    def _live(self, path: str) -> Generation | None:
        return next((g for g in self.gens[path] if g.role == "live"), None)

    def _poll_path(self, path: str, now: float, out: Poll) -> None:
        live = self._live(path)
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            st = None
        if live is not None and st is not None and (st.st_dev, st.st_ino) != (live.dev, live.ino):
            # Renamed away (logrotate's default) or deleted and created anew: drain the old inode
            # while its writer may still be writing to it, and follow the new one.
            where = find_inode(path, live.dev, live.ino)
            new_name = where or f"{path} (gone, inode {live.ino})"
            out.relabels.append(Relabel(live.name, new_name))
            out.notes.append(f"{path}: rotated (the old file is now {new_name}); following the new file")
            live.role, live.name, live.quiet_since = "draining", new_name, now
            out.changed = True
            live = None
        if live is None and st is not None:
            opened = _open(path)
            if opened is not None:
                fd, fst = opened
                live = Generation(path, fst.st_dev, fst.st_ino, path, fd=fd)
                self.gens[path].append(live)
                out.changed = True
        if live is not None:
            self._check_truncated(live, out)
        for g in list(self.gens[path]):
            self._read(g, now, out)

    def _check_truncated(self, g: Generation, out: Poll) -> None:
        assert g.fd is not None
        st = os.fstat(g.fd)
        if st.st_size == g.last_size and st.st_mtime == g.last_mtime:
            return
        shrunk = st.st_size < g.offset
        replaced = not shrunk and g.head_len > 0 and head_hash(_pread(g.fd, g.head_len, 0)) != g.head_hash
        if not (shrunk or replaced):
            return
        # copytruncate copied the file next to it, then truncated it: our unread rest is in the copy.
        copy = find_copy(g.path, g.head_len, g.head_hash, g.offset) if g.head_len else None
        opened = _open(copy) if copy else None
        if copy is not None and opened is not None:
            self.gens[g.path].insert(0, Generation(
                g.path, -1, -g.ino - 1, copy, role="draining", offset=g.offset, line=g.line, fmt=g.fmt,
                head_len=g.head_len, head_hash=g.head_hash, fd=opened[0], quiet_since=time.monotonic(),
            ))
            label = copy
        else:
            label = f"{g.path} (before truncation at line {g.line})"
            if g.last_size > g.offset:
                out.lost.append(
                    f"{g.path}: truncated with {g.last_size - g.offset} byte(s) after line {g.line - 1} "
                    "not read yet, and no copy of it found: they are lost"
                )
        out.relabels.append(Relabel(g.name, label))
        out.notes.append(f"{g.path}: truncated after line {g.line - 1}" + (f"; reading the rest in {copy}" if opened else ""))
        g.offset, g.line, g.head_len, g.head_hash, g.skipping, g.fmt = 0, 1, 0, "", False, ""
        g.last_size, g.last_mtime = -1, -1.0
        out.changed = True

    def _read(self, g: Generation, now: float, out: Poll) -> None:
        assert g.fd is not None
        st = os.fstat(g.fd)
        size = st.st_size
        grew = size != g.last_size or st.st_mtime != g.last_mtime
        g.last_size, g.last_mtime = size, st.st_mtime
        if grew:
            g.quiet_since = now
        # A copy never grows; a rotated file is finished once quiet for the grace period.
        final = g.is_copy or (g.role == "draining" and now - g.quiet_since >= self.drain_grace)
        if not g.fmt and g.offset < size:
            head = _pread(g.fd, min(size, SNIFF_BYTES), 0)
            complete = head[: head.rfind(b"\n") + 1]
            if not complete and not final:
                return
            enough = final or len(head) >= SNIFF_BYTES or complete.count(b"\n") >= 6
            fmt = self.chooser(complete or head, enough)
            if fmt is None:
                return
            g.fmt = fmt or UNRECOGNISED
            out.changed = True
        budget = self.read_bytes
        while g.offset < size and budget > 0:
            data = _pread(g.fd, min(size - g.offset, budget), g.offset)
            if not data:
                break
            budget -= len(data)
            if g.skipping:
                nl = data.find(b"\n")
                g.offset += len(data) if nl < 0 else nl + 1
                if nl >= 0:
                    g.skipping = False
                    g.skipped["line_too_long"] += 1
                    g.records += 1
                    g.line += 1
                out.changed = True
                continue
            cut = data.rfind(b"\n")
            at_end = g.offset + len(data) >= size
            if final and at_end and not data.endswith(b"\n"):
                consumed, lines = len(data), data + b"\n"  # the writer has moved on: its last line is whole
            elif cut >= 0:
                consumed, lines = cut + 1, data[: cut + 1]
            elif len(data) > MAX_LINE_BYTES:
                g.skipping = True
                g.offset += len(data)
                out.changed = True
                continue
            else:
                break  # a partial line: wait for its newline
            n = lines.count(b"\n")
            out.chunks.append(Chunk(g, lines, g.offset, g.offset + consumed, g.line, n, st.st_mtime))
            g.offset += consumed
            g.line += n
            if g.head_len < HEAD_BYTES:
                g.head_len = min(HEAD_BYTES, g.offset)
                g.head_hash = head_hash(_pread(g.fd, g.head_len, 0))
        if g.offset < size and budget <= 0:
            out.more = True
        if final and g.offset >= size and not g.skipping:
            self.gens[g.path] = [x for x in self.gens[g.path] if x is not g]
            g.close()
            out.finished.append(g)
            out.changed = True
            out.notes.append(f"{g.name}: read to its end (line {g.line - 1}); no longer followed")
