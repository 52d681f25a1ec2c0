"""The vectorized evaluator against the SQL reference: same matches, rule by rule, row by row.

Every SigmaHQ Windows rule runs both ways over evtx-attack-samples and the Mordor sets; the matched
rows of each rule and the values its correlations read must be identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sigma_rawload import load_files

from shoreup.detect.sigma.loader import RuleSet, load
from shoreup.detect.sigma.runner import Runner
from shoreup.engine.duckdb import Store

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def windows_rules() -> RuleSet:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    rs = load([SHARED_DATA / "sigmahq" / "rules" / "windows"])
    assert rs.loaded > 2000 and all(r.plan is not None for r in rs.rules)
    return rs


def _both(store: Store, rs: RuleSet) -> tuple[dict[str, Any], dict[str, Any]]:
    out = []
    for mode in ("sql", "vector"):
        events = Runner(store.con, rs, mode=mode).run()
        out.append(
            {
                rid: [(e.row, e.us, e.ref_file, e.ref_record, e.host, sorted(e.values.items())) for e in evs]
                for rid, evs in events.items()
            }
        )
    return out[0], out[1]


@pytest.mark.parametrize("corpus", ["evtx-attack-samples", "mordor"])
def test_every_windows_rule_both_ways(shared_data: Path, windows_rules: RuleSet, corpus: str) -> None:
    root = shared_data / corpus
    files = sorted(root.rglob("*.evtx")) if corpus.startswith("evtx") else sorted(root.rglob("*.zip"))
    store = Store()
    load_files(store, files)
    sql, vec = _both(store, windows_rules)
    assert sql, "the corpus should match some rules"
    differ = sorted(k for k in set(sql) | set(vec) if sql.get(k) != vec.get(k))
    assert not differ, [(k, len(sql.get(k, [])), len(vec.get(k, []))) for k in differ[:10]]
