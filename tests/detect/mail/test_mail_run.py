"""The command entry point, JSON contract, terminal escaping, the simulator, and the public surface."""

from __future__ import annotations

import importlib
import io
import json
import pathlib
import pkgutil

from mail_helpers import ORG, SAMPLES, eml

import shoreup.detect.mail as mail
from shoreup.detect.mail import run, triage
from shoreup.simulate.mail import write_mail


def test_samples_with_org() -> None:
    report = triage([str(SAMPLES)], ORG)
    by_name = {pathlib.Path(r.message.path).name: r for r in report.results}
    assert by_name["ceo_fraud.eml"].verdict == "phishing"
    assert by_name["internal_ok.eml"].verdict == "clean"
    assert report.recipients_of_flagged() == ["lena.novak@example.com"]


def test_run_json_contract(capsys) -> None:  # type: ignore[no-untyped-def]
    code = run([str(SAMPLES / "ceo_fraud.eml")], ORG, json_out=True)
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["schema"] == "shoreup.mail/1"
    (m,) = doc["messages"]
    assert {"path", "message_id", "from", "subject", "verdict", "score", "reasons", "recipients", "indicators"} <= set(m)
    assert set(m["indicators"]) == {"urls", "domains", "attachments"}
    assert all(set(r) == {"code", "detail"} for r in m["reasons"])
    assert m["recipients"] == ["lena.novak@example.com"]


def test_run_exit_codes(tmp_path: pathlib.Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run([str(SAMPLES / "internal_ok.eml")], ORG, json_out=True) == 0
    assert run([str(tmp_path / "missing.eml"), str(SAMPLES / "internal_ok.eml")], ORG, json_out=True) == 2
    err = capsys.readouterr().err
    assert "missing.eml: no such file or folder" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[org]\ndomains = 3\n")
    assert run([str(SAMPLES)], str(bad), json_out=False) == 2
    assert "org.domains must be a list of strings" in capsys.readouterr().err
    assert run([], None, json_out=False) == 2


def test_terminal_output_escapes_attacker_text(tmp_path: pathlib.Path, capsys) -> None:  # type: ignore[no-untyped-def]
    subject = "=?utf-8?b?" + __import__("base64").b64encode(b"\x1b[31mred[/] [bold]x\x07\xe2\x80\xae").decode() + "?="
    path = tmp_path / "m.eml"
    path.write_bytes(eml(subject=subject, sender="[link=http://x]Boss[/link] <a@b.test>"))
    run([str(path)], None, json_out=False, console_width=200)
    out = capsys.readouterr().out
    assert "\x1b[31m" not in out and "\x07" not in out and "\u202e" not in out
    assert "[bold]x" in out and "[link=http://x]Boss" in out  # shown literally, not interpreted


def test_simulator_ground_truth(tmp_path: pathlib.Path) -> None:
    truth = write_mail(tmp_path / "a", seed=11, org_domain="acme.io")
    again = write_mail(tmp_path / "b", seed=11, org_domain="acme.io")
    assert truth == again
    for name in truth["phish"] + truth["legit"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for seed in (1, 2, 3):
        out = tmp_path / f"s{seed}"
        truth = write_mail(out, seed=seed)
        report = triage([str(out)], str(out / "org.toml"))
        verdicts = {pathlib.Path(r.message.path).name: r.verdict for r in report.results}
        missed = [n for n in truth["phish"] if verdicts[n] == "clean"]
        false = [n for n in truth["legit"] if verdicts[n] != "clean"]
        assert missed == [] and false == [], (seed, missed, false)
        assert report.recipients_of_flagged() == truth["recipients_of_phish"]


def test_public_surface_and_signal_registry() -> None:
    assert sorted(mail.__all__) == ["MailReport", "MessageResult", "Org", "Reason", "run", "triage"]
    for name in mail.__all__:
        assert getattr(mail, name) is not None
    from shoreup.detect.mail import signals

    on_disk = {m.name for m in pkgutil.iter_modules(signals.__path__) if not m.name.startswith("_")}
    assert on_disk == set(signals.SIGNAL_MODULES)
    for mod in signals.modules():
        assert mod.__doc__ and callable(mod.check)
    importlib.reload(signals)


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, shoreup.detect.mail; print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('rich','oletools','tldextract','orjson','extract_msg','zxingcpp','PIL'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_json_render_is_utf8(capsys) -> None:  # type: ignore[no-untyped-def]
    from shoreup.detect.mail.render import render_json

    report = triage([str(SAMPLES / "internal_ok.eml")], ORG)
    buf = io.StringIO()
    render_json(report, buf)
    assert json.loads(buf.getvalue())["messages"][0]["verdict"] == "clean"
