"""Linux sshd and PAM authentication in syslog (RFC 3164, RFC 3339, RFC 5424) and journald JSON.

Reference: OpenSSH ``auth2.c`` / ``auth.c`` log messages ("Failed password for …", "Accepted publickey
for …", "Invalid user …"), pam_unix ``authentication failure`` lines, rsyslog's traditional and
high-precision templates, RFC 5424 section 6, and ``journalctl -o json`` export fields.

Lines are parsed in blocks of 4 MiB, never one by one in Python: each block is one Arrow string
array over its bytes (``_sshd_lines``); capture-free RE2 checks (``pyarrow.compute``) decide the shape
of a header or a message, and the fields are then cut at byte offsets found with NumPy and
``find_substring`` — the kinds' capturing regexes remain the reference for every row a fast path
does not accept. A worker thread cuts block k + 1 while block k gets its times (the RFC 3164 year
carries over) and is yielded. ``_sshd_reference`` keeps the former Arrow-only reader as the oracle of
the parity tests. One login attempt leaves several lines (``Invalid user``, a PAM failure, ``Failed password``);
only the verdict line (``Failed …`` / ``Accepted …``, or a PAM failure of a service other than sshd)
has a ``success`` / ``failure`` outcome — the others are kept as ``unknown`` context events so that
attempts are never counted twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.schema import AUTH
from shoreup.sources._base import Batch, ReadContext, SegmentUnsafe
from shoreup.sources._sshd_lines import Lines, find, iter_line_arrays, spans

FORMAT = "sshd"

# --- line headers -------------------------------------------------------------------------------
# rsyslog traditional (RFC 3164): "Dec 10 06:55:46 host sshd[24200]: msg"
# rsyslog high precision (RFC 3339): "2024-01-15T10:00:00.123456+00:00 host sshd[123]: msg"
# RFC 5424: "<34>1 2003-10-11T22:14:15.003Z host sshd 8710 - [sd] msg"
_HEADER = (
    r"^(?:<\d{1,3}>)?(?:"
    r"(?P<bts>[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d)(?:\.\d+)? (?P<bhost>\S+) "
    r"(?P<bapp>[^\[:\s]+)(?:\[(?P<bpid>\d+)\])?: ?(?P<bmsg>.*)"
    r"|(?P<its>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (?P<ihost>\S+) "
    r"(?P<iapp>[^\[:\s]+)(?:\[(?P<ipid>\d+)\])?: ?(?P<imsg>.*)"
    r"|1 (?P<rts>\S+) (?P<rhost>\S+) (?P<rapp>\S+) (?P<rpid>\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?"
    r"(?:\x{FEFF})?(?P<rmsg>.*)"
    r")$"
)
_SNIFF_HEADER = re.compile(
    rb"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ [^\[:\s]+(?:\[\d+\])?:"
    rb"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? \S+ [^\[:\s]+(?:\[\d+\])?:"
    rb"|1 \S+ \S+ \S+ \S+ \S+ )"
)
_SSHD_APPS = ("sshd", "sshd-session", "sshd-auth")

# --- messages ------------------------------------------------------------------------------------
# Each kind: the cheap prefix test that routes a message to it, and the full pattern.
# A user name may hold spaces (attackers send anything), so it is matched lazily up to " from IP".
_USER_FROM = r"(?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?"


# Fast extractors: a capture-free check of the whole shape (one DFA pass), then the fields cut out
# with split kernels — several times cheaper than capturing regexes. Rows a fast extractor does not
# accept go through the kind's regex, which stays the reference.
Fields = dict[str, pa.Array]


def _ranges(a: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data buffer of a string array without nulls, and each string's [start, end) in it."""
    n = len(a)
    bufs = a.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=a.offset + n + 1)[a.offset :].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    return data, offsets[:-1], offsets[1:]


def _rfind(a: pa.Array, sep: str) -> np.ndarray:
    """Byte index of the last ``sep`` (ASCII) in every string, -1 when absent."""
    j = find(pc.binary_reverse(a.cast(pa.binary())), sep[::-1])
    lengths = pc.binary_length(a).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where(j >= 0, lengths - j - len(sep), -1)


def _starts_at(data: np.ndarray, pos: np.ndarray, end: np.ndarray, prefix: bytes) -> np.ndarray:
    """Whether ``data[pos:end]`` starts with ``prefix``, for every row."""
    ok = end - pos >= len(prefix)
    if not len(data):
        return ok & (len(prefix) == 0)
    for k, c in enumerate(prefix):
        ok &= data[np.minimum(np.maximum(pos + k, 0), len(data) - 1)] == c
    return ok


def _port_at(data: np.ndarray, lo: np.ndarray, end: np.ndarray) -> pa.Array:
    """The port: from ``lo`` up to the first space or colon."""
    tail = spans(data, lo, end)
    stop = end.copy()
    for sep in (" ", ":"):
        at = find(tail, sep)
        stop = np.where((at >= 0) & (lo + at < stop), lo + at, stop)
    return spans(data, lo, stop)


