"""Shared bits of the benchmark scripts: timing a child process with its peak memory."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def installed_bytecode() -> None:
    """Byte-compile shoreup's modules, as ``pip install`` does for an installed package (and Debian for
    fail2ban's): the development install is editable, and where ``PYTHONDONTWRITEBYTECODE`` is set (as
    on this machine) every timed run would otherwise compile ~45 modules from source first (~0.2 s)."""
    import compileall

    compileall.compile_dir(str(ROOT / "shoreup"), quiet=1)


installed_bytecode()


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes


# A wrapper whose only child is the measured command: its RUSAGE_CHILDREN is that command's peak.
_WRAP = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:], stdout=open(sys.argv[1], 'wb'))\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure(cmd: list[str], stdout_to: str = os.devnull) -> Run:
    """Run ``cmd`` (its stdout to ``stdout_to``); wall time and the command's peak resident memory."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAP, stdout_to, *cmd], capture_output=True, check=False)
    seconds = time.perf_counter() - start
    peak = float("nan")
    lines = proc.stderr.decode(errors="replace").splitlines()
    for line in lines:
        if line.startswith("PEAK_KB "):
            peak = int(line.split()[1]) / 1024
    stderr = "\n".join(x for x in lines if not x.startswith("PEAK_KB ")).encode()
    return Run(seconds, peak, proc.returncode, b"", stderr)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
