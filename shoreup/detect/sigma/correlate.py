"""Sigma correlations (specification v2.1) on true sliding windows.

A window of ``timespan`` T is any span of length T, not a clock bucket: for each event, in time
order per group, the window is every event of the group in ``[t - T, t]``. The condition is tested
on each such window; windows that hold and share events are merged, so one burst is one match,
whatever clock edges it straddles. A match reports its span (first to last member), its group, the
condition's value (the largest seen), the distinct values and its member events.

Chains: a correlation may refer to another one; the inner one's matches enter the outer one as
events at the end of their window, carrying their group values and members.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaRuleReference,
)

from .loader import LoadedCorrelation
from .runner import Event

_CMP: dict[str, Callable[[float, float], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
    "eq": operator.eq,
    "neq": operator.ne,
}


@dataclass
class Tagged:
    """An event (or an inner correlation's match) as a correlation sees it."""

    us: int
    ref: str  # id of the rule it came from
    group: tuple[str | None, ...]
    value: str | None
    members: list[Event]


@dataclass
class Match:
    """One match of a correlation: a merged run of windows where the condition held."""

    start_us: int
    end_us: int
    group: dict[str, str | None]
    value: float  # the condition's measure (count, distinct count, sum …), largest over the run
    members: list[Event]
    distinct: list[str] = field(default_factory=list)
    rules_seen: list[str] = field(default_factory=list)

    def as_event(self, group_by: list[str]) -> Event:
        """This match as an event of a chained correlation (at the end of its window)."""
        last = max(self.members, key=lambda e: e.us)
        return Event(
            row=last.row,
            time=last.time,
            us=self.end_us,
            host=last.host,
            ref_file=last.ref_file,
            ref_record=last.ref_record,
            values={g: self.group.get(g) for g in group_by},
        )


def _field(c: LoadedCorrelation, name: str, ref: str) -> str:
    return c.aliases.get(name, {}).get(ref, name)


def correlate(
    c: LoadedCorrelation, events: dict[str, list[Event]], inner: dict[str, list[Match]]
) -> list[Match]:
    """Evaluate correlation ``c`` over the matched events of its references.

    ``events`` holds plain rules' matches by rule id; ``inner`` the matches of referenced
    correlations, by id.
    """
    tagged: list[Tagged] = []
    for ref in c.refs:
        if ref in inner:
            src = inner[ref]
            for m in src:
                vals = {g: m.group.get(g) for g in m.group}
                tagged.append(
                    Tagged(
                        us=m.end_us,
                        ref=ref,
                        group=tuple(vals.get(_field(c, g, ref)) for g in c.group_by),
                        value=None,
                        members=m.members,
                    )
                )
            continue
        for e in events.get(ref, []):
            value: str | None = None
            if c.fieldref:
                parts = [e.values.get(_field(c, f, ref)) for f in c.fieldref]
                value = None if any(p is None for p in parts) else "\x1f".join(str(p) for p in parts)
            tagged.append(
                Tagged(
                    us=e.us,
                    ref=ref,
                    group=tuple(e.values.get(_field(c, g, ref)) for g in c.group_by),
                    value=value,
                    members=[e],
                )
            )
    groups: dict[tuple[str | None, ...], list[Tagged]] = {}
    for t in tagged:
        groups.setdefault(t.group, []).append(t)
    out: list[Match] = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else v for v in k)):
        evs = sorted(groups[key], key=lambda t: (t.us, t.ref))
        out.extend(_windows(c, key, evs))
    out.sort(key=lambda m: (m.start_us, m.end_us))
    return out


class _State:
    """What is inside the current window: counts per rule, per value, and the numeric values."""

    def __init__(self) -> None:
        self.n = 0
        self.rules: Counter[str] = Counter()
        self.values: Counter[str] = Counter()
        self.total = 0.0
        self.numbers: list[float] = []  # sorted, numeric values only

    def add(self, t: Tagged) -> None:
        self.n += 1
        self.rules[t.ref] += 1
        if t.value is not None:
            self.values[t.value] += 1
            x = _number(t.value)
            if x is not None:
                self.total += x
                bisect.insort(self.numbers, x)

    def remove(self, t: Tagged) -> None:
        self.n -= 1
        self.rules[t.ref] -= 1
        if not self.rules[t.ref]:
            del self.rules[t.ref]
        if t.value is not None:
            self.values[t.value] -= 1
            if not self.values[t.value]:
                del self.values[t.value]
            x = _number(t.value)
            if x is not None:
                self.total -= x
                del self.numbers[bisect.bisect_left(self.numbers, x)]


