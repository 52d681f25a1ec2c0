"""Writes the Windows side — domain controller, file server, Sysmon — as evtx_dump JSON lines.

Each line is one record the way ``evtx_dump -o jsonl`` renders it: ``{"Event": {"#attributes": …,
"System": {"Provider": {"#attributes": {"Name": …}}, "EventID": …, "TimeCreated": {"#attributes":
{"SystemTime": …}}, "EventRecordID": …, "Channel": …, "Computer": …}, "EventData": {…}}}``; log-clear
events carry ``UserData/LogFileCleared``. Record ids run per (computer, channel), in time order.

Reference: Microsoft "Audit logon events" (4624, 4625, 4648, 4672), "Audit Kerberos authentication
service" (4768, 4771), "Audit credential validation" (4776), 1102 / 104 log cleared, Sysmon event 1.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any, Final

from shoreup.simulate.model import Attempt, HostEvent, Org, hex_id, uuid
from shoreup.simulate.scenarios import DC01, fqdn

_XMLNS: Final = "http://schemas.microsoft.com/win/2004/08/events/event"
_SECURITY: Final = ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}")
_EVENTLOG: Final = ("Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}")
_SYSMON: Final = ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
_SYSMON_CHANNEL: Final = "Microsoft-Windows-Sysmon/Operational"
_AUDIT_SUCCESS: Final = "0x8020000000000000"
_AUDIT_FAILURE: Final = "0x8010000000000000"
# (Task, Version) of each Security event id.
_TASKS: Final = {4624: (12544, 2), 4625: (12544, 0), 4648: (12544, 0), 4672: (12548, 0), 4768: (14339, 0),
                 4771: (14339, 0), 4776: (14336, 0)}


class _Writer:
    def __init__(self, org: Org, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.dc = fqdn(org, DC01)
        self.realm = org.ad_domain.upper()
        self.domain_sid = f"S-1-5-21-{rng.randint(10**9, 4 * 10**9)}-{rng.randint(10**9, 4 * 10**9)}-" \
                          f"{rng.randint(10**8, 4 * 10**9)}"
        accounts = [*org.users, *org.service_accounts]
        self.rids = {u: 1104 + n for n, u in enumerate(accounts)}
        self.rows: list[tuple[dt.datetime, int, str, str, dict[str, Any]]] = []

    def sid(self, user: str) -> str:
        return f"{self.domain_sid}-{self.rids.get(user, 500)}"

    def logon_id(self) -> str:
        return f"0x{self.rng.randint(0x100000, 0xFFFFFFF):x}"

    def add(self, t: dt.datetime, computer: str, channel: str, provider: tuple[str, str], eid: int,
            data: dict[str, Any], keywords: str = _AUDIT_SUCCESS, user_data: bool = False) -> None:
        task, version = _TASKS.get(eid, (0, 0))
        level = 4 if provider is not _SECURITY else 0
        if provider is _SYSMON:
            task, version, keywords = 1, 5, "0x8000000000000000"
        if provider is _EVENTLOG:
            task, version, keywords = (104, 0, "0x4020000000000000") if eid == 1102 else (104, 0, "0x8000000000000000")
        system: dict[str, Any] = {
            "Provider": {"#attributes": {"Name": provider[0], "Guid": provider[1]}},
            "EventID": eid,
            "Version": version,
            "Level": level,
            "Task": task,
            "Opcode": 0,
            "Keywords": keywords,
            "TimeCreated": {"#attributes": {"SystemTime": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
            "EventRecordID": 0,
            "Correlation": None,
            "Execution": {"#attributes": {"ProcessID": 4 if provider is _SYSMON else 672,
                                          "ThreadID": self.rng.randint(700, 9000)}},
            "Channel": channel,
            "Computer": computer,
            "Security": None,
        }
        event: dict[str, Any] = {"#attributes": {"xmlns": _XMLNS}, "System": system}
        if user_data:
            event["UserData"] = {"LogFileCleared": {
                "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/windows/eventlog"}, **data}}
        else:
            event["EventData"] = data
        self.rows.append((t, len(self.rows), computer, channel, {"Event": event}))

    # --- sign-ins ------------------------------------------------------------------------------

    def attempt(self, a: Attempt) -> None:
        org = self.org
        t = a.time
        port = str(a.port or self.rng.randint(49152, 65535))
        ok = a.outcome == "success"
        if a.method == "kerberos":
            if ok or a.reason == "unknown_user":
                status = "0x0" if ok else "0x6"
                self.add(t, self.dc, "Security", _SECURITY, 4768, {
                    "TargetUserName": a.user, "TargetDomainName": self.realm,
                    "TargetSid": self.sid(a.user) if ok else "S-1-0-0", "ServiceName": "krbtgt",
                    "ServiceSid": f"{self.domain_sid}-502", "TicketOptions": "0x40810010", "Status": status,
                    "TicketEncryptionType": "0x12" if ok else "0xffffffff", "PreAuthType": "2" if ok else "-",
                    "IpAddress": f"::ffff:{a.ip}", "IpPort": port, "CertIssuerName": "", "CertSerialNumber": "",
                    "CertThumbprint": ""}, _AUDIT_SUCCESS if ok else _AUDIT_FAILURE)
            else:
                self.add(t, self.dc, "Security", _SECURITY, 4771, {
                    "TargetUserName": a.user, "TargetSid": self.sid(a.user),
                    "ServiceName": f"krbtgt/{self.realm}", "TicketOptions": "0x40810010",
                    "Status": "0x18" if a.reason == "bad_password" else "0x12", "PreAuthType": "2",
                    "IpAddress": f"::ffff:{a.ip}", "IpPort": port, "CertIssuerName": "", "CertSerialNumber": "",
                    "CertThumbprint": ""}, _AUDIT_FAILURE)
                return
        else:  # NTLM: the DC validates, the server logs the logon
            status = "0x0" if ok else {"unknown_user": "0xc0000064", "locked": "0xc0000234"}.get(a.reason or "",
                                                                                               "0xc000006a")
            self.add(t, self.dc, "Security", _SECURITY, 4776, {
                "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0", "TargetUserName": a.user,
                "Workstation": a.client, "Status": status}, _AUDIT_SUCCESS if ok else _AUDIT_FAILURE)
        if not a.host or (not ok and a.method == "kerberos"):
            return
        later = t + dt.timedelta(milliseconds=self.rng.randint(20, 400))
        common = {
            "SubjectUserSid": "S-1-0-0" if a.logon_type == 3 else "S-1-5-18",
            "SubjectUserName": "-" if a.logon_type == 3 else a.host.split(".")[0] + "$",
            "SubjectDomainName": "-" if a.logon_type == 3 else org.netbios,
            "SubjectLogonId": "0x0" if a.logon_type == 3 else "0x3e7",
        }
        package = "Kerberos" if a.method == "kerberos" else "NTLM"
        logon_process = "Kerberos" if a.method == "kerberos" else "NtLmSsp "
        if a.logon_type == 10:  # RDP: winlogon signs the user in through Negotiate
            package, logon_process = "Negotiate", "User32 "
        if ok:
            self.add(later, a.host, "Security", _SECURITY, 4624, {
                **common,
                "TargetUserSid": self.sid(a.user), "TargetUserName": a.user, "TargetDomainName": org.netbios,
                "TargetLogonId": self.logon_id(), "LogonType": str(a.logon_type),
                "LogonProcessName": logon_process, "AuthenticationPackageName": package,
                "WorkstationName": a.client if a.method != "kerberos" or a.logon_type == 10 else "-",
                "LogonGuid": "{" + uuid(self.rng) + "}" if a.method == "kerberos" else
                "{00000000-0000-0000-0000-000000000000}",
                "TransmittedServices": "-", "LmPackageName": "NTLM V2" if package == "NTLM" else "-",
                "KeyLength": "128" if package == "NTLM" else "0",
                "ProcessId": "0x0" if a.logon_type == 3 else "0x3a4",
                "ProcessName": "-" if a.logon_type == 3 else "C:\\Windows\\System32\\svchost.exe",
                "IpAddress": a.ip, "IpPort": port,
                "ImpersonationLevel": "%%1833", "RestrictedAdminMode": "%%1843" if a.logon_type == 10 else "-",
                "TargetOutboundUserName": "-", "TargetOutboundDomainName": "-", "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0", "ElevatedToken": "%%1842"})
        else:
            self.add(later, a.host, "Security", _SECURITY, 4625, {
                **common,
                "TargetUserSid": "S-1-0-0", "TargetUserName": a.user, "TargetDomainName": org.netbios,
                "Status": "0xc000006d", "FailureReason": "%%2313",
                "SubStatus": {"unknown_user": "0xc0000064"}.get(a.reason or "", "0xc000006a"),
                "LogonType": str(a.logon_type), "LogonProcessName": logon_process,
                "AuthenticationPackageName": package, "WorkstationName": a.client, "TransmittedServices": "-",
                "LmPackageName": "-", "KeyLength": "0", "ProcessId": "0x0", "ProcessName": "-",
                "IpAddress": a.ip, "IpPort": port}, _AUDIT_FAILURE)

    # --- host activity -------------------------------------------------------------------------

    def host_event(self, e: HostEvent) -> None:
        subject = {"SubjectUserSid": self.sid(e.user) if e.user in self.rids else "S-1-5-18",
                   "SubjectUserName": e.user, "SubjectDomainName": e.domain, "SubjectLogonId": self.logon_id()}
        if e.kind == "process":
            pid = self.rng.randint(1000, 15000)
            self.add(e.time, e.host, _SYSMON_CHANNEL, _SYSMON, 1, {
                "RuleName": "-", "UtcTime": e.time.strftime("%Y-%m-%d %H:%M:%S.") + f"{e.time.microsecond // 1000:03d}",
                "ProcessGuid": "{" + uuid(self.rng) + "}", "ProcessId": str(pid), "Image": e.image,
                "FileVersion": "10.0.20348.1 (WinBuild.160101.0800)", "Description": e.image.rsplit("\\", 1)[-1],
                "Product": "Microsoft® Windows® Operating System", "Company": "Microsoft Corporation",
                "OriginalFileName": e.image.rsplit("\\", 1)[-1].upper() if "Windows" in e.image else "-",
                "CommandLine": e.command_line, "CurrentDirectory": "C:\\Windows\\system32\\",
                "User": f"{e.domain}\\{e.user}", "LogonGuid": "{" + uuid(self.rng) + "}",
                "LogonId": self.logon_id(), "TerminalSessionId": "2" if e.domain == self.org.netbios else "0",
                "IntegrityLevel": "High" if e.user != "SYSTEM" else "System",
                "Hashes": f"SHA256={hex_id(self.rng, 64).upper()}",
                "ParentProcessGuid": "{" + uuid(self.rng) + "}", "ParentProcessId": str(self.rng.randint(500, 15000)),
                "ParentImage": e.parent_image, "ParentCommandLine": e.parent_command_line or "-",
                "ParentUser": f"{e.domain}\\{e.user}"})
        elif e.kind == "special_privileges":
            self.add(e.time, e.host, "Security", _SECURITY, 4672, {
                **subject, "PrivilegeList": "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege"
                "\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeDebugPrivilege\n\t\t\tSeSystemEnvironmentPrivilege"
                "\n\t\t\tSeLoadDriverPrivilege\n\t\t\tSeImpersonatePrivilege"})
        elif e.kind == "explicit_credentials":
            self.add(e.time, e.host, "Security", _SECURITY, 4648, {
                **subject, "LogonGuid": "{00000000-0000-0000-0000-000000000000}", "TargetUserName": e.user,
                "TargetDomainName": e.domain, "TargetLogonGuid": "{00000000-0000-0000-0000-000000000000}",
                "TargetServerName": e.command_line, "TargetInfo": e.command_line, "ProcessId": "0x4",
                "ProcessName": "-", "IpAddress": "-", "IpPort": "-"})
        elif e.kind == "security_log_cleared":
            self.add(e.time, e.host, "Security", _EVENTLOG, 1102, subject, user_data=True)
        elif e.kind == "system_log_cleared":
            self.add(e.time, e.host, "System", _EVENTLOG, 104, {
                "SubjectUserName": e.user, "SubjectDomainName": e.domain, "Channel": "System", "BackupPath": ""},
                user_data=True)
        else:
            raise ValueError(f"unknown host event kind {e.kind!r}")

    def write(self, path: Path) -> int:
        self.rows.sort(key=lambda r: (r[0], r[1]))
        next_id: dict[tuple[str, str], int] = {}
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for _, _, computer, channel, event in self.rows:
                key = (computer, channel)
                next_id[key] = next_id.get(key, 1000 + 37 * len(next_id)) + 1
                event["Event"]["System"]["EventRecordID"] = next_id[key]
                f.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
        return len(self.rows)


def write(path: Path, attempts: list[Attempt], events: list[HostEvent], org: Org, rng: random.Random) -> int:
    """Write every record in time order; returns the number of records."""
    w = _Writer(org, rng)
    for a in sorted(attempts, key=lambda a: (a.time, a.user, a.ip)):
        w.attempt(a)
    for e in sorted(events, key=lambda e: (e.time, e.host, e.kind, e.command_line)):
        w.host_event(e)
    return w.write(path)
