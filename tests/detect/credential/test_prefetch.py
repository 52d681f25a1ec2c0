"""The attack detectors run two at a time up front give the same findings, remembered for later calls."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from shoreup import detect as registry
from shoreup import pipeline
from shoreup.detect import credential
from shoreup.detect.credential._campaigns import ATTACKS
from shoreup.engine.duckdb import Store
from shoreup.schema import AUTH

from ._auth import DAY, HOUR, ev, normal_days, ok, users


def _attacked() -> list[dict[str, Any]]:
    """A tenant's days, a fast brute force, a spray from one address that then gets in, MFA prompts."""
    rows = normal_days(40, 2)
    rows += [ev(DAY + 60 + i * 5, users(40)[3], "203.0.113.9") for i in range(20)]
    rows += [ev(1.5 * DAY + i * 30, u, "198.51.100.7") for i, u in enumerate(users(25))]
    rows += [ok(1.5 * DAY + 2 * HOUR, users(25)[4], "198.51.100.7")]
    rows += [ev(1.7 * DAY + i * 20, users(40)[10], "192.0.2.44", reason="mfa_denied") for i in range(12)]
    return rows


def _store() -> Store:
    store = Store()
    rows = sorted(_attacked(), key=lambda r: r["time"])
    store.append("auth", pa.RecordBatch.from_pylist([{f.name: r.get(f.name) for f in AUTH} for r in rows], schema=AUTH))
    return store


def test_prefetch_gives_the_findings_of_a_run_in_turn() -> None:
    modules = [registry.load(n) for n in ATTACKS]
    with _store() as store:
        con = store.con
        alone = {m.NAME: [f.to_json() for f in m.detect.__wrapped__(con, m.Params())] for m in modules}
        assert alone["brute_force"] and alone["password_spray"] and alone["mfa_fatigue"]
        credential._MEMO.clear()
        credential.prefetch(con, [(m.detect, m.Params()) for m in modules])
        version = credential._version(con)
        for m in modules:  # remembered under the store's connection: a later call does not run it again
            name = f"{m.detect.__module__}.{m.detect.__qualname__}"
            assert credential._fresh(name, con, version, m.Params())
            assert [f.to_json() for f in m.detect(con, m.Params())] == alone[m.NAME]


def test_hunt_with_prefetch_equals_detectors_one_by_one() -> None:
    with _store() as store:
        credential._MEMO.clear()
        together = [f.to_json() for f in pipeline.detect(store)]
        credential._MEMO.clear()
        one_by_one = []
        for name in registry.names():
            m = registry.load(name)
            one_by_one += m.detect(store.con, m.Params())
        expected = [f.to_json() for f in sorted(one_by_one, key=lambda f: f.sort_key())]
        assert together == expected and any(f["detector"] == "compromise" for f in together)


def test_campaigns_are_made_once_per_set_of_findings() -> None:
    from shoreup.detect.credential import _campaigns

    with _store() as store:
        credential._MEMO.clear()
        first = _campaigns.campaigns(store.con)
        again = _campaigns.campaigns(store.con)
        assert first and [c.finding for c in first] == [c.finding for c in again]
        assert all(a is b for a, b in zip(first, again, strict=True))  # the same sets, not rebuilt
        credential._MEMO.clear()  # the attack detectors run again: new findings, new campaigns
        fresh = _campaigns.campaigns(store.con)
        assert [c.finding.to_json() for c in fresh] == [c.finding.to_json() for c in first]
        assert not any(a is b for a, b in zip(first, fresh, strict=True))
