"""Writes attempts as Entra ID sign-ins, the Azure Monitor diagnostic export (NDJSON with ``properties``).

Reference: Azure Monitor ``SignInLogs`` diagnostic schema and the Microsoft Graph ``signIn`` resource
(as in elastic/integrations' azure signinlogs fixtures); error codes from the Entra AADSTS list.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any, Final

from shoreup.simulate.model import OFFICE, Attempt, Org, Place, uuid

#: reason -> (errorCode, failureReason, additionalDetails)
_CODES: Final[dict[str | None, tuple[int, str, str | None]]] = {
    None: (0, "Other.", None),
    "bad_password": (50126, "Error validating credentials due to invalid username or password.",
                     "The user didn't enter the right credentials. It's expected to see some number of these errors "
                     "in your logs due to users making mistakes."),
    "unknown_user": (50034, "The user account does not exist in the directory.", None),
    "locked": (50053, "The account is locked, you've tried to sign in too many times with an incorrect user ID "
               "or password.", None),
    "password_ok_mfa_required": (50074, "Strong Authentication is required.",
                                 "The user was required to perform multi-factor authentication."),
    "mfa_denied": (500121, "Authentication failed during strong authentication request.",
                   "MFA denied; user declined the authentication"),
    "mfa_timeout": (500121, "Authentication failed during strong authentication request.",
                    "MFA denied; user did not respond to mobile app notification"),
}
_APP_IDS: Final = {
    "Office 365 Exchange Online": "00000002-0000-0ff1-ce00-000000000000",
    "Microsoft Teams": "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
    "OfficeHome": "4765445b-32c6-49b0-83e6-1d93765276ca",
    "Microsoft Office 365 Portal": "00000006-0000-0ff1-ce00-000000000000",
    "SharePoint Online Web Client Extensibility": "08e18876-6177-487e-b8b5-cf950c1e598c",
}


def _time(t: dt.datetime, rng: random.Random) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(rng.randint(0, 9))


def _device(ua: str) -> dict[str, Any]:
    if not ua or ua.startswith(("python", "okhttp", "Apple-")):
        return {"deviceId": "", "operatingSystem": "Ios" if ua.startswith("Apple-") else "", "browser": ""}
    if "iPhone" in ua:
        return {"deviceId": "", "operatingSystem": "Ios", "browser": "Mobile Safari" if "Safari" in ua else ""}
    if "Macintosh" in ua:
        return {"deviceId": "", "operatingSystem": "MacOs", "browser": "Safari 18.3"}
    browser = "Edge 133.0.0" if "Edg/" in ua else "Firefox 135.0" if "Firefox" in ua else "Chrome 133.0.0"
    if "Chrome/90" in ua:
        browser = "Chrome 90.0.4430"
    return {"deviceId": "", "operatingSystem": "Windows 10" if "Windows" in ua else "", "browser": browser}


def record(a: Attempt, org: Org, rng: random.Random, user_ids: dict[str, str]) -> dict[str, Any]:
    """One sign-in in the diagnostic-export shape."""
    code, failure, details = _CODES.get(a.reason, _CODES["bad_password"])
    if a.outcome == "success":
        code, failure, details = 0, "Other.", None
    known = a.user in user_ids
    place: Place = a.place or OFFICE
    created = _time(a.time, rng)
    correlation = uuid(rng)
    client = a.client or "Browser"
    legacy = client not in ("Browser", "Mobile Apps and Desktop clients")
    mfa_user = a.mfa is True or (a.mfa is None and a.reason in ("password_ok_mfa_required", "mfa_denied",
                                                                 "mfa_timeout"))
    requirement = "multiFactorAuthentication" if mfa_user and not legacy else "singleFactorAuthentication"
    steps: list[dict[str, Any]] = [{
        "authenticationStepDateTime": created + "+00:00",
        "authenticationMethod": "Password",
        "succeeded": code in (0, 50074, 500121),
        "authenticationStepResultDetail": "Correct password" if code in (0, 50074, 500121) else failure,
        "authenticationStepRequirement": "Primary authentication",
    }]
    if code == 0 and requirement == "multiFactorAuthentication":
        steps.append({"authenticationStepDateTime": created + "+00:00",
                      "authenticationMethod": "Mobile app notification", "succeeded": True,
                      "authenticationStepResultDetail": "MFA successfully completed",
                      "authenticationStepRequirement": "Multifactor authentication"})
    elif code == 500121:
        steps.append({"authenticationStepDateTime": created + "+00:00",
                      "authenticationMethod": "Mobile app notification", "succeeded": False,
                      "authenticationStepResultDetail": details or failure,
                      "authenticationStepRequirement": "Multifactor authentication"})
    status: dict[str, Any] = {"errorCode": code}
    if code != 0:
        status["failureReason"] = failure
        if details:
            status["additionalDetails"] = details
    props: dict[str, Any] = {
        "id": uuid(rng),
        "createdDateTime": created + "+00:00",
        "userDisplayName": org.display.get(a.user) if known else None,
        "userPrincipalName": org.upn(a.user),
        "userId": user_ids.get(a.user, ""),
        "appId": _APP_IDS.get(a.app, _APP_IDS["OfficeHome"]),
        "appDisplayName": a.app or "OfficeHome",
        "ipAddress": a.ip,
        "status": status,
        "clientAppUsed": client,
        "userAgent": a.user_agent,
        "deviceDetail": _device(a.user_agent),
        "location": {"city": place.city, "state": place.state, "countryOrRegion": place.country,
                     "geoCoordinates": {"latitude": place.lat, "longitude": place.lon}},
        "autonomousSystemNumber": place.asn,
        "correlationId": correlation,
        "conditionalAccessStatus": "notApplied" if code not in (0, 50074) else "success",
        "isInteractive": True,
        "authenticationRequirement": requirement,
        "authenticationProtocol": "none",
        "tokenIssuerType": "AzureAD",
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "resourceDisplayName": a.app or "OfficeHome",
        "authenticationDetails": steps,
    }
    if code == 0 and requirement == "multiFactorAuthentication":
        props["mfaDetail"] = {"authMethod": "Mobile app notification", "authDetail": None}
    return {
        "time": created + "Z",
        "resourceId": f"/tenants/{org.tenant_id}/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "operationVersion": "1.0",
        "category": "SignInLogs",
        "tenantId": org.tenant_id,
        "resultType": str(code),
        "resultSignature": "None",
        "resultDescription": failure if code else None,
        "durationMs": 0,
        "callerIpAddress": a.ip,
        "correlationId": correlation,
        "identity": org.display.get(a.user, a.user) if known else a.user,
        "Level": 4,
        "location": place.country,
        "properties": props,
    }


def write(path: Path, attempts: list[Attempt], org: Org, rng: random.Random) -> int:
    """Write the export, one sign-in per line in time order; returns the number of records."""
    user_ids = {u: uuid(rng) for u in org.users}
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for a in sorted(attempts, key=lambda a: (a.time, a.user, a.ip)):
            f.write(json.dumps(record(a, org, rng, user_ids), separators=(",", ":")) + "\n")
            n += 1
    return n
