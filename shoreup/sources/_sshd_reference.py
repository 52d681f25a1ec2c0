"""Reference sshd / PAM reader: the Arrow-only implementation that :mod:`shoreup.sources.sshd` replaced.

Kept, unchanged in behaviour, as the oracle of the parity tests (``tests/sources/test_sshd_parity.py``):
the fast reader must give the same auth rows and the same accounting as this one on every input.
It reads lines with ``iter_line_chunks`` and cuts them with Arrow compute kernels only. Change the
two together; see :mod:`shoreup.sources.sshd` for the formats and message kinds. One fix since:
a block holding both RFC 3164 and ISO timestamped events, or a line "Failed … for invalid user from IP …",
no longer fails the whole input.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.schema import AUTH
from shoreup.sources._base import Batch, ReadContext, iter_line_chunks

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


def _parts(a: pa.Array, sep: str, reverse: bool = False) -> tuple[pa.Array, pa.Array]:
    """Split every string in two at the first (or last) ``sep``; the caller made sure it is there."""
    p = pc.split_pattern(a, sep, max_splits=1, reverse=reverse)
    return pc.list_element(p, 0), pc.list_element(p, 1)


def _ip_port(tail: pa.Array) -> tuple[pa.Array, pa.Array]:
    """"IP[ port N…]" → (IP, N or "")."""
    ip, rest = _parts(pc.binary_join_element_wise(tail, " port ", ""), " port ")
    port = pc.list_element(pc.split_pattern(pc.binary_join_element_wise(rest, " ", ""), " ", max_splits=1), 0)
    return ip, pc.list_element(pc.split_pattern(pc.binary_join_element_wise(port, ":", ""), ":", max_splits=1), 0)


def _fast_verdict(prefix_len: int) -> Callable[[pa.Array], tuple[pa.Array, Fields]]:
    """"Failed|Accepted METHOD for [invalid user ]USER from IP port N[ ssh2][: …]"."""
    check = r"^\S+ \S+ for .* from \S+ port \d+(?: ssh\d?)?(?:: .*)?$"

    def fast(msg: pa.Array) -> tuple[pa.Array, Fields]:
        ok = pc.match_substring_regex(msg, check)
        a = msg.filter(ok)
        method, tail = _parts(pc.utf8_slice_codeunits(a, prefix_len), " for ")
        invalid = pc.starts_with(tail, "invalid user ")
        tail = pc.if_else(invalid, pc.utf8_slice_codeunits(tail, 13), tail)
        good = pc.match_substring(tail, " from ")
        if not pc.all(good).as_py():  # "for invalid user from IP": the regex decides
            ok_np = ok.to_numpy(zero_copy_only=False).copy()
            ok_np[np.flatnonzero(ok_np)[~good.to_numpy(zero_copy_only=False)]] = False
            ok = pa.array(ok_np)
            method, tail, invalid = (x.filter(good) for x in (method, tail, invalid))
        user, where = _parts(tail, " from ", reverse=True)
        ip, port = _ip_port(where)
        inv = pc.if_else(invalid, "invalid user ", "")
        return ok, {"method": method, "user": user, "ip": ip, "port": port, "invalid": inv}

    return fast


def _fast_invalid_user(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"Invalid user USER from IP[ port N]"."""
    ok = pc.match_substring_regex(msg, r"^Invalid user .* from \S+(?: port \d+)?\s*$")
    a = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(msg.filter(ok), 13))
    user, where = _parts(a, " from ", reverse=True)
    ip, port = _ip_port(where)
    return ok, {"user": user, "ip": ip, "port": port}


