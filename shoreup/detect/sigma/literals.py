"""Necessary literals: texts that every match of a regular expression (or LIKE pattern) contains.

The vectorized evaluator uses them as a prefilter: a value holding none of a test's literals cannot
match, so the (costly) regular expression runs only on the few values that hold one — found, with
every other string test of the column, in one automaton pass. ``foo(bar|baz)+x`` gives
``['foo']`` (or ``['bar', 'baz']``: whichever set is more selective): a match contains one of them.

The parser knows RE2's common syntax only and gives up (None: no prefilter, the regex runs on every
value) on anything else: case-insensitive patterns, inline flag groups, ``\\Q…\\E``, ``\\x``, ``\\p``,
back-references, look-around, a ``{`` that is not a repetition. Giving up is always safe.
"""

from __future__ import annotations

#: Literals shorter than this are not worth a prefilter (they occur nearly everywhere).
MIN_LITERAL = 3

_META = frozenset("\\.+*?()|[]{}^$")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_CLASS_ESCAPES = frozenset("dDsSwW")  # one character of a class
_ZERO_WIDTH_ESCAPES = frozenset("bBAz")
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~")

Lits = list[str] | None  # one of these texts is in every match; None: nothing known


class _GiveUp(Exception):
    pass


def regex_literals(pattern: str) -> list[str] | None:
    """Texts of which every match of the RE2 ``pattern`` contains one, case-sensitively (None: unknown)."""
    i = 0
    while pattern.startswith("(?", i):  # leading flag groups, as compiler.regex_text writes them
        j = pattern.find(")", i)
        flags = pattern[i + 2 : j] if j > 0 else ""
        if not (flags.isascii() and flags.isalpha()):
            break  # (?:…), (?P<name>…): a group, parsed below
        if not set(flags) <= set("ms"):  # (?i) compares case-insensitively: no prefilter
            return None
        i = j + 1
    p = _Parser(pattern, i)
    try:
        lits = p.alternation()
        if p.i != len(pattern):
            raise _GiveUp
    except _GiveUp:
        return None
    if not lits or min(len(x) for x in lits) < MIN_LITERAL:
        return None
    return lits


def like_literal(pattern: str) -> str | None:
    """The longest literal piece of a ``LIKE … ESCAPE '\\'`` pattern (every match contains it)."""
    pieces: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            cur.append(pattern[i + 1])
            i += 2
            continue
        if ch in "%_":
            pieces.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    pieces.append("".join(cur))
    best = max(pieces, key=len)
    return best if len(best) >= MIN_LITERAL else None


def _better(a: Lits, b: Lits) -> Lits:
    """The more selective of two necessary sets: longer shortest text, then fewer texts."""
    if a is None:
        return b
    if b is None:
        return a
    ka = (min(len(x) for x in a), -len(a))
    kb = (min(len(x) for x in b), -len(b))
    return b if kb > ka else a


class _Parser:
    """Recursive descent over RE2 syntax, tracking literal runs; raises _GiveUp on the unknown."""

    def __init__(self, pattern: str, start: int) -> None:
        self.s = pattern
        self.i = start

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def alternation(self) -> Lits:
        branches = [self.concat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.concat())
        if len(branches) == 1:
            return branches[0]
        out: list[str] = []
        for b in branches:
            if b is None:  # a branch with nothing necessary: the alternation has nothing either
                return None
            out += b
        return list(dict.fromkeys(out))

    def concat(self) -> Lits:
        best: Lits = None
        run: list[str] = []

        def close() -> None:
            nonlocal best, run
            if run:
                best = _better(best, ["".join(run)])
            run = []

        while True:
            ch = self.peek()
            if ch in ("", "|", ")"):
                break
            if ch in "*+?{":  # a quantifier with nothing before it
                raise _GiveUp
            lit, sub = self.atom()
            lo = self.quantifier()
            if lo is None:  # no quantifier
                if lit is not None:
                    run.append(lit)
                else:
                    close()
                    best = _better(best, sub)
                continue
            if lit is not None:
                if lo >= 1:  # "ab+c": "ab" and "bc" are both in every match
                    run.append(lit)
                    close()
                    run = [lit]
                else:
                    close()
            else:
                close()
                if lo >= 1:
                    best = _better(best, sub)
        close()
        return best

    def atom(self) -> tuple[str | None, Lits]:
        """(the literal character, None) or (None, the necessary set of a group or None)."""
        ch = self.s[self.i]
        if ch == "\\":
            if self.i + 1 >= len(self.s):
                raise _GiveUp
            e = self.s[self.i + 1]
            self.i += 2
            if e in _PUNCT:
                return e, None
            if e in _CONTROL:
                return _CONTROL[e], None
            if e in _CLASS_ESCAPES or e in _ZERO_WIDTH_ESCAPES:
                return None, None
            raise _GiveUp
        if ch == "[":
            self.char_class()
            return None, None
        if ch == "(":
            return None, self.group()
        if ch in ".^$":
            self.i += 1
            return None, None
        if ch in _META:  # ] } ) where an atom should be
            raise _GiveUp
        self.i += 1
        return ch, None

    def char_class(self) -> None:
        i = self.i + 1
        if i < len(self.s) and self.s[i] == "^":
            i += 1
        if i < len(self.s) and self.s[i] == "]":  # a leading ] is a member
            i += 1
        while i < len(self.s):
            c = self.s[i]
            if c == "\\":
                if i + 1 >= len(self.s) or self.s[i + 1] in "QxpPE0123456789":
                    raise _GiveUp
                i += 2
                continue
            if c == "[" and self.s.startswith("[:", i):
                end = self.s.find(":]", i + 2)
                if end < 0:
                    raise _GiveUp
                i = end + 2
                continue
            if c == "]":
                self.i = i + 1
                return
            i += 1
        raise _GiveUp

    def group(self) -> Lits:
        self.i += 1
        if self.s.startswith("?:", self.i):
            self.i += 2
        elif self.s.startswith("?P<", self.i) or self.s.startswith("?<", self.i):
            if self.s.startswith("?<=", self.i) or self.s.startswith("?<!", self.i):
                raise _GiveUp
            end = self.s.find(">", self.i)
            if end < 0:
                raise _GiveUp
            self.i = end + 1
        elif self.peek() == "?":  # flags, look-around, …
            raise _GiveUp
        lits = self.alternation()
        if self.peek() != ")":
            raise _GiveUp
        self.i += 1
        return lits

    def quantifier(self) -> int | None:
        """The least count of a quantifier at the cursor (None: there is none)."""
        ch = self.peek()
        if ch in ("*", "?"):
            self.i += 1
            lo = 0
        elif ch == "+":
            self.i += 1
            lo = 1
        elif ch == "{":
            end = self.s.find("}", self.i)
            body = self.s[self.i + 1 : end] if end > 0 else ""
            lo_text, _, hi_text = body.partition(",")
            if not body.isascii() or not lo_text.isdigit() or not (hi_text == "" or hi_text.isdigit()):
                raise _GiveUp  # not a repetition: RE2 might read it as literal text
            self.i = end + 1
            lo = int(lo_text)
        else:
            return None
        if self.peek() == "?":  # lazy
            self.i += 1
        if self.peek() in ("*", "+", "?", "{"):
            raise _GiveUp
        return lo
