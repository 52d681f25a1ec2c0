"""Web server access logs (Apache / nginx combined and common format, JSON access logs): login requests.

Reference: Apache ``mod_log_config`` "Common Log Format" and "Combined Log Format"
(``%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-agent}i\\"``) and Debian's "vhost_combined"
(``%v:%p`` first), nginx ``log_format combined`` and the ``main`` of its default configuration (which
appends ``"$http_x_forwarded_for"``).
JSON access logs are read with the usual key names (nginx ``escape=json`` templates, ECS, Traefik,
Caddy-like flat keys): remote_addr / client_ip / clientip / source.ip, request or method + uri /
path, status, http_user_agent, time_local / @timestamp / time.

Only sign-in attempts become events: a ``POST`` whose path (query removed, case-folded) starts with
a login endpoint — ``/login``, ``/signin``, ``/wp-login.php``, ``/xmlrpc.php``, ``/user/login``,
``/api/auth`` and any given with ``ReadOptions.login_paths``. Every other request is counted as
skipped with reason "not_login_request", lines that are not access-log lines as "malformed_line".

The outcome rule, because a web server only sees the status code:

* 401, 403 → failure (reason ``other``: the server does not say why); 429 → failure, ``restriction``;
* 302, 303 → success (the usual redirect after a good sign-in form post);
* 200 and everything else → ``unknown``: a form re-displayed with an error is also a 200
  (WordPress answers a bad password with 200, XML-RPC always answers 200).

The user is ``%u`` (HTTP authentication user) when present, else null; method ``password``;
application = the request path; host = the virtual host (``%v``, JSON ``server_name`` / ``host``).

Behind a reverse proxy or load balancer every request comes from the proxy's address. When the
address logged is a private one (RFC 1918, carrier-grade NAT, loopback, link-local, unique local) and
the request carries ``X-Forwarded-For``, the source is the rightmost address there that is not a
private one — each proxy appends the address it saw, so the entries to its left are the client's own
claim and never trusted (nginx ``real_ip_recursive`` with the private ranges trusted). A public
sender's header is ignored, unless its network is given as a trusted proxy
(``ReadOptions.trusted_proxies``, ``--trusted-proxy CIDR``: a CDN such as Cloudflare in front of the
site).

Login requests also go to ``raw`` with Sigma's web server field names (``c-ip``, ``cs-method``,
``cs-uri-stem``, ``cs-uri-query``, ``sc-status``, ``cs-user-agent``, ``cs-host``, ``x-forwarded-for`` …).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterator
from typing import IO, Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from shoreup.schema import TIME, normalize_user
from shoreup.sources import _cloudjson as cj
from shoreup.sources._base import BATCH_ROWS, Batch, ReadContext, ReadOptions
from shoreup.sources._sshd_lines import lines_array

FORMAT: Final = "weblog"

DEFAULT_LOGIN_PATHS: Final = ("/login", "/signin", "/wp-login.php", "/xmlrpc.php", "/user/login", "/api/auth")
_FAILURE: Final = frozenset({401, 403, 429})
_SUCCESS: Final = frozenset({302, 303})

# Reference: Apache combined / common log format, Apache "vhost_combined" (``%v:%p`` first: Debian's
# other_vhosts_access.log), nginx "combined" and its default "main" (``"$http_x_forwarded_for"`` last).
# Referer and user agent optional.
_LINE: Final = (
    r"^(?:(?P<vhost>[^\s:]+:\d+) )?(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\] "
    r'"(?P<method>[A-Za-z]+) (?P<target>\S+)(?: (?P<proto>[^"]*))?" '
    r"(?P<status>\d{3}) (?P<bytes>\S+)"
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"(?: "(?P<xff>[^"]*)")?)?.*$'
)
#: The addresses of a reverse proxy or load balancer in front of the server (RFC 1918, carrier-grade
#: NAT, loopback, link-local, unique local): a request from one came from the client its
#: X-Forwarded-For names last.
_PROXY_NETS: Final = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
              "::1/128", "fc00::/7", "fe80::/10")
)
_LINE_RE: Final = re.compile(_LINE)
_CHUNK: Final = 8 << 20

_JSON_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "ip": ("remote_addr", "client_ip", "clientip", "remote_ip", "client.ip", "source.ip", "ClientHost", "ip"),
    "user": ("remote_user", "user", "user.name", "ClientUsername"),
    "time": ("time_local", "@timestamp", "time", "timestamp", "time_iso8601", "StartUTC", "ts"),
    "request": ("request", "request_line"),
    "method": ("method", "request_method", "http.request.method", "RequestMethod", "request.method"),
    "target": ("uri", "request_uri", "path", "url.original", "url.path", "RequestPath", "request.uri", "url"),
    "status": ("status", "status_code", "response", "http.response.status_code", "DownstreamStatus"),
    "ua": ("http_user_agent", "user_agent", "agent", "user_agent.original", "request_User-Agent",
           "request.headers.User-Agent"),
    "referer": ("http_referer", "referer", "referrer", "http.request.referrer"),
    "bytes": ("body_bytes_sent", "bytes", "size", "http.response.body.bytes", "DownstreamContentSize"),
    "xff": ("http_x_forwarded_for", "x_forwarded_for", "xff", "http.request.headers.x-forwarded-for",
            "request_X-Forwarded-For"),
    "vhost": ("server_name", "vhost", "http_host", "host", "url.domain", "RequestHost"),
}


def sniff(head: bytes, name: str) -> bool:
    """A first line in combined / common log format, or a JSON object with access-log keys."""
    line = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if line.startswith("{"):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(obj, dict):
            return False
        flat = cj.flatten(obj)
        has = {key: any(k in flat for k in names) for key, names in _JSON_KEYS.items()}
        return has["ip"] and has["status"] and (has["request"] or has["target"])
    return _LINE_RE.match(line) is not None


def login_paths(ctx: ReadContext) -> tuple[str, ...]:
    extra = tuple(p.strip().casefold() for p in ctx.options.login_paths if p.strip())
    return tuple(dict.fromkeys(DEFAULT_LOGIN_PATHS + extra))


def read(stream: IO[bytes], ctx: ReadContext) -> Iterator[Batch]:
    """Read one access log: login requests to ``auth`` and ``raw``, the rest counted as skipped."""
    paths = login_paths(ctx)
    first = stream.readline()
    blank = 0
    while first and not first.strip():
        blank += 1
        first = stream.readline()
    if not first:
        return
    line_no = ctx.first_record + blank  # a range of the file (parallel reading) starts at its own line
    if first.lstrip(b"\xef\xbb\xbf \t").startswith(b"{"):
        yield from _read_json(first, stream, ctx, paths, line_no)
    else:
        yield from _read_text(first, stream, ctx, paths, line_no)


# --- text: vectorized over chunks of lines ----------------------------------------------------


def _read_text(
    first: bytes, stream: IO[bytes], ctx: ReadContext, paths: tuple[str, ...], line_no: int
) -> Iterator[Batch]:
    pending = b""
    chunk = first + stream.read(_CHUNK)
    while chunk:
        data = pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
        else:
            pending = data[cut + 1 :]
            yield from _text_lines(data[:cut], line_no, ctx, paths)
            line_no += data.count(b"\n", 0, cut) + 1
        chunk = stream.read(_CHUNK)
    if pending:
        yield from _text_lines(pending, line_no, ctx, paths)


def _line_array(block: bytes) -> pa.Array:
    """The lines of ``block`` (split on ``\\n``) as one string array, built from the bytes; a block that
    is not UTF-8 (attacker-sent bytes) is decoded with U+FFFD for what is not."""
    lines = lines_array(block).array
    try:
        lines.validate(full=True)
    except pa.ArrowInvalid:
        lines = lines_array(block.decode("utf-8", "replace").encode("utf-8")).array
    return lines


def _text_lines(block: bytes, first_no: int, ctx: ReadContext, paths: tuple[str, ...]) -> Iterator[Batch]:
    arr = pc.utf8_rtrim(_line_array(block), characters="\r")
    valid = pc.match_substring_regex(arr, pattern=_LINE)  # no captures: RE2's fast path
    n_valid = pc.sum(valid).as_py() or 0
    rest = arr.filter(pc.invert(valid))  # an access-log line is never blank
    n_blank = pc.sum(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(rest)), 0)).as_py() or 0
    ctx.skip("malformed_line", len(arr) - n_blank - n_valid)
    # Only a line with '"POST ' (any case) can be a sign-in: the fields are cut out of those alone.
    maybe = pc.indices_nonzero(pc.and_(valid, pc.match_substring(arr, '"POST ', ignore_case=True)))
    parts = pc.extract_regex(arr.take(maybe), pattern=_LINE)
    method = pc.utf8_upper(pc.struct_field(parts, "method"))
    target = pc.struct_field(parts, "target")
    path = pc.utf8_lower(pc.replace_substring_regex(target, pattern=r"[?#].*$", replacement=""))
    is_login = pc.equal(method, "POST")
    on_path = pc.starts_with(path, paths[0])
    for prefix in paths[1:]:
        on_path = pc.or_(on_path, pc.starts_with(path, prefix))
    keep = pc.fill_null(pc.and_(is_login, on_path), False)
    n_login = pc.sum(keep).as_py() or 0
    ctx.skip("not_login_request", n_valid - n_login)
    if not n_login:
        return
    sel = parts.filter(keep)
    idx = maybe.filter(keep)
    times = pc.strptime(pc.struct_field(sel, "ts"), format="%d/%b/%Y:%H:%M:%S %z", unit="s", error_is_null=True)
    dated = times.is_valid()
    ctx.skip("no_timestamp", len(sel) - (pc.sum(dated).as_py() or 0))
    sel, idx, times = sel.filter(dated), idx.filter(dated), times.filter(dated)
    lines_of = arr.take(idx)
    ctx.parsed(len(sel))
    auth, raw = _login_columns(sel, pc.cast(times, TIME), pc.add(idx, first_no).cast(pa.int64()), lines_of, ctx)
    for start in range(0, auth.num_rows, BATCH_ROWS):
        yield "auth", auth.slice(start, BATCH_ROWS)
        yield "raw", raw.slice(start, BATCH_ROWS)


def _login_columns(
    sel: pa.StructArray, time: pa.Array, ref: pa.Array, lines: pa.Array, ctx: ReadContext
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """The ``auth`` and ``raw`` rows of login requests cut out by ``_LINE``, column by column (what
    :func:`_event` does row by row, which the JSON access logs still use)."""
    from shoreup.schema import AUTH, RAW

    n = len(sel)

    def field(name: str) -> pa.Array:
        return pc.struct_field(sel, name)

    ip, user_raw, ts, method = field("ip"), field("user"), field("ts"), field("method")
    stem_query = pc.split_pattern(field("target"), "?", max_splits=1)
    stem = pc.list_element(stem_query, 0)
    has_query = pc.equal(pc.list_value_length(stem_query), 2)
    query = pc.if_else(has_query, _second(stem_query), pa.scalar(None, pa.string()))
    status = pc.cast(field("status"), pa.int64())
    status_text = pc.cast(status, pa.string())
    failure = pc.is_in(status, value_set=pa.array(sorted(_FAILURE), pa.int64()))
    success = pc.is_in(status, value_set=pa.array(sorted(_SUCCESS), pa.int64()))
    outcome = pc.if_else(failure, "failure", pc.if_else(success, "success", "unknown"))
    reason = pc.if_else(pc.equal(status, 429), "restriction", pc.if_else(failure, "other", pa.scalar(None, pa.string())))
    ua = _nonempty(_unescaped(field("ua")))
    users, domains = _per_value(user_raw, lambda u: normalize_user(u or None))
    xff = _nonempty(field("xff"))
    vhost = _nonempty(field("vhost"))
    if xff.null_count == n:
        src_ip = _per_value(ip, lambda v: (cj.clean_ip(v), None))[0]
    else:  # the client behind a proxy: once per distinct (address, X-Forwarded-For)
        pair = pc.binary_join_element_wise(ip, pc.fill_null(xff, ""), "\n")
        nets = proxy_nets(ctx.options)
        src_ip = _per_value(pair, lambda v: (_client(*_split_pair(v), nets=nets), None))[0]
    auth_cols = {
        "time": time,
        "host": _per_value(vhost, lambda v: (_site(v), None))[0],
        "source_format": pa.repeat(FORMAT, n),
        "ref_file": pa.repeat(ctx.path, n),
        "ref_record": ref,
        "user": users,
        "domain": domains,
        "src_ip": src_ip,
        "outcome": outcome,
        "reason": reason,
        "raw_reason": status_text,
        "method": pa.repeat("password", n),
        "user_agent": pc.if_else(pc.equal(ua, "-"), pa.scalar(None, pa.string()), ua),
        "application": stem,
        "event_code": status_text,
    }
    auth = pa.RecordBatch.from_arrays(
        [_typed(auth_cols.get(f.name), f.type, n) for f in AUTH], schema=AUTH
    )
    present = pc.invert(pc.is_in(user_raw, value_set=pa.array(["", "-"])))
    sc_bytes = field("bytes")
    referer = field("referer")
    has_referer = pc.fill_null(pc.invert(pc.is_in(referer, value_set=pa.array(["", "-"]))), False)
    proto = _nonempty(field("proto"))
    members = [
        ("c-ip", ip, None),
        ("cs-username", user_raw, present),
        ("date", ts, None),
        ("cs-method", method, None),
        ("cs-uri-stem", stem, None),
        ("cs-uri-query", query, pc.fill_null(pc.not_equal(query, ""), False)),
        ("cs-version", proto, proto.is_valid()),
        ("sc-status", status_text, None),
        ("sc-bytes", sc_bytes, pc.invert(pc.is_in(sc_bytes, value_set=pa.array(["", "-"])))),
        ("cs-referer", _unescaped(referer), has_referer),
        ("cs-user-agent", ua, ua.is_valid()),
        ("cs-host", vhost, vhost.is_valid()),
        ("x-forwarded-for", xff, pc.fill_null(pc.not_equal(xff, "-"), False)),
    ]
    pieces: list[pa.Array] = []
    for k, (key, values, when) in enumerate(members):
        head = ("{" if k == 0 else ",") + orjson.dumps(key).decode() + ":"
        value = values if key == "sc-status" else _json_string(values)
        piece = pc.binary_join_element_wise(head, pc.fill_null(value, ""), "")
        pieces.append(piece if when is None else pc.if_else(pc.fill_null(when, False), piece, ""))
    fields = pc.binary_join_element_wise(*pieces, "}", "")
    # A line with a control character: orjson's own escapes for those few rows.
    odd = np.flatnonzero(np.asarray(pc.match_substring_regex(lines, r"[\x00-\x1f]").to_numpy(zero_copy_only=False), dtype=bool))
    if len(odd):
        texts = fields.to_pylist()
        nets = proxy_nets(ctx.options)
        for i in odd.tolist():
            texts[i] = _event(sel[i].as_py(), time[i].as_py(), int(ref[i].as_py()), nets)["fields"]
        fields = pa.array(texts, pa.string())
    raw_cols = {
        "time": time,
        "host": auth_cols["host"],
        "source_format": auth_cols["source_format"],
        "ref_file": auth_cols["ref_file"],
        "ref_record": ref,
        "channel": pa.repeat("access", n),
        "provider": pa.repeat("webserver", n),
        "fields": fields,
    }
    raw = pa.RecordBatch.from_arrays([_typed(raw_cols.get(f.name), f.type, n) for f in RAW], schema=RAW)
    return auth, raw


def _typed(values: pa.Array | None, type_: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, type_)
    return values if values.type == type_ else values.cast(type_)


def _second(parts: pa.Array) -> pa.Array:
    """The second element of each list (null where there is none)."""
    padded = pc.list_slice(parts, 1, 2, return_fixed_size_list=False)
    flat = pc.list_flatten(padded)
    has = pc.equal(pc.list_value_length(padded), 1)
    out = pa.nulls(len(parts), pa.string())
    return pc.replace_with_mask(out, has, flat) if len(flat) else out


def _unescaped(values: pa.Array) -> pa.Array:
    """:func:`_unescape` column-wise: ``\\"`` then ``\\\\`` replaced, left to right."""
    return pc.replace_substring(pc.replace_substring(values, '\\"', '"'), "\\\\", "\\")


