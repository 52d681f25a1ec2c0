"""SQL fragments and helpers shared by the credential detectors.

The SQL sticks to standard window functions (``lag``, ``row_number``, ``sum``/``count`` over ``RANGE``
frames on an epoch-seconds column, ``array_agg``) so that it transpiles to Spark unchanged; numbers
that bound a frame are formatted in (they come from typed ``Params`` fields, never from input).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

#: Reasons that prove the password was right (a second factor was asked for or refused).
PASSWORD_OK_REASONS = ("password_ok_mfa_required", "mfa_denied", "mfa_timeout", "mfa_push_sent")
_OK_LIST = ", ".join(f"'{r}'" for r in PASSWORD_OK_REASONS)

#: A failed guess: a failure that is not about a second factor and not a key offered by an agent.
GUESS = f"""(outcome = 'failure'
    AND coalesce(reason, 'other') NOT IN ({_OK_LIST})
    AND coalesce(method, '') <> 'publickey'
    AND coalesce(method, '') NOT LIKE 'mfa%')"""

#: Login forms known to answer a wrong password with 200 and a right one with a redirect (WordPress's).
FORMS_ANSWERING_200: Final = ("/wp-login.php", "/xmlrpc.php")

#: Formats whose logs show a nameless sign-in succeeding (a web login form answered with a redirect):
#: there a nameless post answered otherwise is a try whose result the log does not tell. A site whose
#: form answers 200 to a right password too (an API returning a token) shows no redirect: its 200s are
#: not counted as tries (they would make every office NAT a brute force).
REDIRECTS = """SELECT DISTINCT source_format AS r_fmt FROM auth
    WHERE user IS NULL AND src_ip IS NOT NULL AND outcome = 'success'"""
_FORMS = ", ".join(f"'{p}'" for p in FORMS_ANSWERING_200)


def untold_try(redirects: str) -> str:
    """A nameless sign-in whose result the log does not tell, where the form tells success by redirect
    (``redirects``: a column of the joined :data:`REDIRECTS`, null when the row's format shows none) or
    is one of :data:`FORMS_ANSWERING_200`: a try, as a failure is."""
    return f"""(user IS NULL AND src_ip IS NOT NULL AND outcome = 'unknown' AND reason IS NULL
        AND ({redirects} IS NOT NULL OR lower(application) IN ({_FORMS})))"""


def nameless_try(redirects: str) -> str:
    """A try from an address whose account the log does not name (a web login form, a console sign-in
    with the name withheld): a failed guess, or an :func:`untold_try`. Counted per address.

    Its conjuncts ``user IS NULL AND src_ip IS NOT NULL`` come first, so that an engine filters the
    scan with them before it joins ``redirects``."""
    return f"""(user IS NULL AND src_ip IS NOT NULL AND ({GUESS} OR {untold_try(redirects)}))"""


#: An outcome showing the account's password is known: a success, or a second factor being asked.
PASSWORD_OK = f"(outcome = 'success' OR reason IN ({_OK_LIST}))"

#: Pairs (user, src_ip) that signed in successfully: a failure of such a pair is a person's typo.
SUCCESS_PAIRS = """
    SELECT DISTINCT user AS ok_user, src_ip AS ok_ip FROM auth
    WHERE outcome = 'success' AND user IS NOT NULL AND src_ip IS NOT NULL
"""


#: An IPv4 address written a.b.c.d with ASCII digits and no leading zeros (RE2 / Arrow syntax).
DOTTED_QUAD = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"


@functools.lru_cache(maxsize=1 << 16)
def net16(ip: str | None) -> str | None:
    """The /16 (IPv4) or /48 (IPv6) network of an address; None when it is not an address."""
    if not ip:
        return None
    a, dot, _ = ip.partition(".")
    if dot and a.isdigit():  # the common case, without ipaddress's cost: "a.b.c.d" → "a.b.0.0/16"
        parts = ip.split(".")
        if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts):
            return f"{int(parts[0])}.{int(parts[1])}.0.0/16"
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 16 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def tally(values: Iterable[Any]) -> Counter[Any]:
    """How often each value occurs, None and the empty string left out (counted in C, then dropped)."""
    counts = Counter(values)
    counts.pop(None, None)
    counts.pop("", None)
    return counts


def top_share(values: Iterable[Any] | Counter[Any]) -> tuple[Any, int]:
    """The most common non-null value and how many times it occurs ((None, 0) when none); ``values``
    may be a :func:`tally` already."""
    counts = values if isinstance(values, Counter) else tally(values)
    if not counts:
        return None, 0
    n = max(counts.values())
    return min((v for v, k in counts.items() if k == n), key=str), n


def seconds(t: dt.datetime) -> float:
    """Epoch seconds of a store time (naive UTC)."""
    return (t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t).timestamp()


def span_text(t0: dt.datetime, t1: dt.datetime) -> str:
    """A duration as a person says it: "12 s", "7 min", "3.5 h", "2.1 days"."""
    sec = max(0.0, (t1 - t0).total_seconds())
    if sec < 120:
        return f"{sec:.0f} s"
    if sec < 7200:
        return f"{sec / 60:.0f} min"
    if sec < 172800:
        return f"{sec / 3600:.1f} h"
    return f"{sec / 86400:.1f} days"
