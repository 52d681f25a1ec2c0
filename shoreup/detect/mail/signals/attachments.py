"""Risky attachments: executable and disk-image types, double extensions, macros, encrypted archives, bombs."""

from __future__ import annotations

import re

from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import q, reason

CODES = {
    "ATTACHMENT_EXECUTABLE": Code(8.0, "an attachment runs code when opened (exe, js, vbs, hta, lnk, iso, img …)"),
    "DOUBLE_EXTENSION": Code(5.0, "an attachment name hides its real type (invoice.pdf.exe, RTL override)"),
    "OFFICE_MACRO": Code(6.0, "an Office document carries VBA macros"),
    "OFFICE_MACRO_AUTOEXEC": Code(8.0, "Office macros run on open and call the system or the network"),
    "ENCRYPTED_ATTACHMENT": Code(4.0, "a password-protected archive or document: scanners cannot look inside"),
    "ARCHIVE_BOMB": Code(5.0, "an archive built to exhaust the scanner (zip bomb, endless nesting)"),
    "ARCHIVE_OPAQUE": Code(1.5, "an archive type this tool cannot list (rar, 7z, cab)"),
    "PDF_ACTIVE_CONTENT": Code(4.0, "a PDF carries JavaScript, launch actions or embedded files"),
}

#: Types that execute on double-click in Windows, or mount a disk image that hides such files from
#: Mark-of-the-Web (ISO/IMG/VHD); OneNote and XLL carried the 2023 Qakbot/IcedID waves.
EXECUTABLE_EXT = frozenset(
    ["exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "wsc", "hta", "lnk", "ps1", "psm1", "msi", "msp", "jar", "cpl", "reg", "iso", "img", "vhd", "vhdx", "one", "onepkg", "xll", "library-ms", "url", "settingcontent-ms", "appx", "appxbundle", "msix", "application", "gadget", "inf", "scf", "chm", "dll", "sys", "apk", "dmg", "pkg", "app", "command", "sh"]
)
_DOC_EXT = frozenset(["pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "jpg", "jpeg", "png", "gif", "csv", "odt", "htm", "html", "zip"])
_RTLO = "\u202e"


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower().strip() if "." in name else ""


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    found: dict[str, Reason] = {}

    def add(r: Reason) -> None:
        if r.code not in found:
            found[r.code] = r

    for att in msg.attachments:
        name = att.name
        where = f" inside {att.container}" if att.container else ""
        ext = _ext(name)
        if ext in EXECUTABLE_EXT:
            add(reason(CODES, "ATTACHMENT_EXECUTABLE", f"Attachment {q(name)}{where} is a .{ext} file."))
        parts = [p.strip().lower() for p in name.split(".")]
        if _RTLO in name or (len(parts) >= 3 and parts[-2] in _DOC_EXT and ext in EXECUTABLE_EXT | {"html", "htm"}):
            add(reason(CODES, "DOUBLE_EXTENSION", f"Attachment {q(name)}{where} disguises its type."))
        elif re.search(r"\s{5,}\.[a-z0-9]{2,5}$", name, re.I):
            add(reason(CODES, "DOUBLE_EXTENSION", f"Attachment {q(name)}{where} pads its name to hide the type."))
    for fact, name, detail in msg.file_facts:
        sentence = detail[0].upper() + detail[1:] + "."
        if fact == "REAL_TYPE" and _ext(name) not in EXECUTABLE_EXT:
            add(reason(CODES, "ATTACHMENT_EXECUTABLE", sentence))
        elif fact == "MACRO":
            add(reason(CODES, "OFFICE_MACRO", sentence))
        elif fact == "MACRO_AUTOEXEC":
            add(reason(CODES, "OFFICE_MACRO_AUTOEXEC", sentence))
        elif fact in ("ARCHIVE_ENCRYPTED", "OFFICE_ENCRYPTED"):
            add(reason(CODES, "ENCRYPTED_ATTACHMENT", sentence))
        elif fact in ("ARCHIVE_BOMB", "ARCHIVE_NESTED"):
            add(reason(CODES, "ARCHIVE_BOMB", sentence))
        elif fact == "ARCHIVE_OPAQUE":
            add(reason(CODES, "ARCHIVE_OPAQUE", sentence))
        elif fact == "PDF_ACTIVE":
            add(reason(CODES, "PDF_ACTIVE_CONTENT", sentence))
    return list(found.values())
