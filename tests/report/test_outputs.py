"""The files people act on: JSON incidents, timeline (Timesketch / Timeline Explorer), STIX, lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import json
from pathlib import Path

import pytest
from rich.console import Console

from shoreup import incidents
from shoreup.pipeline import IngestReport
from shoreup.report import emit_outputs, terminal
from shoreup.report import json as json_report
from shoreup.report import timeline as tl
from tests.report import chain

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def analysis() -> incidents.Analysis:
    with chain.store() as s:
        return incidents.build(chain.findings(), s.con, chain.mail_doc())


@pytest.fixture(scope="module")
def outputs(analysis: incidents.Analysis, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("out")
    names = {"html": "r.html", "stix": "b.json", "timeline": "t.csv", "blocklist": "block.txt", "accounts": "acc.csv"}
    written = emit_outputs(IngestReport(), analysis, org_name="Corp Example", **{k: d / v for k, v in names.items()})
    assert [w for w, _ in written] == ["HTML report", "STIX 2.1 bundle", "Timeline", "Blocklist", "Account actions"]
    emit_outputs(None, analysis, timeline=d / "t.jsonl")
    return {k: d / v for k, v in names.items()} | {"jsonl": d / "t.jsonl"}


# --- JSON -----------------------------------------------------------------------------------------

def test_json_incidents_have_the_contract_keys(analysis: incidents.Analysis) -> None:
    doc = json.loads(json_report.dumps(json_report.document(IngestReport(), analysis.findings,
                                                            incidents=analysis.incidents)))  # fmt: skip
    inc = doc["incidents"][0]
    assert list(inc)[:11] == ["id", "title", "severity", "start", "end", "stages", "finding_ids", "users", "src_ips",
                              "hosts", "actions"]  # fmt: skip
    assert set(inc["stages"]) <= set(incidents.STAGES)
    assert all(set(a) == {"kind", "targets", "why"} for a in inc["actions"])
    ids = {f["id"] for f in doc["findings"]}
    assert all(fid in ids for i in doc["incidents"] for fid in i["finding_ids"])  # mail findings included


# --- timeline -------------------------------------------------------------------------------------

def test_timesketch_jsonl_schema(outputs: dict[str, Path]) -> None:
    lines = outputs["jsonl"].read_bytes().splitlines()
    assert lines
    previous = None
    for line in lines:
        ev = json.loads(line)
        # Timesketch's required fields: message, datetime (ISO 8601), timestamp_desc
        assert isinstance(ev["message"], str) and ev["message"]
        assert isinstance(ev["timestamp_desc"], str) and ev["timestamp_desc"]
        when = dt.datetime.fromisoformat(ev["datetime"])
        assert when.utcoffset() == dt.timedelta(0)
        assert ev["timestamp"] == int(when.timestamp() * 1_000_000)  # microseconds, as Timesketch takes it
        assert previous is None or previous <= when
        previous = when
    kinds = {json.loads(x)["timestamp_desc"] for x in lines}
    assert kinds == {"Activity start", "Mail received", "Sign-in"}


def test_timeline_explorer_csv_schema(outputs: dict[str, Path]) -> None:
    raw = outputs["timeline"].read_bytes()
    text = raw.decode("utf-8")  # UTF-8, no BOM needed
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == tl.CSV_COLUMNS
    assert all(len(r) == len(rows[0]) for r in rows)
    assert b"\r\n" in raw
    for r in rows[1:]:
        dt.datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S.%f")  # the column Timeline Explorer types as a time
        dt.datetime.fromisoformat(r[1])
        assert r[2] and r[3]
        assert all(not c.startswith(FORMULA_START) for c in r), r
        assert all("\x1b" not in c for c in r)
    assert any("'=HYPERLINK" in c for r in rows for c in r)  # the formula username is kept, neutralised


# --- STIX -----------------------------------------------------------------------------------------

def test_stix_bundle_parses_and_validates(outputs: dict[str, Path]) -> None:
    import stix2

    text = outputs["stix"].read_text("utf-8")
    bundle = stix2.parse(text, allow_custom=False)
    types = sorted({o.type for o in bundle.objects})
    assert types == ["attack-pattern", "grouping", "identity", "indicator", "marking-definition", "relationship",
                     "sighting"]  # fmt: skip
    by_type = {t: [o for o in bundle.objects if o.type == t] for t in types}
    (org,) = by_type["identity"]
    assert org.name == "Corp Example" and org.identity_class == "organization"
    assert by_type["marking-definition"][0].id == stix2.v21.TLP_AMBER.id
    assert all(stix2.v21.TLP_AMBER.id in o.object_marking_refs for o in bundle.objects if o.type != "marking-definition")
    patterns = {i.pattern for i in by_type["indicator"]}
    assert "[ipv4-addr:value ISSUBSET '198.51.100.0/28']" in patterns
    assert f"[ipv4-addr:value = '{chain.LONE_IP}']" in patterns
    assert "[domain-name:value = 'evil-login.example']" in patterns
    # borrowed infrastructure and the organization's own domain are never shared as malicious
    assert not any("googleapis" in p or "corp.example" in p for p in patterns)
    ext = {o.external_references[0].external_id for o in by_type["attack-pattern"]}
    assert {"T1110.003", "T1078.004", "T1490", "T1070.001", "T1566.002"} <= ext
    ids = {o.id for o in bundle.objects}
    assert all(s.sighting_of_ref in ids and s.where_sighted_refs == [org.id] for s in by_type["sighting"])
    # internal names stay home
    for secret in ("alice", "FS01", "Security.evtx", "10.0.0.23", "dave@"):
        assert secret not in text


# --- lists ----------------------------------------------------------------------------------------

def test_blocklist(outputs: dict[str, Path]) -> None:
    lines = outputs["blocklist"].read_text().splitlines()
    assert lines == ["192.0.2.50", "192.0.2.99", chain.SPRAY_NET, chain.LONE_IP]
    for line in lines:
        ipaddress.ip_network(line)


def test_accounts_csv(outputs: dict[str, Path]) -> None:
    rows = list(csv.reader(io.StringIO(outputs["accounts"].read_text(), newline="")))
    assert rows[0] == ["account", "action", "why"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("alice", "reset_password"), ("alice", "revoke_sessions"), ("alice", "enforce_mfa"), ("root", "enforce_mfa"),
    ]  # fmt: skip
    assert all(not c.startswith(FORMULA_START) for r in rows for c in r)


def test_no_formula_in_account_names(analysis: incidents.Analysis) -> None:
    from shoreup.report.actions import accounts_csv

    inc = analysis.incidents[-1]
    evil = incidents.Action("enforce_mfa", (chain.FORMULA, "@SUM(1)"), "-why")
    text = accounts_csv([type(inc)(**{**inc.__dict__, "actions": [evil]})])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert all(not c.startswith(FORMULA_START) for r in rows for c in r)


# --- determinism and escaping ---------------------------------------------------------------------

def test_outputs_are_byte_identical_run_to_run(outputs: dict[str, Path], tmp_path: Path) -> None:
    with chain.store() as s:
        again = incidents.build(list(reversed(chain.findings())), s.con, chain.mail_doc())
    names = {"html": "r.html", "stix": "b.json", "timeline": "t.csv", "blocklist": "block.txt", "accounts": "acc.csv"}
    emit_outputs(IngestReport(), again, org_name="Corp Example", **{k: tmp_path / v for k, v in names.items()})
    emit_outputs(None, again, timeline=tmp_path / "t.jsonl")
    for key, name in [*names.items(), ("jsonl", "t.jsonl")]:
        assert (tmp_path / name).read_bytes() == outputs[key].read_bytes(), key
    one = json_report.dumps(json_report.document(IngestReport(), again.findings, incidents=again.incidents))
    with chain.store() as s:
        third = incidents.build(chain.findings(), s.con, chain.mail_doc())
    assert one == json_report.dumps(json_report.document(IngestReport(), third.findings, incidents=third.incidents))


def test_terminal_shows_incidents_and_strips_escapes(analysis: incidents.Analysis) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=True, color_system=None, highlight=False)
    terminal.render(console, IngestReport(), analysis.findings, incidents=analysis.incidents)
    out = buf.getvalue()
    assert "Incidents (3)" in out and "Start here: Account alice" in out
    assert "block: 192.0.2.99, 198.51.100.0/28, 203.0.113.7" in out
    assert "\x1b]0;pwned" not in out and "\x07" not in out and "\x1b[2J" not in out
    assert out.rstrip().splitlines()[-1].lstrip().startswith("→ verify backups")  # ends with the chain's actions


def test_unwritable_output_is_a_usage_error(analysis: incidents.Analysis, tmp_path: Path) -> None:
    from shoreup.errors import UsageError

    with pytest.raises(UsageError, match="does not exist"):
        emit_outputs(None, analysis, blocklist=tmp_path / "missing" / "b.txt")
    with pytest.raises(UsageError, match="TLP"):
        emit_outputs(None, analysis, tlp="purple")


def test_html_has_posture_section_when_given(tmp_path: Path) -> None:
    from shoreup.report import html as html_report

    posture = {
        "schema": "shoreup.posture/1",
        "sources": [{"format": "entra", "accounts": 2, "signins": 3, "mfa_signin_share": 0.5,
                     "accounts_never_mfa": ["<b>x</b>"], "accounts_mixed_mfa": [], "note": "",
                     "legacy_auth": [{"account": "<script>y</script>", "client": "imap4", "count": 2}]}],
        "overall": {"format": "overall", "accounts": 2, "signins": 3, "mfa_signin_share": 0.5,
                    "accounts_never_mfa": ["<b>x</b>"], "accounts_mixed_mfa": [], "note": "",
                    "legacy_auth": [{"account": "<script>y</script>", "client": "imap4", "count": 2}]},
        "targeted_without_mfa": [{"account": "<b>x</b>", "why": ["entra: never signed in with MFA"],
                                  "findings": [], "action": "enforce MFA"}],
    }
    from shoreup.incidents import build

    page = html_report.render(None, build([], None, []), posture=posture)
    assert 'id="posture"' in page and "Attacked accounts without MFA" in page
    assert "<script>y" not in page and "&lt;script&gt;y&lt;/script&gt;" in page and "<b>x" not in page
