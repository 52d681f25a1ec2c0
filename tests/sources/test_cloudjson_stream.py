"""JSON documents streamed in chunks (``_cloudjson.DocumentReader``) against today's whole parse.

The whole parse (``_document``: orjson on the whole document, ``_salvage`` when that fails) is the
reference: for every document the streamed path must give the same records, numbers, damage messages
and positions, whatever the chunk and batch sizes and wherever the chunks are cut.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import sys
import tracemalloc
from pathlib import Path
from typing import IO, Any, cast

import pytest

from shoreup.sources import _cloudjson as cj
from shoreup.sources import cloudtrail, entra, okta
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"
ENTRA = ("value", "records")
CLOUDTRAIL = ("Records",)
OKTA: tuple[str, ...] = ()

Result = tuple[str, list[tuple[str, str | None]], list[tuple[str, str | None]]]


class Pieces:
    """A stream of ``data`` that never hands out more than asked, nor bytes across a cut."""

    def __init__(self, data: bytes, cuts: tuple[int, ...] = ()) -> None:
        self.data = data
        self.pos = 0
        self.cuts = sorted(cuts)
        self.largest_read = 0

    def read(self, n: int = -1) -> bytes:
        stop = len(self.data) if n is None or n < 0 else min(len(self.data), self.pos + n)
        stop = min([c for c in self.cuts if self.pos < c < stop] + [stop])
        out = self.data[self.pos : stop]
        self.largest_read = max(self.largest_read, len(out))
        self.pos = stop
        return out


def _result(records: list[tuple[int, Any]], stats: FileStats) -> Result:
    return (
        repr(records),
        [(d.message, d.position) for d in stats.damage],
        [(w.message, w.position) for w in stats.warnings],
    )


def whole(data: bytes, wrappers: tuple[str, ...]) -> Result:
    """Today's path for a document input: its first line, then everything parsed at once."""
    stats = FileStats("x")
    stream = io.BytesIO(data)
    line = cj.first_line(stream)
    records = list(cj._document(line + stream.read(), ReadContext("x", stats, ReadOptions()), wrappers))
    return _result(records, stats)


def streamed(
    data: bytes,
    wrappers: tuple[str, ...],
    chunk: int = 1 << 20,
    batch: int = 1 << 20,
    cuts: tuple[int, ...] = (),
) -> tuple[Result, cj.DocumentReader]:
    stats = FileStats("x")
    reader = cj.DocumentReader(
        Pieces(data, cuts), ReadContext("x", stats, ReadOptions()), wrappers, b"", chunk, batch
    )
    return _result(list(reader), stats), reader


def same(data: bytes, wrappers: tuple[str, ...], chunk: int, batch: int, cuts: tuple[int, ...] = ()) -> bool:
    """Streamed equals whole for ``data``; returns whether the document was streamed."""
    expected = whole(data, wrappers)
    got, reader = streamed(data, wrappers, chunk, batch, cuts)
    assert got == expected, (chunk, batch, cuts, data[:2000])
    return reader.streamed


# --- generated documents ------------------------------------------------------------------------

_BITS = [
    "a",
    "Z",
    '"',
    "\\",
    '\\"',
    "\\\\",
    "[",
    "]",
    "{",
    "}",
    ",",
    " ",
    ":",
    "é",
    "€",
    "😀",
    "\n",
    "\t",
    "\u2028",
]
_WS = [" ", "\n", "\t", "\r\n", "  \n    ", ""]


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice(_BITS) for _ in range(rnd.randrange(6)))


def _value(rnd: random.Random, depth: int = 0) -> Any:
    k = rnd.random()
    if depth > 3 or k < 0.4:
        return rnd.choice(
            [rnd.randrange(-(10**6), 10**6), rnd.random() * 10 ** rnd.randrange(-5, 20), True, False, None,
             _text(rnd), 2**63 + 5, -0.0, ""]
        )  # fmt: skip
    if k < 0.7:
        return {_text(rnd): _value(rnd, depth + 1) for _ in range(rnd.randrange(5))}
    return [_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]


