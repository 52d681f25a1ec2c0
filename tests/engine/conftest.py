"""One local SparkSession for every Spark test of the run (starting Spark costs more than most tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
    from shoreup.engine import spark as engine

    why = engine.available()
    if why:
        pytest.skip(f"Spark engine unavailable: {why}")
    # Tiny inputs: planning and code generation cost more than the work, so both are kept minimal.
    session = engine.session(
        "local[2]",
        shuffle_partitions=1,
        driver_memory="1g",
        config={
            "spark.default.parallelism": "2",
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        },
    )
    yield session
    session.stop()
