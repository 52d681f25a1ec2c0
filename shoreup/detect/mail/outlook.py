"""Outlook ``.msg`` files (OLE compound documents) turned into MIME bytes with extract-msg."""

from __future__ import annotations

import contextlib
import re
from typing import Any


def msg_to_mime(data: bytes) -> tuple[bytes | None, str]:
    """MIME bytes for an Outlook message, or (None, why) when the container cannot be read."""
    try:
        import extract_msg
    except ImportError:  # pragma: no cover - a declared dependency
        return None, "extract-msg is not installed"
    try:
        m: Any = extract_msg.openMsg(data, delayAttachments=False)
    except Exception as e:  # extract-msg raises many types on damaged containers
        return None, f"{type(e).__name__}: {str(e)[:120]}"
    try:
        return mime_from_msg_object(m), ""
    except Exception as e:
        return None, f"{type(e).__name__}: {str(e)[:120]}"
    finally:
        with contextlib.suppress(Exception):
            m.close()


def mime_from_msg_object(m: Any) -> bytes:
    """Serialize what Outlook stored: its transport headers when present, the bodies and attachments."""
    from email.message import EmailMessage
    from email.policy import compat32

    em = m.asEmailMessage()
    if not isinstance(em, EmailMessage):
        raise TypeError("extract-msg returned no email message")
    transport = getattr(m, "headerText", None) or ""
    body = em.as_bytes(policy=compat32.clone(linesep="\n"))
    if transport and isinstance(transport, str):
        # Outlook keeps the original Internet headers (Received, Authentication-Results …) as text;
        # they replace the synthesized ones, except the MIME structure of the re-built body.
        head, _, rest = body.partition(b"\n\n")
        head = re.sub(rb"\n[ \t]+", b" ", head)
        mime = [ln for ln in head.split(b"\n") if ln.lower().startswith((b"content-", b"mime-version"))]
        transport = re.sub(r"\r?\n[ \t]+", " ", transport.strip())
        kept = [
            ln for ln in transport.split("\n") if ln.strip() and not ln.lower().startswith(("content-", "mime-version"))
        ]
        return "\n".join(kept).encode("utf-8", "replace") + b"\n" + b"\n".join(mime) + b"\n\n" + rest
    return body
