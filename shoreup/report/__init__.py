"""Outputs: they know findings, incidents and ingest summaries — never file formats or detectors.

``emit_outputs`` writes the files a hunt was asked for (HTML report, STIX bundle, timeline,
blocklist, account list); each format's module loads only when its file is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoreup.errors import UsageError

if TYPE_CHECKING:
    from shoreup.incidents import Analysis
    from shoreup.pipeline import IngestReport

__all__ = ["emit_outputs"]

PathLike = str | Path


def _write(path: PathLike, data: bytes) -> Path:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise UsageError(f"cannot write {p}: folder {p.parent} does not exist")
    try:
        p.write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {p}: {e.strerror or e}") from None
    return p


def emit_outputs(
    report: IngestReport | None,
    analysis: Analysis,
    *,
    html: PathLike | None = None,
    stix: PathLike | None = None,
    timeline: PathLike | None = None,
    blocklist: PathLike | None = None,
    accounts: PathLike | None = None,
    org_name: str = "Reporting organization",
    tlp: str = "amber",
    title: str = "shoreup hunt report",
    posture: dict[str, Any] | None = None,
) -> list[tuple[str, Path]]:
    """Write every output asked for; returns (what, path) per file written, in this order.

    ``timeline`` is JSONL for Timesketch when its name ends in .jsonl/.ndjson/.json, else CSV for
    Timeline Explorer. ``tlp`` is white, green, amber or red. Raises UsageError when a file cannot be
    written or an option is wrong.
    """
    if tlp.lower() not in ("white", "green", "amber", "red"):
        raise UsageError(f"unknown TLP {tlp!r}: use white, green, amber or red")
    written: list[tuple[str, Path]] = []
    if html is not None:
        from shoreup.report import html as html_report

        written.append(("HTML report", _write(html, html_report.render(report, analysis, title, posture).encode("utf-8"))))
    if stix is not None:
        from shoreup.report import stix as stix_report

        bundle = stix_report.bundle(analysis, org_name=org_name, tlp=tlp)
        written.append(("STIX 2.1 bundle", _write(stix, stix_report.dumps(bundle))))
    if timeline is not None:
        from shoreup.report import timeline as timeline_report

        written.append(("Timeline", _write(timeline, timeline_report.render(analysis, str(timeline)))))
    if blocklist is not None:
        from shoreup.report import actions

        written.append(("Blocklist", _write(blocklist, actions.blocklist_text(analysis.incidents).encode())))
    if accounts is not None:
        from shoreup.report import actions

        written.append(("Account actions", _write(accounts, actions.accounts_csv(analysis.incidents).encode())))
    return written
