"""From reasons to a score and a verdict.

Each code counts once (its strongest instance); the authentication family is capped because DMARC,
compauth and SPF often say the same thing three ways. Thresholds: one strong, specific signal
(a look-alike of the organization's domain, an executive's name from outside, smuggling, an
executable attachment) reaches "phishing" alone; "suspicious" needs one medium signal or two weak ones.
"""

from __future__ import annotations

from .model import Reason

PHISHING_AT = 8.0
SUSPICIOUS_AT = 4.0

_AUTH_FAMILY = {"DMARC_FAIL", "COMPAUTH_FAIL", "SPF_FAIL", "SPF_SOFTFAIL", "DKIM_FAIL", "ARC_FAIL", "NO_AUTH"}
_AUTH_CAP = 5.0


def score(reasons: list[Reason]) -> tuple[float, str, list[Reason]]:
    """(score, verdict, reasons ordered strongest first with one entry per code kept first)."""
    best: dict[str, Reason] = {}
    for r in reasons:
        if r.code not in best or r.weight > best[r.code].weight:
            best[r.code] = r
    auth = min(_AUTH_CAP, sum(r.weight for c, r in best.items() if c in _AUTH_FAMILY))
    total = auth + sum(r.weight for c, r in best.items() if c not in _AUTH_FAMILY)
    total = round(total, 1)
    verdict = "phishing" if total >= PHISHING_AT else "suspicious" if total >= SUSPICIOUS_AT else "clean"
    ordered = sorted(reasons, key=lambda r: (-best[r.code].weight, r.code, r is not best[r.code]))
    return total, verdict, ordered
