"""Writes attempts as AWS CloudTrail log files: ``{"Records": [...]}``, one file per day, as S3 delivers them.

Reference: AWS "CloudTrail log file examples" for ``ConsoleLogin`` (``responseElements.ConsoleLogin``
Success / Failure, ``errorMessage``, ``additionalEventData.MFAUsed``), root vs IAM user identities, and
``HIDDEN_DUE_TO_SECURITY_REASONS`` for a user name that does not exist. Each file also carries the
API calls that fill a real trail, so sign-ins are a minority of its records.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from shoreup.simulate.model import Attempt, Org, hex_id, uuid

_REGION = "us-east-1"
_NOISE = [
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("s3.amazonaws.com", "ListBuckets"),
    ("sts.amazonaws.com", "GetCallerIdentity"),
    ("iam.amazonaws.com", "ListUsers"),
    ("cloudwatch.amazonaws.com", "GetMetricData"),
    ("kms.amazonaws.com", "Decrypt"),
]


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(org: Org, user: str, hidden: bool) -> dict[str, Any]:
    acct = org.aws_account
    if user == "root":
        return {"type": "Root", "principalId": acct, "arn": f"arn:aws:iam::{acct}:root", "accountId": acct,
                "accessKeyId": ""}
    if hidden:
        return {"type": "IAMUser", "accountId": acct, "accessKeyId": "", "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    return {"type": "IAMUser", "principalId": "AIDA" + hex_id(random.Random(user), 17).upper(),
            "arn": f"arn:aws:iam::{acct}:user/{user}", "accountId": acct, "userName": user}


def console_login(a: Attempt, org: Org, rng: random.Random) -> dict[str, Any]:
    """One ``ConsoleLogin`` record."""
    hidden = a.reason == "unknown_user"
    ok = a.outcome == "success"
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": _identity(org, a.user, hidden),
        "eventTime": _stamp(a.time),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": _REGION,
        "sourceIPAddress": a.ip,
        "userAgent": a.user_agent,
    }
    if not ok:
        rec["errorMessage"] = "No username found in supplied account" if hidden else "Failed authentication"
    rec.update({
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if ok else "Failure"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAUsed": "Yes" if ok and a.mfa else "No",
        },
        "eventID": uuid(rng),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": org.aws_account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": "signin.aws.amazon.com"},
    })
    return rec


def _api_call(org: Org, rng: random.Random, t: dt.datetime) -> dict[str, Any]:
    user = rng.choice(org.iam_users)
    source, name = rng.choice(_NOISE)
    ident = _identity(org, user, False)
    ident["accessKeyId"] = "ASIA" + hex_id(rng, 16).upper()
    return {
        "eventVersion": "1.09",
        "userIdentity": ident,
        "eventTime": _stamp(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": _REGION,
        "sourceIPAddress": rng.choice(org.office_ips),
        "userAgent": "aws-cli/2.22.35 md/Botocore#1.36.16 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.12.8",
        "requestParameters": None,
        "responseElements": None,
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": org.aws_account,
        "eventCategory": "Management",
    }


def write(folder: Path, attempts: list[Attempt], org: Org, rng: random.Random, start: dt.datetime,
          days: int) -> dict[str, int]:
    """Write one file per simulated day into ``folder``; returns {file name: records}."""
    folder.mkdir(parents=True, exist_ok=True)
    by_day: dict[int, list[tuple[dt.datetime, int, dict[str, Any]]]] = {d: [] for d in range(days)}
    for n, a in enumerate(sorted(attempts, key=lambda a: (a.time, a.user, a.ip))):
        day = min(days - 1, max(0, (a.time - start).days))
        by_day[day].append((a.time, n, console_login(a, org, rng)))
    out: dict[str, int] = {}
    for day, rows in by_day.items():
        base = start + dt.timedelta(days=day)
        t = base + dt.timedelta(seconds=rng.uniform(0, 600))
        k = 0
        while t < base + dt.timedelta(days=1):
            rows.append((t, 10**9 + k, _api_call(org, rng, t)))
            k += 1
            t += dt.timedelta(seconds=rng.uniform(60, 900))
        rows.sort(key=lambda r: (r[0], r[1]))
        name = f"{org.aws_account}_CloudTrail_{_REGION}_{base:%Y%m%dT%H%MZ}_{hex_id(rng, 16)}.json"
        doc = {"Records": [r for _, _, r in rows]}
        (folder / name).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
        out[name] = len(rows)
    return out
