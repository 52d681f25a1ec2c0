"""Helpers for the Sigma tests: run rule YAML over small raw tables made here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sigma_rawload import raw_con

from shoreup.detect.sigma import Params, SigmaRun, run
from shoreup.detect.sigma.loader import load


def run_yaml(tmp_path: Path, text: str, events: list[dict[str, Any]]) -> SigmaRun:
    """Load the rule document(s) in ``text`` and run them over ``events``."""
    p = tmp_path / "rule.yml"
    p.write_text(text, encoding="utf-8")
    rs = load([p])
    assert not rs.skipped, rs.skipped
    return run(raw_con(events), Params(include_builtin=False), rs)


@pytest.fixture(autouse=True)
def _private_rule_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled-rule cache of every test here goes to a temporary folder, never the real home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
