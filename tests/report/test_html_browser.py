"""The HTML report in a real headless browser: it renders, loads nothing, runs no injected script.

Needs Debian's ``chromium`` (``/usr/bin/chromium``); skipped cleanly without it. The test installs
nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shoreup import incidents
from shoreup.pipeline import IngestReport
from shoreup.report import emit_outputs
from shoreup.report import html as html_report
from tests.report import chain

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "section", "footer", "nav", "h1", "h2",
    "h3", "p", "span", "div", "b", "i", "small", "br", "code", "ol", "ul", "li", "a", "table", "tr", "th", "td",
    "details", "summary", "svg", "rect", "text", "line", "circle",
}  # fmt: skip


class _Tags(HTMLParser):
    """Every (tag, attribute) of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, tuple[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.extend((tag, a) for a in attrs)
        if not attrs:
            self.attrs.append((tag, ("", "")))


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with chain.store() as s:
        analysis = incidents.build(chain.findings(), s.con, chain.mail_doc())
    path = tmp_path_factory.mktemp("html") / "report.html"
    emit_outputs(IngestReport(), analysis, html=path)
    return path


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_file_is_self_contained(report_file: Path) -> None:
    text = report_file.read_text("utf-8")
    assert "default-src 'none'; style-src 'unsafe-inline'" in text
    assert "<script" not in text.lower()
    # no resource is fetched from anywhere: no src/href/url() to a network or file location
    tags = _Tags()
    tags.feed(text)
    assert {t for t, _ in tags.attrs} >= {"svg", "a", "table"}
    for tag, (name, value) in tags.attrs:
        assert name not in ("src", "srcset", "action", "data", "poster", "background", "xlink:href"), (tag, name)
        if name == "href":
            assert (value or "").startswith("#"), (tag, value)  # in-page anchors only
        if name != "xmlns":  # the SVG namespace is a name, never fetched
            assert not re.search(r"\b(?:https?|ftp|file|data|javascript):", value or "", re.I), (tag, name, value)
    assert {t for t, _ in tags.attrs} <= ALLOWED_TAGS, {t for t, _ in tags.attrs} - ALLOWED_TAGS
    assert not re.search(r"url\(|@import", text, re.I)
    # URLs may appear only as text (a URL in a phish subject, a username): no attribute or style carries one
    # the attacker's markup is escaped text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<img" not in text


def test_renders_in_chromium_without_errors_or_requests(report_file: Path, tmp_path: Path) -> None:
    run = _chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "Account alice" in dom and 'class="incident critical"' in dom
    assert "<svg" in dom and "<circle" in dom
    # the username shows as text: escaped in the serialized DOM, and no img element was created
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert not re.search(r"<img\b", dom, re.I)
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert "Refused to" not in run.stderr  # no CSP violation: nothing tried to load or run
    assert not re.search(r"net::ERR_|Failed to load resource", run.stderr)


def test_screenshot_is_drawn(report_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", report_file.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_template_autoescapes_everything() -> None:
    env = html_report._environment()
    assert env.autoescape is True
    x = '<b onmouseover="x">\u202e'
    assert "<b" not in env.from_string("{{ x }}").render(x=x)
    cleaned = env.from_string("{{ x|clean }}").render(x=x)
    assert "<b" not in cleaned and "\u202e" not in cleaned  # a bidi override cannot disguise text
