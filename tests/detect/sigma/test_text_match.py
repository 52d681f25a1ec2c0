"""The string tests' automata and the regex / LIKE prefilters against plain Python, on random data.

Values and texts come from a small alphabet with multi-byte characters, newlines and the empty
string, so occurrences overlap, run across two neighbouring values, and sit at value boundaries.
"""

from __future__ import annotations

import itertools
import random
import re

import duckdb
import pyarrow as pa
import pytest

from shoreup.detect.sigma.literals import like_literal, regex_literals
from shoreup.detect.sigma.vectorized import (
    KW,
    And,
    GroupEval,
    Leaf,
    Not,
    Or,
    Patterns,
    Presence,
    column_patterns,
    necessary,
)

ALPHABET = ["a", "b", "ab", "é", "ß", "日本", "\n", "\\", "%", "_", " ", "x"]


def _word(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, n)))


def _values(rng: random.Random, n: int) -> list[str | None]:
    return [None if rng.random() < 0.1 else _word(rng, 5) for _ in range(n)]


def _eval(col: str, values: list[str | None], leaves: list[Leaf]) -> tuple[GroupEval, dict[Leaf, list[bool]]]:
    ge = GroupEval({col: pa.array(values, pa.string())}, len(values), duckdb.connect(), column_patterns([Or(tuple(leaves))]))
    out = {}
    for lf in leaves:
        m = ge.rows(lf)
        out[lf] = [False] * len(values) if m is None else m.tolist()
    return ge, out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("col", ["l:F", KW])
def test_string_tests_equal_python(seed: int, col: str) -> None:
    rng = random.Random(seed)
    values = _values(rng, 60)
    texts = {_word(rng, 3) for _ in range(40)} - {""}
    ops = {"contains": str.__contains__, "startswith": str.startswith, "endswith": str.endswith, "eq": str.__eq__}
    leaves = [Leaf(col, op, t) for t in sorted(texts) for op in ops]
    ge, got = _eval(col, values, leaves)
    for lf in leaves:
        want = [v is not None and ops[lf.op](v, lf.arg) for v in values]
        assert got[lf] == want, (lf.op, lf.arg)
        # a test that holds nowhere is ruled out without its mask; one that holds somewhere never is
        assert ge.maybe(lf) == any(want), (lf.op, lf.arg)


@pytest.mark.parametrize("seed", range(8))
def test_like_and_regex_prefilters_change_nothing(seed: int) -> None:
    rng = random.Random(100 + seed)
    values = _values(rng, 80)
    leaves: list[Leaf] = []
    for _ in range(30):
        a, b = _word(rng, 3), _word(rng, 3)
        like = re.sub(r"([\\%_])", r"\\\1", a) + "%" + re.sub(r"([\\%_])", r"\\\1", b)
        leaves.append(Leaf("l:F", "like", "%" + like + "_%"))
        leaves.append(Leaf("l:F", "re2", re.escape(a) + ".*" + re.escape(b) + "(?:x|ab)+"))
    _, got = _eval("l:F", values, leaves)
    plain = GroupEval({"l:F": pa.array(values, pa.string())}, len(values), duckdb.connect())  # no prefilter
    for lf in leaves:
        m = plain.rows(lf)
        assert got[lf] == ([False] * len(values) if m is None else m.tolist()), lf.arg


@pytest.mark.parametrize("seed", range(8))
def test_bulk_presence_and_may_hold_agree_with_the_walk(seed: int) -> None:
    """Every rule's possibility decided at once (GroupEval.possible_rules) equals the rule-by-rule
    check; a rule may_hold rules out matches nothing; an ``or`` of texts marked from the automaton
    equals the one made leaf by leaf."""
    rng = random.Random(300 + seed)
    cols = {c: pa.array(_values(rng, 40), pa.string()) for c in ("l:A", "l:B")}
    ops = ["contains", "startswith", "endswith", "eq"]

    def leaf() -> Leaf:
        return Leaf(rng.choice(list(cols)), rng.choice(ops), _word(rng, 3))

    def node(depth: int) -> And | Or | Not | Leaf:
        if depth == 0 or rng.random() < 0.3:
            return leaf()
        kind = rng.choice([And, Or, Or, Not])
        if kind is Not:
            return Not(node(depth - 1))
        return kind(tuple(node(depth - 1) for _ in range(rng.randint(2, 4))))

    plans = [node(3) for _ in range(40)]
    tests = [necessary(p) for p in plans]
    pats = column_patterns(plans)
    ge = GroupEval(cols, 40, duckdb.connect(), pats)
    got = ge.possible_rules(Presence(plans, tests, pats)).tolist()
    ref = GroupEval(cols, 40, duckdb.connect(), pats)
    assert got == [t is None or ref.possible(t) for t in tests]
    plain = GroupEval(cols, 40, duckdb.connect())  # no automaton: every leaf on its own
    for p in plans:
        m, want = ge.rows(p), plain.rows(p)
        assert (None if m is None else m.tolist()) == (None if want is None else want.tolist()), p
        if not ge.may_hold(p):
            assert want is None, p