def _fast_preauth(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"Connection closed by|Disconnected from … (invalid|authenticating) user USER IP port N … [preauth]"."""
    ok = pc.match_substring_regex(
        msg,
        r"^(?:Disconnected from|Connection closed by|Received disconnect from|Connection reset by) "
        r"(?:invalid|authenticating) user .* [0-9a-fA-F:.]+ port \d+[^\[]*\[preauth\]\s*$",
    )
    a = msg.filter(ok)
    head, tail = _parts(a, " port ", reverse=True)
    head, ip = _parts(head, " ", reverse=True)
    kind, user = _parts(head, " user ")
    _, port = _ip_port(pc.binary_join_element_wise("x port ", tail, ""))
    inv = pc.if_else(pc.ends_with(kind, "invalid"), "invalid user ", "authenticating ")
    return ok, {"user": user, "ip": ip, "port": port, "invalid": inv}


def _fast_pam(msg: pa.Array) -> tuple[pa.Array, Fields]:
    """"pam_unix(SERVICE:auth): authentication failure; … rhost=IP[  user=USER]"."""
    ok = pc.match_substring_regex(msg, r"^pam_unix\([^:)]+:auth\): authentication failure;.* rhost=\S*(?:\s+user=\S+)?\s*$")
    a = msg.filter(ok)
    service = pc.list_element(pc.split_pattern(pc.utf8_slice_codeunits(a, 9), ":", max_splits=1), 0)
    _, tail = _parts(a, " rhost=", reverse=True)
    ip, user = _parts(pc.binary_join_element_wise(tail, " user=", ""), " user=")
    user = pc.utf8_trim_whitespace(pc.replace_substring_regex(user, r" user=$", ""))
    return ok, {"service": service, "ip": pc.utf8_trim_whitespace(ip), "user": user}


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


class _Years:
    """Gives year-less (RFC 3164) timestamps a year, carrying a December → January rollover forward.

    The first line's year is ``--year`` when given; otherwise the latest year that puts the first line
    no later than the file's modification time (a log spanning under a year is then exact).
    """

    def __init__(self, ctx: ReadContext) -> None:
        self.forced = ctx.options.year
        ref = dt.datetime.fromtimestamp(ctx.mtime, dt.UTC) if ctx.mtime else dt.datetime.now(dt.UTC)
        self.ref = ref
        self.year: int | None = None
        self.last_month = 0

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
        prev = np.concatenate([[self.last_month], months[:-1]])
        # A drop of six months or more between neighbours is a new year, not disorder.
        rollover = (prev - months) >= 6
        years = self.year + np.cumsum(rollover)
        self.year = int(years[-1])
        self.last_month = int(months[-1])
        return years.astype(np.int64)


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read syslog or journald JSON lines, yielding ``auth`` batches."""
    years = _Years(ctx)
    for first_line, lines in iter_line_chunks(stream, ctx):
        batch = _parse_block(lines, first_line, ctx, years)
        if batch is not None:
            yield "auth", batch


_Lines = tuple[np.ndarray, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]


def _parse_block(lines: list[str], first_line: int, ctx: ReadContext, years: _Years) -> pa.RecordBatch | None:
    arr = pa.array(lines, pa.string())
    line_no = np.arange(first_line, first_line + len(lines), dtype=np.int64)
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0).to_numpy(zero_copy_only=False)
    ctx.skip("empty_line", int(empty.sum()))
    is_json = pc.starts_with(arr, "{").to_numpy(zero_copy_only=False) & ~empty
    parts: list[_Lines] = []
    if is_json.any():
        parts.append(_journald(arr, line_no, is_json, ctx))
    text = ~is_json & ~empty
    if text.any():
        parts.append(_syslog(arr, line_no, text, ctx))
    if not parts:
        return None
    if len(parts) == 1:
        return _messages(*parts[0], ctx=ctx, years=years)
    nos = np.concatenate([p[0] for p in parts])
    order = np.argsort(nos, kind="stable")
    take = pa.array(order)
    cols = [pa.concat_arrays([p[k] for p in parts]).take(take) for k in range(1, 8)]
    return _messages(nos[order], *cols, ctx=ctx, years=years)


# The common case, checked without captures (a DFA pass) and then cut apart with cheap kernels.
_FAST_BSD = r"^[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d \S+ [^\[:\s]+(?:\[\d+\])?: "


def _syslog(arr: pa.Array, line_no: np.ndarray, mask: np.ndarray, ctx: ReadContext) -> _Lines:
    sel = np.flatnonzero(mask)
    sub = arr.take(pa.array(sel))
    fast = pc.match_substring_regex(sub, _FAST_BSD).to_numpy(zero_copy_only=False)
    parts: list[tuple[np.ndarray, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]] = []
    if fast.any():
        lines = sub.filter(pa.array(fast))
        rest = pc.utf8_slice_codeunits(lines, 16)
        host_rest = pc.split_pattern(rest, " ", max_splits=1)
        tag_msg = pc.split_pattern(pc.list_element(host_rest, 1), ": ", max_splits=1)
        app, pid = _parts(pc.binary_join_element_wise(pc.list_element(tag_msg, 0), "[", ""), "[")
        pid = pc.utf8_rtrim(pid, characters="[]")
        n = len(lines)
        parts.append((
            sel[fast],
            pc.utf8_slice_codeunits(lines, 0, 15),
            pa.array([""] * n, pa.string()),
            pc.list_element(host_rest, 0),
            app,
            pid,
            pc.list_element(tag_msg, 1),
        ))
    slow = ~fast
    if slow.any():
        hdr = pc.extract_regex(sub.filter(pa.array(slow)), _HEADER)
        valid = hdr.is_valid().to_numpy(zero_copy_only=False)
        slow_sel = sel[slow]
        n_bad = int((~valid).sum())
        if n_bad:
            ctx.skip("malformed_line", n_bad)
            if n_bad == len(sel) and len(sel) > 10:
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
    sel = np.concatenate([p[0] for p in parts])
    order = np.argsort(sel, kind="stable")
    take = pa.array(order)
    bsd, iso, host, app, pid, msg = (pa.concat_arrays([p[k] for p in parts]).take(take) for k in range(1, 7))
    known = pa.nulls(len(sel), pa.timestamp("us", tz="UTC"))
    return line_no[sel[order]], known, bsd, iso, host, app, pid, msg


