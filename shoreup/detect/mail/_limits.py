"""Limits that keep hostile mail from exhausting memory, time or recursion; each names the shape it stops."""

from __future__ import annotations

#: Largest message read, in bytes. Exchange Online accepts 150 MB at most and most providers 25-50 MB;
#: anything bigger in a mailbox export is damage or a resource attack. The rest is cut and noted.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: Largest header block. Postfix keeps at most 102,400 bytes of one header (``header_size_limit``) and real
#: header blocks stay below 100 KB even after 50 relays; a multi-megabyte header is a parser attack.
MAX_HEADER_BLOCK_BYTES = 1024 * 1024

#: Longest single header kept (Postfix ``header_size_limit``).
MAX_ONE_HEADER_BYTES = 102_400

#: Deepest MIME nesting inspected. Mail clients nest forwarded mail a handful of levels; 100-deep
#: multiparts exist to blow recursion or hide a payload below a scanner's horizon.
MAX_MIME_DEPTH = 20

#: Most MIME parts inspected in one message (a part bomb).
MAX_MIME_PARTS = 500

#: Archive expansion budget: total bytes an archive may declare, and the compression ratio above which
#: an archive is a zip bomb (42.zip and friends use ratios above 1000; real documents compress < 20:1).
MAX_ARCHIVE_EXPANDED_BYTES = 200 * 1024 * 1024
MAX_ARCHIVE_RATIO = 100
MAX_ARCHIVE_ENTRIES = 10_000
MAX_ARCHIVE_DEPTH = 3

#: Largest archive member actually read (to look for macros, forms or nested archives).
MAX_MEMBER_READ_BYTES = 20 * 1024 * 1024

#: HTML scanned per document; beyond it the markup is cut (link-stuffing attacks pad to megabytes).
MAX_HTML_BYTES = 4 * 1024 * 1024

#: Images decoded for QR codes per message and their largest pixel count (decompression bombs).
MAX_QR_IMAGES = 8
MAX_IMAGE_PIXELS = 25_000_000
MAX_PDF_PAGES_FOR_QR = 5

#: Links analysed per message (indicators keep the first ones).
MAX_LINKS = 500
