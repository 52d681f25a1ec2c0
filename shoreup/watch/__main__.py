"""``python -m shoreup.watch PATH… [options]``: the watch command without the CLI (tests, benchmarks)."""

from __future__ import annotations

import argparse
import sys

from shoreup.watch import main


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shoreup.watch", description=__doc__)
    p.add_argument("paths", nargs="*")
    p.add_argument("--state")
    p.add_argument("--alerts")
    p.add_argument("--webhook")
    p.add_argument("--syslog-port", type=int)
    p.add_argument("--format", dest="fmt")
    p.add_argument("--year", type=int)
    p.add_argument("--detector", "-d", action="append", dest="detectors")
    p.add_argument("--retention-hours", type=float, default=168.0)
    a = p.parse_args(argv)
    return main(
        a.paths, a.state, a.alerts, a.webhook, a.syslog_port, a.fmt,
        year=a.year, detectors=a.detectors, retention_hours=a.retention_hours,
    )


if __name__ == "__main__":
    sys.exit(cli())