def _dump(value: Any, rnd: random.Random, style: int) -> str:
    """JSON text: compact, indented, or with random whitespace between all tokens."""
    ascii_only = rnd.random() < 0.5
    if style == 0:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)
    if style == 1:
        return json.dumps(value, indent=rnd.choice([1, 2, 4]), ensure_ascii=ascii_only)

    def ws() -> str:
        return rnd.choice(_WS)

    if isinstance(value, dict):
        members = (f"{json.dumps(k)}{ws()}:{ws()}{_dump(v, rnd, style)}" for k, v in value.items())
        return "{" + ws() + f",{ws()}".join(members) + ws() + "}"
    if isinstance(value, list):
        return "[" + ws() + f",{ws()}".join(_dump(v, rnd, style) for v in value) + ws() + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def _elements(rnd: random.Random) -> list[Any]:
    out: list[Any] = []
    for _ in range(rnd.choice([0, 1, 2, 3, 5, 12, 30])):
        k = rnd.random()
        if k < 0.75:
            out.append({_text(rnd) or "k": _value(rnd, 1) for _ in range(rnd.randrange(1, 5))})
        elif k < 0.87:
            out.append([_value(rnd, 1) for _ in range(rnd.randrange(3))])  # arrays of arrays too
        else:
            out.append(_value(rnd, 4))  # a number, string, true, false or null
    return out


def generate(rnd: random.Random) -> tuple[bytes, tuple[str, ...]]:
    """A document of one of the shapes the readers meet, and the wrappers of a reader that takes it."""
    elements = _elements(rnd)
    shape = rnd.randrange(6)
    odata = "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns"
    doc: Any
    wrappers: tuple[str, ...] = ENTRA
    if shape == 0:
        doc, wrappers = elements, rnd.choice([ENTRA, CLOUDTRAIL, OKTA])
    elif shape == 1:
        doc = {"value": elements}
    elif shape == 2:
        doc = {"@odata.context": odata, "value": elements, "@odata.nextLink": 'https://n?$skiptoken=a"b'}
    elif shape == 3:
        doc = {"@odata.context": odata, "@odata.nextLink": "https://n", "value": elements}
    elif shape == 4:
        doc, wrappers = {"Records": elements}, CLOUDTRAIL
    else:  # a nested "value" array first: _salvage would take it, so this one is read whole
        meta = {"x": [1, {"y": "]}"}], "value": rnd.choice([1, [1]])}
        doc = {"meta": meta, "records": elements, "tail": {"k": [1, 2]}}
    style = rnd.randrange(3)
    text = _dump(doc, rnd, style)
    if style == 0:
        text = text.replace("},{", "},\n{")  # one element per line, as scripts write Graph pages
    lead = rnd.choice(["", "", "\ufeff", "\n\n", "  ", "\ufeff\n "])
    return (lead + text + rnd.choice(["", "\n", "\n\n "])).encode(), wrappers


def damage(rnd: random.Random, data: bytes) -> bytes:
    """One of the ways a document is found damaged."""
    p = rnd.randrange(len(data) + 1)
    k = rnd.randrange(9)
    if k == 0:
        return data[:p]  # truncated
    if k == 1:
        return data[:p] + data[p + 1 :]  # a byte lost
    if k == 2:
        return data[:p] + bytes([rnd.choice(b'"\\,[]{}:x ')]) + data[p:]  # a byte too many
    if k == 3:
        return data[:p] + bytes([rnd.choice(b'"\\,[]{}:x ')]) + data[p + 1 :]  # a byte changed
    if k == 4:
        return data + rnd.choice([b"x", b",", b"]", b"}", b" {}", b"\n[1]"])  # trailing garbage
    if k == 5:
        return data[:p] + b"\xff\xfe" + data[p:]  # not UTF-8
    if k == 6:
        return data.replace(b"1", b"NaN", 1)  # json takes it, orjson does not
    if k == 7:
        return data.replace(b"},", b"},,", 1)  # a comma too many
    return data.replace(b'"', b"", 1)  # a string left open


