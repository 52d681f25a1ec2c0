"""The ``shoreup.hunt/1`` JSON document."""

from __future__ import annotations

from typing import Any

import orjson

from shoreup.findings import Finding
from shoreup.pipeline import IngestReport

SCHEMA = "shoreup.hunt/1"


def document(report: IngestReport, findings: list[Finding], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "summary": report.to_json(),
        "findings": [f.to_json() for f in findings],
        "incidents": [],
    }
    if extra:
        doc.update(extra)
    return doc


def dumps(doc: dict[str, Any]) -> bytes:
    """Deterministic, indented JSON (keys in contract order, non-ASCII kept, control chars escaped)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
