"""Entra NDJSON in large chunks, columnar: ``pyarrow.json`` parses, ``pyarrow.compute`` maps.

This is the fast path of :mod:`shoreup.sources.entra` for Azure Monitor diagnostic exports and
Graph sign-ins written one per line. It implements the same mapping as ``entra.signin_row`` (the
reference, tested for equality on the same input). A chunk it cannot map exactly — a malformed line,
blank lines, a wrapper line, mixed shapes, a value of an unexpected type, a time Arrow would parse
as a timestamp — is handed whole to the record-by-record path, so the fast path never changes a
result, only its speed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import IO, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from shoreup.schema import AUTH, RAW, TIME
from shoreup.sources import _cloudjson as cj
from shoreup.sources._base import Batch, ReadContext

#: Bytes of NDJSON parsed at once (about 15,000 diagnostic-export sign-ins).
CHUNK_BYTES: Final = 32 << 20

#: pyarrow.json parses blocks of this size in parallel.
_PARSE_BLOCK: Final = 4 << 20
_BLANK_LINE: Final = re.compile(rb"\n[ \t\r]*\n")
_CONTROL: Final = r"[\x00-\x1f]"
_TIMEOUT_RE2: Final = r"(?i)did not respond|no response|timed? ?out|not answered"


class _Fallback(Exception):
    """This chunk needs the record-by-record path."""


def read_ndjson(head: bytes, stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read Entra NDJSON whose first non-blank line is ``head``."""
    line_no = ctx.first_record
    pending = head
    while True:
        chunk = stream.read(CHUNK_BYTES)
        data = pending + chunk
        if chunk:
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
                continue
            block, pending = data[: cut + 1], data[cut + 1 :]
        else:
            block, pending = data, b""
        if block:
            yield from _block(block, line_no, ctx)
            line_no += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        if not chunk:
            return


def _slow(block: bytes, first_no: int, ctx: ReadContext) -> Iterator[Batch]:
    from shoreup.sources import entra

    stream = io.BytesIO(block)
    yield from entra.read_records(cj.iter_ndjson(stream, ctx, entra._WRAPPERS, stream.readline(), first_no), ctx)


def _block(block: bytes, first_no: int, ctx: ReadContext) -> Iterator[Batch]:
    if _BLANK_LINE.search(b"\n" + block) or block.lstrip()[:1] != b"{":
        yield from _slow(block, first_no, ctx)
        return
    try:
        table = pj.read_json(io.BytesIO(block), read_options=pj.ReadOptions(block_size=_PARSE_BLOCK))
        lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        if table.num_rows != lines:
            raise _Fallback
        batches = _map(table, first_no, ctx.path, plain=b"\\" not in block)
    except (_Fallback, pa.ArrowException, KeyError, TypeError, ValueError):
        yield from _slow(block, first_no, ctx)
        return
    auth, raw, skipped = batches
    ctx.skip("not_signin_event", skipped)
    ctx.parsed(auth.num_rows)
    if auth.num_rows:
        yield "auth", auth
        yield "raw", raw


# --- helpers ---------------------------------------------------------------------------------


def _field(arr: pa.Array | None, *path: str) -> pa.Array | None:
    for name in path:
        if arr is None or not pa.types.is_struct(arr.type) or arr.type.get_field_index(name) < 0:
            return None
        arr = pc.struct_field(arr, name)
    if arr is not None and pa.types.is_null(arr.type):
        return None
    return arr


def _string(arr: pa.Array | None) -> pa.Array | None:
    if arr is None:
        return None
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise _Fallback
    return arr


def _text(arr: pa.Array | None, n: int) -> pa.Array:
    """``cj.text``: trimmed, empty → null."""
    if arr is None:
        return pa.nulls(n, pa.string())
    trimmed = pc.utf8_trim_whitespace(_string(arr))
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _first(*arrays: pa.Array | None) -> pa.Array | None:
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    return pc.coalesce(*present) if len(present) > 1 else present[0]


def _list_any(lists: pa.Array, flat_pred: pa.Array) -> pa.Array:
    """Per row of ``lists``: does any element satisfy ``flat_pred`` (aligned with its flattening)?"""
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    hit = np.asarray(pc.fill_null(flat_pred, False).to_numpy(zero_copy_only=False), dtype=bool)
    mask = np.zeros(len(lists), dtype=bool)
    mask[parents[hit]] = True
    return pa.array(mask)