def _nonempty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _json_string(values: pa.Array) -> pa.Array:
    """Strings as JSON strings, as orjson writes those without control characters."""
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _per_value(values: pa.Array, fn: Any) -> tuple[pa.Array, pa.Array]:
    """``fn`` (giving a pair) once per distinct value, spread back over the rows."""
    enc = pc.dictionary_encode(values)
    got = [fn(v) for v in enc.dictionary.to_pylist()]
    firsts = pa.array([g[0] for g in got], pa.string())
    seconds = pa.array([g[1] for g in got], pa.string())
    return firsts.take(enc.indices), seconds.take(enc.indices)


def _event(row: dict[str, Any], time: dt.datetime, ref: int, nets: Nets = _PROXY_NETS) -> dict[str, Any]:
    target = row.get("target") or ""
    stem, _, query = target.partition("?")
    status = int(row["status"])
    if status in _FAILURE:
        outcome, reason = "failure", ("restriction" if status == 429 else "other")
    elif status in _SUCCESS:
        outcome, reason = "success", None
    else:
        outcome, reason = "unknown", None
    user, domain = normalize_user(row.get("user") or None)
    ua = _unescape(row.get("ua")) or None
    fields = {
        "c-ip": row.get("ip"),
        "cs-username": row.get("user") if row.get("user") not in (None, "", "-") else None,
        "date": row.get("ts"),
        "cs-method": row.get("method"),
        "cs-uri-stem": stem,
        "cs-uri-query": query or None,
        "cs-version": row.get("proto") or None,
        "sc-status": status,
        "sc-bytes": row.get("bytes") if row.get("bytes") not in (None, "", "-") else None,
        "cs-referer": None if row.get("referer") in (None, "", "-") else _unescape(row.get("referer")),
        "cs-user-agent": ua,
        "cs-host": row.get("vhost") or None,
        "x-forwarded-for": row.get("xff") if row.get("xff") not in (None, "", "-") else None,
    }
    return {
        "time": time,
        "ref_record": ref,
        "host": _site(row.get("vhost")),
        "user": user,
        "domain": domain,
        "src_ip": _client(row.get("ip") or "", row.get("xff") or "", nets),
        "outcome": outcome,
        "reason": reason,
        "raw_reason": str(status),
        "method": "password",
        "user_agent": None if ua == "-" else ua,
        "application": stem,
        "event_code": str(status),
        "fields": orjson.dumps({k: v for k, v in fields.items() if v is not None}).decode(),
    }


