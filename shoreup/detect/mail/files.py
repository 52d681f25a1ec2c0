"""Look inside attachments without opening them: archives (bounded), Office macros (oletools), PDFs.

Adds what archives contain to ``msg.attachments`` (with ``container`` set), links found in PDFs to
``msg.links``, and facts for the attachment signal to ``msg.file_facts``.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from typing import Any

from . import _limits
from .htmlscan import scan_html
from .model import Attachment, ParsedMessage
from .urls import link_from_url

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OFFICE_EXT = (
    ".doc", ".dot", ".docm", ".dotm", ".docx", ".xls", ".xlt", ".xlsm", ".xltm", ".xlsb", ".xlsx", ".xla",
    ".xlam", ".ppt", ".pptm", ".pptx", ".ppsm", ".pps", ".potm", ".rtf", ".mht", ".mhtml", ".xml", ".sldm",
)
_HTML_EXT = (".htm", ".html", ".shtml", ".xhtml", ".svg", ".xht")


def sniff(data: bytes) -> str:
    """What a file really is, from its first bytes: zip, ole, pdf, rar, 7z, cab, iso, exe, gzip, or ''."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head == OLE:
        return "ole"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"MSCF"):
        return "cab"
    if head.startswith(b"MZ"):
        return "exe"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if any(data[off : off + 5] == b"CD001" for off in (0x8001, 0x8801, 0x9001)):
        return "iso"
    if data[:4] == b"\x4c\x00\x00\x00" and data[4:8] == b"\x01\x14\x02\x00":
        return "lnk"
    return ""


def enrich(msg: ParsedMessage) -> None:
    """Inspect every attachment (and archive member, to a bounded depth) once."""
    queue = [(a, 0) for a in msg.attachments]
    budget = [_limits.MAX_ARCHIVE_EXPANDED_BYTES]
    while queue:
        att, depth = queue.pop(0)
        kind = sniff(att.data)
        lname = att.name.lower()
        if kind == "zip" and not lname.endswith(_OFFICE_EXT):
            for member in _zip(msg, att, depth, budget):
                msg.attachments.append(member)
                queue.append((member, depth + 1))
        elif kind in ("rar", "7z", "cab"):
            msg.file_facts.append(("ARCHIVE_OPAQUE", att.name, f"{att.name} is a {kind} archive"))
        if kind == "ole" or (kind == "zip" and lname.endswith(_OFFICE_EXT)) or lname.endswith((".rtf", ".mht", ".mhtml")):
            _office(msg, att)
        if kind == "pdf":
            _pdf(msg, att)
        if att.container and lname.endswith(_HTML_EXT):
            doc, _cut = scan_html(att.data.decode("utf-8", "replace"), f"attachment {att.name}")
            msg.html.append(doc)
        if kind and att.container == "" and kind in ("exe", "iso", "lnk"):
            msg.file_facts.append(("REAL_TYPE", att.name, f"{att.name} is really a {kind.upper()} file"))


