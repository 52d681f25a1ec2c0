"""Acceptance on real public data in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoreup import pipeline
from shoreup.engine.duckdb import Store


@pytest.mark.shared
def test_openssh_2k(shared_data: Path) -> None:
    with Store() as store:
        report = pipeline.ingest([str(shared_data / "sshd" / "OpenSSH_2k.log")], store)
        findings = pipeline.detect(store, ["brute_force"])
    (f,) = report.files
    assert f.records_read == 2000 == f.events + sum(f.skipped.values())
    assert not report.damaged
    assert any("183.62.140.253" in x.src_ips for x in findings)