def _split_pair(v: str) -> tuple[str, str]:
    address, _, xff = v.partition("\n")
    return address, xff


def _site(vhost: str | None) -> str | None:
    """The virtual host a request went to (``www.example.org:443`` → ``www.example.org``)."""
    if not vhost or vhost == "-":
        return None
    return vhost.rsplit(":", 1)[0].lower() if vhost.rsplit(":", 1)[-1].isdigit() else vhost.lower()


Nets = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def proxy_nets(options: ReadOptions) -> Nets:
    """The networks whose requests are a proxy's: the private ones and the user's ``trusted_proxies``."""
    return _PROXY_NETS + tuple(ipaddress.ip_network(c.strip(), strict=False) for c in options.trusted_proxies)


def _is_proxy(address: str | None, nets: Nets = _PROXY_NETS) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in nets if net.version == ip.version)


def _client(address: str, xff: str, nets: Nets = _PROXY_NETS) -> str | None:
    """The client's address: the request's, or — when that is a proxy's (a private address, or one of
    ``--trusted-proxy``) and the request carries X-Forwarded-For — the last address there that is not a
    proxy's, walking from the right as each proxy appended the one it saw (nginx ``real_ip_recursive``).
    The entries left of it are the client's own say, never trusted."""
    ip = cj.clean_ip(address)
    if not xff or xff == "-" or not _is_proxy(ip, nets):
        return ip
    for entry in reversed(xff.split(",")):
        hop = _hop(entry)
        if hop is None:
            return ip  # "unknown", a name, garbage: the chain cannot be followed
        if not _is_proxy(hop, nets):
            return hop
    return ip


