"""Command line: parse arguments, call the pipeline, render. Heavy modules load only when needed."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from shoreup import __version__

app = typer.Typer(
    name="shoreup",
    help="Find the phish → password attack → compromise → wiper chain in the logs and mail you already have.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
rules_app = typer.Typer(help="Sigma rules: check what loads.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2

PathsArg = Annotated[list[str], typer.Argument(help="Files, folders, globs, or - for standard input.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write the shoreup.hunt/1 JSON document to stdout.")]
YearOpt = Annotated[
    int | None, typer.Option(min=1970, max=2999, help="Year of the first line of year-less syslog (1970-2999).")
]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the self-contained HTML report here.")]
StixOpt = Annotated[Path | None, typer.Option("--stix", help="Write a STIX 2.1 bundle here, for sharing.")]
TimelineOpt = Annotated[
    Path | None, typer.Option("--timeline", help="Write a timeline: .csv (Timeline Explorer) or .jsonl (Timesketch).")
]
BlocklistOpt = Annotated[Path | None, typer.Option("--blocklist", help="Write the hostile IPs / CIDRs here.")]
AccountsOpt = Annotated[Path | None, typer.Option("--accounts", help="Write account actions (CSV) here.")]
MailOpt = Annotated[
    list[str] | None,
    typer.Option("--mail", help="Mail to triage into the chain: files, folders, or `shoreup mail --json` output."),
]
OrgOpt = Annotated[str | None, typer.Option("--org", help="Organization config (TOML): domains, people.")]
OrgNameOpt = Annotated[str, typer.Option("--org-name", help="Name of the reporting organization (STIX).")]
LoginPathOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--login-path",
        help="Web access logs: another login endpoint (a path prefix such as /owa/auth or /my/login; "
        "repeatable), besides /login, /signin, /wp-login.php, /xmlrpc.php, /user/login and /api/auth.",
    ),
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy",
        help="Web access logs: a network (CIDR) of proxies in front of the site, e.g. a CDN's (repeatable); "
        "requests from it are attributed to the client its X-Forwarded-For names. Private ranges always are.",
    ),
]
TlpOpt = Annotated[str, typer.Option("--tlp", help="TLP marking of the STIX bundle: white, green, amber, red.")]


@dataclass
class Outputs:
    """Where the reports go, and the mail that joins the chain."""

    html: Path | None = None
    stix: Path | None = None
    timeline: Path | None = None
    blocklist: Path | None = None
    accounts: Path | None = None
    mail: list[str] = field(default_factory=list)
    org: str | None = None
    org_name: str = "Reporting organization"
    tlp: str = "amber"


def _plain(value: object) -> str:
    """A message for the terminal with its control characters shown escaped: it may name a file, a
    rule or a field an attacker chose (``\x1b]0;…`` would retitle the terminal)."""
    from shoreup.report.text import message

    return message(value)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"shoreup: {_plain(message)}", err=True)
    return typer.Exit(EXIT_ERROR)


@app.command()
def hunt(
    paths: PathsArg,
    json_out: JsonOpt = False,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader instead of sniffing.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Keep the normalized events in this DuckDB file.")] = None,
    year: YearOpt = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps that carry none (e.g. Europe/Paris).")] = "UTC",
    login_path: LoginPathOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    detector: Annotated[
        list[str] | None, typer.Option("--detector", "-d", help="Run only these detectors (repeatable).")
    ] = None,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit; the rest spills to disk.")] = "1GB",
    rules: Annotated[
        list[str] | None, typer.Option("--rules", help="Also run the Sigma rules in this folder (repeatable).")
    ] = None,
    no_builtin_rules: Annotated[bool, typer.Option(help="Do not run shoreup's own Sigma rule pack.")] = False,
    html: HtmlOpt = None,
    stix: StixOpt = None,
    timeline: TimelineOpt = None,
    blocklist: BlocklistOpt = None,
    accounts: AccountsOpt = None,
    mail: MailOpt = None,
    org: OrgOpt = None,
    org_name: OrgNameOpt = "Reporting organization",
    tlp: TlpOpt = "amber",
    engine: Annotated[str, typer.Option(help="Run the detectors on duckdb (embedded) or spark.")] = "duckdb",
    spark_master: Annotated[str, typer.Option(help="Spark master URL for --engine spark.")] = "local[*]",
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Processes reading the inputs in parallel (default: one per CPU)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every note.")] = False,
) -> None:
    """Read logs (and mail), run the detectors, tie findings into incidents, report.

    Exit 0 clean, 1 findings, 2 bad usage or damaged input.
    """
    sigma = {"rule_dirs": list(rules or []), "include_builtin": not no_builtin_rules}
    outputs = Outputs(html, stix, timeline, blocklist, accounts, list(mail or []), org, org_name, tlp)
    if engine not in ("duckdb", "spark"):
        raise _fail(f"unknown engine {engine!r}: use duckdb or spark")
    code = run_hunt(
        paths, json_out, fmt, db, year, tz, detector, memory_limit, verbose, sigma=sigma, outputs=outputs,
        spark_master=spark_master if engine == "spark" else None, jobs=jobs, login_paths=login_path,
        trusted_proxies=trusted_proxy,
    )
    raise typer.Exit(code)


def run_hunt(
    paths: list[str],
    json_out: bool = False,
    fmt: str | None = None,
    db: str | None = None,
    year: int | None = None,
    tz: str = "UTC",
    detectors: list[str] | None = None,
    memory_limit: str = "1GB",
    verbose: bool = False,
    sigma: dict[str, Any] | None = None,
    outputs: Outputs | None = None,
    spark_master: str | None = None,
    jobs: int | None = None,
    login_paths: list[str] | None = None,
    trusted_proxies: list[str] | None = None,
) -> int:
    from rich.console import Console

    from shoreup import incidents, pipeline
    from shoreup.engine.duckdb import Store
    from shoreup.errors import ShoreupError
    from shoreup.report import emit_outputs, terminal
    from shoreup.report import json as json_report

    outputs = outputs or Outputs()
    err = Console(stderr=True, highlight=False)
    options = _read_options(year, tz, login_paths, trusted_proxies)
    mail_paths = [*outputs.mail, *(p for p in paths if incidents.is_mail_input(p))]
    log_paths = [p for p in paths if not incidents.is_mail_input(p)]
    try:
        with Store(db, memory_limit=memory_limit) as store, _progress(err, quiet=json_out) as progress:
            report = pipeline.ingest(log_paths, store, options, fmt=fmt, progress=progress, jobs=jobs)
            skipped: dict[str, str] = {}
            if spark_master:
                from shoreup.engine import spark

                findings, skipped = spark.hunt_store(store, detectors, {"sigma": sigma or {}}, spark_master)
            else:
                findings = pipeline.detect(store, detectors, {"sigma": sigma or {}})
            verdicts, mail_problems = incidents.load_mail(mail_paths, outputs.org) if mail_paths else ([], [])
            analysis = incidents.build(findings, store.con, verdicts)
            posture = _posture(store, findings) if outputs.html else None
        written = emit_outputs(
            report, analysis, html=outputs.html, stix=outputs.stix, timeline=outputs.timeline,
            blocklist=outputs.blocklist, accounts=outputs.accounts, org_name=outputs.org_name, tlp=outputs.tlp,
            posture=posture,
        )
    except ShoreupError as e:
        raise _fail(str(e)) from None
    rules = None if spark_master else _rules_summary(detectors)
    for name, why in sorted(skipped.items()):
        err.print(f"shoreup: detector {name} did not run on Spark: {_plain(why)}", markup=False, highlight=False)
    if json_out:
        extra = {"rules": rules.to_json()} if rules else None
        doc = json_report.document(report, analysis.findings, extra, incidents=analysis.incidents)
        sys.stdout.buffer.write(json_report.dumps(doc))
    else:
        console = Console(highlight=False)
        if rules:
            console.print(rules.line(), markup=False, highlight=False, style="dim")
        terminal.render(console, report, analysis.findings, verbose, incidents=analysis.incidents)
    for p in report.problems():
        err.print(f"shoreup: {_plain(p)}", markup=False, highlight=False)
    for problem in mail_problems:
        err.print(f"shoreup: {_plain(problem)}", markup=False, highlight=False)
    out = err if json_out else Console(highlight=False)
    for what, path in written:
        out.print(f"{what}: {_plain(path)}", markup=False, highlight=False)
    if report.damaged or mail_problems:
        return EXIT_ERROR
    return EXIT_FOUND if analysis.findings else EXIT_CLEAN


def _posture(store: Any, findings: list[Any]) -> dict[str, Any]:
    """The MFA posture of the same inputs, for the HTML report."""
    from shoreup.posture import assess

    return assess(store.con, findings).to_json()


def _rules_summary(detectors: list[str] | None) -> Any:
    """What the Sigma detector loaded and ran, when it ran."""
    if detectors and "sigma" not in detectors:
        return None
    from shoreup.detect import sigma

    return sigma.last_load_summary()


def _read_options(
    year: int | None, tz: str, login_paths: list[str] | None, trusted_proxies: list[str] | None = None
) -> Any:
    """The readers' options from the command line (bad usage exits 2)."""
    import ipaddress

    from shoreup.sources._base import ReadOptions

    paths = [p.strip() for p in login_paths or []]
    bad = [p for p in paths if not p.startswith("/") or any(c.isspace() for c in p)]
    if bad:
        raise _fail(f"--login-path takes a path starting with '/', not {bad[0]!r}")
    nets = [n.strip() for n in trusted_proxies or []]
    for n in nets:
        try:
            ipaddress.ip_network(n, strict=False)
        except ValueError:
            raise _fail(f"--trusted-proxy takes a network such as 173.245.48.0/20, not {n!r}") from None
    return ReadOptions(year=year, tz=_zone(tz), login_paths=tuple(paths), trusted_proxies=tuple(nets))