def _times(bsd: pa.Array, iso: pa.Array, ctx: ReadContext, years: _Years) -> pa.Array:
    """Timestamps from the RFC 3164 column (year-less, local) or the ISO column (with offset)."""
    out = pa.nulls(len(bsd), pa.timestamp("us", tz="UTC"))
    is_bsd = pc.not_equal(bsd, "")
    if pc.any(is_bsd).as_py():
        # "Mmm dd hh:mm:ss" at fixed places: integer arithmetic, no strptime.
        months = pc.add(pc.index_in(pc.utf8_slice_codeunits(bsd, 0, 3), value_set=_MONTHS), 1)
        m = months.fill_null(0).to_numpy(zero_copy_only=False)
        no_text = pa.scalar(None, pa.string())
        ints = [
            # Only the RFC 3164 rows: "" (an ISO row in the same block) does not cast.
            pc.cast(pc.utf8_trim_whitespace(pc.if_else(is_bsd, pc.utf8_slice_codeunits(bsd, a, b), no_text)),
                    pa.int64(), safe=False)
            .fill_null(-1).to_numpy(zero_copy_only=False)
            for a, b in ((4, 6), (7, 9), (10, 12), (13, 15))
        ]
        d, hh, mi, ss = ints
        bsd_rows = is_bsd.to_numpy(zero_copy_only=False)
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
    is_iso = pc.not_equal(iso, "")
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
    blank = pa.array([""] * len(idx), pa.string())
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