def _list_first(lists: pa.Array, flat_values: pa.Array) -> pa.Array:
    """Per row of ``lists``: the first non-null of ``flat_values`` among its elements."""
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    valid = np.asarray(flat_values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    positions = np.nonzero(valid)[0]
    rows = parents[positions]
    out = np.full(len(lists), -1, dtype=np.int64)
    first = np.unique(rows, return_index=True)
    out[first[0]] = positions[first[1]]
    idx = pa.array(out, mask=out < 0)
    return pc.take(flat_values, idx)


# --- JSON text of columns, for raw.fields -----------------------------------------------------


def _json_values(arr: pa.Array, plain: bool = False) -> pa.Array:
    """Each value as JSON text (null stays null); nulls inside objects are dropped, like ``cj.prune``.

    ``plain``: the input had no backslash, so no string can hold a quote, backslash or control
    character, and none needs escaping.
    """
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if plain:
            return pc.binary_join_element_wise('"', arr, '"', "")
        if pc.any(pc.match_substring_regex(arr, _CONTROL)).as_py():
            return pa.array([None if v is None else orjson.dumps(v).decode() for v in arr.to_pylist()], pa.string())
        esc = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
        return pc.binary_join_element_wise('"', esc, '"', "")
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_struct(t):
        parts = []
        for i in range(t.num_fields):
            name = t.field(i).name
            child = pc.struct_field(arr, name)
            if pa.types.is_null(child.type):
                continue
            key = orjson.dumps(name).decode() + ":"
            parts.append(pc.binary_join_element_wise(key, _json_values(child, plain), ""))
        inner = pc.binary_join_element_wise(*parts, ",", null_handling="skip") if parts else pa.array(
            [""] * len(arr), pa.string()
        )
        obj = pc.binary_join_element_wise("{", inner, "}", "")
        return pc.if_else(arr.is_valid(), obj, pa.scalar(None, pa.string()))
    if pa.types.is_list(t):
        offsets = arr.offsets
        start = offsets[0].as_py()
        values = arr.values.slice(start, offsets[-1].as_py() - start)
        elements = pc.fill_null(_json_values(values, plain), "null")
        rebuilt = pa.ListArray.from_arrays(pc.subtract(offsets, start), elements, mask=arr.is_null())
        joined = pc.binary_join(rebuilt, ",")
        return pc.binary_join_element_wise("[", joined, "]", "")
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    raise _Fallback  # timestamps and other inferred types: the text would not round-trip


def _fragments(arr: pa.Array, prefix: str, out: list[pa.Array], plain: bool) -> None:
    """``"dotted.key":value`` fragments of every leaf below ``arr`` (nested objects flattened)."""
    t = arr.type
    for i in range(t.num_fields):
        name = t.field(i).name
        child = pc.struct_field(arr, name)
        if pa.types.is_null(child.type):
            continue
        if pa.types.is_struct(child.type):
            _fragments(child, prefix + name + ".", out, plain)
            continue
        key = orjson.dumps(prefix + name).decode() + ":"
        if plain and (pa.types.is_string(child.type) or pa.types.is_large_string(child.type)):
            out.append(pc.binary_join_element_wise(key + '"', child, '"', ""))
        else:
            out.append(pc.binary_join_element_wise(key, _json_values(child, plain), ""))


def fields_json(records: pa.StructArray, plain: bool = False) -> pa.Array:
    """``raw.fields`` for every record of a struct array: its fields, flat, nulls dropped."""
    parts: list[pa.Array] = []
    _fragments(records, "", parts, plain)
    if not parts:
        return pa.array(["{}"] * len(records), pa.string())
    inner = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
    return pc.binary_join_element_wise("{", inner, "}", "")


# --- the mapping -----------------------------------------------------------------------------


def _map(
    table: pa.Table, first_no: int, path: str, plain: bool = False
) -> tuple[pa.RecordBatch, pa.RecordBatch, int]:
    from shoreup.sources import entra

    names = set(table.column_names)
    if names & {"records", "value", "Records"}:
        raise _Fallback
    rec: pa.StructArray = table.combine_chunks().to_struct_array().combine_chunks()
    n_all = len(rec)
    props = _field(rec, "properties")
    category = _string(_field(rec, "category"))
    if props is not None:
        if props.null_count or category is None or category.null_count or "Category" in names:
            raise _Fallback
        body = props
    else:
        if category is not None or "Category" in names or "Type" in names:
            raise _Fallback
        body = rec

    # Sign-in rows only; the other categories are counted.
    if category is not None:
        cat_low = pc.utf8_lower(category)
        signin = pc.is_in(cat_low, value_set=pa.array(sorted(entra._SIGNIN_CATEGORIES)))
        keep = pc.indices_nonzero(signin)
        if len(keep) != n_all:
            rec, body, category, cat_low = (pc.take(a, keep) for a in (rec, body, category, cat_low))
    else:
        cat_low = None
        keep = pa.array(np.arange(n_all))
    n = len(rec)
    skipped = n_all - n
    if n == 0:
        return _empty(AUTH), _empty(RAW), skipped

    status = _field(body, "status")
    code = _field(status, "errorCode")
    if code is None or code.null_count:
        result_type = _field(rec, "resultType")
        code = _first(code, pc.cast(result_type, pa.int64()) if result_type is not None else None)
    if code is None or code.null_count:
        raise _Fallback
    code = pc.cast(code, pa.int64())

    created = _string(_field(body, "createdDateTime"))
    stamp = _first(created, _string(_field(rec, "time")))
    if stamp is None or stamp.null_count:
        raise _Fallback
    time = pc.cast(pc.cast(stamp, pa.timestamp("ns", "UTC")), TIME, safe=False)

    if cat_low is None:
        ident = _first(_field(body, "appId"), _field(body, "userPrincipalName"))
        if ident is None or ident.null_count:
            raise _Fallback

    # Outcome and reason.
    reason_codes = pa.array(list(entra._REASONS), pa.int64())
    reason_names = pa.array(list(entra._REASONS.values()), pa.string())
    reason = pc.take(reason_names, pc.index_in(code, value_set=reason_codes))
    is_zero = pc.equal(code, 0)
    interrupt = pc.is_in(code, value_set=pa.array(sorted(entra._INTERRUPTS), pa.int64()))
    reason = pc.if_else(is_zero, pa.scalar(None, pa.string()), pc.coalesce(reason, "other"))
    outcome = pc.if_else(is_zero, "success", pc.if_else(interrupt, "unknown", "failure"))

    details = _field(body, "authenticationDetails")
    if details is not None and not pa.types.is_list(details.type):
        raise _Fallback
    flat = pc.list_flatten(details) if details is not None else None
    if flat is not None and not (pa.types.is_struct(flat.type) or pa.types.is_null(flat.type)):
        raise _Fallback
    step_result = _string(_field(flat, "authenticationStepResultDetail")) if flat is not None else None
    step_method = _string(_field(flat, "authenticationMethod")) if flat is not None else None
    step_ok = _field(flat, "succeeded") if flat is not None else None

    timeout = pa.array(np.zeros(n, dtype=bool))
    for part in (_field(status, "failureReason"), _field(status, "additionalDetails")):
        if part is not None:
            timeout = pc.or_(timeout, pc.fill_null(pc.match_substring_regex(_string(part), _TIMEOUT_RE2), False))
    if details is not None and step_result is not None:
        timeout = pc.or_(timeout, _list_any(details, pc.match_substring_regex(step_result, _TIMEOUT_RE2)))
    reason = pc.if_else(pc.and_(pc.equal(reason, "mfa_denied"), timeout), "mfa_timeout", reason)

    # MFA used.
    mfa_method = _text(_field(body, "mfaDetail", "authMethod"), n)
    mfa_any = pc.is_valid(mfa_method)
    if details is not None and flat is not None and len(flat):
        step_hit = pa.array(np.zeros(len(flat), dtype=bool))
        if step_result is not None:
            res = pc.utf8_lower(step_result)
            step_hit = pc.or_(step_hit, pc.and_(
                pc.match_substring(res, "mfa"),
                pc.or_(pc.match_substring(res, "completed"), pc.match_substring(res, "satisfied")),
            ))
        if step_method is not None and step_ok is not None:
            meth = pc.utf8_lower(_text(step_method, len(flat)))
            strong = pc.and_(pc.is_valid(meth), pc.invert(pc.is_in(meth, value_set=pa.array(
                sorted(entra._PASSWORD_METHODS)))))
            step_hit = pc.or_(step_hit, pc.and_(strong, pc.equal(step_ok, True)))
        mfa_any = pc.or_(mfa_any, _list_any(details, step_hit))
    requirement = _text(_field(body, "authenticationRequirement"), n)
    req = pc.replace_substring_regex(pc.utf8_lower(requirement), r"[- ]", "")
    multi = pc.fill_null(pc.starts_with(req, "multifactor"), False)
    single = pc.fill_null(pc.starts_with(req, "singlefactor"), False)
    null_bool = pa.scalar(None, pa.bool_())
    mfa = pc.if_else(
        pc.fill_null(mfa_any, False),
        True,
        pc.if_else(multi, pc.if_else(is_zero, True, null_bool), pc.if_else(single, False, null_bool)),
    )

    # Method: legacy client, else protocol, else the first step's method.
    client = _text(_field(body, "clientAppUsed"), n)
    client_low = pc.utf8_lower(client)
    slug = pc.utf8_trim(pc.replace_substring_regex(client_low, r"[^a-z0-9]+", "_"), "_")
    legacy_ok = pc.and_(
        pc.invert(pc.fill_null(pc.is_in(client_low, value_set=pa.array(sorted(entra._MODERN_CLIENTS))), True)),
        pc.not_equal(slug, ""),
    )
    legacy = pc.if_else(pc.fill_null(legacy_ok, False), pc.binary_join_element_wise("legacy:", slug, ""),
                        pa.scalar(None, pa.string()))
    protocol = pc.utf8_lower(_text(_field(body, "authenticationProtocol"), n))
    protocol = pc.if_else(pc.fill_null(pc.is_in(protocol, value_set=pa.array(["none", "unknownfuturevalue"])),
                                       False), pa.scalar(None, pa.string()), protocol)
    candidates = [legacy, protocol]
    if details is not None and step_method is not None:
        candidates.append(pc.utf8_lower(_list_first(details, _text(step_method, len(step_method)))))
    method = pc.coalesce(*candidates)

    # Account.
    machine = (
        pc.is_in(cat_low, value_set=pa.array(sorted(entra._MACHINE_CATEGORIES)))
        if cat_low is not None else pa.array(np.zeros(n, dtype=bool))
    )
    upn_raw = _first(_field(body, "userPrincipalName"), _field(body, "signInIdentifier"))
    user, domain = _normalize_user(_text(upn_raw, n))
    if pc.any(machine).as_py():
        sp = pc.utf8_lower(_text(_first(_field(body, "servicePrincipalName"), _field(body, "appDisplayName")), n))
        user = pc.if_else(machine, sp, user)
        domain = pc.if_else(machine, pa.scalar(None, pa.string()), domain)

    # Network, client, place.
    ip = _string(_field(body, "ipAddress"))
    ip = _first(pc.if_else(pc.equal(ip, ""), pa.scalar(None, pa.string()), ip) if ip is not None else None,
                _string(_field(rec, "callerIpAddress")))
    src_ip = _clean_ip(_text(ip, n))
    location = _field(body, "location")
    if location is not None and pa.types.is_struct(location.type):
        country = _text(_field(location, "countryOrRegion"), n)
    else:
        country = _text(location, n)
    country = pc.if_else(pc.equal(pc.utf8_length(country), 2), country, pa.scalar(None, pa.string()))
    asn = _field(body, "autonomousSystemNumber")
    if asn is None:
        asn = pa.nulls(n, pa.int64())
    elif not pa.types.is_integer(asn.type):
        raise _Fallback
    tenant = _text(_string(_field(rec, "tenantId")), n) if props is not None else pa.nulls(n, pa.string())
    host = pc.coalesce(tenant, _text(_first(_field(body, "resourceTenantId"), _field(body, "homeTenantId")), n))
    user_agent = pc.coalesce(_text(_field(body, "userAgent"), n), client)
    if category is not None:
        event_code = category
        channel = category
        logon_type = pc.if_else(
            pc.equal(cat_low, "signinlogs"),
            "interactive",
            pc.replace_substring_regex(pc.replace_substring_regex(cat_low, "^aad", ""), "signinlogs$", ""),
        )
    else:
        event_code = pa.array(["signIn"] * n, pa.string())
        channel = pa.array(["signIns"] * n, pa.string())
        interactive = _field(body, "isInteractive")
        if interactive is None:
            logon_type = pa.nulls(n, pa.string())
        elif not pa.types.is_boolean(interactive.type):
            raise _Fallback
        else:
            logon_type = pc.if_else(interactive, "interactive", "noninteractiveuser")

    ref = pc.add(pc.cast(keep, pa.int64()), first_no)
    common = {
        "time": time,
        "host": host,
        "source_format": pa.array([entra.FORMAT] * n, pa.string()),
        "ref_file": pa.array([path] * n, pa.string()),
        "ref_record": ref,
    }
    columns = {
        **common,
        "user": user,
        "domain": domain,
        "src_ip": src_ip,
        "src_port": pa.nulls(n, pa.int32()),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": pc.cast(code, pa.string()),
        "method": method,
        "mfa_used": mfa,
        "user_agent": user_agent,
        "application": _text(_field(body, "appDisplayName"), n),
        "country": country,
        "asn": pc.cast(asn, pa.int64()),
        "event_code": event_code,
        "logon_type": logon_type,
        "is_machine": machine,
        "session_id": _text(_first(_field(body, "correlationId"), _field(body, "sessionId")), n),
    }
    auth = pa.RecordBatch.from_arrays([pc.cast(columns[f.name], f.type) for f in AUTH], schema=AUTH)
    raw_cols = {
        **common,
        "channel": channel,
        "provider": pa.array(["Microsoft.aadiam"] * n, pa.string()),
        "event_id": pa.nulls(n, pa.int32()),
        "record_id": pa.nulls(n, pa.int64()),
        "fields": fields_json(rec, plain),
    }
    raw = pa.RecordBatch.from_arrays([pc.cast(raw_cols[f.name], f.type) for f in RAW], schema=RAW)
    return auth, raw, skipped


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _normalize_user(name: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``schema.normalize_user`` on a column: ``DOMAIN\\user`` and ``user@domain`` split, case-folded."""
    null = pa.scalar(None, pa.string())
    name = pc.if_else(pc.equal(name, "-"), null, name)
    backslash = pc.extract_regex(name, r"(?s)^(?P<d>[^\\]*)\\(?P<u>.*)$")
    at = pc.extract_regex(name, r"(?s)^(?P<u>.*)@(?P<d>[^@]*)$")
    has_bs = pc.fill_null(pc.is_valid(backslash), False)
    has_at = pc.fill_null(pc.is_valid(at), False)
    user = pc.if_else(has_bs, pc.struct_field(backslash, "u"), pc.if_else(has_at, pc.struct_field(at, "u"), name))
    domain = pc.if_else(has_bs, pc.struct_field(backslash, "d"), pc.if_else(has_at, pc.struct_field(at, "d"), null))
    user = pc.utf8_lower(user)
    domain = pc.utf8_lower(domain)
    user = pc.if_else(pc.equal(user, ""), null, user)
    domain = pc.if_else(pc.equal(domain, ""), null, domain)
    ascii_ok = pc.fill_null(pc.string_is_ascii(name), True)
    if not pc.all(ascii_ok).as_py():
        # casefold() is not lower(): redo the few non-ASCII names exactly as the reference does.
        from shoreup.schema import normalize_user

        pairs = [normalize_user(v) for v in name.to_pylist()]
        user = pa.array([p[0] for p in pairs], pa.string())
        domain = pa.array([p[1] for p in pairs], pa.string())
    return user, domain


def _clean_ip(ip: pa.Array) -> pa.Array:
    low = pc.utf8_lower(ip)
    mapped = pc.fill_null(pc.and_(pc.starts_with(low, "::ffff:"), pc.match_substring(ip, ".")), False)
    ip = pc.if_else(mapped, pc.utf8_slice_codeunits(ip, 7), ip)
    return pc.if_else(pc.equal(ip, "-"), pa.scalar(None, pa.string()), ip)
