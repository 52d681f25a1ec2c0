"""Every credential detector finds exactly the same on Spark as on DuckDB, over the same fixtures.

The fixtures are the firing cases of the detector tables (``tests/detect/credential``), a tenant that
holds every attack and hard negative of ``_auth.py`` at once, and a small simulated organization read
from its native log formats. Findings are compared whole (``to_json()``). One local SparkSession
serves the module; the test skips, saying why, where pyspark or Java is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from shoreup import detect as registry
from shoreup.engine.duckdb import Store
from shoreup.schema import AUTH
from tests.detect.credential import (
    _auth,
    test_brute_force,
    test_compromise,
    test_distributed_spray,
    test_mfa_fatigue,
    test_password_spray,
)

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'shoreup[spark]')")
from shoreup.engine import spark as engine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_WHY = engine.available()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=f"Spark engine unavailable: {_WHY}")

CREDENTIAL = [n for n in registry.names() if n not in engine.UNSUPPORTED]

Rows = Callable[[], list[dict[str, Any]]]


def _cases() -> list[tuple[str, list[str], Rows]]:
    out: list[tuple[str, list[str], Rows]] = []
    tables: list[tuple[str, list[tuple[Any, ...]]]] = [
        ("brute_force", test_brute_force.FIRE),
        ("password_spray", test_password_spray.FIRE),
        ("distributed_spray", test_distributed_spray.FIRE),
        ("mfa_fatigue", test_mfa_fatigue.FIRE),
        ("compromise", test_compromise.FIRE),
        ("mfa_gap", test_compromise.GAP_FIRE),
    ]
    for name, cases in tables:
        out.extend((f"{name}: {case[0]}", [name], case[1]) for case in cases)
    return out


def tenant() -> list[dict[str, Any]]:
    """Every attack and hard negative of ``_auth.py`` in one tenant, so that all of them interact."""
    a = _auth
    return [
        *a.normal_days(200, 4, mfa=False), *a.nat_egress(), *a.typos_then_success(), *a.stale_device(),
        *a.service_account(), *a.travel(), *a.spray_one_ip(60, at=a.DAY + 5 * a.HOUR), *a.distributed(),
        *a.daily_distributed(days=3, at=a.DAY), *a.scanners(4),
        *[a.ev(3 * a.DAY + k * 300, "user150", "185.220.101.4", reason="mfa_denied", method="mfa_push")
          for k in range(8)],
        a.ok(3 * a.DAY + 8 * 300, "user150", "185.220.101.4", method="mfa_push", mfa_used=True),
        *[a.ev(2 * a.DAY + k * 0.5, "root", "203.0.113.5") for k in range(40)],
        a.ok(2 * a.DAY + 30, "root", "203.0.113.5", source_format="sshd"),
        a.ok(2 * a.DAY + 16 * a.HOUR, "user042", "91.240.118.7", user_agent="curl/8", country="RU", asn=48666),
    ]


#: One run of every detector over the whole tenant, then (marked slow: ~3 min on two cores) each
#: detector over each of its own firing cases.
CASES = [
    pytest.param("every _auth.py scenario in one tenant", CREDENTIAL, tenant, id="tenant"),
    *(pytest.param(*c, id=c[0], marks=pytest.mark.slow) for c in _cases()),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
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


def _load(store: Store, events: list[dict[str, Any]]) -> None:
    if events:
        rows = [{f.name: e.get(f.name) for f in AUTH} for e in events]
        store.append("auth", pa.RecordBatch.from_pylist(rows, schema=AUTH))


def _compare(spark: SparkSession, store: Store, names: list[str], workdir: Path) -> None:
    """Run the detectors on both engines over the store's tables and demand the same findings."""
    with engine.spark_store(spark, store, workdir / "lake") as con:
        for name in names:
            module = registry.load(name)
            on_duckdb = [f.to_json() for f in module.detect(store.con, module.Params())]
            on_spark = [f.to_json() for f in module.detect(con, module.Params())]
            assert on_spark == on_duckdb, name


@pytest.mark.parametrize(("case", "names", "make"), CASES)
def test_same_findings(spark: SparkSession, tmp_path: Path, case: str, names: list[str], make: Rows) -> None:
    with Store() as store:
        _load(store, make())
        _compare(spark, store, names, tmp_path)


def test_simulated_organization(spark: SparkSession, tmp_path: Path) -> None:
    from shoreup import pipeline
    from shoreup.simulate import generate

    generate(tmp_path / "logs", seed=7, users=60, days=2, formats=["sshd", "entra", "okta", "cloudtrail"])
    with Store() as store:
        report = pipeline.ingest([str(tmp_path / "logs")], store)
        assert report.events and store.count("auth")
        on_duckdb = [f.to_json() for f in pipeline.detect(store, CREDENTIAL)]
        assert on_duckdb, "the simulated attacks are found"
        with engine.spark_store(spark, store, tmp_path / "lake") as con:
            on_spark, skipped = engine.detect(con, CREDENTIAL)
    assert skipped == {}
    assert [f.to_json() for f in on_spark] == on_duckdb


def test_sigma_is_refused_by_name(spark: SparkSession, tmp_path: Path) -> None:
    with Store() as store, engine.spark_store(spark, store, tmp_path / "lake") as con:
        with pytest.raises(engine.UsageError, match="sigma"):
            engine.detect(con, ["sigma"])
        findings, skipped = engine.detect(con)
    assert findings == [] and set(skipped) == {"sigma"}