def _zone(name: str) -> dt.tzinfo:
    import zoneinfo

    if name.upper() == "UTC":
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(f"unknown time zone {name!r}") from None


class _progress:
    """A progress bar on stderr that appears only when reading takes more than a second."""

    def __init__(self, console: object, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        self.started = 0.0

    def __enter__(self) -> Callable[[str, int, int], None]:
        import time

        self.started = time.monotonic()
        return self.update

    def update(self, name: str, done: int, total: int) -> None:
        import time

        from rich.console import Console
        from rich.progress import Progress

        console = self.console
        if self.quiet or not isinstance(console, Console) or not console.is_terminal:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0 or done >= total:
                return
            self.bar = Progress(console=console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("reading", total=total)
        self.bar.update(self.task, completed=done, description=f"reading {done}/{total}")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def ingest(
    paths: PathsArg,
    to: Annotated[Path, typer.Option("--to", help="Lake folder: <table>/date=YYYY-MM-DD/*.parquet.")],
    append: Annotated[bool, typer.Option(help="Add to tables already in the lake.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace tables already in the lake.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader instead of sniffing.")] = None,
    year: YearOpt = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps that carry none.")] = "UTC",
    login_path: LoginPathOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    memory_limit: Annotated[str, typer.Option(help="DuckDB memory limit; the rest spills to disk.")] = "1GB",
) -> None:
    """Write the normalized events as Parquet, partitioned by table and date, for data lakes and Spark."""
    from rich.console import Console

    from shoreup.engine import lake
    from shoreup.errors import ShoreupError
    from shoreup.report import terminal

    if append and overwrite:
        raise _fail("--append and --overwrite exclude each other")
    mode: Any = "append" if append else "overwrite" if overwrite else "error"
    err = Console(stderr=True, highlight=False)
    try:
        with _progress(err, quiet=False) as progress:
            report, written = lake.ingest(
                paths, to, mode, _read_options(year, tz, login_path, trusted_proxy), fmt, memory_limit, progress
            )
    except ShoreupError as e:
        raise _fail(str(e)) from None
    console = Console(highlight=False)
    terminal.render_ingest(console, report)
    rows = ", ".join(f"{t} {n:,} rows" for t, n in sorted(written.rows.items())) or "nothing to write"
    console.print(f"lake {written.root}: {rows}", markup=False, highlight=False)
    raise typer.Exit(EXIT_ERROR if report.damaged else EXIT_CLEAN)


@app.command()
def mail(
    paths: PathsArg,
    org: Annotated[str | None, typer.Option("--org", help="Organization config (TOML): domains, people.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Write the shoreup.mail/1 document to stdout.")] = False,
) -> None:
    """Triage saved mail (.eml, .msg, mbox, Maildir): phishing / suspicious / clean, and why."""
    from shoreup.detect import mail as triage

    raise typer.Exit(triage.run(paths, org, json_out))


@app.command()
def posture(
    paths: PathsArg,
    json_out: Annotated[bool, typer.Option("--json", help="Write the shoreup.posture/1 document to stdout.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader instead of sniffing.")] = None,
    year: YearOpt = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps that carry none.")] = "UTC",
    login_path: LoginPathOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
) -> None:
    """MFA coverage and legacy authentication per source, and attacked accounts that lack MFA."""
    from rich.console import Console

    from shoreup import detect as registry
    from shoreup import pipeline
    from shoreup.engine.duckdb import Store
    from shoreup.errors import ShoreupError
    from shoreup.posture import assess
    from shoreup.report import json as json_report
    from shoreup.report.posture import render

    err = Console(stderr=True, highlight=False)
    try:
        with Store() as store:
            report = pipeline.ingest(paths, store, _read_options(year, tz, login_path, trusted_proxy), fmt=fmt)
            attacks = [n for n in registry.names() if str(registry.load(n).TECHNIQUE).startswith("T1110")]
            findings = pipeline.detect(store, attacks)
            result = assess(store.con, findings)
    except ShoreupError as e:
        raise _fail(str(e)) from None
    if json_out:
        sys.stdout.buffer.write(json_report.dumps(result.to_json()))
    else:
        render(Console(highlight=False), result)
    for p in report.problems():
        err.print(f"shoreup: {_plain(p)}", markup=False, highlight=False)
    raise typer.Exit(EXIT_ERROR if report.damaged else EXIT_CLEAN)


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option("--out", help="Folder to write the logs and truth.json into.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same files.")] = 1,
    users: Annotated[int, typer.Option(help="Size of the simulated organization.")] = 200,
    days: Annotated[int, typer.Option(help="Days of background activity (the attacks come on the last).")] = 2,
    scanners_per_day: Annotated[int, typer.Option(help="Internet scanners knocking per day (log volume).")] = 30,
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help="Write only these formats (repeatable or a,b).")
    ] = None,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", help="Play only these scenarios (repeatable or a,b).")
    ] = None,
    list_scenarios: Annotated[bool, typer.Option("--list-scenarios", help="List scenarios and formats.")] = False,
) -> None:
    """Write realistic logs with attack scenarios and hard negatives, and their ground truth (truth.json)."""
    from shoreup import simulate as sim
    from shoreup.errors import ShoreupError

    if list_scenarios:
        for kind, table in (("attack", sim.ATTACKS), ("benign", sim.BENIGN)):
            for name, formats in table.items():
                typer.echo(f"{kind:7s} {name:32s} {', '.join(formats)}")
        typer.echo(f"formats: {', '.join(sim.FORMATS)}")
        return
    if out is None:
        raise _fail("--out is required")
    try:
        truth = sim.generate(
            out, seed=seed, users=users, days=days, scanners_per_day=scanners_per_day,
            formats=_split(fmt), scenarios=_split(scenario),
        )
    except ShoreupError as e:
        raise _fail(str(e)) from None
    for path, n in sorted(truth["lines"].items()):
        typer.echo(f"  {path:48s} {n:>9,} records")
    typer.echo(f"wrote {len(truth['lines'])} file(s), {len(truth['scenarios'])} scenario(s) and truth.json to {out}")


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@app.command()
def demo(
    json_out: JsonOpt = False,
    html: HtmlOpt = None,
    stix: StixOpt = None,
    timeline: TimelineOpt = None,
    blocklist: BlocklistOpt = None,
    accounts: AccountsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated data.")] = 7,
    keep: Annotated[Path | None, typer.Option(help="Write the simulated logs here instead of a temp folder.")] = None,
) -> None:
    """Simulate an organization under attack (phish, spray, compromise, wiper precursors) and hunt it.

    Writes the HTML report (to --html, or into the demo folder) and prints its path.
    """
    import tempfile

    from shoreup.simulate import generate

    out = keep or Path(tempfile.mkdtemp(prefix="shoreup-demo-"))
    truth = generate(out, seed=seed)
    mail_dir = out / truth["mail"]["dir"] if truth.get("mail") else None
    org = mail_dir / "org.toml" if mail_dir and (mail_dir / "org.toml").exists() else None
    if not json_out:
        typer.echo(f"Simulated {len(truth['files'])} log file(s) and mail in {out} (seed {seed}); hunting them.\n")
    outputs = Outputs(
        html=html or out / "report.html", stix=stix, timeline=timeline, blocklist=blocklist, accounts=accounts,
        mail=[str(mail_dir)] if mail_dir else [], org=str(org) if org else None,
    )
    code = run_hunt([str(out / f) for f in truth["files"]], json_out=json_out, outputs=outputs)
    # Findings are the demo's expected outcome: only an error fails it.
    raise typer.Exit(EXIT_ERROR if code == EXIT_ERROR else EXIT_CLEAN)