def _messages(
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
    years: _Years,
) -> pa.RecordBatch | None:
    """Route each message to its kind, expand "message repeated N times", and build auth rows."""
    n = len(msg)
    repeat = np.ones(n, dtype=np.int64)
    rep_mask = pc.starts_with(msg, "message repeated ")
    if pc.any(rep_mask).as_py():
        rep = pc.extract_regex(msg, _REPEATED)
        has = rep.is_valid()
        counts = pc.cast(pc.if_else(has, rep.field("n"), "1"), pa.int64(), safe=False).fill_null(1)
        repeat = np.maximum(counts.to_numpy(zero_copy_only=False), 1)
        msg = pc.if_else(has, rep.field("msg"), msg)
    is_sshd = pc.is_in(app, value_set=pa.array(_SSHD_APPS)).to_numpy(zero_copy_only=False)
    claimed = np.zeros(n, dtype=bool)
    cols: dict[str, list[pa.Array]] = {k: [] for k in ("row", "code", "user", "ip", "port", "method", "invalid", "service")}
    outcomes: list[pa.Array] = []
    for kind in _KINDS:
        routed = _routed(msg, kind.route) & ~claimed
        if kind.sshd_only:
            routed &= is_sshd
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
            return fields[name] if name in fields else pa.array([""] * m, pa.string())

        cols["row"].append(pa.array(rows))
        cols["code"].append(pa.array([kind.name] * m, pa.string()))
        for c in ("user", "ip", "port", "method", "invalid", "service"):
            cols[c].append(get(c))
        if kind.outcome == "verdict":
            # A PAM failure is the verdict only for services that log none of their own (su, login …).
            own = pc.is_in(get("service"), value_set=pa.array(_SSHD_APPS))
            outcomes.append(pc.if_else(own, "unknown", "failure"))
        else:
            outcomes.append(pa.array([kind.outcome] * m, pa.string()))
    unclaimed = ~claimed
    ctx.skip("not_auth_message", int((unclaimed & is_sshd).sum()))
    ctx.skip("other_program", int((unclaimed & ~is_sshd).sum()))
    if not cols["row"]:
        return None
    rows = pa.concat_arrays(cols["row"]).to_numpy()
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    take = pa.array(order)

    def cat(c: str) -> pa.Array:
        return pa.concat_arrays(cols[c]).take(take)

    code, user_raw, ip, port, method, invalid, service = (
        cat(c) for c in ("code", "user", "ip", "port", "method", "invalid", "service")
    )
    outcome = pa.concat_arrays(outcomes).take(take)
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
        rows = rows[ok]
        time, code, user_raw, ip, port, method, invalid, service, outcome = (
            a.filter(keep) for a in (time, code, user_raw, ip, port, method, invalid, service, outcome)
        )
        if not len(rows):
            return None
    reps = repeat[rows]
    # A record is one line; "message repeated N times" becomes N events of that line.
    ctx.parsed(len(rows))
    if (reps > 1).any():
        expand = np.repeat(np.arange(len(rows)), reps)
        rows = rows[expand]
        ex = pa.array(expand)
        time, code, user_raw, ip, port, method, invalid, service, outcome = (
            a.take(ex) for a in (time, code, user_raw, ip, port, method, invalid, service, outcome)
        )
    rtake = pa.array(rows)
    user_raw = pc.utf8_trim_whitespace(user_raw)
    user_lower = pc.utf8_lower(user_raw)
    # Kerberos-style user@REALM from PAM modules: split domain off.
    user, domain = user_lower, pa.nulls(len(user_lower), pa.string())
    if pc.any(pc.match_substring(user_lower, "@")).as_py():
        at = pc.extract_regex(user_lower, r"^(?P<u>.+)@(?P<d>[^@]+)$")
        has_at = at.is_valid()
        user = pc.if_else(has_at, at.field("u"), user_lower)
        domain = pc.if_else(has_at, at.field("d"), domain)
    is_invalid = pc.match_substring_regex(invalid, "^(?:invalid|illegal)")
    reason = _reasons(code, outcome, method, is_invalid)
    method_norm = pc.if_else(
        pc.equal(method, ""),
        pc.if_else(pc.is_in(code, value_set=pa.array(["pam_failure", "pam_error"])), "password", None),
        method,
    )
    for raw_m, norm in _METHODS.items():
        method_norm = pc.if_else(pc.equal(method_norm, raw_m), norm, method_norm)
    application = pc.if_else(pc.equal(service, ""), "sshd", service)
    empty_to_null = _empty_to_null
    session = pc.binary_join_element_wise(host.take(rtake).fill_null(""), pid.take(rtake), ":")
    m = len(rows)
    arrays = {
        "time": time,
        "host": empty_to_null(host.take(rtake)),
        "source_format": pa.array([FORMAT] * m, pa.string()),
        "ref_file": pa.array([ctx.path] * m, pa.string()),
        "ref_record": pa.array(line_no[rows], pa.int64()),
        "user": empty_to_null(user),
        "domain": empty_to_null(domain),
        "src_ip": empty_to_null(_strip_mapped(ip)),
        "src_port": pc.cast(empty_to_null(port), pa.int32(), safe=False),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": empty_to_null(pc.if_else(is_invalid, "invalid user", "")),
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


def _routed(msg: pa.Array, route: tuple[tuple[str, ...], str]) -> np.ndarray:
    prefixes, needle = route
    mask = pc.starts_with(msg, prefixes[0])
    for p in prefixes[1:]:
        mask = pc.or_(mask, pc.starts_with(msg, p))
    if needle and pc.any(mask).as_py():
        mask = pc.and_(mask, pc.match_substring(msg, needle))
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


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
        f_part = out.get(name, pa.array([""] * int(fast_np.sum()), pa.string()))
        s_part = slow.field(name) if name in names else pa.array([""] * len(slow), pa.string())
        merged[name] = pa.concat_arrays([f_part, s_part]).take(order)
    merged["_ok"] = pa.array(ok)
    return merged


def _reasons(code: pa.Array, outcome: pa.Array, method: pa.Array, invalid: pa.Array) -> pa.Array:
    """Why an attempt failed, from the message kind, the method and whether the user exists."""
    none = pa.scalar(None, pa.string())
    password_like = pc.is_in(method, value_set=pa.array(["password", "keyboard-interactive/pam", ""]))
    failed = pc.if_else(invalid, "unknown_user", pc.if_else(password_like, "bad_password", "other"))
    reason = pc.if_else(pc.is_in(code, value_set=pa.array(["failed", "pam_failure"])), failed, none)
    reason = pc.if_else(pc.equal(code, "max_auth_attempts"), failed, reason)
    reason = pc.if_else(pc.equal(code, "invalid_user"), "unknown_user", reason)
    reason = pc.if_else(pc.is_in(code, value_set=pa.array(["preauth_close", "pam_error"])),
                        pc.if_else(invalid, "unknown_user", none), reason)
    # Plain successes carry no reason.
    return pc.if_else(pc.equal(outcome, "success"), none, reason)


def _strip_mapped(ip: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(ip, r"^::ffff:(\d+\.\d+\.\d+\.\d+)$", r"\1")


def _empty_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, a.type), a)
