"""QR codes in images and PDFs, decoded offline with zxing-cpp (a self-contained wheel, no libzbar).

Optional: without ``zxing-cpp`` and ``Pillow`` installed, QR decoding is skipped and a note says so.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from functools import cache
from typing import Any

from . import _limits
from .files import sniff
from .model import ParsedMessage
from .urls import link_from_url

_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
#: Icons, spacers and tracking pixels cannot hold a scannable QR code.
_MIN_SIDE = 40


@cache
def _decoder() -> tuple[Any, Any] | None:
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return None
    Image.MAX_IMAGE_PIXELS = _limits.MAX_IMAGE_PIXELS
    return zxingcpp, Image


def _images(msg: ParsedMessage) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for att in msg.attachments:
        if att.content_type.startswith("image/") or att.name.lower().endswith(_IMAGE_EXT):
            out.append((att.name, att.data))
    for doc in msg.html:
        for uri in doc.data_uris:
            m = re.match(r"data:image/[a-z+.-]+;base64,", uri, re.I)
            if m:
                try:
                    out.append((f"an inline image in {doc.origin}", base64.b64decode(uri[m.end() :], validate=False)))
                except (binascii.Error, ValueError):
                    continue
    return out


def decode_image(data: bytes) -> list[str]:
    """Texts of the QR codes in one image (empty when none, or when the image is unusable)."""
    dec = _decoder()
    if dec is None:
        return []
    zxingcpp, image_mod = dec
    try:
        im = image_mod.open(io.BytesIO(data))
        w, h = im.size
        if w < _MIN_SIDE or h < _MIN_SIDE or w * h > _limits.MAX_IMAGE_PIXELS:
            return []
        im = im.convert("L")
        results = zxingcpp.read_barcodes(im, formats=zxingcpp.BarcodeFormat.QRCode)
    except Exception:
        return []
    return [r.text for r in results if r.text]


def _pdf_images(name: str, data: bytes) -> list[tuple[str, bytes]]:
    try:
        from pypdf import PdfReader
    except ImportError:
        return []
    out: list[tuple[str, bytes]] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        for page in reader.pages[: _limits.MAX_PDF_PAGES_FOR_QR]:
            for img in page.images:
                out.append((f"PDF {name}", img.data))
                if len(out) >= _limits.MAX_QR_IMAGES:
                    return out
    except Exception:
        return out
    return out


def enrich(msg: ParsedMessage) -> None:
    """Add a link for every URL found in a QR code (origin "QR code in …")."""
    images = _images(msg)
    for att in msg.attachments:
        if sniff(att.data) == "pdf":
            images.extend(_pdf_images(att.name, att.data))
    if not images:
        return
    if _decoder() is None:
        msg.note("QR_UNAVAILABLE", "images present but zxing-cpp/Pillow are not installed; QR codes not read")
        return
    seen = {link.url for link in msg.links}
    for where, data in images[: _limits.MAX_QR_IMAGES]:
        for text in decode_image(data):
            link = link_from_url(text.strip(), "", f"QR code in {where}")
            if link is not None and link.url not in seen:
                seen.add(link.url)
                msg.links.append(link)
