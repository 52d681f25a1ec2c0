"""Helpers to build small messages for mail triage tests (a uniquely named module, no package needed)."""

from __future__ import annotations

import pathlib

SAMPLES = pathlib.Path(__file__).parent / "samples"
ORG = str(SAMPLES / "org.toml")


def eml(
    body: str = "Hello.\n",
    *,
    sender: str = "Alice Example <alice@partner.org>",
    to: str = "lena.novak@example.com",
    subject: str = "Hello",
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
    auth: str = "",
) -> bytes:
    """A minimal message; ``headers`` are extra header lines, ``auth`` an Authentication-Results value."""
    lines = [
        "Received: from relay.partner.org (relay.partner.org [198.51.100.7]) by mx.example.com with ESMTP id x1; "
        "Mon, 4 Mar 2024 09:00:00 +0000",
    ]
    if auth:
        lines.append(f"Authentication-Results: mx.example.com; {auth}")
    lines += [f"From: {sender}", f"To: {to}", f"Subject: {subject}", "Message-ID: <t@test>"]
    if headers:
        lines += headers.strip("\n").split("\n")
    lines += [f"Content-Type: {content_type}", "", body]
    return "\n".join(lines).encode("utf-8")