def _ip_port_at(data: np.ndarray, lo: np.ndarray, end: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """"IP[ port N…]" in ``data[lo:end]`` → (IP, N or "")."""
    at = find(spans(data, lo, end), " port ")
    has = at >= 0
    ip_end = np.where(has, lo + at, end)
    port_lo = np.where(has, ip_end + 6, end)
    return spans(data, lo, ip_end), _port_at(data, port_lo, end)


def _fallback(ok: pa.Array, good: np.ndarray) -> pa.Array:
    """Send the rows a fast extractor cannot cut (``~good`` among ``ok``) to the kind's regex."""
    ok_np = ok.to_numpy(zero_copy_only=False).copy()
    ok_np[np.flatnonzero(ok_np)[~good]] = False
    return pa.array(ok_np)


def _fast_verdict(prefix_len: int) -> Callable[[pa.Array], tuple[pa.Array, Fields]]:
    """"Failed|Accepted METHOD for [invalid user ]USER from IP port N[ ssh2][: …]"."""
    check = r"^\S+ \S+ for .* from \S+ port \d+(?: ssh\d?)?(?:: .*)?$"

    def fast(msg: pa.Array) -> tuple[pa.Array, Fields]:
        ok = pc.match_substring_regex(msg, check)
        a = msg.filter(ok)
        data, s, e = _ranges(a)
        f = s + find(a, " for ")  # the first: METHOD holds no space
        invalid = _starts_at(data, f + 5, e, b"invalid user ")
        user_lo = f + 5 + 13 * invalid
        last_from = _rfind(a, " from ")
        r = s + last_from
        good = (last_from >= 0) & (r >= user_lo)  # USER, then the last " from "
        if not good.all():
            ok = _fallback(ok, good)
            s, e, f, invalid, user_lo, r = (x[good] for x in (s, e, f, invalid, user_lo, r))
        ip, port = _ip_port_at(data, r + 6, e)
        inv = pc.if_else(pa.array(invalid), _lit("invalid user "), _lit(""))
        return ok, {"method": spans(data, s + prefix_len, f), "user": spans(data, user_lo, r), "ip": ip,
                    "port": port, "invalid": inv}

    return fast


def _fast_invalid_user(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"Invalid user USER from IP[ port N]"."""
    ok = pc.match_substring_regex(msg, r"^Invalid user .* from \S+(?: port \d+)?\s*$")
    a = pc.utf8_rtrim_whitespace(msg.filter(ok))
    data, s, e = _ranges(a)
    last_from = _rfind(a, " from ")
    good = last_from >= 13
    if not good.all():
        ok = _fallback(ok, good)
        s, e, last_from = s[good], e[good], last_from[good]
    r = s + last_from
    ip, port = _ip_port_at(data, r + 6, e)
    return ok, {"user": spans(data, s + 13, r), "ip": ip, "port": port}


def _fast_preauth(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"Connection closed by|Disconnected from … (invalid|authenticating) user USER IP port N … [preauth]"."""
    ok = pc.match_substring_regex(
        msg,
        r"^(?:Disconnected from|Connection closed by|Received disconnect from|Connection reset by) "
        r"(?:invalid|authenticating) user .* [0-9a-fA-F:.]+ port \d+[^\[]*\[preauth\]\s*$",
    )
    a = msg.filter(ok)
    data, s, e = _ranges(a)
    port_at = s + _rfind(a, " port ")  # the last
    ip_at = s + _rfind(spans(data, s, port_at), " ")  # the last space before it
    user_at = s + find(a, " user ")  # the first
    good = (user_at >= s) & (user_at + 6 <= ip_at) & (ip_at >= s)
    if not good.all():
        ok = _fallback(ok, good)
        s, e, port_at, ip_at, user_at = (x[good] for x in (s, e, port_at, ip_at, user_at))
    invalid = _starts_at(data, user_at - 7, user_at, b"invalid")
    inv = pc.if_else(pa.array(invalid), _lit("invalid user "), _lit("authenticating "))
    return ok, {"user": spans(data, user_at + 6, ip_at), "ip": spans(data, ip_at + 1, port_at),
                "port": _port_at(data, port_at + 6, e), "invalid": inv}


def _fast_pam(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"pam_unix(SERVICE:auth): authentication failure; … rhost=IP[  user=USER]"."""
    ok = pc.match_substring_regex(msg, r"^pam_unix\([^:)]+:auth\): authentication failure;.* rhost=\S*(?:\s+user=\S+)?\s*$")
    a = msg.filter(ok)
    data, s, e = _ranges(a)
    service_end = s + find(a, ":")  # "pam_unix(" holds none
    tail = s + _rfind(a, " rhost=") + 7
    at = find(spans(data, tail, e), " user=")
    has = at >= 0
    ip_end = np.where(has, tail + at, e)
    user_lo = np.where(has, ip_end + 6, e)
    return ok, {"service": spans(data, s + 9, service_end), "ip": pc.utf8_trim_whitespace(spans(data, tail, ip_end)),
                "user": pc.utf8_trim_whitespace(spans(data, user_lo, e))}


@dataclass(frozen=True)
class _Kind:
    name: str  # event_code
    route: tuple[tuple[str, ...], str]  # message prefixes, and a substring it must also hold ("" = none)
    pattern: str
    outcome: str  # success | failure | unknown; "verdict" decided per row
    sshd_only: bool = True
    fast: Callable[[pa.Array], tuple[pa.Array, Fields]] | None = None


_KINDS: tuple[_Kind, ...] = (
    _Kind(
        "failed",
        (("Failed ",), ""),
        r"^Failed (?P<method>\S+) for (?P<invalid>invalid user )?" + _USER_FROM + r"(?: ssh\d?)?(?:: .*)?$",
        "failure",
        fast=_fast_verdict(len("Failed ")),
    ),
    _Kind(
        "accepted",
        (("Accepted ",), ""),
        r"^Accepted (?P<method>\S+) for " + _USER_FROM + r"(?: ssh\d?)?(?:: .*)?$",
        "success",
        fast=_fast_verdict(len("Accepted ")),
    ),
    _Kind("invalid_user", (("Invalid user ",), ""), r"^Invalid user " + _USER_FROM + r"\s*$", "unknown",
          fast=_fast_invalid_user),
    _Kind(
        "max_auth_attempts",
        (("maximum authentication attempts exceeded ", "error: maximum authentication attempts exceeded "), ""),
        r"^(?:error: )?maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
        + _USER_FROM
        + r"(?: ssh\d?)?(?: \[preauth\])?$",
        "unknown",
    ),
    _Kind(
        "preauth_close",
        (("Disconnected from ", "Connection closed by ", "Received disconnect from ", "Connection reset by "),
         " user "),
        r"^(?:Disconnected from|Connection closed by|Received disconnect from|Connection reset by) "
        r"(?P<invalid>invalid |authenticating )user (?P<user>.*?) (?P<ip>[0-9a-fA-F:.]+) port (?P<port>\d+)"
        r"(?:.*)?\[preauth\]\s*$",
        "unknown",
        fast=_fast_preauth,
    ),
    _Kind(
        "pam_failure",
        (("pam_unix(",), ":auth): authentication failure;"),
        r"^pam_unix\((?P<service>[^:)]+):auth\): authentication failure;.*? rhost=(?P<ip>\S*)"
        r"(?:\s+user=(?P<user>\S+))?\s*$",
        "verdict",
        sshd_only=False,
        fast=_fast_pam,
    ),
    _Kind(
        "pam_error",
        (("error: PAM: ",), " for "),
        r"^error: PAM: (?:[Aa]uthentication failure|User not known to the underlying authentication module)"
        r" for (?P<invalid>illegal user |invalid user )?" + _USER_FROM + r"\s*$",
        "unknown",
    ),
)
_REPEATED = r"^message repeated (?P<n>\d+) times: \[ ?(?P<msg>.*?) ?\]$"
_METHODS = {"keyboard-interactive/pam": "keyboard-interactive"}
_MONTHS = pa.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])


def sniff(head: bytes, name: str) -> bool:
    """Syslog lines from any program (the reader keeps the auth ones) or a journald JSON export."""
    lines = [ln for ln in head.split(b"\n")[:6] if ln.strip()]
    if not lines:
        return False
    if lines[0].lstrip().startswith(b"{"):
        return b'"__REALTIME_TIMESTAMP"' in head and b'"MESSAGE"' in head
    complete = lines[:-1] if len(lines) > 1 else lines
    return sum(1 for ln in complete if _SNIFF_HEADER.match(ln)) >= max(1, (len(complete) + 1) // 2)


#: A drop of this many months or more between neighbouring year-less lines is a new year.
_ROLLOVER_MONTHS = 6


class _Years:
    """Gives year-less (RFC 3164) timestamps a year, carrying a December → January rollover forward.

    The first line's year is ``--year`` when given; otherwise the latest year that puts the first line
    no later than the file's modification time (a log spanning under a year is then exact). A byte
    range of a file read on its own (parallel reading) assumes the same of its own first year-less
    line; ``first`` and ``end`` let the main process check that assumption against the range before.
    """

    def __init__(self, ctx: ReadContext) -> None:
        self.forced = ctx.options.year
        ref = dt.datetime.fromtimestamp(ctx.mtime, dt.UTC) if ctx.mtime else dt.datetime.now(dt.UTC)
        self.ref = ref
        self.year: int | None = None
        self.last_month = 0
        #: (year, month) of the first year-less line, and of the last one so far (None: none yet).
        self.first: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None

    def assign(self, months: np.ndarray, days: np.ndarray) -> np.ndarray:
        if not len(months):
            return np.zeros(0, dtype=np.int64)
        if self.year is None:
            if self.forced is not None:
                self.year = self.forced
            else:
                first = (int(months[0]), int(days[0]))
                self.year = self.ref.year if first <= (self.ref.month, self.ref.day) else self.ref.year - 1
            self.last_month = int(months[0])
            self.first = (self.year, self.last_month)
        prev = np.concatenate([[self.last_month], months[:-1]])
        # A drop of six months or more between neighbours is a new year, not disorder.
        rollover = (prev - months) >= _ROLLOVER_MONTHS
        years = self.year + np.cumsum(rollover)
        self.year = int(years[-1])
        self.last_month = int(months[-1])
        self.end = (self.year, self.last_month)
        return years.astype(np.int64)


def continues(before: tuple[int, int] | None, assumed: tuple[int, int]) -> bool:
    """Whether a byte range whose first year-less line was given the (year, month) ``assumed`` reads
    as in one pass over the file, the last year-less line before it being at ``before`` (None: none;
    the whole-file read then applied the same first-line rule)."""
    if before is None:
        return True
    return assumed[0] == before[0] + (1 if before[1] - assumed[1] >= _ROLLOVER_MONTHS else 0)


#: A block whose text lines (more than this many) are all malformed is reported as damage.
_DAMAGE_LINES = 10


@dataclass(frozen=True)
class _Runs:
    """Runs of malformed syslog lines among ``n`` consecutive text lines (empty and JSON lines left
    out): before the first good one (``lead``, = n when none is good), after the last, the longest."""

    n: int = 0
    lead: int = 0
    trail: int = 0
    longest: int = 0

    @staticmethod
    def of(bad: np.ndarray) -> _Runs:
        n = len(bad)
        good = np.flatnonzero(~bad)
        if not len(good):
            return _Runs(n, n, n, n)
        inner = int((np.diff(good) - 1).max()) if len(good) > 1 else 0
        lead, trail = int(good[0]), int(n - 1 - good[-1])
        return _Runs(n, lead, trail, max(lead, trail, inner))

    def then(self, other: _Runs) -> _Runs:
        if self.lead == self.n:  # all malformed (or none at all)
            lead = self.n + other.lead
        else:
            lead = self.lead
        if other.lead == other.n:
            trail = self.trail + other.n
        else:
            trail = other.trail
        longest = max(self.longest, other.longest, self.trail + other.lead)
        return _Runs(self.n + other.n, lead, trail, longest)


@dataclass(frozen=True)
class RangeCarry:
    """What one byte range of a file, read on its own, tells the main process (``FileStats.carry``).

    ``assumed``: (year, month) its first year-less line was given by the first-line rule (None for
    the file's first range, which is read as the whole file is, or when it has no such line); ``end``:
    (year, month) of its last year-less line; ``runs``: its runs of malformed lines (a run of more
    than ``_DAMAGE_LINES`` across ranges may be damage in a whole-file read, whose blocks differ).
    """

    assumed: tuple[int, int] | None
    end: tuple[int, int] | None
    runs: _Runs


@dataclass(frozen=True)
class Joined:
    """The ranges of a file so far: the (year, month) of the last year-less line, the malformed runs."""

    before: tuple[int, int] | None = None
    runs: _Runs = _Runs()


def join(joined: Joined | None, carry: RangeCarry) -> Joined:
    """Fold the next range of a file (in file order) into ``joined``; raises ``SegmentUnsafe`` when
    that range, read alone, may differ from the same lines in a whole-file read."""
    joined = joined or Joined()
    if carry.assumed is not None and not continues(joined.before, carry.assumed):
        raise SegmentUnsafe("the year of this range's year-less lines is not the one assumed")
    runs = joined.runs.then(carry.runs)
    if runs.longest > _DAMAGE_LINES:
        raise SegmentUnsafe("a run of malformed lines that a whole-file read may report as damage")
    return Joined(carry.end or joined.before, runs)


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read syslog or journald JSON lines, yielding ``auth`` batches.

    Two stages overlap: a worker thread cuts block k + 1 apart (Arrow and NumPy kernels, which
    release the GIL) while this thread gives block k its times — the year of RFC 3164 timestamps
    carries from block to block — and yields it (an input of one block is cut in this thread). Each stage records its accounting, replayed here in
    the order of a sequential read, so the counts, warnings and damage are the same.
    """
    years = _Years(ctx)
    reading = _Recorder(ctx)
    done: deque[tuple[list[_Call], Future[_Staged]]] = deque()
    runs = _Runs()
    segment = ctx.segment  # one byte range of the file: say what the main process must check

    def finish(pre: list[_Call], work: Future[_Staged]) -> Iterator[Batch]:
        nonlocal runs
        _replay(ctx, pre)
        claimed, calls, block_runs = work.result()
        _replay(ctx, calls)
        if block_runs is not None:
            runs = runs.then(block_runs)
        if claimed is not None:
            batch = _finish(claimed, ctx, years)
            if batch is not None:
                yield "auth", batch

    blocks = _ahead(iter_line_arrays(stream, reading), reading)  # type: ignore[arg-type]
    with contextlib.ExitStack() as stack:
        pool: ThreadPoolExecutor | _Inline | None = None
        while True:
            try:
                first_line, block, pre, last = next(blocks)
            except StopIteration:
                break
            except BaseException:
                # As a sequential read would: the blocks before the failure first.
                while done:
                    yield from finish(*done.popleft())
                _replay(ctx, reading.take())
                raise
            if pool is None:
                # A file of one block (most are) is cut in this thread: a thread to hand it to costs
                # more (~2 ms) than a small file takes to read.
                pool = _Inline() if last else stack.enter_context(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="shoreup-sshd"))
            done.append((pre, pool.submit(_stage, block, first_line, ctx, segment)))
            if len(done) > 1:
                yield from finish(*done.popleft())
        while done:
            yield from finish(*done.popleft())
    _replay(ctx, reading.take())
    if segment:
        assumed = years.first if ctx.first_record > 1 else None
        ctx.stats.carry = RangeCarry(assumed, years.end, runs)


_Call = tuple[str, tuple[Any, ...]]


def _ahead(blocks: Iterator[tuple[int, Lines]], reading: _Recorder) -> Iterator[tuple[int, Lines, list[_Call], bool]]:
    """``blocks`` one ahead: each with the accounting calls its reading made and whether it is the last.

    An error reading the next block is raised after the block before it was given (marked last)."""
    try:
        current = next(blocks)
    except StopIteration:
        return
    calls = reading.take()
    while True:
        try:
            following = next(blocks)
        except StopIteration:
            yield (*current, calls, True)
            return
        except BaseException:
            yield (*current, calls, True)
            raise
        yield (*current, calls, False)
        current, calls = following, reading.take()


class _Inline:
    """An executor that runs each task at once, in the calling thread."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., _Staged], *args: Any) -> Future[_Staged]:
        done: Future[_Staged] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as e:
            done.set_exception(e)
        return done


class _Recorder:
    """Stands in for the ReadContext in a stage: records the accounting calls for a later replay."""

    def __init__(self, ctx: ReadContext) -> None:
        self.path = ctx.path
        self.options = ctx.options
        self.mtime = ctx.mtime
        self.first_record = ctx.first_record
        self.calls: list[_Call] = []

    def skip(self, reason: str, n: int = 1) -> None:
        self.calls.append(("skip", (reason, n)))

    def warn(self, message: str, position: str | None = None) -> None:
        self.calls.append(("warn", (message, position)))

    def damage(self, message: str, position: str | None = None) -> None:
        self.calls.append(("damage", (message, position)))

    def take(self) -> list[_Call]:
        calls, self.calls = self.calls, []
        return calls


def _replay(ctx: ReadContext, calls: list[_Call]) -> None:
    for name, args in calls:
        getattr(ctx, name)(*args)


#: A staged block: its rows, its accounting calls and (parallel reading) its runs of malformed lines.
_Staged = tuple["_Claimed | None", list[_Call], "_Runs | None"]


def _stage(block: Lines, first_line: int, ctx: ReadContext, segment: bool = False) -> _Staged:
    rec = _Recorder(ctx)
    runs: list[_Runs] | None = [] if segment else None
    claimed = _parse_block(block, first_line, rec, runs)  # type: ignore[arg-type]
    return claimed, rec.calls, (functools.reduce(_Runs.then, runs, _Runs()) if runs is not None else None)


_Lines = tuple[np.ndarray, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]


def _parse_block(block: Lines, first_line: int, ctx: ReadContext, runs: list[_Runs] | None = None) -> _Claimed | None:
    arr = block.array
    line_no = np.arange(first_line, first_line + len(arr), dtype=np.int64)
    # Only an empty line or one that starts with a space, a control byte or a non-ASCII character
    # can be blank: the (Unicode) trim runs on those alone.
    starts, lengths = block.offsets[:-1], np.diff(block.offsets)
    first = np.zeros(len(arr), dtype=np.uint8)
    has = lengths > 0
    first[has] = block.data[starts[has]]
    empty = ~has
    check = np.flatnonzero(has & ((first <= 0x20) | (first >= 0x80)))
    if len(check):
        sub = arr.take(pa.array(check))
        empty[check] = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(sub)), 0).to_numpy(zero_copy_only=False)
    is_json = (first == ord("{")) & ~empty
    ctx.skip("empty_line", int(empty.sum()))
    parts: list[_Lines] = []
    if is_json.any():
        parts.append(_journald(arr, line_no, is_json, ctx))
    text = ~is_json & ~empty
    if text.any():
        parts.append(_syslog(arr, line_no, text, ctx, block, runs))
    if not parts:
        return None
    if len(parts) == 1:
        return _claim(*parts[0], ctx=ctx)
    nos = np.concatenate([p[0] for p in parts])
    order = np.argsort(nos, kind="stable")
    take = pa.array(order)
    cols = [pa.concat_arrays([p[k] for p in parts]).take(take) for k in range(1, 8)]
    return _claim(nos[order], *cols, ctx=ctx)


# The common case, checked without captures (a DFA pass) and then cut apart with cheap kernels.
_FAST_BSD = r"^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d \S+ [^\[:\s]+(?:\[\d+\])?: "


def _syslog(
    arr: pa.Array, line_no: np.ndarray, mask: np.ndarray, ctx: ReadContext, block: Lines,
    runs: list[_Runs] | None = None,
) -> _Lines:
    sel = np.flatnonzero(mask)
    sub = arr.take(pa.array(sel)) if len(sel) < len(arr) else arr
    fast = pc.match_substring_regex(sub, _FAST_BSD).to_numpy(zero_copy_only=False)
    parts: list[tuple[np.ndarray, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]] = []
    if fast.any():
        parts.append((sel[fast], *_bsd_fields(block, sel[fast])))
    slow = ~fast
    if runs is not None and not slow.any():
        runs.append(_Runs(len(sel)))
    if slow.any():
        hdr = pc.extract_regex(sub.filter(pa.array(slow)), _HEADER)
        valid = hdr.is_valid().to_numpy(zero_copy_only=False)
        slow_sel = sel[slow]
        n_bad = int((~valid).sum())
        if runs is not None:
            bad = np.zeros(len(sel), dtype=bool)
            bad[np.flatnonzero(slow)[~valid]] = True
            runs.append(_Runs.of(bad))
        if n_bad:
            ctx.skip("malformed_line", n_bad)
            if n_bad == len(sel) and len(sel) > _DAMAGE_LINES:
                bad_line = int(line_no[slow_sel[np.flatnonzero(~valid)[0]]])
                ctx.damage("no line here is syslog; is this the right format?", f"line {bad_line}")
        hdr = hdr.filter(pa.array(valid))

        def pick(*names: str) -> pa.Array:
            out = hdr.field(names[0])
            for n in names[1:]:
                out = pc.if_else(pc.equal(out, ""), hdr.field(n), out)
            return out

        parts.append((
            slow_sel[valid],
            hdr.field("bts"),
            pick("its", "rts"),
            pick("bhost", "ihost", "rhost"),
            pick("bapp", "iapp", "rapp"),
            pick("bpid", "ipid", "rpid"),
            pick("bmsg", "imsg", "rmsg"),
        ))
    if len(parts) == 1:
        sel, bsd, iso, host, app, pid, msg = parts[0]
        order = np.arange(len(sel))
    else:
        sel = np.concatenate([p[0] for p in parts])
        order = np.argsort(sel, kind="stable")
        take = pa.array(order)
        bsd, iso, host, app, pid, msg = (pa.concat_arrays([p[k] for p in parts]).take(take) for k in range(1, 7))
    known = pa.nulls(len(sel), pa.timestamp("us", tz="UTC"))
    return line_no[sel[order]], known, bsd, iso, host, app, pid, msg


def _bsd_fields(block: Lines, rows: np.ndarray) -> tuple[pa.Array, ...]:
    """Header fields of lines that matched ``_FAST_BSD``, cut at byte offsets (no regex captures).

    After the match, the host runs from byte 16 to the next space, the tag to the next colon
    (followed by a space), and ``app[pid]`` splits at the first ``[`` inside the tag.
    """
    data = block.data
    starts = block.offsets[rows]
    ends = block.offsets[rows + 1]
    host_end = starts + 16 + find(spans(data, starts + 16, ends), " ")
    # The tag from the host's end on: a host may end in ":" ("a: sshd[1]: …").
    tag_end = host_end + 1 + find(spans(data, host_end + 1, ends), ": ")
    tag = spans(data, host_end + 1, tag_end)
    bracket = find(tag, "[")
    has_pid = bracket >= 0
    app_end = np.where(has_pid, host_end + 1 + bracket, tag_end)
    pid_start = np.where(has_pid, app_end + 1, tag_end)
    pid_end = np.where(has_pid, tag_end - 1, tag_end)
    n = len(rows)
    return (
        spans(data, starts, starts + 15),
        _blank(n),
        spans(data, starts + 16, host_end),
        spans(data, host_end + 1, app_end),
        spans(data, pid_start, pid_end),
        spans(data, tag_end + 2, ends),
    )


@functools.cache
def _lit(value: str | None) -> pa.Scalar:
    """A string scalar made once. pyarrow turns an untyped Python value into a scalar in ~60-90 µs (it
    tries to import dateutil every time, for its relativedelta type); a typed one in ~2 µs."""
    return pa.scalar(value, pa.string())


def _blank(n: int) -> pa.Array:
    """``n`` empty strings."""
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(np.zeros(n + 1, dtype=np.int32)), pa.py_buffer(b"")])


_MONTH_CODES = np.array([int.from_bytes(m.encode(), "big") for m in _MONTHS.to_pylist()], dtype=np.int64)


def _bsd_numbers(bsd: pa.Array) -> tuple[np.ndarray, ...]:
    """Month (0 when unknown), day, hour, minute, second of "Mmm dd hh:mm:ss" values ("" elsewhere).

    Every non-empty value matched ``[A-Z][a-z]{2} [ 0-3]\\d \\d\\d:\\d\\d:\\d\\d`` (both header paths),
    so the digits sit at fixed bytes; elsewhere everything is 0 and the row is not a BSD time.
    """
    n = len(bsd)
    bsd = bsd.fill_null("") if bsd.null_count else bsd
    offsets = np.frombuffer(bsd.buffers()[1], dtype=np.int32, count=bsd.offset + n + 1)[bsd.offset :]
    rows = np.diff(offsets) == 15
    out = [np.zeros(n, dtype=np.int64) for _ in range(5)]
    if rows.any():
        data = np.frombuffer(bsd.buffers()[2], dtype=np.uint8)
        at = offsets[:-1][rows].astype(np.int64)
        b = data[at[:, None] + np.arange(15)].astype(np.int64)
        code = (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]
        month = np.searchsorted(_MONTH_CODES_SORTED, code)
        month = np.minimum(month, len(_MONTH_CODES_SORTED) - 1)
        found = _MONTH_CODES_SORTED[month] == code
        out[0][rows] = np.where(found, _MONTH_OF_SORTED[month], 0)
        out[1][rows] = np.where(b[:, 4] == 0x20, 0, b[:, 4] - 48) * 10 + b[:, 5] - 48
        for k, col in ((2, 7), (3, 10), (4, 13)):
            out[k][rows] = (b[:, col] - 48) * 10 + b[:, col + 1] - 48
    return (*out, rows)


_MONTH_ORDER = np.argsort(_MONTH_CODES)
_MONTH_CODES_SORTED = _MONTH_CODES[_MONTH_ORDER]
_MONTH_OF_SORTED = _MONTH_ORDER + 1


def _times(bsd: pa.Array, iso: pa.Array, ctx: ReadContext, years: _Years) -> pa.Array:
    """Timestamps from the RFC 3164 column (year-less, local) or the ISO column (with offset)."""
    out = pa.nulls(len(bsd), pa.timestamp("us", tz="UTC"))
    m, d, hh, mi, ss, bsd_rows = _bsd_numbers(bsd)
    if bsd_rows.any():
        is_bsd = pa.array(bsd_rows)
        valid = bsd_rows & (m >= 1) & (d >= 1) & (d <= 31) & (hh >= 0) & (hh < 24) & (mi >= 0) & (mi < 60)
        valid &= (ss >= 0) & (ss < 61)
        y = np.zeros(len(bsd), dtype=np.int64)
        y[valid] = years.assign(m[valid], d[valid])
        month_start = (y - 1970) * 12 + (m - 1)
        first_day = month_start.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        next_first = (month_start + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        days = first_day + d - 1
        real = valid & (days < next_first)  # "Feb 30" is no date
        micros = ((days * 86400 + hh * 3600 + mi * 60 + ss) * 1_000_000).astype(np.int64)
        naive = pa.array(micros, pa.int64(), mask=~real).cast(pa.timestamp("us"))
        local = _assume_tz(naive, ctx.options.tz)
        out = pc.if_else(is_bsd, local, out)
    is_iso = pc.not_equal(iso, _lit(""))
    if pc.any(is_iso).as_py():
        iso_norm = pc.replace_substring_regex(iso, r"^(\d{4}-\d\d-\d\d) ", r"\1T")
        has_zone = pc.match_substring_regex(iso_norm, r"(?:Z|[+-]\d\d:?\d\d)$")
        zoned = pc.if_else(has_zone, iso_norm, pc.binary_join_element_wise(iso_norm, "Z", ""))
        parsed = _cast_ts(zoned)
        if not pc.all(has_zone).as_py() and ctx.options.tz is not dt.UTC:
            naive = pc.cast(parsed, pa.timestamp("us"))
            parsed = pc.if_else(has_zone, parsed, _assume_tz(naive, ctx.options.tz))
        out = pc.if_else(is_iso, parsed, out)
    return out


def _cast_ts(strings: pa.Array) -> pa.Array:
    try:
        return pc.cast(strings, pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        return pa.array([_one_ts(s) for s in strings.to_pylist()], pa.timestamp("us", tz="UTC"))


def _one_ts(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    try:
        return dt.datetime.fromisoformat(s)
    except ValueError:
        return None


def _assume_tz(naive: pa.Array, tz: dt.tzinfo) -> pa.Array:
    if tz is dt.UTC:
        return pc.cast(naive, pa.timestamp("us", tz="UTC"))
    key = getattr(tz, "key", None) or str(tz)
    local = pc.assume_timezone(naive, key, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(local, pa.timestamp("us", tz="UTC"))


def _journald(arr: pa.Array, line_no: np.ndarray, mask: np.ndarray, ctx: ReadContext) -> _Lines:
    """journalctl -o json: one object per line; MESSAGE may be a byte array when not UTF-8."""
    idx: list[int] = []
    times: list[int] = []
    hosts: list[str | None] = []
    apps: list[str] = []
    pids: list[str] = []
    msgs: list[str] = []
    for i in np.flatnonzero(mask):
        line = arr[int(i)].as_py()
        try:
            obj = orjson.loads(line)
            ts = int(obj["__REALTIME_TIMESTAMP"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            ctx.skip("malformed_json")
            ctx.warn("line is not a journald JSON record", f"line {int(line_no[i])}")
            continue
        if not isinstance(obj, dict):
            ctx.skip("malformed_json")
            continue
        message = obj.get("MESSAGE")
        if isinstance(message, list):
            message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
        idx.append(int(line_no[i]))
        times.append(ts)
        hosts.append(obj.get("_HOSTNAME"))
        apps.append(str(obj.get("SYSLOG_IDENTIFIER") or obj.get("_COMM") or ""))
        pids.append(str(obj.get("SYSLOG_PID") or obj.get("_PID") or ""))
        msgs.append(str(message or ""))
    blank = _blank(len(idx))
    return (
        np.array(idx, dtype=np.int64),
        pa.array(times, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        blank,
        blank,
        pa.array(hosts, pa.string()),
        pa.array(apps, pa.string()),
        pa.array(pids, pa.string()),
        pa.array(msgs, pa.string()),
    )


def _claim(
    line_no: np.ndarray,
    known: pa.Array,
    bsd: pa.Array,
    iso: pa.Array,
    host: pa.Array,
    app: pa.Array,
    pid: pa.Array,
    msg: pa.Array,
    *,
    ctx: ReadContext,
) -> _Claimed | None:
    """Route each message to its kind and cut its fields; the rows in line order."""
    n = len(msg)
    repeat = np.ones(n, dtype=np.int64)
    rep_mask = pc.starts_with(msg, "message repeated ")
    if pc.any(rep_mask).as_py():
        rep = pc.extract_regex(msg, _REPEATED)
        has = rep.is_valid()
        counts = pc.cast(pc.if_else(has, rep.field("n"), "1"), pa.int64(), safe=False).fill_null(1)
        repeat = np.maximum(counts.to_numpy(zero_copy_only=False), 1)
        msg = pc.if_else(has, rep.field("msg"), msg)
    is_sshd = pc.is_in(app, value_set=_SSHD_SET).to_numpy(zero_copy_only=False)
    claimed = np.zeros(n, dtype=bool)
    cols: dict[str, list[pa.Array]] = {k: [] for k in ("user", "ip", "port", "method", "invalid", "service")}
    kind_rows: list[np.ndarray] = []
    kind_codes: list[np.ndarray] = []
    outcomes: list[np.ndarray] = []
    ranges = _ranges(msg)
    head4 = _head4(*ranges)
    for k, kind in enumerate(_KINDS):
        routed = _routed(msg, kind.route, ranges, head4, ~claimed & is_sshd if kind.sshd_only else ~claimed)
        rows = np.flatnonzero(routed)
        if not len(rows):
            continue
        fields = _extract(kind, msg.take(pa.array(rows)))
        if fields is None:
            continue
        rows = rows[fields.pop("_ok").to_numpy(zero_copy_only=False)]
        claimed[rows] = True
        m = len(rows)

        def get(name: str, fields: Fields = fields, m: int = m) -> pa.Array:
            return fields[name] if name in fields else _blank(m)

        kind_rows.append(rows)
        kind_codes.append(np.full(m, k, dtype=np.int8))
        for c in ("user", "ip", "port", "method", "invalid", "service"):
            cols[c].append(get(c))
        if kind.outcome == "verdict":
            # A PAM failure is the verdict only for services that log none of their own (su, login …).
            own = pc.is_in(get("service"), value_set=_SSHD_SET).to_numpy(zero_copy_only=False)
            outcomes.append(np.where(own, _UNKNOWN, _FAILURE).astype(np.int8))
        else:
            outcomes.append(np.full(m, _OUTCOME_NAMES.index(kind.outcome), dtype=np.int8))
    unclaimed = ~claimed
    ctx.skip("not_auth_message", int((unclaimed & is_sshd).sum()))
    ctx.skip("other_program", int((unclaimed & ~is_sshd).sum()))
    if not kind_rows:
        return None
    rows = np.concatenate(kind_rows)
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    take = pa.array(order)

    def cat(c: str) -> pa.Array:
        return pa.concat_arrays(cols[c]).take(take)

    user_raw, ip, port, method, invalid, service = (cat(c) for c in ("user", "ip", "port", "method", "invalid", "service"))
    code_ix = np.concatenate(kind_codes)[order]
    outcome_ix = np.concatenate(outcomes)[order]
    return _Claimed(line_no, rows, code_ix, outcome_ix, repeat, user_raw, ip, port, method, invalid, service,
                    known, bsd, iso, host, pid)


@dataclass
class _Claimed:
    """The lines of one block that became events, their fields cut, before times and years."""

    line_no: np.ndarray
    rows: np.ndarray
    code_ix: np.ndarray
    outcome_ix: np.ndarray
    repeat: np.ndarray
    user_raw: pa.Array
    ip: pa.Array
    port: pa.Array
    method: pa.Array
    invalid: pa.Array
    service: pa.Array
    known: pa.Array
    bsd: pa.Array
    iso: pa.Array
    host: pa.Array
    pid: pa.Array


def _finish(c: _Claimed, ctx: ReadContext, years: _Years) -> pa.RecordBatch | None:
    """Times (the year carried from block to block), accounting and the auth rows, in line order."""
    line_no, rows, code_ix, outcome_ix, repeat = c.line_no, c.rows, c.code_ix, c.outcome_ix, c.repeat
    user_raw, ip, port, method, invalid, service = c.user_raw, c.ip, c.port, c.method, c.invalid, c.service
    known, bsd, iso, host, pid = c.known, c.bsd, c.iso, c.host, c.pid
    # Timestamps only for the lines that became events.
    rt = pa.array(rows)
    known_t = known.take(rt)
    time = pc.if_else(known_t.is_valid(), known_t, _times(bsd.take(rt), iso.take(rt), ctx, years))
    ok = time.is_valid().to_numpy(zero_copy_only=False)
    if not ok.all():
        n_bad = int((~ok).sum())
        ctx.skip("bad_timestamp", n_bad)
        ctx.warn(f"{n_bad} line(s) with an unreadable timestamp skipped", f"line {int(line_no[rows[~ok][0]])}")
        keep = pa.array(ok)
        rows, code_ix, outcome_ix = rows[ok], code_ix[ok], outcome_ix[ok]
        time, user_raw, ip, port, method, invalid, service = (
            a.filter(keep) for a in (time, user_raw, ip, port, method, invalid, service)
        )
        if not len(rows):
            return None
    reps = repeat[rows]
    # A record is one line; "message repeated N times" becomes N events of that line.
    ctx.parsed(len(rows))
    if (reps > 1).any():
        expand = np.repeat(np.arange(len(rows)), reps)
        rows, code_ix, outcome_ix = rows[expand], code_ix[expand], outcome_ix[expand]
        ex = pa.array(expand)
        time, user_raw, ip, port, method, invalid, service = (
            a.take(ex) for a in (time, user_raw, ip, port, method, invalid, service)
        )
    rtake = pa.array(rows)
    user_raw = pc.utf8_trim_whitespace(user_raw)
    user_lower = _lower(user_raw)
    # Kerberos-style user@REALM from PAM modules: split domain off.
    user, domain = user_lower, pa.nulls(len(user_lower), pa.string())
    if pc.any(pc.match_substring(user_lower, "@")).as_py():
        at = pc.extract_regex(user_lower, r"^(?P<u>.+)@(?P<d>[^@]+)$")
        has_at = at.is_valid()
        user = pc.if_else(has_at, at.field("u"), user_lower)
        domain = pc.if_else(has_at, at.field("d"), domain)
    is_invalid = pc.match_substring_regex(invalid, "^(?:invalid|illegal)")
    invalid_np = is_invalid.to_numpy(zero_copy_only=False)
    reason = _reasons(code_ix, outcome_ix, method, invalid_np)
    code = _CODE_NAMES.take(pa.array(code_ix))
    outcome = _OUTCOME_NAMES_ARRAY.take(pa.array(outcome_ix))
    is_pam = (code_ix == _CODE_INDEX["pam_failure"]) | (code_ix == _CODE_INDEX["pam_error"])
    method_norm = pc.if_else(
        pc.equal(method, _lit("")),
        pc.if_else(pa.array(is_pam), _lit("password"), _lit(None)),
        method,
    )
    for raw_m, norm in _METHODS.items():
        method_norm = pc.if_else(pc.equal(method_norm, _lit(raw_m)), _lit(norm), method_norm)
    application = pc.if_else(pc.equal(service, _lit("")), _lit("sshd"), service)
    empty_to_null = _empty_to_null
    session = pc.binary_join_element_wise(host.take(rtake).fill_null(_lit("")), pid.take(rtake), _lit(":"))
    m = len(rows)
    arrays = {
        "time": time,
        "host": empty_to_null(host.take(rtake)),
        "source_format": pa.repeat(_lit(FORMAT), m),
        "ref_file": pa.repeat(pa.scalar(ctx.path, pa.string()), m),
        "ref_record": pa.array(line_no[rows], pa.int64()),
        "user": empty_to_null(user),
        "domain": empty_to_null(domain),
        "src_ip": empty_to_null(_strip_mapped(ip)),
        "src_port": pc.cast(empty_to_null(port), pa.int32(), safe=False),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": pc.if_else(is_invalid, _lit("invalid user"), _lit(None)),
        "method": empty_to_null(method_norm),
        "mfa_used": pa.nulls(m, pa.bool_()),
        "user_agent": pa.nulls(m, pa.string()),
        "application": application,
        "country": pa.nulls(m, pa.string()),
        "asn": pa.nulls(m, pa.int64()),
        "event_code": code,
        "logon_type": pa.nulls(m, pa.string()),
        "is_machine": pa.nulls(m, pa.bool_()),
        "session_id": empty_to_null(session),
    }
    return pa.RecordBatch.from_arrays([arrays[f.name] for f in AUTH], schema=AUTH)


def _head4(data: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The first four bytes of every string as one big-endian integer (-1 when shorter)."""
    code = np.zeros(len(s), dtype=np.int64)
    long_enough = e - s >= 4
    if len(data):
        for k in range(4):
            code = (code << 8) | data[np.minimum(s + k, len(data) - 1)]
    return np.where(long_enough, code, -1)


def _routed(
    msg: pa.Array, route: tuple[tuple[str, ...], str], ranges: tuple[np.ndarray, np.ndarray, np.ndarray],
    head4: np.ndarray, allowed: np.ndarray,
) -> np.ndarray:
    """Rows (among ``allowed``) whose message starts with one of the route's prefixes and holds its needle."""
    prefixes, needle = route
    data, s, e = ranges
    out = np.zeros(len(s), dtype=bool)
    for p in prefixes:
        raw = p.encode()
        cand = np.flatnonzero(allowed & (head4 == int.from_bytes(raw[:4], "big")))
        if len(cand):
            out[cand[_starts_at(data, s[cand], e[cand], raw)]] = True
    if needle and out.any():
        rows = np.flatnonzero(out)
        # The substring test only on the rows a prefix routed here.
        out[rows] = pc.match_substring(msg.take(pa.array(rows)), needle).to_numpy(zero_copy_only=False)
    return out


def _extract(kind: _Kind, sub: pa.Array) -> Fields | None:
    """The kind's fields for the routed rows (fast path first, the regex for the rest), in row order."""
    ok_fast = pa.array(np.zeros(len(sub), dtype=bool))
    out: Fields = {}
    if kind.fast is not None:
        ok_fast, out = kind.fast(sub)
        if pc.all(ok_fast).as_py():
            out["_ok"] = pa.array(np.ones(len(sub), dtype=bool))
            return out
    rest_mask = pc.invert(ok_fast)
    slow = pc.extract_regex(sub.filter(rest_mask), kind.pattern)
    slow_ok = slow.is_valid()
    names = [f.name for f in slow.type]
    slow = slow.filter(slow_ok)
    fast_np = ok_fast.to_numpy(zero_copy_only=False)
    ok = fast_np.copy()
    ok[np.flatnonzero(~fast_np)[slow_ok.to_numpy(zero_copy_only=False)]] = True
    if not ok.any():
        return None
    # Interleave: fast rows then slow rows, re-sorted into row order.
    idx = np.concatenate([np.flatnonzero(fast_np), np.flatnonzero(~fast_np)[slow_ok.to_numpy(zero_copy_only=False)]])
    order = pa.array(np.argsort(idx, kind="stable"))
    merged: Fields = {}
    for name in set(names) | set(out):
        f_part = out.get(name, _blank(int(fast_np.sum())))
        s_part = slow.field(name) if name in names else _blank(len(slow))
        merged[name] = pa.concat_arrays([f_part, s_part]).take(order)
    merged["_ok"] = pa.array(ok)
    return merged


def _reasons(code: np.ndarray, outcome: np.ndarray, method: pa.Array, invalid: np.ndarray) -> pa.Array:
    """Why an attempt failed, from the message kind, the method and whether the user exists."""
    password_like = pc.is_in(method, value_set=_PASSWORD_LIKE).to_numpy(zero_copy_only=False)
    failed = np.where(invalid, _UNKNOWN_USER, np.where(password_like, _BAD_PASSWORD, _OTHER))
    reason = np.full(len(code), -1, dtype=np.int64)
    for name in ("failed", "pam_failure", "max_auth_attempts"):
        reason = np.where(code == _CODE_INDEX[name], failed, reason)
    reason = np.where(code == _CODE_INDEX["invalid_user"], _UNKNOWN_USER, reason)
    for name in ("preauth_close", "pam_error"):
        reason = np.where(code == _CODE_INDEX[name], np.where(invalid, _UNKNOWN_USER, -1), reason)
    # Plain successes carry no reason.
    reason = np.where(outcome == _OUTCOME_NAMES.index("success"), -1, reason)
    return _REASON_NAMES.take(pa.array(reason, mask=reason < 0))


def _lower(a: pa.Array) -> pa.Array:
    """``utf8_lower``; the much cheaper ASCII kernel when every byte is ASCII (same result there)."""
    data = a.buffers()[2]
    if data is not None and a.offset == 0 and len(a) and not a.null_count:
        raw = np.frombuffer(data, dtype=np.uint8)
        offsets = np.frombuffer(a.buffers()[1], dtype=np.int32, count=len(a) + 1)
        if not (raw[offsets[0] : offsets[-1]] >= 0x80).any():
            return pc.ascii_lower(a)
    return pc.utf8_lower(a)


def _strip_mapped(ip: pa.Array) -> pa.Array:
    mapped = pc.starts_with(ip, "::ffff:")
    if not pc.any(mapped).as_py():
        return ip
    return pc.replace_substring_regex(ip, r"^::ffff:(\d+\.\d+\.\d+\.\d+)$", r"\1")


def _empty_to_null(a: pa.Array) -> pa.Array:
    """"" becomes null."""
    if not pa.types.is_string(a.type) or a.null_count:
        return pc.if_else(pc.equal(a, pa.scalar("", a.type)), pa.scalar(None, a.type), a)
    bufs = a.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=a.offset + len(a) + 1)[a.offset :]
    valid = np.diff(offsets) > 0
    if valid.all():
        return a
    # The same offsets and bytes under a validity bitmap: the strings are not copied.
    bits = np.concatenate([np.zeros(a.offset, dtype=bool), valid])
    bitmap = pa.py_buffer(np.packbits(bits, bitorder="little"))
    return pa.Array.from_buffers(a.type, len(a), [bitmap, bufs[1], bufs[2]], offset=a.offset)


_SSHD_SET = pa.array(_SSHD_APPS)
_PASSWORD_LIKE = pa.array(["password", "keyboard-interactive/pam", ""])
_CODE_NAMES = pa.array([k.name for k in _KINDS])
_CODE_INDEX = {k.name: i for i, k in enumerate(_KINDS)}
_OUTCOME_NAMES = ["success", "failure", "unknown"]
_OUTCOME_NAMES_ARRAY = pa.array(_OUTCOME_NAMES)
_FAILURE, _UNKNOWN = _OUTCOME_NAMES.index("failure"), _OUTCOME_NAMES.index("unknown")
_REASON_NAMES = pa.array(["unknown_user", "bad_password", "other"])
_UNKNOWN_USER, _BAD_PASSWORD, _OTHER = 0, 1, 2