def _hop(entry: str) -> str | None:
    """One X-Forwarded-For entry as an address: ``1.2.3.4``, ``1.2.3.4:5678`` and ``[2001:db8::1]:443``
    (as Azure's gateways write them) or a bare IPv6 address; None for anything else."""
    text = (cj.clean_ip(entry) or "").strip('"')
    if text.startswith("["):
        close = text.find("]")
        port = text[close + 2 :] if close > 0 and text[close + 1 : close + 2] == ":" else ""
        text = text[1:close] if close > 0 and (close == len(text) - 1 or port.isdigit()) else ""
    elif text.count(":") == 1:
        text, port = text.split(":", 1)
        text = text if port.isdigit() else ""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return text


def _unescape(value: str | None) -> str | None:
    if not value:
        return value
    return value.replace('\\"', '"').replace("\\\\", "\\") if "\\" in value else value


def _emit(rows: list[dict[str, Any]], ctx: ReadContext) -> Iterator[Batch]:
    from shoreup.schema import AUTH, RAW

    for start in range(0, len(rows), BATCH_ROWS):
        part = rows[start : start + BATCH_ROWS]
        n = len(part)
        common = {
            "time": pa.array([r["time"] for r in part], TIME),
            "source_format": pa.array([FORMAT] * n, pa.string()),
            "ref_file": pa.array([ctx.path] * n, pa.string()),
            "ref_record": pa.array([r["ref_record"] for r in part], pa.int64()),
        }
        auth_cols = []
        for field in AUTH:
            if field.name in common:
                auth_cols.append(common[field.name])
            else:
                auth_cols.append(pa.array([r.get(field.name) for r in part], field.type))
        yield "auth", pa.RecordBatch.from_arrays(auth_cols, schema=AUTH)
        raw_cols = []
        for field in RAW:
            if field.name == "host":
                raw_cols.append(auth_cols[AUTH.get_field_index("host")])
            elif field.name in common:
                raw_cols.append(common[field.name])
            elif field.name == "channel":
                raw_cols.append(pa.array(["access"] * n, pa.string()))
            elif field.name == "provider":
                raw_cols.append(pa.array(["webserver"] * n, pa.string()))
            elif field.name == "fields":
                raw_cols.append(pa.array([r["fields"] for r in part], pa.string()))
            else:
                raw_cols.append(pa.nulls(n, field.type))
        yield "raw", pa.RecordBatch.from_arrays(raw_cols, schema=RAW)


