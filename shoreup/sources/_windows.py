"""Windows events, whatever the container: one flat field set, one mapping to the normalized tables.

Every Windows reader (EVTX, evtx_dump / Winlogbeat / flat JSON, Get-WinEvent XML) first turns a record
into a *flat field dict*: the System fields under the names Sigma's Windows rules use (``EventID`` as
an int, ``Channel``, ``Computer``, ``Provider_Name``, ``EventRecordID``, ``Level``, ``Task``,
``Keywords``, ``TimeCreated``) plus every EventData / UserData leaf under its own name, values as
strings. :class:`WindowsEvents` takes those dicts and fills ``raw`` with every one of them, and
``auth`` / ``process`` / ``file`` / ``tamper`` for the event ids below.

References for the codes:
- 4625 / 4776 NTSTATUS: https://learn.microsoft.com/en-us/windows/security/threat-protection/auditing/event-4625
- Kerberos result codes: https://learn.microsoft.com/en-us/windows/security/threat-protection/auditing/event-4771
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
from array import array
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa

from shoreup.schema import RAW, TIME, normalize_user
from shoreup.sources._base import BATCH_ROWS, Batch, ReadContext, RowBuilder

__all__ = [
    "DEFER_DEDUP",
    "SYSTEM_FIELDS",
    "WindowsEvents",
    "drop_duplicates",
    "flatten_crate",
    "flatten_event",
    "leaf_fields",
    "normalize_time",
]

#: System fields kept in the flat field set, in the names Sigma's Windows rules use.
SYSTEM_FIELDS: Final = (
    "EventID",
    "Channel",
    "Computer",
    "Provider_Name",
    "EventRecordID",
    "Level",
    "Task",
    "Keywords",
    "TimeCreated",
)
_SYSTEM_SET: Final = frozenset(SYSTEM_FIELDS)

#: A flat Windows field set: System names plus EventData / UserData leaves.
Flat = Mapping[str, Any]

_SECURITY_PROVIDER: Final = "Microsoft-Windows-Security-Auditing"
_SYSMON_PROVIDER: Final = "Microsoft-Windows-Sysmon"
_SYSMON_CHANNEL: Final = "Microsoft-Windows-Sysmon/Operational"

# NTSTATUS codes of 4625 (Status / SubStatus) and 4776 (Status), lower-case hex.
NT_STATUS: Final[dict[str, str]] = {
    "0xc000006a": "bad_password",
    "0xc0000064": "unknown_user",
    "0xc0000234": "locked",
    "0xc0000072": "disabled",
    "0xc0000071": "expired",  # password expired
    "0xc0000193": "expired",  # account expired
    "0xc0000224": "expired",  # password must change at next logon
    "0xc000006f": "restriction",  # outside authorized hours
    "0xc0000070": "restriction",  # workstation restriction
    "0xc000006e": "restriction",  # account restriction
    "0xc000015b": "restriction",  # logon type not granted
    "0xc0000413": "restriction",  # authentication firewall
    "0xc0000133": "other",  # clock skew
    "0xc000005e": "other",  # no logon servers
    "0xc0000192": "other",  # netlogon not started
    "0xc0000371": "other",  # local account store lacks the secret
    "0xc000018c": "other",  # trust failure
    "0xc000006d": "other",  # generic "bad user name or password", SubStatus says more
}
# Kerberos result codes of 4768 / 4771 (and 4769).
KERBEROS_STATUS: Final[dict[str, str]] = {
    "0x6": "unknown_user",  # KDC_ERR_C_PRINCIPAL_UNKNOWN
    "0x18": "bad_password",  # KDC_ERR_PREAUTH_FAILED
    "0x12": "locked",  # KDC_ERR_CLIENT_REVOKED: locked out, disabled or expired; lockout is the attack case
    "0x17": "expired",  # KDC_ERR_KEY_EXPIRED: password expired
    "0xc": "restriction",  # KDC_ERR_POLICY: logon hours / workstation restriction
    "0x25": "other",  # KRB_AP_ERR_SKEW
}
_PACKAGES: Final = {"kerberos": "kerberos", "ntlm": "ntlm", "negotiate": "negotiate"}
# Mandatory label SIDs of 4688 → Sysmon's IntegrityLevel names.
_INTEGRITY: Final = {
    "S-1-16-0": "Untrusted",
    "S-1-16-4096": "Low",
    "S-1-16-8192": "Medium",
    "S-1-16-8448": "MediumPlus",
    "S-1-16-12288": "High",
    "S-1-16-16384": "System",
    "S-1-16-20480": "Protected",
}


# --- flattening ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        # {"#text": x, "#attributes": {...}} as the evtx crate renders an element with attributes.
        return _text(value.get("#text"))
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _put(flat: dict[str, Any], section: str, name: str, value: Any) -> None:
    """Add one data leaf; a leaf named like a System field (104's cleared Channel) gets a prefix."""
    if name in flat:
        name = f"{section}_{name}"
        if name in flat:
            return
    flat[name] = value


def leaf_fields(flat: dict[str, Any], section: str, node: Any) -> None:
    """Add the leaves of an EventData / UserData tree to ``flat``, each under its own name.

    Unnamed ``<Data>`` elements become ``Data``, ``Data1``, ``Data2`` …; attributes are dropped.
    """
    if not isinstance(node, dict):
        if node is not None and node != "":
            _unnamed(flat, section, node)
        return
    items = iter(node.items())
    if _plain(node) and flat.keys().isdisjoint(node):
        # The common case (a named <Data> per key): no key needs a prefix, nor is skipped, while
        # every value is a scalar. The first that is not hands this and the rest to the general loop.
        for key, value in items:
            kind = type(value)
            if kind is str:
                flat[key] = value
            elif kind is int:
                flat[key] = str(value)
            elif value is None:
                flat[key] = ""
            elif isinstance(value, _CONTAINERS):
                _leaf(flat, section, key, value)
                break
            else:
                flat[key] = _text(value)
    for key, value in items:
        _leaf(flat, section, key, value)


_CONTAINERS: Final = (dict, list)

#: Whether a key set (in order) is plain: no ``Data``, ``#…``, ``…_attributes`` or empty key.
_PLAIN_KEYS: dict[tuple[str, ...], bool] = {}
_PLAIN_KEYS_MAX: Final = 4096


def _plain(node: dict[str, Any]) -> bool:
    keys = tuple(node)
    plain = _PLAIN_KEYS.get(keys)
    if plain is None:
        plain = all(
            type(k) is str and k and k != "Data" and k[0] != "#" and not k.endswith("_attributes")
            for k in keys
        )
        if len(_PLAIN_KEYS) >= _PLAIN_KEYS_MAX:
            _PLAIN_KEYS.clear()
        _PLAIN_KEYS[keys] = plain
    return plain


def _leaf(flat: dict[str, Any], section: str, key: str, value: Any) -> None:
    """One key of a data tree, whatever its name and value."""
    kind = type(value)
    if (kind is str or kind is int) and key != "Data" and key[0] != "#":
        # a named <Data> with a scalar value
        if key in flat:
            _put(flat, section, key, value if kind is str else str(value))
        else:
            flat[key] = value if kind is str else str(value)
        return
    if key[0] == "#":
        if key == "#text":
            _unnamed(flat, section, value)
        return
    if key.endswith("_attributes"):
        return
    if key == "Data":
        _unnamed(flat, section, value)
    elif isinstance(value, dict) and "#text" not in value:
        leaf_fields(flat, section, value)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            leaf_fields(flat, section, item)
    else:
        _put(flat, section, key, _text(value))


def _unnamed(flat: dict[str, Any], section: str, value: Any) -> None:
    if isinstance(value, dict):
        if "#text" in value:
            value = value["#text"]
        else:
            leaf_fields(flat, section, value)
            return
    values = value if isinstance(value, list) else [value]
    n = 0
    for v in values:
        if isinstance(v, dict) and "#text" not in v:
            leaf_fields(flat, section, v)
            continue
        while True:
            name = "Data" if n == 0 else f"Data{n}"
            n += 1
            if name not in flat:
                break
        flat[name] = _text(v)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(name)
    return None


#: The System values of the evtx crate's rendering that the flat field set keeps, fetched at once.
_SYSTEM_VALUES: Final = operator.itemgetter(
    "EventID", "Channel", "Computer", "EventRecordID", "Level", "Task", "Keywords", "Provider", "TimeCreated"
)


def flatten_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The flat field set of an ``Event`` object as the evtx crate / evtx_dump renders it.

    Accepts both attribute styles: ``{"#attributes": {...}}`` and ``separate_json_attributes``
    (``"Provider_attributes": {...}``).
    """
    crate = flatten_crate(event)
    return crate[0] if crate is not None else _flatten_general(event)


#: What :func:`flatten_crate` returns: the flat field set and, as rendered, the System values
#: EventID, Channel, Computer, EventRecordID (int), Provider_Name and TimeCreated.
Crate = tuple[dict[str, Any], int, str, str, int, Any, Any]


def flatten_crate(event: Mapping[str, Any]) -> Crate | None:
    """:func:`flatten_event` of an event in the evtx crate's usual rendering (every System value the
    flat set keeps present, with its usual type), with those System values; None for any other event.
    """
    system = event.get("System")
    if type(system) is not dict:
        return None
    try:
        eid, channel, computer, rid, level, task, keywords, provider, created = _SYSTEM_VALUES(system)
    except KeyError:
        return None
    if type(provider) is not dict or type(created) is not dict:
        return None
    provider = provider.get("#attributes")
    created = created.get("#attributes")
    if type(provider) is not dict or type(created) is not dict:
        return None
    provider = provider.get("Name")
    created = created.get("SystemTime")
    if not (
        type(eid) is int
        and type(channel) is str
        and type(computer) is str
        and type(rid) is int
        and type(level) is int
        and type(task) is int
        and type(keywords) is str
        and provider is not None
        and created is not None
    ):
        return None
    flat = {
        "EventID": eid,
        "Channel": channel,
        "Computer": computer,
        "EventRecordID": str(rid),
        "Level": str(level),
        "Task": str(task),
        "Keywords": keywords,
        "Provider_Name": provider,
        "TimeCreated": created,
    }
    _data_sections(flat, event)
    return flat, eid, channel, computer, rid, provider, created


def _flatten_general(event: Mapping[str, Any]) -> dict[str, Any]:
    system = event.get("System")
    if not isinstance(system, dict):
        system = {}
    get = system.get
    eid = get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    flat: dict[str, Any] = {"EventID": int(eid) if eid is not None else None}
    for name in ("Channel", "Computer", "EventRecordID", "Level", "Task", "Keywords"):
        value = get(name)
        if value is not None:
            flat[name] = _text(value)
    provider = _attr(get("Provider"), "Name")
    if provider is None:
        sep = get("Provider_attributes")
        provider = sep.get("Name") if isinstance(sep, dict) else None
    if provider is not None:
        flat["Provider_Name"] = provider
    created = _attr(get("TimeCreated"), "SystemTime")
    if created is None:
        sep = get("TimeCreated_attributes")
        created = sep.get("SystemTime") if isinstance(sep, dict) else None
    if created is not None:
        flat["TimeCreated"] = created
    _data_sections(flat, event)
    return flat


def _data_sections(flat: dict[str, Any], event: Mapping[str, Any]) -> None:
    """Add the leaves of every section but System (EventData, UserData, ProcessingErrorData …)."""
    for section, node in event.items():
        if (
            section == "System"
            or section == "RenderingInfo"
            or section[0] == "#"
            or section.endswith("_attributes")
        ):
            continue
        leaf_fields(flat, section, node)


# --- time ---------------------------------------------------------------------------------------


def normalize_time(value: Any) -> str | None:
    """An ISO-8601 UTC string that Arrow casts to ``timestamp[us, UTC]``; None when unreadable.

    Windows times carry 7 fractional digits, some exports none and no zone (taken as UTC).
    """
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            # epoch seconds or milliseconds
            seconds = value / 1000 if value > 1e11 else value
            try:
                return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
            except (OverflowError, OSError, ValueError):
                return None
        return None
    n = len(value)
    if 20 <= n <= 27 and value[-1] == "Z" and value[10] == "T" and value[19] in ".Z":
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _to_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


_from_iso: Final = dt.datetime.fromisoformat


# --- dedup --------------------------------------------------------------------------------------


class _IdRanges:
    """Record ids seen for one (Computer, Channel), as sorted closed ranges, with each record's time.

    EVTX record ids run consecutively, so a whole file costs one range plus 8 bytes per record.
    The time tells a true duplicate (same record in two exports) from a different event that reuses
    the id after the log was reset, as on lab machines reverted to a snapshot.
    """

    __slots__ = ("ends", "last", "starts", "times")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.times: list[array[int]] = []
        self.last = -1

    def add(self, rid: int, stamp: int = 0) -> bool:
        """Record ``rid`` seen at ``stamp``; False when that record was already seen."""
        starts, ends, times = self.starts, self.ends, self.times
        i = self.last
        if not (i >= 0 and rid == ends[i] + 1 and (i + 1 == len(starts) or starts[i + 1] > rid)):
            i = bisect.bisect_right(starts, rid) - 1
            if i >= 0 and rid <= ends[i]:
                self.last = i
                # same id: a duplicate only when it is the same event; else a reused id, kept
                return times[i][rid - starts[i]] != stamp
        if i >= 0 and rid == ends[i] + 1:
            ends[i] = rid
            times[i].append(stamp)
        elif i + 1 < len(starts) and starts[i + 1] == rid + 1:
            i += 1
            starts[i] = rid
            times[i].insert(0, stamp)
        else:
            i += 1
            starts.insert(i, rid)
            ends.insert(i, rid)
            times.insert(i, array("q", [stamp]))
        self._join_next(i)
        return True

    def _join_next(self, i: int) -> None:
        """Merge range ``i`` with the next one when they touch, and remember ``i`` as the last used."""
        starts, ends, times = self.starts, self.ends, self.times
        if i + 1 < len(starts) and starts[i + 1] == ends[i] + 1:
            ends[i] = ends[i + 1]
            times[i].extend(times[i + 1])
            del starts[i + 1], ends[i + 1], times[i + 1]
        self.last = i

    def add_bulk(self, rids: np.ndarray, stamps: list[int]) -> bool:
        """Add ids none of which was seen (nor repeats) at once; False, changing nothing, otherwise.

        The ranges end up exactly as ``add`` called on each id would leave them.
        """
        order = np.argsort(rids, kind="stable")
        ids = rids[order]
        if len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all()):
            return False
        breaks = np.flatnonzero(np.diff(ids) != 1) + 1
        lows = np.concatenate(([0], breaks)).tolist()
        highs = np.concatenate((breaks, [len(ids)])).tolist()
        runs = [(int(ids[lo]), int(ids[hi - 1]), lo, hi) for lo, hi in zip(lows, highs, strict=True)]
        starts, ends, times = self.starts, self.ends, self.times
        for a, b, _, _ in runs:
            i = bisect.bisect_right(starts, b) - 1
            if i >= 0 and ends[i] >= a:
                return False
        sorted_stamps = np.asarray(stamps, dtype=np.int64)[order]
        for a, b, lo, hi in runs:
            stamp_run = array("q", sorted_stamps[lo:hi].tobytes())
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and ends[i] + 1 == a:
                ends[i] = b
                times[i].extend(stamp_run)
            else:
                i += 1
                starts.insert(i, a)
                ends.insert(i, b)
                times.insert(i, stamp_run)
            self._join_next(i)
        return True


#: Batches up to this many rows are checked for duplicates record by record.
_SMALL_BATCH: Final = 4096

#: ``run_state`` flag of a worker reading for a parallel run: see ``WindowsEvents`` and ``drop_duplicates``.
DEFER_DEDUP: Final = "windows.defer_dedup"


def drop_duplicates(run_state: dict[str, Any], raw: pa.RecordBatch) -> np.ndarray:
    """The keep-mask of a ``raw`` batch a deferring reader emitted (with its ``_stamp`` column).

    Called on every such batch in input order, it drops exactly the records a serial read of the
    same inputs drops as duplicates, and records the rest as seen for the inputs that follow.
    """
    seen = run_state.setdefault("windows.seen", {})
    n = raw.num_rows
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep
    if n <= _SMALL_BATCH:  # record by record, as a serial read does: cheaper than the vectorized setup
        columns = (raw.column(c).to_pylist() for c in ("host", "channel", "record_id", "_stamp"))
        by_pair: dict[tuple[str, str], _IdRanges] = {}  # the ranges per (host, channel) as written
        for row, (computer, channel, rid, stamp) in enumerate(zip(*columns, strict=True)):
            if rid is not None and computer and channel:
                ranges = by_pair.get((computer, channel))
                if ranges is None:
                    key = (computer.casefold(), channel.casefold())
                    ranges = seen.get(key)
                    if ranges is None:
                        ranges = seen[key] = _IdRanges()
                    by_pair[computer, channel] = ranges
                if not ranges.add(rid, hash(stamp)):
                    keep[row] = False
        return keep
    rid = raw.column("record_id")
    host = raw.column("host").dictionary_encode()
    chan = raw.column("channel").dictionary_encode()
    valid = rid.is_valid().to_numpy(zero_copy_only=False)
    codes: list[np.ndarray] = []
    folded: list[list[str]] = []
    for enc in (host, chan):
        names: dict[str, int] = {}
        fold = [names.setdefault(v.casefold(), len(names)) if v else -1 for v in enc.dictionary.to_pylist()]
        idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        mapped = np.asarray([*fold, -1], dtype=np.int64)[idx]  # index -1 (null) picks the trailing -1
        valid &= mapped >= 0
        codes.append(mapped)
        folded.append(list(names))
    width = max(len(folded[1]), 1)
    code = np.where(valid, codes[0] * width + codes[1], -1)
    if not valid.any():
        return keep
    rids = rid.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    stamp = raw.column("_stamp")
    for c in np.unique(code[valid]).tolist():
        rows = np.flatnonzero(code == c)
        key = (folded[0][c // width], folded[1][c % width])
        ranges = seen.get(key)
        if ranges is None:
            ranges = seen[key] = _IdRanges()
        stamps = [hash(t) for t in stamp.take(pa.array(rows)).to_pylist()]
        ids = rids[rows]
        if ranges.add_bulk(ids, stamps):
            continue
        for row, one, st in zip(rows.tolist(), ids.tolist(), stamps, strict=True):
            if not ranges.add(one, st):
                keep[row] = False
    return keep


def _seen(ctx: ReadContext) -> dict[tuple[str, str], _IdRanges]:
    seen: dict[tuple[str, str], _IdRanges] | None = ctx.run_state.get("windows.seen")
    if seen is None:
        seen = ctx.run_state["windows.seen"] = {}
    return seen


# --- mapping ------------------------------------------------------------------------------------


def _val(flat: Mapping[str, Any], name: str) -> str | None:
    """A field's value, None for absent, empty and Windows' "-" placeholder."""
    value = flat.get(name)
    if type(value) is str:  # what flat field sets hold
        return value if value and value != "-" else None
    if value is None or value == "" or value == "-":
        return None
    return value if isinstance(value, str) else str(value)


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith("::ffff:"):
        value = value[7:]
    return value or None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value, 0) if value[:2].lower() == "0x" else int(value)
    except ValueError:
        return None


def _port(value: str | None) -> int | None:
    port = _int(value)
    return port if port is not None and 0 < port < 65536 else None


def _account(flat: Flat, user_field: str, domain_field: str | None) -> tuple[str | None, str | None]:
    user, domain = normalize_user(_val(flat, user_field))
    if domain is None and domain_field is not None:
        raw_domain = _val(flat, domain_field)
        domain = raw_domain.casefold() if raw_domain else None
    return user, domain


def _code(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value.startswith("0x"):
        try:
            return hex(int(value, 16))
        except ValueError:
            return value
    return value


def _is_security(provider: str | None, channel: str | None) -> bool:
    if provider is not None:
        return provider == _SECURITY_PROVIDER
    return channel is None or channel.casefold() in ("security", "forwardedevents")


def _is_sysmon(provider: str | None, channel: str | None) -> bool:
    return provider == _SYSMON_PROVIDER or channel == _SYSMON_CHANNEL


#: The tables :class:`WindowsEvents` fills besides ``raw``, in the order it emits them.
_MAPPED: Final = ("auth", "process", "file", "tamper")

#: A raw row as gathered: time (text), host, ref_record, channel, provider, event_id, record_id,
#: fields (JSON text); converted to Arrow in one call per batch.
_RAW_ROW: Final = pa.struct(
    [
        pa.field("time", pa.string()),
        pa.field("host", pa.string()),
        pa.field("ref_record", pa.int64()),
        pa.field("channel", pa.string()),
        pa.field("provider", pa.string()),
        pa.field("event_id", pa.int32()),
        pa.field("record_id", pa.int64()),
        pa.field("fields", pa.string()),
    ]
)


#: A long run of each source format name: a raw batch's ``source_format`` column is a slice of it.
_CONSTANTS: dict[str, pa.Array] = {}


def _constant(value: str, n: int) -> pa.Array:
    run = _CONSTANTS.get(value)
    if run is None or len(run) < n:
        run = _CONSTANTS[value] = pa.array(
            [value] * max(n, 2 * len(run) if run is not None else 256), pa.string()
        )
    return run.slice(0, n)


class WindowsEvents:
    """Fills every table from flat Windows field dicts, for one input; counts each record once."""

    def __init__(self, ctx: ReadContext, source_format: str, batch_rows: int = BATCH_ROWS) -> None:
        self.ctx = ctx
        self.source_format = source_format
        self.ref_file = ctx.path
        self.batch_rows = batch_rows
        self._seen = _seen(ctx)
        #: The ranges of ``_seen`` by (Computer, Channel) as written, saving their case folding.
        self._ranges: dict[tuple[str, str], _IdRanges] = {}
        #: Parallel reading: duplicates are not dropped here but by the process that gathers every
        #: input in order (:func:`drop_duplicates`); raw rows carry ``_stamp``, the others ``_seq``.
        self._defer = bool(ctx.run_state.get(DEFER_DEDUP))
        self._n_raw = 0
        self._seqs: dict[str, list[int]] = {}
        #: Made on first use: most inputs fill few of the tables, or none.
        self._builders: dict[str, RowBuilder] = {}
        self._raw_rows: list[tuple[Any, ...]] = []

    def add(self, flat: dict[str, Any], ref_record: int) -> bool:
        """Map one record; False (and counted as skipped) when it is a duplicate or has no time."""
        rid_text = flat.get("EventRecordID")
        rid: int | None = None
        if rid_text is not None:
            try:
                rid = int(rid_text)
            except (TypeError, ValueError):
                rid = None
        return self.add_values(
            flat,
            flat.get("TimeCreated"),
            flat.get("Computer"),
            flat.get("Channel"),
            flat.get("Provider_Name"),
            flat.get("EventID"),
            rid,
            ref_record,
        )

    def add_values(
        self,
        flat: dict[str, Any],
        time: Any,
        computer: str | None,
        channel: str | None,
        provider: str | None,
        eid: int | None,
        rid: int | None,
        ref_record: int,
    ) -> bool:
        """:meth:`add`, given the values of ``flat`` it reads (``rid``: EventRecordID as an int)."""
        # normalize_time's first test inlined: the evtx crate's times pass it as they are
        if not (
            type(time) is str
            and 20 <= len(time) <= 27
            and time[-1] == "Z"
            and time[10] == "T"
            and time[19] in ".Z"
        ):
            time = normalize_time(time)
            if time is None:
                self.ctx.skip("no_time")
                return False
            flat["TimeCreated"] = time
        if rid is not None and computer and channel and not self._defer:
            ranges = self._ranges.get((computer, channel))
            if ranges is None:
                key = (computer.casefold(), channel.casefold())
                ranges = self._seen.get(key)
                if ranges is None:
                    ranges = self._seen[key] = _IdRanges()
                self._ranges[(computer, channel)] = ranges
            if not ranges.add(rid, hash(time)):
                self.ctx.skip("duplicate")
                return False
        self._raw_rows.append(
            (
                time,
                computer,
                ref_record,
                channel,
                provider,
                eid if eid is None or -(2**31) <= eid < 2**31 else None,
                rid,
                # decoded: orjson's bytes keep their whole write buffer (8 KiB or more) allocated
                orjson.dumps(flat).decode(),
            )
        )
        self._n_raw += 1
        handler = _HANDLERS.get(eid) if eid is not None else None
        if handler is not None:
            handler(self, flat, provider, channel, ref_record)
        self.ctx.parsed()
        return True

    def _row(self, table: str, flat: Mapping[str, Any], ref_record: int, **row: Any) -> None:
        self._put(table, flat, ref_record, row)

    def _put(self, table: str, flat: Mapping[str, Any], ref_record: int, row: dict[str, Any]) -> None:
        if self._defer:
            self._seqs.setdefault(table, []).append(self._n_raw - 1)
        row["time"] = _from_iso(flat["TimeCreated"])
        row["host"] = flat.get("Computer")
        row["ref_record"] = ref_record
        row["event_code"] = str(flat.get("EventID"))
        builder = self._builders.get(table)
        if builder is None:
            builder = self._builders[table] = RowBuilder(
                table, self.source_format, self.ref_file, self.batch_rows
            )
        builder.append(row)

    def batch_full(self) -> bool:
        """True when a batch is ready (every record has a raw row, so raw fills first)."""
        return len(self._raw_rows) >= self.batch_rows

    def ready(self) -> Iterator[Batch]:
        """Yield every table's rows once the raw batch is full."""
        if len(self._raw_rows) >= self.batch_rows:
            yield from self.flush()

    def flush(self) -> Iterator[Batch]:
        """Yield everything gathered so far."""
        if self._raw_rows:
            yield self._raw_batch()
        for name in _MAPPED:
            builder = self._builders.get(name)
            if builder is None:
                continue
            for table, batch in builder.flush():
                if self._defer:
                    seqs = pa.array(self._seqs.pop(table), pa.int64())
                    batch = batch.append_column("_seq", seqs)
                yield table, batch

    def _raw_batch(self) -> Batch:
        rows, self._raw_rows = self._raw_rows, []
        n = len(rows)
        times, host, ref, channel, provider, eid, rid, fields = pa.array(rows, _RAW_ROW).flatten()
        try:
            time_col = times.cast(TIME)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            time_col = pa.array([_to_datetime(row[0]) for row in rows], TIME)
        arrays = [
            time_col,
            host,
            _constant(self.source_format, n),
            pa.array([self.ref_file] * n, pa.string()),
            ref,
            channel,
            provider,
            eid,
            rid,
            fields,
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=RAW)
        if self._defer:
            return "raw", batch.append_column("_stamp", times)
        return "raw", batch

    # --- auth ---------------------------------------------------------------------------------

    def _auth(
        self,
        flat: Mapping[str, Any],
        ref_record: int,
        user_field: str,
        domain_field: str | None,
        **row: Any,
    ) -> None:
        raw_user = _val(flat, user_field)
        user, domain = _account(flat, user_field, domain_field)
        if "src_ip" not in row:
            row["src_ip"] = _ip(_val(flat, "IpAddress"))
        if "src_port" not in row:
            row["src_port"] = _port(_val(flat, "IpPort"))
        row["user"] = user
        row["domain"] = domain
        row["is_machine"] = raw_user.endswith("$") if raw_user else None
        self._put("auth", flat, ref_record, row)

    def logon(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4624 successful logon, 4625 failed logon."""
        if not _is_security(provider, channel):
            return
        failed = flat.get("EventID") == 4625
        reason = raw_reason = None
        if failed:
            status, sub = _code(_val(flat, "Status")), _code(_val(flat, "SubStatus"))
            # SubStatus is the specific cause when Status is a generic one (0xc000006d, 0xc000006e)
            specific = sub if sub not in (None, "0x0") and sub in NT_STATUS else None
            raw_reason = specific or status or sub
            reason = NT_STATUS.get(raw_reason or "", "other")
        package = (_val(flat, "AuthenticationPackageName") or "").strip().casefold()
        method = _PACKAGES.get(package, package or None)
        self._auth(
            flat,
            ref,
            "TargetUserName",
            "TargetDomainName",
            outcome="failure" if failed else "success",
            reason=reason,
            raw_reason=raw_reason,
            method=method,
            logon_type=_val(flat, "LogonType"),
            application=_val(flat, "ProcessName"),
            session_id=_val(flat, "TargetLogonId"),
        )

    def explicit(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4648 logon with explicit credentials: an attempt, its outcome is not in the event."""
        if not _is_security(provider, channel):
            return
        self._auth(
            flat,
            ref,
            "TargetUserName",
            "TargetDomainName",
            outcome="unknown",
            application=_val(flat, "ProcessName"),
            session_id=_val(flat, "SubjectLogonId"),
        )

    def kerberos(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4768 TGT request, 4771 pre-authentication failed."""
        if not _is_security(provider, channel):
            return
        status = _code(_val(flat, "Status"))
        ok = status == "0x0" and flat.get("EventID") == 4768
        domain_field = "TargetDomainName" if flat.get("EventID") == 4768 else None
        self._auth(
            flat,
            ref,
            "TargetUserName",
            domain_field,
            outcome="success" if ok else "failure",
            reason=None if ok else KERBEROS_STATUS.get(status or "", "other"),
            raw_reason=None if ok else status,
            method="kerberos",
            application=_val(flat, "ServiceName"),
        )

    def ntlm(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4776 NTLM credential validation (no client address, only its workstation name)."""
        if not _is_security(provider, channel):
            return
        status = _code(_val(flat, "Status"))
        ok = status in (None, "0x0")
        self._auth(
            flat,
            ref,
            "TargetUserName",
            None,
            outcome="success" if ok else "failure",
            reason=None if ok else NT_STATUS.get(status or "", "other"),
            raw_reason=None if ok else status,
            method="ntlm",
        )

    def lockout(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4740 account locked out (its TargetDomainName is the caller computer, not the domain)."""
        if not _is_security(provider, channel):
            return
        self._auth(
            flat,
            ref,
            "TargetUserName",
            "SubjectDomainName",
            outcome="failure",
            reason="locked",
            raw_reason="4740",
        )

    # --- process / file / tamper --------------------------------------------------------------

    def sysmon_process(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """Sysmon 1 process created."""
        if not _is_sysmon(provider, channel):
            return
        user, domain = normalize_user(_val(flat, "User"))
        self._row(
            "process",
            flat,
            ref,
            user=user,
            domain=domain,
            pid=_int(_val(flat, "ProcessId")),
            image=_val(flat, "Image"),
            command_line=_val(flat, "CommandLine"),
            parent_pid=_int(_val(flat, "ParentProcessId")),
            parent_image=_val(flat, "ParentImage"),
            parent_command_line=_val(flat, "ParentCommandLine"),
            integrity_level=_val(flat, "IntegrityLevel"),
            hashes=_val(flat, "Hashes"),
        )

    def security_process(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4688 process created; the new process's account is Target* on Windows 10+, else Subject*."""
        if not _is_security(provider, channel):
            return
        if _val(flat, "TargetUserName") is not None:
            user, domain = _account(flat, "TargetUserName", "TargetDomainName")
        else:
            user, domain = _account(flat, "SubjectUserName", "SubjectDomainName")
        label = _val(flat, "MandatoryLabel")
        self._row(
            "process",
            flat,
            ref,
            user=user,
            domain=domain,
            pid=_int(_val(flat, "NewProcessId")),
            image=_val(flat, "NewProcessName"),
            command_line=_val(flat, "CommandLine"),
            parent_pid=_int(_val(flat, "ProcessId")),
            parent_image=_val(flat, "ParentProcessName"),
            integrity_level=_INTEGRITY.get(label, label) if label else None,
        )

    def sysmon_file(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """Sysmon 11 file created, 23 file deleted (archived), 26 file deletion detected."""
        if not _is_sysmon(provider, channel):
            return
        user, domain = normalize_user(_val(flat, "User"))
        self._row(
            "file",
            flat,
            ref,
            user=user,
            domain=domain,
            action="create" if flat.get("EventID") == 11 else "delete",
            path=_val(flat, "TargetFilename"),
            image=_val(flat, "Image"),
            pid=_int(_val(flat, "ProcessId")),
        )

    def object_access(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4663 an object was accessed: DELETE → delete, WriteData / AppendData → write, else access."""
        if not _is_security(provider, channel):
            return
        mask = _int(_val(flat, "AccessMask")) or 0
        access = _val(flat, "AccessList") or ""
        if mask & 0x10000 or "%%1537" in access:
            action = "delete"
        elif mask & 0x6 or "%%4417" in access or "%%4418" in access:
            action = "write"
        else:
            action = "access"
        user, domain = _account(flat, "SubjectUserName", "SubjectDomainName")
        self._row(
            "file",
            flat,
            ref,
            user=user,
            domain=domain,
            action=action,
            path=_val(flat, "ObjectName"),
            image=_val(flat, "ProcessName"),
            pid=_int(_val(flat, "ProcessId")),
        )

    def log_cleared(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """1102 Security log cleared, 104 any other log cleared (its log named in UserData Channel)."""
        if provider not in (None, "Microsoft-Windows-Eventlog", "Eventlog"):
            return
        target: str | None = "Security"
        if flat.get("EventID") != 1102:
            target = _val(flat, "UserData_Channel") or _val(flat, "EventData_Channel") or channel
        user, domain = _account(flat, "SubjectUserName", "SubjectDomainName")
        self._row(
            "tamper",
            flat,
            ref,
            user=user,
            domain=domain,
            action="log_cleared",
            target=target,
            detail=_val(flat, "BackupPath"),
        )

    def audit_policy(self, flat: Flat, provider: str | None, channel: str | None, ref: int) -> None:
        """4719 system audit policy changed."""
        if not _is_security(provider, channel):
            return
        user, domain = _account(flat, "SubjectUserName", "SubjectDomainName")
        target = _val(flat, "SubcategoryGuid") or _val(flat, "SubcategoryId") or _val(flat, "CategoryId")
        self._row(
            "tamper",
            flat,
            ref,
            user=user,
            domain=domain,
            action="audit_policy_changed",
            target=target,
            detail=_val(flat, "AuditPolicyChanges"),
        )


_Handler = Callable[[WindowsEvents, Mapping[str, Any], "str | None", "str | None", int], None]

_HANDLERS: Final[dict[int, _Handler]] = {
    4624: WindowsEvents.logon,
    4625: WindowsEvents.logon,
    4648: WindowsEvents.explicit,
    4768: WindowsEvents.kerberos,
    4771: WindowsEvents.kerberos,
    4776: WindowsEvents.ntlm,
    4740: WindowsEvents.lockout,
    1: WindowsEvents.sysmon_process,
    4688: WindowsEvents.security_process,
    11: WindowsEvents.sysmon_file,
    23: WindowsEvents.sysmon_file,
    26: WindowsEvents.sysmon_file,
    4663: WindowsEvents.object_access,
    1102: WindowsEvents.log_cleared,
    104: WindowsEvents.log_cleared,
    4719: WindowsEvents.audit_policy,
}