def _number(s: str) -> float | None:
    try:
        x = float(s)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _percentile(xs: list[float], p: int) -> float:
    """Linear-interpolated percentile of sorted ``xs`` (as numpy's default)."""
    if not xs:
        return math.nan
    k = (len(xs) - 1) * p / 100.0
    lo = math.floor(k)
    hi = math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _measure(c: LoadedCorrelation, st: _State, win: list[Tagged]) -> tuple[bool, float]:
    kind = c.kind
    if kind == "event_count":
        v = float(st.n)
    elif kind == "value_count":
        v = float(len(st.values))
    elif kind == "value_sum":
        if not st.numbers:
            return False, 0.0
        v = st.total
    elif kind == "value_avg":
        if not st.numbers:
            return False, 0.0
        v = st.total / len(st.numbers)
    elif kind == "value_percentile":
        if not st.numbers:
            return False, 0.0
        v = _percentile(st.numbers, c.percentile or 50)
    elif kind == "temporal":
        present = set(st.rules)
        if c.extended is not None:
            return _eval(c.extended, present, c), float(len(present))
        v = float(len(present))
        if c.op is None:
            return len(present) == len(set(c.refs)), v
    elif kind == "temporal_ordered":
        ok = _ordered(c, win)
        v = float(len(set(st.rules)))
        if c.op is None or not ok:
            return ok, v
    else:
        return False, 0.0
    assert c.op is not None and c.threshold is not None
    return _CMP[c.op](v, c.threshold), v


def _ordered(c: LoadedCorrelation, win: list[Tagged]) -> bool:
    """Whether the window holds the referenced rules in their listed order, ending with its last event."""
    order = c.refs
    if not win or win[-1].ref != order[-1]:
        return False
    # greedy from the end: the latest occurrence of each earlier rule before the next one
    limit = win[-1].us
    pos = len(win) - 1
    for ref in reversed(order[:-1]):
        pos -= 1
        while pos >= 0 and not (win[pos].ref == ref and win[pos].us <= limit):
            pos -= 1
        if pos < 0:
            return False
        limit = win[pos].us
    return True


def _eval(node: Any, present: set[str], c: LoadedCorrelation) -> bool:
    if isinstance(node, SigmaRuleReference):
        return c.ref_names.get(node.reference, node.reference) in present
    if isinstance(node, CorrelationConditionAND):
        return all(_eval(a, present, c) for a in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_eval(a, present, c) for a in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _eval(node.args[0], present, c)
    raise TypeError(f"unknown correlation condition element {type(node).__name__}")


def _windows(c: LoadedCorrelation, key: tuple[str | None, ...], evs: list[Tagged]) -> list[Match]:
    span = c.timespan_s * 1_000_000
    st = _State()
    left = 0
    out: list[Match] = []
    run_lo = run_hi = -1  # index range of the current merged run
    best = 0.0
    for i, t in enumerate(evs):
        st.add(t)
        while evs[left].us < t.us - span:
            st.remove(evs[left])
            left += 1
        ok, v = _measure(c, st, evs[left : i + 1] if c.kind == "temporal_ordered" else [])
        if not ok:
            continue
        if run_hi >= 0 and left <= run_hi:  # shares events with the current run: extend it
            run_hi = i
            best = max(best, v)
            continue
        if run_hi >= 0:
            out.append(_match(c, key, evs[run_lo : run_hi + 1], best))
        run_lo, run_hi, best = left, i, v
    if run_hi >= 0:
        out.append(_match(c, key, evs[run_lo : run_hi + 1], best))
    return out


def _match(c: LoadedCorrelation, key: tuple[str | None, ...], run: list[Tagged], value: float) -> Match:
    members: dict[tuple[str, int], Event] = {}
    for t in run:
        for e in t.members:
            members.setdefault((e.ref_file, e.ref_record), e)
    distinct = sorted({t.value for t in run if t.value is not None})
    return Match(
        start_us=min(run[0].us, *(e.us for t in run for e in t.members)),
        end_us=run[-1].us,
        group=dict(zip(c.group_by, key, strict=True)),
        value=value,
        members=sorted(members.values(), key=lambda e: (e.us, e.ref_file, e.ref_record)),
        distinct=[d.replace("\x1f", " ") for d in distinct],
        rules_seen=sorted({t.ref for t in run}),
    )
