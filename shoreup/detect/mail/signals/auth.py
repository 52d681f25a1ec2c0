"""SPF, DKIM, DMARC, ARC and compauth results, read only from Authentication-Results headers we trust.

Trusted: headers whose authserv-id (or, when a server omits it as Microsoft 365 does, the host that
added the Received line just below) matches ``trusted_authserv_ids``. Without that setting, only the
topmost Authentication-Results header counts: the receiving server adds it last, and anything below it
may have been written by the sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..domains import registrable
from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import reason

CODES = {
    "DMARC_FAIL": Code(4.0, "the From domain's owner did not authorize this sender (DMARC fail)"),
    "COMPAUTH_FAIL": Code(4.0, "Microsoft composite authentication (its DMARC verdict, extended) failed"),
    "SPF_FAIL": Code(2.0, "the sending IP is not allowed to send for the envelope domain (SPF fail)"),
    "SPF_SOFTFAIL": Code(1.0, "SPF softfail: the sending IP is probably not allowed"),
    "DKIM_FAIL": Code(1.5, "a DKIM signature did not verify: the message was altered or forged"),
    "ARC_FAIL": Code(1.0, "the ARC chain of forwarding intermediaries is broken"),
    "NO_AUTH": Code(1.0, "no SPF pass and no DKIM pass: nothing vouches for the sender"),
    "ORG_DOMAIN_SPOOF": Code(7.0, "From uses the organization's own domain, but the mail did not come from it"),
}

#: The auth family can say "spoofed" several ways; together they count at most this much.
AUTH_CAP = 5.0

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"\b(spf|dkim|dmarc|arc|compauth)\s*=\s*([a-z]+)", re.I)
_HEADER_FROM = re.compile(r"header\.from\s*=\s*([^\s;]+)", re.I)
_BY = re.compile(r"\bby\s+([a-z0-9.-]+)", re.I)


@dataclass
class AuthView:
    """What the trusted headers say; ``by`` names who said it."""

    results: dict[str, str]
    header_from: str
    by: str
    verified: bool

    def get(self, method: str) -> str:
        return self.results.get(method, "")


def _matches(ident: str, trusted: list[str]) -> bool:
    ident = ident.lower().strip()
    return any(ident == t or ident.endswith("." + t) for t in trusted)


def read_auth(msg: ParsedMessage, ctx: Context) -> AuthView | None:
    """The trusted authentication results of ``msg``, or None when there are none."""
    entries: list[tuple[str, str]] = []  # (authserv id, value)
    last_by = ""
    pending: list[int] = []
    headers = msg.headers
    for name, value in headers:
        lname = name.lower()
        if lname == "authentication-results":
            first = value.split(";", 1)[0].strip()
            ident = first.split()[0] if first and "=" not in first else ""
            entries.append((ident, value))
            if not ident:
                pending.append(len(entries) - 1)
        elif lname == "received":
            m = _BY.search(value)
            by = m.group(1).lower() if m else ""
            for i in pending:  # a header without authserv-id belongs to the hop of the Received below it
                entries[i] = (by, entries[i][1])
            pending = []
            last_by = by
    del last_by
    if not entries:
        return None
    trusted_ids = ctx.org.trusted_authserv_ids
    if trusted_ids:
        chosen = [(i, v) for i, v in entries if i and _matches(i, trusted_ids)]
        verified = True
    else:
        chosen = entries[:1]
        verified = False
    if not chosen:
        return None
    results: dict[str, str] = {}
    header_from = ""
    for _ident, value in chosen:
        plain = _COMMENT.sub(" ", value)
        for method, result in _RESULT.findall(plain):
            results.setdefault(method.lower(), result.lower())
        m = _HEADER_FROM.search(plain)
        if m and not header_from:
            header_from = m.group(1).strip('"').lower()
    return AuthView(results, header_from, chosen[0][0], verified)


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    view = read_auth(msg, ctx)
    from_domain = msg.from_[0].domain if msg.from_ else ""
    if view is not None:
        who = f" (recorded by {view.by or 'the receiving server'}" + (")" if view.verified else ", unverified)")
        dom = view.header_from or from_domain or "the From domain"
        if view.get("dmarc") == "fail":
            out.append(reason(CODES, "DMARC_FAIL", f"DMARC failed for {dom}{who}."))
        if view.get("compauth") == "fail":
            out.append(reason(CODES, "COMPAUTH_FAIL", f"Composite authentication failed for {dom}{who}."))
        spf = view.get("spf")
        if spf in ("fail", "hardfail"):
            out.append(reason(CODES, "SPF_FAIL", f"SPF failed for the envelope sender{who}."))
        elif spf == "softfail":
            out.append(reason(CODES, "SPF_SOFTFAIL", f"SPF soft-failed for the envelope sender{who}."))
        if view.get("dkim") == "fail":
            out.append(reason(CODES, "DKIM_FAIL", f"A DKIM signature failed to verify{who}."))
        if view.get("arc") == "fail":
            out.append(reason(CODES, "ARC_FAIL", f"The ARC chain failed validation{who}."))
        if view.get("spf") not in ("pass",) and view.get("dkim") not in ("pass",) and (view.get("spf") or view.get("dkim")):
            out.append(reason(CODES, "NO_AUTH", f"Neither SPF nor DKIM passed{who}."))
    if ctx.org.domains and from_domain and ctx.is_org_domain(from_domain):
        out.extend(_org_spoof(msg, ctx, view, from_domain))
    return out


def _org_spoof(msg: ParsedMessage, ctx: Context, view: AuthView | None, from_domain: str) -> list[Reason]:
    """Mail claiming to be from the organization itself must be vouched for by its own servers."""
    if view is not None and view.verified:
        if view.get("dmarc") == "pass" or (view.get("dkim") == "pass" and view.get("spf") == "pass"):
            return []
        if view.get("dmarc") in ("fail", "none") or view.get("spf") in ("fail", "softfail"):
            return [
                reason(
                    CODES,
                    "ORG_DOMAIN_SPOOF",
                    f"From claims {from_domain}, the organization's own domain, but its own servers "
                    f"did not authenticate it (dmarc={view.get('dmarc') or 'none'}, spf={view.get('spf') or 'none'}).",
                )
            ]
    envelope = msg.return_path or msg.envelope_from
    env_domain = envelope.rpartition("@")[2] if "@" in envelope else ""
    if env_domain and not ctx.is_org_domain(env_domain) and registrable(env_domain) != registrable(from_domain):
        return [
            reason(
                CODES,
                "ORG_DOMAIN_SPOOF",
                f"From claims {from_domain}, the organization's own domain, but the envelope sender is "
                f"{envelope} and nothing from the organization's servers vouches for it.",
            )
        ]
    return []