# --- JSON access logs -------------------------------------------------------------------------


def _pick(flat: dict[str, Any], key: str) -> Any:
    for name in _JSON_KEYS[key]:
        value = flat.get(name)
        if value is not None and value != "":
            return value
    return None


def _read_json(
    first: bytes, stream: IO[bytes], ctx: ReadContext, paths: tuple[str, ...], first_no: int
) -> Iterator[Batch]:
    damage = cj.LineDamage(ctx)
    nets = proxy_nets(ctx.options)
    rows: list[dict[str, Any]] = []
    line_no = first_no - 1
    line = first
    while line:
        line_no += 1
        text = line.strip()
        if text:
            _json_line(text, line_no, ctx, paths, damage, rows, nets)
            if len(rows) >= BATCH_ROWS:
                yield from _emit(rows, ctx)
                rows = []
        line = stream.readline()
    damage.close()
    yield from _emit(rows, ctx)


def _json_line(
    text: bytes,
    line_no: int,
    ctx: ReadContext,
    paths: tuple[str, ...],
    damage: cj.LineDamage,
    rows: list[dict[str, Any]],
    nets: Nets = _PROXY_NETS,
) -> None:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        damage.add(line_no, str(exc))
        return
    if not isinstance(obj, dict):
        ctx.skip("not_json_object")
        return
    flat = cj.flatten(obj)
    method = cj.text(_pick(flat, "method"))
    target = cj.text(_pick(flat, "target"))
    proto = None
    request = cj.text(_pick(flat, "request"))
    if request and (method is None or target is None):
        parts = request.split(" ")
        if len(parts) >= 2:
            method, target = method or parts[0], target or parts[1]
            proto = parts[2] if len(parts) > 2 else None
    status = cj.as_int(_pick(flat, "status"))
    ip = cj.text(_pick(flat, "ip"))
    if method is None or target is None or status is None or ip is None:
        ctx.skip("malformed_line")
        return
    path = re.sub(r"[?#].*$", "", target).casefold()
    if method.upper() != "POST" or not path.startswith(paths):
        ctx.skip("not_login_request")
        return
    stamp = _pick(flat, "time")
    time = cj.parse_time(stamp)
    if time is None:
        ctx.skip("no_timestamp")
        return
    row = {
        "ip": ip,
        "user": cj.text(_pick(flat, "user")),
        "ts": cj.text(stamp),
        "method": method.upper(),
        "target": target,
        "proto": proto,
        "status": str(status),
        "bytes": cj.text(_pick(flat, "bytes")),
        "referer": cj.text(_pick(flat, "referer")),
        "ua": cj.text(_pick(flat, "ua")),
        "xff": cj.text(_pick(flat, "xff")),
        "vhost": cj.text(_pick(flat, "vhost")),
    }
    event = _event(row, time, line_no, nets)
    event["fields"] = orjson.dumps(flat).decode()
    rows.append(event)
    ctx.parsed()