@app.command()
def watch(
    paths: Annotated[list[str] | None, typer.Argument(help="Log files to follow (they may not exist yet).")] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="DuckDB file for offsets, events and alerts; a restart resumes.")
    ] = None,
    alerts: Annotated[str | None, typer.Option("--alerts", help="Append each alert (one JSON per line) here.")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST each alert as JSON here (retried).")] = None,
    syslog_port: Annotated[
        int | None, typer.Option("--syslog-port", help="Also receive syslog on 127.0.0.1:N, UDP and TCP.")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader instead of sniffing.")] = None,
    year: YearOpt = None,
    tz: Annotated[str, typer.Option(help="Time zone of timestamps that carry none.")] = "UTC",
    login_path: LoginPathOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    detector: Annotated[list[str] | None, typer.Option("--detector", "-d", help="Run only these detectors.")] = None,
) -> None:
    """Follow growing logs and raise alerts within seconds; survives restarts and log rotation."""
    from shoreup.watch import main as watch_main

    raise typer.Exit(
        watch_main(paths or [], state, alerts, webhook, syslog_port, fmt, detectors=detector,
                   options=_read_options(year, tz, login_path, trusted_proxy))
    )


@rules_app.command("check")
def rules_check(
    dirs: Annotated[list[str] | None, typer.Argument(help="Rule folders; none checks shoreup's own pack.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help='{"loaded": n, "skipped": [{"path", "id", "reason"}]}')] = False,
) -> None:
    """List every Sigma rule as loaded or skipped, with the reason."""
    from shoreup.detect import sigma

    raise typer.Exit(sigma.check(list(dirs or []), json_out))


@app.command()
def formats() -> None:
    """List the input formats shoreup reads (the names --format takes), in sniffing order."""
    from shoreup import sources

    for name in sources.names():
        typer.echo(f"{name:12s} {sources.describe(name)}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"shoreup {__version__}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


def run() -> None:
    """The ``shoreup`` command: :func:`main`, then an exit that skips the interpreter's teardown.

    After a large hunt, freeing its objects one by one (hundreds of MB of Arrow buffers, findings that
    name 100,000 addresses) and a last garbage collection take 0.2-0.3 s once the work is done. The
    process ends instead as soon as the exit handlers ran (temporary folders are removed there) and
    the output is flushed; everything shoreup writes is closed before (``with`` blocks). An error that
    is no ``SystemExit`` (a bug) still ends the normal way, with its traceback.

    The cycle collector runs after 100,000 new objects instead of 700: a hunt makes few reference
    cycles (some hundreds for a million lines) but millions of objects, and the default threshold
    spent ~0.2 s of a large hunt in 150 collections that found next to nothing.

    Where dateutil is not installed, its absence is remembered: pyarrow tries to import it each time
    it turns an untyped Python value into a scalar (``pc.equal(column, "x")``): 63 µs a call searching
    the path, 5 µs once the failure is remembered — thousands of calls over a folder of small logs.
    """
    import atexit
    import gc
    import importlib.util
    import os

    gc.set_threshold(100_000, 50, 50)
    if "dateutil" not in sys.modules and importlib.util.find_spec("dateutil") is None:
        for name in ("dateutil", "dateutil.relativedelta"):  # an import of either now fails at once
            sys.modules[name] = None  # type: ignore[assignment]
    try:
        main()
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``): nothing more to say
            code = code or 1
    os._exit(code)
