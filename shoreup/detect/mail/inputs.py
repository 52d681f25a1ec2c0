"""Find the messages in the paths given: single files (.eml, .msg), mbox files, Maildir and plain folders."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from . import _limits

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,100}:", re.M)
_MBOX_FROM = re.compile(rb"^From \S*", re.M)


@dataclass
class RawMessage:
    """The bytes of one message and where they came from; ``kind`` is eml, msg or mbox."""

    path: str
    position: str
    data: bytes
    kind: str
    truncated: bool = False


@dataclass
class Unreadable:
    path: str
    position: str
    detail: str


def looks_like_mail(head: bytes) -> bool:
    """A message starts with a header field (or an mbox ``From `` line) within its first kilobytes."""
    head = head.lstrip(b"\r\n\t ")
    if head.startswith(b"From ") or head.startswith(OLE_MAGIC):
        return True
    first = head.split(b"\n", 1)[0]
    return bool(_HEADER_LINE.match(first))


def _is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, d)) for d in ("cur", "new")) and os.path.isdir(
        os.path.join(path, "tmp")
    )


def iter_inputs(paths: list[str]) -> Iterator[RawMessage | Unreadable]:
    """Every message in ``paths`` in a stable order; folders are walked recursively and sorted."""
    for path in paths:
        if os.path.isdir(path):
            yield from _iter_dir(path)
        elif os.path.exists(path):
            yield from _iter_file(path, explicit=True)
        else:
            yield Unreadable(path, "", "no such file or folder")


def _iter_dir(root: str) -> Iterator[RawMessage | Unreadable]:
    if _is_maildir(root):
        for sub in ("cur", "new"):
            folder = os.path.join(root, sub)
            for name in sorted(os.listdir(folder)):
                full = os.path.join(folder, name)
                if os.path.isfile(full) and not name.startswith("."):
                    yield from _iter_file(full, explicit=False)
        for name in sorted(os.listdir(root)):
            # Maildir++ keeps sub-folders as ".Name" siblings of cur/new/tmp.
            full = os.path.join(root, name)
            if name.startswith(".") and os.path.isdir(full) and _is_maildir(full):
                yield from _iter_dir(full)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if _is_maildir(dirpath):
            dirnames[:] = []
            yield from _iter_dir(dirpath)
            continue
        for name in sorted(filenames):
            yield from _iter_file(os.path.join(dirpath, name), explicit=False)


def _iter_file(path: str, explicit: bool) -> Iterator[RawMessage | Unreadable]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
            if not looks_like_mail(head):
                if explicit or path.lower().endswith((".eml", ".msg", ".mbox")):
                    yield Unreadable(path, "", "not a mail message (no header, mbox or Outlook signature)")
                return  # other files in a walked folder (READMEs, licences) are not mail
            if head.startswith(OLE_MAGIC):
                data = head + fh.read(_limits.MAX_MESSAGE_BYTES + 1 - len(head))
                yield _cap(RawMessage(path, "", data, "msg"))
                return
            if head.startswith(b"From ") and _MBOX_FROM.match(head):
                fh.seek(0)
                yield from _iter_mbox(path, fh)
                return
            data = head + fh.read(_limits.MAX_MESSAGE_BYTES + 1 - len(head))
            yield _cap(RawMessage(path, "", data, "eml"))
    except OSError as e:
        yield Unreadable(path, "", f"cannot read: {e.strerror or e}")


def _cap(raw: RawMessage) -> RawMessage:
    if len(raw.data) > _limits.MAX_MESSAGE_BYTES:
        raw.data = raw.data[: _limits.MAX_MESSAGE_BYTES]
        raw.truncated = True
    return raw


def _iter_mbox(path: str, fh: object) -> Iterator[RawMessage]:
    """Split an mbox (mboxo/mboxrd) on ``From `` lines, undoing ``>From`` quoting; streams message by message."""
    lines: list[bytes] = []
    size = 0
    number = 0
    start_line = 1
    line_no = 0
    truncated = False
    prev_blank = True

    def flush() -> RawMessage | None:
        if not lines:
            return None
        body = b"".join(lines)
        raw = RawMessage(path, f"message {number}, line {start_line}", body, "mbox", truncated)
        return raw

    for line in fh:  # type: ignore[attr-defined]
        line_no += 1
        if line.startswith(b"From ") and (line_no == 1 or prev_blank):
            done = flush()
            if done is not None:
                yield done
            number += 1
            start_line = line_no
            lines, size, truncated = [], 0, False
            prev_blank = False
            continue
        prev_blank = line in (b"\n", b"\r\n")
        if re.match(rb">+From ", line):
            line = line[1:]
        if size + len(line) > _limits.MAX_MESSAGE_BYTES:
            truncated = True
            continue
        size += len(line)
        lines.append(line)
    done = flush()
    if done is not None:
        yield done
