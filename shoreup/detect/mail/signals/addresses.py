"""From vs Reply-To vs Return-Path vs envelope, and addresses written into display names."""

from __future__ import annotations

import re

from ..domains import registrable, split
from ..hosts import host_lists
from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import q, reason

CODES = {
    # Newsletters and ticket systems route replies to another corporate domain all the time; only a free
    # mailbox (below) is a strong tell, so a plain divergence is weak evidence.
    "REPLY_TO_DIVERGES": Code(2.0, "replies go to another domain than the sender's (BEC, advance-fee scams)"),
    "REPLY_TO_FREEMAIL": Code(4.0, "replies go to a free webmail box while From is an organization"),
    "DISPLAY_NAME_ADDRESS": Code(3.0, "the display name shows an address other than the real sender"),
    "INVALID_SENDER_DOMAIN": Code(3.0, "From or Reply-To has no valid or only a reserved domain"),
    "SENDER_ON_TENANT_PLATFORM": Code(2.0, "the sender is a throwaway tenant of a shared platform (x.onmicrosoft.com)"),
    "ENVELOPE_MISMATCH": Code(2.0, "From names a brand or the organization, the envelope sender is unrelated"),
}

_ADDR_IN_NAME = re.compile(r"[a-z0-9._%+-]+@([a-z0-9-]+(?:\.[a-z0-9-]+)*)", re.I)
#: RFC 2606 / 6761 names that can never receive mail.
_RESERVED = re.compile(r"(^|\.)(example\.(com|net|org)|test|invalid|localhost|example|local)$")


def _list_domains(msg: ParsedMessage) -> set[str]:
    """Domains of a mailing list the message came through: lists legitimately rewrite Reply-To."""
    out: set[str] = set()
    for name in ("List-Post", "List-Id", "List-Unsubscribe", "List-Help", "Mailing-List", "X-Mailing-List"):
        for value in msg.header_all(name):
            for dom in re.findall(r"@([a-z0-9.-]+)|<([a-z0-9.-]+\.[a-z]{2,})>", value, re.I):
                d = dom[0] or dom[1]
                out.add(registrable(d.lower()))
    return out


def _same_party(a: str, b: str, ctx: Context) -> bool:
    if registrable(a) == registrable(b):
        return True
    if ctx.is_org_domain(a) and ctx.is_org_domain(b):
        return True
    ba, bb = ctx.brand_of_domain(a), ctx.brand_of_domain(b)
    lists = host_lists()
    return ba is not None and ba is bb and not lists.is_freemail(a) and not lists.is_freemail(b)


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    if not msg.from_:
        return out
    sender = msg.from_[0]
    fdom = sender.domain
    lists = host_lists()
    via_list = _list_domains(msg)
    for rt in msg.reply_to:
        rdom = rt.domain
        if not rdom or not fdom or _same_party(rdom, fdom, ctx) or registrable(rdom) in via_list:
            continue
        if lists.is_freemail(rdom) and not lists.is_freemail(fdom):
            out.append(
                reason(CODES, "REPLY_TO_FREEMAIL", f"Replies go to free mailbox {rt.addr}, not to the sender {fdom}.")
            )
        else:
            out.append(reason(CODES, "REPLY_TO_DIVERGES", f"Replies go to {rt.addr}, another domain than {fdom}."))
        break
    recipients = set(msg.recipients)
    for m in _ADDR_IN_NAME.finditer(sender.display):
        shown = m.group(0).lower()
        sdom = m.group(1).lower()
        if shown != sender.addr and not _same_party(sdom, fdom or "-", ctx):
            # Showing the victim's own address, or a trusted domain, is the deceptive form of this trick.
            strong = shown in recipients or ctx.is_org_domain(sdom) or ctx.brand_of_domain(sdom) is not None
            who = " (the recipient's own address)" if shown in recipients else ""
            out.append(
                reason(
                    CODES,
                    "DISPLAY_NAME_ADDRESS",
                    f"The display name shows {q(shown)}{who} but the mail is from {sender.addr}.",
                    5.0 if strong else None,
                )
            )
            break
    for label, a in (("From", sender), *(("Reply-To", r) for r in msg.reply_to)):
        dom = a.domain
        if not dom or ctx.is_org_domain(dom):
            continue
        if _RESERVED.search(dom) or not split(dom)[2] or "." not in dom or re.search(r"[^a-z0-9.-]", dom):
            out.append(reason(CODES, "INVALID_SENDER_DOMAIN", f"{label} address {a.addr} has no valid domain."))
            break
    for label, value in (("From", sender.addr), ("Return-Path", msg.return_path)):
        dom = value.rpartition("@")[2].lower() if "@" in value else ""
        platform = lists.tenant_platform(dom) if dom else ""
        if platform:
            out.append(
                reason(
                    CODES,
                    "SENDER_ON_TENANT_PLATFORM",
                    f"{label} {value} is a tenant of the shared platform {platform}, not the sender's own domain.",
                )
            )
            break
    envelope = msg.return_path or msg.envelope_from
    edom = envelope.rpartition("@")[2].lower() if "@" in envelope else ""
    claimed = ctx.brand_of_domain(fdom) if fdom else None
    if (
        edom
        and fdom
        and claimed is not None
        and not lists.is_freemail(fdom)
        and not _same_party(edom, fdom, ctx)
        and ctx.brand_of_domain(edom) is not claimed
    ):
        from .auth import read_auth

        view = read_auth(msg, ctx)
        if view is None or view.get("dmarc") != "pass":
            weight = 4.0 if view is not None else None
            out.append(
                reason(
                    CODES,
                    "ENVELOPE_MISMATCH",
                    f"From claims {fdom} ({claimed.name}) but the envelope sender is {envelope}"
                    + (" and DMARC did not pass." if view is not None else "."),
                    weight,
                )
            )
    return out
