"""Display names that borrow the organization's people, its name, or a well-known brand."""

from __future__ import annotations

import re

from ..domains import mixed_script, skeleton
from ..hosts import host_lists
from ..model import Address, ParsedMessage, Reason
from ..org import Context, name_key
from . import Code
from ._base import q, reason

CODES = {
    "PERSON_IMPERSONATION": Code(6.0, "the display name is one of the organization's people, from outside"),
    "EXECUTIVE_IMPERSONATION": Code(8.0, "the display name is an executive of the organization, from outside"),
    "ORG_NAME_IMPERSONATION": Code(4.0, "the display name uses the organization's name, from outside"),
    "BRAND_IMPERSONATION": Code(5.0, "the display name is a brand, but the address is not the brand's"),
    "DISPLAY_NAME_HOMOGLYPH": Code(2.0, "the display name mixes scripts to imitate a name"),
}


def _senders(msg: ParsedMessage) -> list[Address]:
    return [a for a in [*msg.from_[:1], *msg.sender[:1]] if a.display]


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    lists = host_lists()
    for addr in _senders(msg):
        display, dom = addr.display, addr.domain
        internal = bool(dom) and ctx.is_org_domain(dom)
        words = set(name_key(display).split())
        if not internal:
            for key, person in ctx.people_keys.items():
                if set(key.split()) <= words and addr.addr != person.email:
                    code = "EXECUTIVE_IMPERSONATION" if person.executive else "PERSON_IMPERSONATION"
                    role = f", {person.role}" if person.role else ""
                    free = " (a free webmail box)" if lists.is_freemail(dom) else ""
                    out.append(
                        reason(
                            CODES,
                            code,
                            f"Display name {q(display)} matches {person.name}{role}, but the mail comes from "
                            f"{addr.addr or 'no address'}{free}, outside the organization.",
                        )
                    )
                    break
            skel = skeleton(display)
            if ctx.org_name_pattern is not None and ctx.org_name_pattern.search(skel):
                out.append(
                    reason(
                        CODES,
                        "ORG_NAME_IMPERSONATION",
                        f"Display name {q(display)} uses the organization's name, but the mail comes from "
                        f"{addr.addr or 'no address'}.",
                    )
                )
        skel = re.sub(r"[^a-z0-9&+.]+", " ", skeleton(display))
        for pattern, brand in ctx.brand_phrases:
            if not pattern.search(skel):
                continue
            owned = bool(dom) and any(dom == d or dom.endswith("." + d) for d in brand.domains)
            if owned and not lists.is_freemail(dom):
                break
            if internal:
                break
            is_free = lists.is_freemail(dom)
            out.append(
                reason(
                    CODES,
                    "BRAND_IMPERSONATION",
                    f"Display name {q(display)} names {brand.name}, but the mail comes from "
                    f"{addr.addr or 'no address'}" + (", a free webmail box." if is_free else f", not a {brand.name} domain."),
                    6.0 if is_free else None,
                )
            )
            break
        if not display.isascii() and mixed_script(display):
            out.append(reason(CODES, "DISPLAY_NAME_HOMOGLYPH", f"Display name {q(display)} mixes writing systems."))
        if out:
            break
    return out