def test_patterns_survive_pickling_without_their_automaton() -> None:
    import pickle

    p = Patterns([Leaf("l:F", "contains", "abc"), Leaf("l:F", "re2", "abc+d"), Leaf("l:F", "like", "%xyz%")])
    p.automaton()
    q = pickle.loads(pickle.dumps(p))
    assert q.slot == p.slot and q.need == p.need and q.texts == p.texts and q._ac is None
    ge = GroupEval({"l:F": pa.array(["xabcdx", "zz"])}, 2, duckdb.connect(), {"l:F": q})
    assert ge.rows(Leaf("l:F", "contains", "abc")).tolist() == [True, False]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("ipconfig\\s+/all", ["ipconfig"]),
        ("foo(bar|baz)+x", ["foo"]),
        ("(?:alpha|beta)gamma", ["gamma"]),
        ("(?:alpha|betas)", ["alpha", "betas"]),
        ("(?s)hello.world", ["hello"]),
        ("\\\\MsFteWds[0-9a-f]{2}", ["\\MsFteWds"]),
        ("(?:abcd)?efgh", ["efgh"]),
        ("abc(?P<n>defg)", ["defg"]),
        ("abcdef*", ["abcde"]),
        ("xabc+", ["xabc"]),
        ("\\n\\n\\n", ["\n\n\n"]),
    ],
)
def test_regex_literals(pattern: str, literals: list[str]) -> None:
    assert regex_literals(pattern) == literals


@pytest.mark.parametrize(
    "pattern",
    [
        "(?i)abcdef",  # case-insensitive: no prefilter
        "abc(?i:def)",
        "abc|",  # an empty branch matches everything
        "(abc)*",
        "a{2,",  # not a repetition
        "abc\\Qxyz\\E",
        "abc\\x41def",
        "(?=abc)def",
        "[[:alpha:]]]xyz",
        "ab",  # too short to be worth it
        "abc(",
    ],
)
def test_regex_literals_give_up(pattern: str) -> None:
    assert regex_literals(pattern) is None


@pytest.mark.parametrize("seed", range(6))
def test_regex_literals_are_in_every_match(seed: int) -> None:
    """Every value a regex matches holds one of its literals (Python's re standing in for RE2 on
    this syntax, which both read alike)."""
    rng = random.Random(seed)
    words = [_word(rng, 4).replace("\n", "") for _ in range(400)]
    for _ in range(60):
        parts = [re.escape(_word(rng, 3) or "abc") for _ in range(3)]
        pattern = f"{parts[0]}(?:{parts[1]}|{parts[2]})+.*{re.escape(_word(rng, 4) or 'xyz')}"
        lits = regex_literals(pattern)
        if lits is None:
            continue
        rx = re.compile(pattern)
        for w in words + [f"{a}{b}" for a, b in itertools.pairwise(words)]:
            if rx.search(w):
                assert any(x in w for x in lits), (pattern, w, lits)


def test_like_literal() -> None:
    assert like_literal("%abc%de_fghij%") == "fghij"
    assert like_literal("a\\%bcd") == "a%bcd"
    assert like_literal("%ab%") is None


def test_necessary() -> None:
    a, b, c = Leaf("l:A", "contains", "aaa"), Leaf("l:B", "eq", "bbb"), Leaf("l:C", "endswith", "ccc")
    assert necessary(Or((a, b))) == (a, b)
    assert necessary(And((Or((a, b)), c))) == (c,)  # the smaller set
    assert necessary(And((Not(a), b))) == (b,)
    assert necessary(Or((a, Not(b)))) is None
    assert necessary(Leaf("v:N", "numeq", "4", 4.0)) is None
