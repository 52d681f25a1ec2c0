"""A hand-made chain for the incident and report tests: phish → spray → compromise → 4624 → wipe.

The store holds only the auth rows the chain needs; findings are built the way the detectors
build them (the credential detectors' names, Sigma findings keyed by rule id with tags in metrics).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from shoreup.engine.duckdb import Store
from shoreup.findings import Finding, Ref
from shoreup.schema import AUTH

XSS = "<img src=x onerror=alert(1)>"
ESCAPE = "evil\x1b[2J\x1b]0;pwned\x07user"
FORMULA = "=HYPERLINK(\"http://x.example\",\"click\")"
SPRAY_NET = "198.51.100.0/28"  # all 16 addresses spray
LONE_IP = "203.0.113.7"  # the address that signs in as alice


def T(hh: int, mm: int = 0, day: int = 3) -> dt.datetime:
    return dt.datetime(2026, 3, day, hh, mm, tzinfo=dt.UTC)


def _auth(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {f.name: None for f in AUTH}
    row.update(kw)
    row["time"] = row["time"].replace(tzinfo=None)
    return row


AUTH_ROWS = [
    # alice's ordinary morning, before the compromise: not part of the chain
    _auth(time=T(7, 50), host="WS12.corp.local", source_format="evtx", ref_file="Security.evtx", ref_record=90,
          user="alice", src_ip="10.0.0.12", outcome="success", event_code="4624", logon_type="2"),
    # the compromise: a single-factor cloud sign-in from the attacker
    _auth(time=T(9, 30), host="tenant-1", source_format="entra", ref_file="signins.json", ref_record=5,
          user="alice", src_ip=LONE_IP, outcome="success", method="password", mfa_used=False,
          application="Office 365 Exchange Online", user_agent=XSS),
    # then remote desktop to the file server, and a network logon there
    _auth(time=T(9, 45), host="FS01.corp.local", source_format="evtx", ref_file="Security.evtx", ref_record=100,
          user="alice", src_ip="10.0.0.23", outcome="success", event_code="4624", logon_type="10"),
    # the DC's Kerberos ticket for the same session names no host signed in to
    _auth(time=T(9, 45), host="DC01.corp.local", source_format="evtx", ref_file="Security.evtx", ref_record=101,
          user="alice", src_ip="10.0.0.23", outcome="success", event_code="4768"),
    _auth(time=T(9, 47), host="FS01.corp.local", source_format="evtx", ref_file="Security.evtx", ref_record=104,
          user="alice", src_ip="10.0.0.23", outcome="success", event_code="4624", logon_type="3"),
    # a week later is past the horizon of the chain
    _auth(time=T(9, 0, day=12), host="FS01.corp.local", source_format="evtx", ref_file="Security.evtx",
          ref_record=900, user="alice", src_ip="10.0.0.12", outcome="success", event_code="4624", logon_type="3"),
    # bob signs in with MFA: nothing to enforce
    _auth(time=T(8, 0), host="tenant-1", source_format="entra", ref_file="signins.json", ref_record=2,
          user="bob", src_ip="192.0.2.10", outcome="success", method="password", mfa_used=True),
    # root on the jump host, password only over ssh
    _auth(time=T(6, 0), host="jump01", source_format="sshd", ref_file="auth.log", ref_record=7,
          user="root", src_ip="10.0.0.5", outcome="success", method="password"),
]  # fmt: skip


def store() -> Store:
    s = Store()
    s.append("auth", pa.RecordBatch.from_pylist(AUTH_ROWS, schema=AUTH))
    return s


def _spray_ips() -> list[str]:
    import ipaddress

    return [str(a) for a in ipaddress.ip_network(SPRAY_NET)] + ["192.0.2.99"]


def findings() -> list[Finding]:
    spray_ips = _spray_ips()
    return [
        Finding(
            detector="password_spray", technique="T1110.003", title="Password spraying", severity="high",
            confidence=0.9, start=T(8, 40), end=T(9, 20), users=["alice", "bob", "carol", XSS], src_ips=spray_ips,
            evidence=[Ref("signins.json", 100 + i) for i in range(30)],
            summary=f"1 password tried against 4 accounts from {len(spray_ips)} IPs", key="spray|1",
        ),
        Finding(
            detector="compromise", technique="T1078.004", title="Account compromised", severity="high",
            confidence=0.9, start=T(9, 30), end=T(9, 30), users=["alice"], src_ips=[LONE_IP],
            evidence=[Ref("signins.json", 5)], summary=f"alice signed in from {LONE_IP} after the spray",
            key="alice",
        ),
        Finding(
            detector="0f4b5c1e-shadow", technique="T1490", title="Shadow copies deleted", severity="high",
            confidence=0.9, start=T(10, 2), end=T(10, 2), hosts=["FS01.corp.local"],
            metrics={"rule": {"id": "0f4b5c1e-shadow", "techniques": ["T1490"]}},
            evidence=[Ref("Sysmon.evtx", 3001)], summary="vssadmin delete shadows /all /quiet on FS01.corp.local",
            key="Sysmon.evtx:3001",
        ),
        Finding(
            detector="9c1e-log-cleared", technique="T1070.001", title="Security log cleared", severity="high",
            confidence=0.9, start=T(10, 5), end=T(10, 5), hosts=["FS01.corp.local"], users=["alice"],
            metrics={"rule": {"id": "9c1e-log-cleared", "techniques": ["T1070.001"]}},
            evidence=[Ref("Security.evtx", 200)], summary="The Security log was cleared on FS01.corp.local",
            key="Security.evtx:200",
        ),
        # elsewhere: a log cleared on a workstation nobody in the chain touched
        Finding(
            detector="9c1e-log-cleared", technique="T1070.001", title="Security log cleared", severity="high",
            confidence=0.9, start=T(11, 0), end=T(11, 0), hosts=["WS99"], users=["helpdesk"],
            metrics={"rule": {"id": "9c1e-log-cleared", "techniques": ["T1070.001"]}},
            evidence=[Ref("ws99.evtx", 1)], summary=f"The Security log was cleared on WS99 by {ESCAPE}",
            key="ws99.evtx:1",
        ),
        # a brute force on root from one address that got nowhere
        Finding(
            detector="brute_force", technique="T1110.001", title="Brute force against one account",
            severity="medium", confidence=0.8, start=T(5, 0), end=T(5, 9), users=["root", FORMULA],
            src_ips=["192.0.2.50"], hosts=["jump01"], evidence=[Ref("auth.log", n) for n in range(1, 5)],
            summary=f"40 failed sign-ins against account {FORMULA} from 1 IP(s) in 9 min", key="root|1",
        ),
    ]  # fmt: skip


def mail_doc() -> dict[str, Any]:
    """What ``shoreup mail --json`` prints (shoreup.mail/1), with one phish to alice and one clean message."""
    return {
        "schema": "shoreup.mail/1",
        "messages": [
            {
                "path": "mail/invoice.eml", "position": "", "message_id": "<a1@evil-login.example>",
                "from": "IT Service Desk <helpdesk@evil-login.example>", "subject": "Password expires today " + XSS,
                "verdict": "phishing", "score": 9.5, "reasons": [{"code": "lookalike_domain", "detail": "…"}],
                "recipients": ["alice@corp.example", "dave@corp.example"],
                "indicators": {"urls": ["https://evil-login.example/reset?u=alice"],
                               "domains": ["evil-login.example", "storage.googleapis.com", "corp.example"],
                               "attachments": []},
                "notes": [], "date": "2026-03-03T08:05:00Z",
            },
            {
                "path": "mail/lunch.eml", "position": "", "message_id": "<b2@corp.example>",
                "from": "Bob <bob@corp.example>", "subject": "Lunch", "verdict": "clean", "score": 0.0,
                "reasons": [], "recipients": ["alice@corp.example"],
                "indicators": {"urls": [], "domains": ["corp.example"], "attachments": []}, "notes": [],
            },
        ],
    }  # fmt: skip
