"""The ``shoreup.hunt/1`` JSON document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shoreup.findings import Finding
from shoreup.pipeline import IngestReport

if TYPE_CHECKING:
    from shoreup.incidents import Incident

SCHEMA = "shoreup.hunt/1"


def document(
    report: IngestReport,
    findings: list[Finding],
    extra: dict[str, Any] | None = None,
    incidents: Sequence[Incident] = (),
) -> dict[str, Any]:
    """The document: ingest summary, findings in their stable order, incidents most severe first."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "summary": report.to_json(),
        "findings": [f.to_json() for f in findings],
        "incidents": [i.to_json() for i in incidents],
    }
    if extra:
        doc.update(extra)
    return doc


def dumps(doc: dict[str, Any]) -> bytes:
    """Deterministic, indented JSON (keys in contract order, non-ASCII kept, control chars escaped)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
