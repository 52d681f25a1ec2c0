"""The command line: start-up cost, the JSON contract, exit codes, the demo."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

from shoreup.simulate import generate

SHOREUP = [sys.executable, "-m", "shoreup"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*SHOREUP, *args], capture_output=True, input=stdin, timeout=300, check=False)


def test_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys; sys.argv=['shoreup','--help']\n"
        "from shoreup.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('duckdb','pyarrow','stix2','jinja2','numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "hunt" in out and "HEAVY []" in out


def test_a_command_imports_no_pydantic() -> None:
    """typer from 0.26 on builds a pydantic adapter for every option of the command run: ~0.14 s of
    imports for each ``shoreup`` command (pyproject keeps typer below it)."""
    code = (
        "import sys; sys.argv=['shoreup','version']\n"
        "from shoreup.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('pydantic', 'duckdb', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out


def test_hunt_json_contract_and_exit_code(tmp_path: Path) -> None:
    truth = generate(tmp_path, seed=3)
    res = run("hunt", str(tmp_path / "auth.log"), "--json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema"] == "shoreup.hunt/1"
    incident = doc["incidents"][0]
    assert set(incident) >= {"id", "title", "severity", "start", "end", "stages", "finding_ids", "users",
                             "src_ips", "hosts", "actions"}
    assert set(incident["finding_ids"]) <= {f["id"] for f in doc["findings"]}
    s = doc["summary"]
    assert s["records_read"] == truth["lines"]["auth.log"] == s["events"] + sum(s["skipped"].values())
    (f,) = s["files"]
    assert set(f) >= {"path", "format", "records_read", "events", "skipped"}
    finding = doc["findings"][0]
    assert set(finding) >= {"id", "detector", "technique", "title", "severity", "confidence", "start", "end",
                            "users", "src_ips", "hosts", "metrics", "evidence"}
    assert finding["start"].endswith("Z") and finding["evidence"][0]["file"].endswith("auth.log")
    bf = next(sc for sc in truth["scenarios"] if sc["kind"] == "brute_force")
    assert any(set(bf["src_ips"]) <= set(x["src_ips"]) and bf["users"] == x["users"] for x in doc["findings"])


def test_stdin_and_exit_codes(tmp_path: Path) -> None:
    line = b"Mar  3 04:05:06 srv01 sshd[1]: Accepted publickey for a from 198.51.100.1 port 2 ssh2\n"
    res = run("hunt", "-", "--json", stdin=gzip.compress(line))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["summary"]["events"] == 1
    res = run("hunt", str(tmp_path / "missing.log"))
    assert res.returncode == 2 and b"missing.log" in res.stdout + res.stderr
    assert b"Traceback" not in res.stderr
    res = run("hunt", "x", "--format", "nope")
    assert res.returncode == 2 and b"unknown format" in res.stderr


def test_the_fast_exit_keeps_exit_codes_output_and_cleanup(tmp_path: Path) -> None:
    """``shoreup`` ends without the interpreter's teardown (``cli.run``): the exit handlers still run,
    no temporary folder is left, the output is all there, the exit code kept; and the cycle collector
    runs rarely."""
    from shoreup.simulate import generate as simulate

    simulate(tmp_path / "logs", seed=4, days=2, scanners_per_day=30, formats=["sshd"])
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    res = subprocess.run([*SHOREUP, "hunt", str(tmp_path / "logs" / "auth.log"), "--json"], capture_output=True,
                         env=env, timeout=300, check=False)
    assert res.returncode == 1, res.stderr
    assert json.loads(res.stdout)["findings"]  # the whole document, flushed
    assert list(temp.iterdir()) == []  # shoreup-spill-* removed by its finalizer, at exit
    res = subprocess.run([*SHOREUP, "hunt", str(tmp_path / "none.log")], capture_output=True, env=env, timeout=300,
                         check=False)
    assert res.returncode == 2 and list(temp.iterdir()) == []
    marker = tmp_path / "exit-handler-ran"
    code = (
        "import atexit, gc, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write("
        "f\"{gc.get_threshold()[0]} {'dateutil' in sys.modules and sys.modules['dateutil'] is None}\"))\n"
        "sys.argv = ['shoreup', 'version']\n"
        "from shoreup.cli import run\n"
        "run()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300, check=False)
    assert res.returncode == 0 and res.stdout.startswith(b"shoreup ") and marker.exists()
    threshold, dateutil_remembered_absent = marker.read_text().split()
    assert int(threshold) >= 10_000  # the cycle collector's threshold raised for the run
    import importlib.util

    assert dateutil_remembered_absent == str(importlib.util.find_spec("dateutil") is None)


def test_bad_options_are_usage_errors_not_tracebacks(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"Mar  3 04:05:06 srv01 sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n")
    for args, said in [
        (["--year", "0"], b"--year"),  # year 0 made timestamps no datetime holds (a traceback in incidents)
        (["--year", "99999"], b"--year"),
        (["--memory-limit", "lots"], b"memory limit 'lots'"),
        (["--db", str(log)], b"cannot open the store"),  # a log given as the database
    ]:
        res = run("hunt", str(log), "--json", *args)
        assert res.returncode == 2 and said in res.stderr, (args, res.stderr)
        assert b"Traceback" not in res.stderr
    res = run("ingest", str(log), "--to", str(tmp_path / "lake"), "--memory-limit", "7 bananas")
    assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_terminal_output_escapes_attacker_text(tmp_path: Path) -> None:
    evil = "\x1b[31mroot\x1b]0;pwn\x07"
    lines = "".join(
        f"Mar  3 04:05:{s:02d} srv01 sshd[1]: Failed password for invalid user {evil} from 203.0.113.5 port 1 ssh2\n"
        for s in range(30)
    )
    p = tmp_path / "auth.log"
    p.write_text(lines)
    res = run("hunt", str(p))
    assert res.returncode == 1
    assert b"\x1b]0;" not in res.stdout and b"\x07" not in res.stdout


def test_problems_on_stderr_escape_the_file_name(tmp_path: Path) -> None:
    """A file in a collected folder may be named by an attacker: its name reaches the terminal in the
    damage messages, which printed it raw (``\x1b]0;`` retitles the terminal, ``\x1b[`` recolours it)."""
    evil = tmp_path / "\x1b]0;pwn\x07\x1b[31mauth.log"
    evil.write_bytes(b"".join(b"%d not a log line at all\n" % i for i in range(30)))
    for args in ([str(evil), "--format", "weblog"], [str(evil), "--format", "weblog", "--json"]):
        res = run("hunt", *args)
        assert res.returncode == 2 and b"could be read as weblog" in res.stderr, res.stderr
        assert b"\x1b" not in res.stderr + res.stdout and b"\x07" not in res.stderr + res.stdout
        assert b"\\x1b]0;pwn" in res.stderr  # shown, escaped


def test_demo_runs_and_exits_zero(tmp_path: Path) -> None:
    res = run("demo", "--keep", str(tmp_path / "demo"), "--html", str(tmp_path / "r.html"))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    # The whole chain in one incident, and the report's path last.
    assert "phishing mail delivered → password spraying → account compromised → signed in to FS01" in " ".join(
        out.split()
    )
    assert out.rstrip().endswith(str(tmp_path / "r.html")) and (tmp_path / "r.html").stat().st_size > 10_000


def test_formats_lists_every_reader_with_its_help_line() -> None:
    from shoreup import sources

    res = run("formats")
    assert res.returncode == 0
    lines = res.stdout.decode().splitlines()
    assert [ln.split()[0] for ln in lines] == sources.names()
    assert all(len(ln.split(None, 1)) == 2 for ln in lines)


def test_login_path_adds_a_web_login_endpoint(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'203.0.113.9 - - [03/Mar/2026:10:00:{s:02d} +0000] "POST /owa/auth.owa HTTP/1.1" 401 45 "-" "curl"\n'
        for s in range(30)
    ))
    plain = json.loads(run("hunt", str(log), "--json").stdout)
    assert plain["summary"]["events"] == 0 and plain["summary"]["skipped"] == {"not_login_request": 30}
    res = run("hunt", str(log), "--json", "--login-path", "/owa/auth", "--login-path", "/ecp/")
    doc = json.loads(res.stdout)
    assert doc["summary"]["events"] == 30 and res.returncode == 1
    assert [f["src_ips"] for f in doc["findings"] if f["detector"] == "brute_force"] == [["203.0.113.9"]]
    bad = run("hunt", str(log), "--login-path", "owa")
    assert bad.returncode == 2 and b"--login-path" in bad.stderr
    bad = run("hunt", str(log), "--trusted-proxy", "cloudflare")
    assert bad.returncode == 2 and b"--trusted-proxy" in bad.stderr


def test_trusted_proxy_attributes_requests_to_the_client(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'173.245.48.{s % 16} - - [03/Mar/2026:10:00:{s:02d} +0000] "POST /login HTTP/1.1" 401 45 "-" "curl" '
        f'"203.0.113.{s % 2}"\n' for s in range(40)
    ))
    args = ("hunt", str(log), "--json", "-d", "brute_force")
    edge = json.loads(run(*args).stdout)  # each CDN edge address on its own: 2 or 3 tries, no burst
    assert edge["findings"] == []
    doc = json.loads(run(*args, "--trusted-proxy", "173.245.48.0/20").stdout)
    assert sorted(ip for f in doc["findings"] for ip in f["src_ips"]) == ["203.0.113.0", "203.0.113.1"]