def _zip(msg: ParsedMessage, att: Attachment, depth: int, budget: list[int]) -> list[Attachment]:
    if depth >= _limits.MAX_ARCHIVE_DEPTH:
        msg.file_facts.append(
            ("ARCHIVE_NESTED", att.name, f"{att.name} nests archives deeper than {_limits.MAX_ARCHIVE_DEPTH} levels")
        )
        return []
    try:
        zf = zipfile.ZipFile(io.BytesIO(att.data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        msg.file_facts.append(("ARCHIVE_DAMAGED", att.name, f"{att.name} is a damaged zip ({str(e)[:60]})"))
        return []
    if len(infos) > _limits.MAX_ARCHIVE_ENTRIES:
        msg.file_facts.append(
            ("ARCHIVE_BOMB", att.name, f"{att.name} lists {len(infos):,} entries (limit {_limits.MAX_ARCHIVE_ENTRIES:,})")
        )
        return []
    declared = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if declared > _limits.MAX_ARCHIVE_EXPANDED_BYTES or (
        declared > 1024 * 1024 and declared / packed > _limits.MAX_ARCHIVE_RATIO
    ):
        msg.file_facts.append(
            (
                "ARCHIVE_BOMB",
                att.name,
                f"{att.name} would expand {len(att.data):,} bytes to {declared:,} "
                f"(ratio {declared // packed:,}:1); not expanded",
            )
        )
        names_only = True
    else:
        names_only = False
    out: list[Attachment] = []
    encrypted = [i.filename for i in infos if i.flag_bits & 0x1]
    if encrypted:
        msg.file_facts.append(
            ("ARCHIVE_ENCRYPTED", att.name, f"{att.name} is password-protected ({len(encrypted)} encrypted entries)")
        )
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename.rsplit("/", 1)[-1][:255] or info.filename[:255]
        data = b""
        if not names_only and not (info.flag_bits & 0x1) and info.file_size <= _limits.MAX_MEMBER_READ_BYTES:
            try:
                with zf.open(info) as fh:
                    data = fh.read(min(_limits.MAX_MEMBER_READ_BYTES, budget[0]) + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
                data = b""
            if len(data) > budget[0] or len(data) > _limits.MAX_MEMBER_READ_BYTES:
                msg.file_facts.append(
                    ("ARCHIVE_BOMB", att.name, f"{att.name} expands beyond its declared sizes; expansion stopped")
                )
                return out
            budget[0] -= len(data)
        out.append(
            Attachment(
                name=name,
                content_type="application/octet-stream",
                data=data,
                sha256=hashlib.sha256(data).hexdigest() if data else "",
                container=att.name,
            )
        )
    return out


def _office(msg: ParsedMessage, att: Attachment) -> None:
    data = att.data
    if data[:8] == OLE:
        try:
            import olefile

            ole = olefile.OleFileIO(data)
            try:
                if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
                    msg.file_facts.append(("OFFICE_ENCRYPTED", att.name, f"{att.name} is an encrypted Office file"))
                    return
            finally:
                ole.close()
        except Exception:
            pass
    structural = b"vbaProject.bin" in data[:10_000_000] or b"_VBA_PROJECT" in data[:10_000_000]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # oletools uses deprecated pyparsing names
            from oletools.olevba import VBA_Parser

        parser: Any = VBA_Parser(att.name or "attachment", data=data)
        try:
            has = bool(parser.detect_vba_macros())
            auto: list[str] = []
            bad: list[str] = []
            if has:
                for kind, keyword, _desc in parser.analyze_macros():
                    if kind == "AutoExec":
                        auto.append(str(keyword))
                    elif kind == "Suspicious":
                        bad.append(str(keyword))
        finally:
            parser.close()
    except Exception:
        has, auto, bad = False, [], []
    if has or structural:
        detail = f"{att.name} contains VBA macros"
        if auto:
            detail += f" that run on open ({', '.join(sorted(set(auto))[:3])})"
        if bad:
            detail += f" using {', '.join(sorted(set(bad))[:4])}"
        msg.file_facts.append(("MACRO_AUTOEXEC" if (auto and bad) else "MACRO", att.name, detail))


_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|OpenAction|AA|RichMedia|XFA)\b")
_PDF_URI = re.compile(rb"/URI\s*\(([^)]{4,2000})\)")


def _pdf(msg: ParsedMessage, att: Attachment) -> None:
    raw = att.data[:20_000_000]
    active = {m.group(1).decode() for m in _PDF_ACTIVE.finditer(raw)}
    risky = active & {"JavaScript", "JS", "Launch", "EmbeddedFile", "RichMedia"}
    if risky:
        msg.file_facts.append(("PDF_ACTIVE", att.name, f"{att.name} carries {', '.join(sorted(risky))}"))
    seen = {link.url for link in msg.links}
    for m in _PDF_URI.finditer(raw):
        url = m.group(1).decode("latin-1").replace("\\", "")
        link = link_from_url(url, "", f"PDF {att.name}")
        if link is not None and link.url not in seen and len(msg.links) < _limits.MAX_LINKS:
            seen.add(link.url)
            msg.links.append(link)
    for url in _pypdf_links(att.data):
        link = link_from_url(url, "", f"PDF {att.name}")
        if link is not None and link.url not in seen and len(msg.links) < _limits.MAX_LINKS:
            seen.add(link.url)
            msg.links.append(link)


def _pypdf_links(data: bytes) -> list[str]:
    """Link annotations, also inside compressed object streams that the byte scan cannot see."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return []
    out: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        for page in reader.pages[: _limits.MAX_PDF_PAGES_FOR_QR]:
            for annot in page.get("/Annots") or []:
                obj = annot.get_object()
                action = obj.get("/A")
                if action is not None:
                    uri = action.get_object().get("/URI")
                    if uri:
                        out.append(str(uri))
    except Exception:
        return out
    return out
