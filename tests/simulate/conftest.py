"""One simulated organization, generated once per test session and read back through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shoreup.engine.duckdb import Store
from shoreup.pipeline import IngestReport, ingest
from shoreup.simulate import generate


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sim")
    return out, generate(out, seed=5)


@pytest.fixture(scope="session")
def ingested(sim: tuple[Path, dict[str, Any]]) -> tuple[Store, IngestReport]:
    out, truth = sim
    store = Store()
    report = ingest([str(out / f) for f in truth["files"]], store)
    return store, report


def load_truth(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    return data
