"""Writes attempts as Okta System Log events (NDJSON, one ``LogEvent`` per line).

Reference: Okta System Log API ``LogEvent`` (actor, client, outcome, securityContext, authenticationContext,
debugContext, request.ipChain) and its event types, as in elastic/integrations' okta system fixtures.
A password step is ``user.session.start`` (or ``user.authentication.verify`` when a factor follows); a
push is ``system.push.send_factor_verify_push``, answered by ``user.authentication.auth_via_mfa`` or
refused with ``user.mfa.okta_verify.deny_push``. A name Okta does not know is logged with actor id
``unknown``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any, Final

from shoreup.simulate.model import OFFICE, Attempt, Org, Place, b62, uuid

_AS_DOMAIN: Final = {7922: "comcast.net", 701: "verizon.com", 7018: "att.net", 12271: "charter.com",
                     3356: "lumen.com", 2856: "bt.com", 14061: "digitalocean.com", 24940: "hetzner.com",
                     9009: "m247.com", 16276: "ovh.net", 212238: "datacamp.co.uk", 58224: "tci.ir", 45899: "vnpt.vn"}


def _published(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _geo(place: Place) -> dict[str, Any]:
    return {"city": place.city, "state": place.state, "country": place.country_name, "postalCode": None,
            "geolocation": {"lat": place.lat, "lon": place.lon}}


def _browser(ua: str) -> tuple[str, str]:
    os_name = "iOS" if "iPhone" in ua else "Mac OS X" if "Macintosh" in ua else "Windows 10" if "Windows" in ua \
        else "Linux" if "Linux" in ua else "Unknown"
    browser = "EDGE" if "Edg/" in ua else "FIREFOX" if "Firefox" in ua else "CHROME" if "Chrome" in ua \
        else "SAFARI" if "Safari" in ua else "UNKNOWN"
    return os_name, browser


class _Events:
    def __init__(self, org: Org, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.ids = {u: "00u" + b62(rng, 17) for u in org.users}
        self.sessions: dict[tuple[str, str], str] = {}

    def event(self, a: Attempt, t: dt.datetime, event_type: str, message: str, result: str,
              reason: str | None, legacy: str | None, debug: dict[str, Any] | None = None,
              credential: str | None = None) -> dict[str, Any]:
        rng = self.rng
        place = a.place or OFFICE
        known = a.user in self.ids
        actor = ({"id": self.ids[a.user], "type": "User", "alternateId": self.org.upn(a.user),
                  "displayName": self.org.display.get(a.user, a.user), "detailEntry": None} if known else
                 {"id": "unknown", "type": "User", "alternateId": self.org.upn(a.user), "displayName": "unknown",
                  "detailEntry": None})
        os_name, browser = _browser(a.user_agent)
        session = self.sessions.setdefault((a.user, a.ip), "102" + b62(rng, 22))
        request_id = b62(rng, 27)
        data: dict[str, Any] = {"requestId": request_id, "requestUri": "/idp/idx/identify",
                                "url": "/idp/idx/identify?", "threatSuspected": "false"}
        data.update(debug or {})
        return {
            "actor": actor,
            "authenticationContext": {"authenticationProvider": None, "authenticationStep": 0,
                                      "credentialProvider": None, "credentialType": credential,
                                      "externalSessionId": session, "interface": None, "issuer": None},
            "client": {"device": "Mobile" if "iPhone" in a.user_agent else "Computer",
                       "geographicalContext": _geo(place), "id": None, "ipAddress": a.ip,
                       "userAgent": {"browser": browser, "os": os_name, "rawUserAgent": a.user_agent},
                       "zone": "null"},
            "debugContext": {"debugData": data},
            "displayMessage": message,
            "eventType": event_type,
            "legacyEventType": legacy,
            "outcome": {"reason": reason, "result": result},
            "published": _published(t),
            "request": {"ipChain": [{"geographicalContext": _geo(place), "ip": a.ip, "source": None,
                                     "version": "V4"}]},
            "securityContext": {"asNumber": place.asn, "asOrg": place.as_org, "domain": _AS_DOMAIN.get(place.asn),
                                "isProxy": place.hosting, "isp": place.as_org},
            "severity": "INFO" if result in ("SUCCESS", "ALLOW") else "WARN",
            "target": None,
            "transaction": {"detail": {}, "id": request_id, "type": "WEB"},
            "uuid": uuid(rng),
            "version": "0",
        }

    def for_attempt(self, a: Attempt) -> list[dict[str, Any]]:
        """The events Okta logs for one attempt, in order."""
        t = a.time
        push = {"factor": "OKTA_VERIFY_PUSH"}
        if a.reason == "mfa_push_sent":
            return [self.event(a, t, "system.push.send_factor_verify_push", "Push notification sent for verification",
                               "SUCCESS", None, None, push)]
        if a.reason == "mfa_denied":
            return [self.event(a, t, "user.mfa.okta_verify.deny_push", "User rejected Okta push verify",
                               "FAILURE", "User rejected Okta push verify", None, push)]
        if a.reason == "mfa_timeout":
            return [self.event(a, t, "user.authentication.auth_via_mfa", "Authentication of user via MFA",
                               "FAILURE", "Okta Verify push timed out", "core.user.factor.attempt_fail", push)]
        if a.method == "mfa_push":
            return [self.event(a, t, "user.authentication.auth_via_mfa", "Authentication of user via MFA",
                               "SUCCESS", None, "core.user.factor.attempt_success", push)]
        if a.reason == "password_ok_mfa_required":
            return [self.event(a, t, "user.authentication.verify", "Verify user identity", "SUCCESS", None, None,
                               {"behaviors": "{New IP=POSITIVE, New Device=POSITIVE}"}, "PASSWORD"),
                    self.event(a, t, "policy.evaluate_sign_on", "Evaluation of sign-on policy", "CHALLENGE",
                               "Sign-on policy evaluation resulted in CHALLENGE", None)]
        if a.outcome == "failure":
            if a.user not in self.ids:
                reason = "VERIFICATION_ERROR"
            else:
                reason = {"locked": "LOCKED_OUT"}.get(a.reason or "", "INVALID_CREDENTIALS")
            return [self.event(a, t, "user.session.start", "User login to Okta", "FAILURE", reason,
                               "core.user_auth.login_failed", {"requestUri": "/api/v1/authn"}, "PASSWORD")]
        out: list[dict[str, Any]] = []
        if a.mfa:
            # An ordinary MFA sign-in: the push, its approval, then the session.
            out.append(self.event(a, t - dt.timedelta(seconds=6), "system.push.send_factor_verify_push",
                                  "Push notification sent for verification", "SUCCESS", None, None, push))
            out.append(self.event(a, t - dt.timedelta(seconds=1), "user.authentication.auth_via_mfa",
                                  "Authentication of user via MFA", "SUCCESS", None,
                                  "core.user.factor.attempt_success", push))
        out.append(self.event(a, t, "user.session.start", "User login to Okta", "SUCCESS", None,
                              "core.user_auth.login_success", {"requestUri": "/api/v1/authn"}, "PASSWORD"))
        return out


def write(path: Path, attempts: list[Attempt], org: Org, rng: random.Random) -> int:
    """Write the System Log as NDJSON in time order; returns the number of events."""
    events = _Events(org, rng)
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for n, a in enumerate(sorted(attempts, key=lambda a: (a.time, a.user, a.ip))):
        for k, ev in enumerate(events.for_attempt(a)):
            rows.append((ev["published"], n * 4 + k, ev))
    rows.sort(key=lambda r: (r[0], r[1]))
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for _, _, ev in rows:
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
    return len(rows)