@pytest.mark.parametrize("seed", range(60))
def test_generated_documents_equal_the_whole_parse(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(4):
        data, wrappers = generate(rnd)
        chunk, batch = rnd.choice([1, 2, 3, 5, 16, 100, 4096]), rnd.choice([1, 7, 64, 1 << 20])
        was_streamed = same(data, wrappers, chunk, batch)
        # The shapes all stream (a bare array, a wrapper whose array the reader takes), but one.
        nested = json.loads(data.decode("utf-8-sig"))
        assert was_streamed != (isinstance(nested, dict) and nested.get("meta", {}).get("value") == [1])
        for _ in range(3):
            broken = damage(rnd, data)
            if rnd.random() < 0.3:
                broken = damage(rnd, broken)
            if broken.strip():
                same(broken, wrappers, rnd.choice([1, 3, 16, 4096]), rnd.choice([1, 64, 1 << 20]))


# --- every place a chunk can be cut -------------------------------------------------------------

TRICKY = (
    '[\n {"a": "x\\"y", "b": "\\\\", "c": "]},{[", "d": [1, [2, {"e": "\\\\\\""}]]},\n'
    ' [[1, 2], []], 7, "s,]}", {"€": "😀 \\u00e9 \\ud83d\\ude00", "n": null},\n'
    '\t{"deep": {"x": {"y": [{"z": "\\\\\\\\"}]}}}, true, {}\n]\n'
).encode()
TRICKY_WRAPPED = (
    b'\xef\xbb\xbf{"@odata.context": "c,[", "value": ' + TRICKY.strip() + b', "@odata.nextLink": "]"}\n'
)


@pytest.mark.parametrize("data", [TRICKY, TRICKY_WRAPPED], ids=["bare", "wrapper"])
def test_every_split_offset(data: bytes) -> None:
    assert json.loads(data.decode("utf-8-sig"))  # a valid document
    for cut in range(len(data) + 1):
        assert same(data, ENTRA, 1 << 20, 1 << 20, (cut,))
    for chunk in (1, 2, 3):
        for batch in (1, 5, 1 << 20):
            assert same(data, ENTRA, chunk, batch)


@pytest.mark.parametrize(
    ("name", "wrappers", "step"),
    [
        ("entra_graph.json", ENTRA, 1),
        ("entra_records.json", ENTRA, 1),
        ("cloudtrail_records.json", CLOUDTRAIL, 2),
        ("okta_events.json", OKTA, 11),
        ("tricky", ENTRA, 1),
    ],
)
def test_truncated_at_every_offset(name: str, wrappers: tuple[str, ...], step: int) -> None:
    data = TRICKY_WRAPPED if name == "tricky" else (SAMPLES / name).read_bytes()
    assert same(data, wrappers, 251, 200)
    for end in range(1, len(data), step):
        same(data[:end], wrappers, 251, 200)


# --- damage ------------------------------------------------------------------------------------

DAMAGED = {
    "truncated after a comma": (b'[\n{"a": 1},\n{"b": 2},\n', "JSON document truncated after record 2"),
    "truncated element": (
        b'[\n{"a": 1},\n{"b": 2},\n{"c": ',
        "JSON document damaged after record 2: Expecting value",
    ),
    "truncated in a string": (
        b'[\n{"a": 1},\n{"b": "x\\"',
        "JSON document damaged after record 1: Unterminated",
    ),
    "truncated wrapper": (b'{"value": [\n{"a": 1}\n]', "invalid JSON after the record array"),
    "only the bracket": (b"[", "JSON document truncated after record 0"),
    "missing comma": (
        b'[\n{"a": 1}\n{"b": 2}, {"c" 3}]',
        "JSON document damaged after record 2: Expecting ':'",
    ),
    "comma too many": (b'[\n{"a": 1},, {"b": 2}]', "invalid JSON after the record array"),
    "trailing comma": (b'[\n{"a": 1},\n]', "invalid JSON after the record array"),
    "leading comma": (b'[\n, {"a": 1}]', "invalid JSON after the record array"),
    "closed by a brace": (b'[\n{"a": 1}}', "JSON document damaged after record 1: Expecting value"),
    "garbage after": (b'[\n{"a": 1}] x', "invalid JSON after the record array"),
    "garbage after a wrapper": (b'{"value":\n[{"a": 1}]} x', "invalid JSON after the record array"),
    "NaN": (b'[\n{"a": 1}, {"b": NaN}, {"c": 3}]', "invalid JSON after the record array"),
    "lone surrogate": (b'[\n{"a": "\\ud800"}, {"b": 2}]', "invalid JSON after the record array"),
    "not UTF-8": (
        b'[\n{"a": "\xff\xfe\xe2\x82"}, {"b": 2}, {"c": "\xc3"',
        "JSON document damaged after record 2: Expecting ','",
    ),
    "control character": (
        b'[\n{"a": 1}, {"b": "x\x01y"}]',
        "JSON document damaged after record 1: Invalid control",
    ),
    "bad escape": (
        b'[\n{"a": 1}, {"b": "\\x"}, {"c": 1}]',
        "JSON document damaged after record 1: Invalid \\escape",
    ),
    "mismatched bracket": (b'[\n{"a": [1}, {"b": 2}]', "JSON document damaged after record 0: Expecting ','"),
    "string left open": (b'[\n{"a": "x}, {"b": 2}, {"c": 3}]', "JSON document damaged after record 0"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_documents(case: str) -> None:
    data, message = DAMAGED[case]
    prefix = b"\n" * 3 + b"  " * 40  # damage on later lines and columns
    for doc in (data, prefix + data, data.replace(b"\n", b"\n" + b" " * 5000)):
        expected = whole(doc, ENTRA)
        assert len(expected[1]) == 1 and expected[1][0][0].startswith(message), expected[1]
        for chunk, batch in (
            ((1, 1), (3, 64), (4096, 1 << 20)) if len(doc) < 1000 else ((97, 64), (4096, 1 << 20))
        ):
            got, reader = streamed(doc, ENTRA, chunk, batch)
            assert got == expected and reader.streamed


def test_damage_far_into_a_large_document() -> None:
    records = [{"id": i, "s": "é" * (i % 3) + 'x\\"]' * (i % 2), "n": [i, {"k": "v"}]} for i in range(3000)]
    data = json.dumps({"value": records}, indent=1, ensure_ascii=False).encode()
    cut = data.index(b'"id": 2500')
    for doc in (data[:cut], data[:cut] + b"NaN" + data[cut:], data[:cut] + b"}" + data[cut:]):
        expected = whole(doc, ENTRA)
        got, reader = streamed(doc, ENTRA, 4096, 2048)
        assert got == expected and reader.streamed and len(got[1]) == 1
        assert reader.max_buffered < len(data) // 10


# --- shapes -----------------------------------------------------------------------------------

SHAPES = {
    "bare": (b'[{"a": 1}, {"a": 2}]\n', ENTRA, True),
    "bare, okta": (b'[\n{"a": 1}]', OKTA, True),
    "empty": (b"[\n]", OKTA, True),
    "empty wrapper": (b'{\n"value": [ ]\n}', ENTRA, True),
    "graph page": (b'{"@odata.context": "c",\n"value": [{"a": 1}],\n"@odata.nextLink": "n"}', ENTRA, True),
    "graph page, next link first": (
        b'{"@odata.context": "c", "@odata.nextLink": "n",\n"value": [{"a": 1}]}',
        ENTRA,
        True,
    ),
    "records": (b'{\n"records": [{"a": 1}]}', ENTRA, True),
    "cloudtrail": (b'{\n"Records": [{"a": 1}, {"a": 2}]}', CLOUDTRAIL, True),
    "a wrapper key with another value first": (b'{"value": 5,\n"value": [{"a": 1}]}', ENTRA, True),
    "scalars and arrays": (b'[\n1, "a", 2.5, null, {"x": 1}, [[3]], 4]', OKTA, True),
    "a key of another reader": (b'{\n"Records": [{"a": 1}]}', ENTRA, False),
    "a wrapper for okta": (b'{\n"value": [{"a": 1}]}', OKTA, False),
    "the key in a nested object first": (b'{"meta": {"value": [1]},\n"value": [{"a": 2}]}', ENTRA, False),
    "the key after 64K characters": (b'{"x": "' + b"y" * 70000 + b'",\n"value": [{"a": 1}]}', ENTRA, False),
    "one record over several lines": (b'{\n"id": 1,\n"value": 2\n}', ENTRA, False),
    "a number": (b"\n42\n", ENTRA, False),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_shapes(case: str) -> None:
    data, wrappers, streams = SHAPES[case]
    for chunk in (1, 7, 1 << 20):
        assert same(data, wrappers, chunk, 3) == streams


def test_depth_limit_falls_where_the_whole_parse_puts_it() -> None:
    # orjson refuses more than 1024 levels: the wrapper and the array count, as in the whole parse.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # for json (in _salvage) and repr on 1,000 levels
    try:
        for depth in (1021, 1022, 1023):
            data = b'{"value": [{"a": 1},\n' + b"[" * depth + b"]" * depth + b"]}"
            assert same(data, ENTRA, 512, 1 << 20)
            assert bool(whole(data, ENTRA)[1]) == (depth == 1023)  # 1 + 1 + 1023 levels: too deep
    finally:
        sys.setrecursionlimit(limit)


def test_second_record_array_is_reported() -> None:
    """The one valid shape that cannot stream: a second record array after the first (a repeated key,
    or a wrapper key the reader prefers). The whole parse would read the second; the stream has read
    the first by then, and says so."""
    for data in (
        b'{\n"value": [{"a": 1}],\n"value": [{"b": 2}]}',
        b'{\n"records": [{"a": 1}], "value": [{"b": 2}]}',
    ):
        (records, damage, _), reader = streamed(data, ENTRA, 5, 5)
        assert reader.streamed and records == "[(1, {'a': 1})]"
        assert damage == [("the document has a second record array after the first: only the first was read",
                           "line 2 column " + str(data.split(b"\n")[1].index(b"]") + 1))]  # fmt: skip


def test_quote_counting_without_popcount(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cj, "_POPCOUNT", False)
    for name in ("entra_graph.json", "okta_events.json", "cloudtrail_truncated.json"):
        data = (SAMPLES / name).read_bytes()
        same(
            data,
            ENTRA if name.startswith("entra") else CLOUDTRAIL if name.startswith("cloud") else OKTA,
            97,
            500,
        )
    for chunk in (1, 2, 5):
        assert same(TRICKY_WRAPPED, ENTRA, chunk, 3)


# --- memory -------------------------------------------------------------------------------------


def _graph(n: int) -> bytes:
    rows = [
        {"id": f"id-{i}", "userPrincipalName": f"user{i % 97}@contoso.com", "note": 'quote " slash \\ ]},{["',
         "status": {"errorCode": 50126 if i % 3 else 0}, "details": [{"step": "é€😀", "ok": i % 2 == 0}]}
        for i in range(n)
    ]  # fmt: skip
    body = ",\n".join(json.dumps(r, ensure_ascii=bool(i % 2)) for i, r in enumerate(rows))
    return f'{{"@odata.context": "https://graph/$metadata#signIns",\n"value": [\n{body}\n]}}'.encode()


def test_memory_stays_bounded() -> None:
    data = _graph(40_000)  # about 8 MiB
    stats = FileStats("x")
    stream = Pieces(data)
    reader = cj.DocumentReader(stream, ReadContext("x", stats, ReadOptions()), ENTRA, b"", 64 << 10, 16 << 10)
    tracemalloc.start()
    try:
        n = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 40_000 and reader.streamed and not stats.damage
    # Holding the document whole would take its size (and several times that as objects).
    assert reader.max_buffered < 256 << 10 and len(data) > 7 << 20
    assert stream.largest_read <= 64 << 10
    assert peak < len(data) // 8, (peak, len(data))


def test_one_line_document_is_not_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare array on one line: ``first_line`` stops after 1 MiB, the rest streams."""
    data = json.dumps([{"id": i, "v": "x" * 50} for i in range(70_000)], separators=(",", ":")).encode()
    assert b"\n" not in data and len(data) > 4 << 20
    readers: list[cj.DocumentReader] = []
    reader_class = cj.DocumentReader

    def spy(*args: Any) -> cj.DocumentReader:
        readers.append(reader_class(*args, chunk_bytes=256 << 10, batch_bytes=64 << 10))
        return readers[-1]

    monkeypatch.setattr(cj, "DocumentReader", spy)
    stats = FileStats("x")
    stream = io.BytesIO(data)
    refs = [ref for ref, _ in cj.iter_records(stream, ReadContext("x", stats, ReadOptions()), OKTA)]
    assert refs == list(range(1, 70_001)) and not stats.damage
    assert readers[0].streamed and readers[0].max_buffered < 2 << 20


def test_first_line_is_whole_unless_it_opens_an_array() -> None:
    long_object = b'{"a": "' + b"x" * (2 << 20) + b'"}\n{"b": 1}\n'
    assert cj.first_line(io.BytesIO(b"\xef\xbb\xbf\n" + long_object)) == long_object.split(b"\n")[0] + b"\n"
    long_array = b"\xef\xbb\xbf  [" + b"1," * (1 << 20) + b"1]"
    head = cj.first_line(io.BytesIO(long_array))
    assert head.lstrip().startswith(b"[") and len(head) < len(long_array) // 2


# --- through the readers ------------------------------------------------------------------------


def _read_whole(monkeypatch: pytest.MonkeyPatch, reader: Any, data: bytes) -> Any:
    with monkeypatch.context() as m:
        m.setattr(
            cj,
            "DocumentReader",
            lambda stream, ctx, wrappers, head: cj._document(head + stream.read(), ctx, wrappers),
        )
        return read_bytes(reader, data)


@pytest.mark.parametrize(
    ("reader", "name"),
    [
        (entra, "entra_graph.json"),
        (entra, "entra_records.json"),
        (entra, "entra_truncated.json"),
        (okta, "okta_events.json"),
        (cloudtrail, "cloudtrail_records.json"),
        (cloudtrail, "cloudtrail_truncated.json"),
        (entra, "generated"),
    ],
)
def test_readers_give_the_same_rows_and_accounting(
    monkeypatch: pytest.MonkeyPatch, reader: Any, name: str
) -> None:
    data = _graph(300) if name == "generated" else (SAMPLES / name).read_bytes()
    out, stats = read_bytes(reader, data)
    out_whole, stats_whole = _read_whole(monkeypatch, reader, data)
    assert out == out_whole
    assert stats.to_json() == stats_whole.to_json() and stats.damage == stats_whole.damage
    assert stats.warnings == stats_whole.warnings


def test_compressed_document_streams() -> None:
    data = _graph(2000)
    packed = gzip.compress(data)
    with gzip.open(io.BytesIO(packed), "rb") as raw:
        stream = cast(IO[bytes], io.BufferedReader(cast(Any, raw)))
        stats = FileStats("x.json.gz")
        rows = sum(
            b.num_rows
            for t, b in entra.read(stream, ReadContext("x.json.gz", stats, ReadOptions()))
            if t == "auth"
        )
    plain, plain_stats = read_bytes(entra, data)
    assert rows == len(plain["auth"]) and stats.to_json()["skipped"] == plain_stats.to_json()["skipped"]
    assert stats.records_read == 2000 and not stats.damage
