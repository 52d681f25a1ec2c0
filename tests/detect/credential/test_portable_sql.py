"""The credential detectors' SQL keeps to forms that transpile to Spark (no DuckDB-only shortcuts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shoreup.detect.credential as credential

MODULES = sorted(p for p in Path(credential.__file__).parent.glob("*.py"))

# DuckDB-only spellings that have a standard form: list() -> array_agg, median -> percentile_cont,
# QUALIFY -> a filtering subquery, ``::`` casts -> CAST, arg_max / arg_min, struct and list literals.
_DUCKDB_ONLY = re.compile(r"\blist\(|\bmedian\(|\bQUALIFY\b|::|\barg_max\(|\barg_min\(|\bstruct_pack\(|"
                          r"\blist_\w+\(|\bstring_agg\(|\bEXCLUDE\s*\(", re.IGNORECASE)


def _sql_strings(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r'"""(.*?)"""', text, re.DOTALL) if "SELECT" in m.group(1)]


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_sql_is_portable(path: Path) -> None:
    for sql in _sql_strings(path.read_text(encoding="utf-8")):
        bad = _DUCKDB_ONLY.findall(sql)
        assert not bad, f"{path.name}: {bad}"
