"""Reading: formats (eml, mbox, Maildir, .msg), damaged and hostile input, limits."""

from __future__ import annotations

import io
import pathlib
import zipfile

import pytest
from mail_helpers import eml

from shoreup.detect.mail import triage
from shoreup.detect.mail.inputs import iter_inputs


def _codes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.code for r in report.results[0].reasons]


def _notes(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.code for n in report.results[0].message.notes]


def test_mbox_splits_and_unquotes(tmp_path: pathlib.Path) -> None:
    one = eml("first\n>From the archive\n").decode()
    two = eml("second\n", subject="Two").decode()
    (tmp_path / "box.mbox").write_text(f"From a@b Mon Mar  4 09:00:00 2024\n{one}\n\nFrom c@d Mon Mar  4 10:00:00 2024\n{two}\n")
    items = list(iter_inputs([str(tmp_path / "box.mbox")]))
    assert [i.position for i in items] == ["message 1, line 1", f"message 2, line {one.count(chr(10)) + 4}"]
    assert b"\nFrom the archive" in items[0].data  # type: ignore[union-attr]
    report = triage([str(tmp_path)], None)
    assert [r.message.subject for r in report.results] == ["Hello", "Two"]


def test_maildir_and_non_mail_files_in_folders(tmp_path: pathlib.Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "md" / sub).mkdir(parents=True)
    (tmp_path / "md" / "new" / "1.host").write_bytes(eml())
    (tmp_path / "md" / "cur" / "2.host:2,S").write_bytes(eml(subject="Seen"))
    (tmp_path / "README").write_text("not mail")
    report = triage([str(tmp_path)], None)
    assert sorted(r.message.subject for r in report.results) == ["Hello", "Seen"]
    assert report.problems == []


def test_explicit_non_mail_and_missing_file_are_problems(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"\x00\x01binary")
    report = triage([str(tmp_path / "x.bin"), str(tmp_path / "nope.eml")], None)
    assert [p.detail for p in report.problems] == [
        "not a mail message (no header, mbox or Outlook signature)",
        "no such file or folder",
    ]
    assert report.exit_code == 2


def test_malformed_headers_are_noted_not_fatal(write) -> None:  # type: ignore[no-untyped-def]
    raw = (
        b"From: Caf\xc3\xa9 Owner <owner@caf\xc3\xa9.test>\nthis line has no colon\n"
        b"Subject: =?x-unknown-charset?q?Hi?= =?utf-8?b?!!bad?=\nTo: a@b.test\n"
        b"Content-Type: multipart/mixed; boundary=\"NOPE\"\n\n--OTHER\nbody without its boundary\n"
    )
    report = triage([write(raw)], None)
    notes = _notes(report)
    assert {"HEADER_8BIT", "HEADER_MALFORMED", "CHARSET_UNKNOWN", "MIME_BOUNDARY"} <= set(notes), notes
    assert report.results[0].message.from_[0].display == "Café Owner"
    assert report.exit_code in (0, 1)  # defects are noted, not damage


def test_wrong_charset_body_decoded(write) -> None:  # type: ignore[no-untyped-def]
    body = "Grüße aus München".encode("cp1252")
    raw = eml().replace(b"Hello.\n", body).replace(b"charset=utf-8", b"charset=utf-8")
    report = triage([write(raw)], None)
    assert "CHARSET_WRONG" in _notes(report)


def test_nested_mime_100_deep(write) -> None:  # type: ignore[no-untyped-def]
    parts = ["Content-Type: multipart/mixed; boundary=b0\n\n"]
    for i in range(100):
        parts.append(f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n")
    parts.append("--b100\nContent-Type: text/plain\n\ndeep\n")
    for i in range(100, -1, -1):
        parts.append(f"--b{i}--\n")
    raw = b"From: a@b.test\nTo: c@d.test\nSubject: deep\n" + "".join(parts).encode()
    report = triage([write(raw)], None)
    assert "HOSTILE_STRUCTURE" in _codes(report)
    assert "LIMIT_MIME_DEPTH" in _notes(report)
    assert report.exit_code == 2


@pytest.mark.slow
def test_50_mb_header(write) -> None:  # type: ignore[no-untyped-def]
    raw = b"From: a@b.test\nSubject: big\nX-Pad: " + b"A" * (50 * 1024 * 1024) + b"\n\nbody\n"
    report = triage([write(raw)], None)
    assert "HOSTILE_STRUCTURE" in _codes(report)
    detail = next(r.detail for r in report.results[0].reasons if r.code == "HOSTILE_STRUCTURE")
    assert detail.startswith("Header block of 52,428,8")
    assert report.exit_code == 2


def test_zip_bomb_is_not_expanded(write) -> None:  # type: ignore[no-untyped-def]
    import base64

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("zeros.bin", b"\0" * (30 * 1024 * 1024))
    data = base64.encodebytes(buf.getvalue()).decode()
    mime = (
        f"--B\nContent-Type: application/zip; name=z.zip\nContent-Disposition: attachment; filename=z.zip\n"
        f"Content-Transfer-Encoding: base64\n\n{data}\n--B--\n"
    )
    report = triage([write(eml(mime, content_type='multipart/mixed; boundary="B"'))], None)
    detail = next(r.detail for r in report.results[0].reasons if r.code == "ARCHIVE_BOMB")
    assert "not expanded" in detail and "ratio" in detail
    assert all(a.sha256 == "" for a in report.results[0].message.attachments if a.container)


def test_msg_conversion_uses_transport_headers() -> None:
    from email.message import EmailMessage

    from shoreup.detect.mail.outlook import mime_from_msg_object

    class FakeMsg:
        headerText = "Received: from x by mx.example.com\nFrom: IT <it@exarnple.com>\nSubject: Reset\n"

        def asEmailMessage(self) -> EmailMessage:
            m = EmailMessage()
            m["From"] = "ignored@x.test"
            m.set_content("Reset at https://exarnple.com/r")
            return m

    raw = mime_from_msg_object(FakeMsg())
    assert b"From: IT <it@exarnple.com>" in raw and b"ignored@x.test" not in raw
    assert b"Content-Type: text/plain" in raw


def test_damaged_msg_container_is_reported(write) -> None:  # type: ignore[no-untyped-def]
    path = write(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "broken.msg")
    report = triage([path], None)
    assert "UNREADABLE" in _notes(report)
    assert report.exit_code == 2


def test_qr_code_in_image(write) -> None:  # type: ignore[no-untyped-def]
    zxingcpp = pytest.importorskip("zxingcpp")
    pytest.importorskip("PIL")
    import base64

    img = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode("https://login.exarnple.com/mfa",
                                                                  zxingcpp.BarcodeFormat.QRCode), scale=4)
    png = io.BytesIO()
    img.save(png, format="PNG") if hasattr(img, "save") else __import__("PIL.Image").Image.fromarray(img).save(png, "PNG")
    b64 = base64.encodebytes(png.getvalue()).decode()
    mime = (
        "--B\nContent-Type: text/plain\n\nScan to keep MFA.\n--B\nContent-Type: image/png; name=qr.png\n"
        f"Content-Disposition: attachment; filename=qr.png\nContent-Transfer-Encoding: base64\n\n{b64}\n--B--\n"
    )
    from mail_helpers import ORG

    report = triage([write(eml(mime, content_type='multipart/mixed; boundary="B"'))], ORG)
    codes = _codes(report)
    assert "QR_CODE_LINK" in codes and "LOOKALIKE_ORG_DOMAIN" in codes
