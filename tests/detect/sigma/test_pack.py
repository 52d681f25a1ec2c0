"""shoreup's own rule pack: for every rule a case that fires and one that stays silent."""

from __future__ import annotations

from typing import Any

import pytest
from sigma_rawload import raw_con

from shoreup.detect.sigma import Params, check, run
from shoreup.detect.sigma.loader import BUILTIN_DIR, LoadedCorrelation, LoadedRule, load

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def proc(cmd: str, image: str = "C:\\Windows\\System32\\cmd.exe", **kw: Any) -> list[dict[str, Any]]:
    return [{"fields": {"EventID": 1, "Channel": SYSMON, "CommandLine": cmd, "Image": image, **kw}}]


def sysmon(eid: int, **kw: Any) -> list[dict[str, Any]]:
    return [{"fields": {"EventID": eid, "Channel": SYSMON, **kw}}]


def win(channel: str, eid: int, provider: str = "", **kw: Any) -> list[dict[str, Any]]:
    return [{"fields": {"EventID": eid, "Channel": channel, "Provider_Name": provider, **kw}}]


def burst(make: Any, n: int, every: float) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ev = make(i)
        ev["time"] = i * every
        out.append(ev)
    return out


def deleted(i: int, image: str = "C:\\Users\\x\\wipe.exe") -> dict[str, Any]:
    return {"fields": {"EventID": 23, "Channel": SYSMON, "Computer": "ws01", "Image": image, "TargetFilename": f"C:\\d\\{i}.doc"}}


def access(i: int, obj: str = "") -> dict[str, Any]:
    return {
        "fields": {
            "EventID": 4663, "Channel": "Security", "Computer": "ws01", "ObjectType": "File", "AccessMask": "0x10000",
            "ProcessName": "C:\\x\\w.exe", "ObjectName": obj or f"C:\\d\\{i}.doc",
        }
    }


def sec(eid: int, **kw: Any) -> dict[str, Any]:
    return {"fields": {"EventID": eid, "Channel": "Security", **kw}}


# title -> (events that must fire it, events that must not)
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
    "Shadow Copies Deleted or Shrunk": (
        proc("vssadmin.exe delete shadows /all /quiet") + proc("wmic shadowcopy delete")
        + proc("powershell Get-WmiObject Win32_ShadowCopy | Remove-WmiObject"),
        proc("vssadmin.exe create shadow /for=C:") + proc("vssadmin list shadows"),
    ),
    "Shadow Copies Deleted from a PowerShell Script": (
        win("Microsoft-Windows-PowerShell/Operational", 4104, ScriptBlockText="Get-WmiObject Win32_ShadowCopy | % { $_.Delete() }"),
        win("Microsoft-Windows-PowerShell/Operational", 4104, ScriptBlockText="Get-WmiObject Win32_ShadowCopy"),
    ),
    "Windows Backup Catalog or Backups Deleted": (
        proc("wbadmin.exe delete catalog -quiet", "C:\\Windows\\System32\\wbadmin.exe"),
        proc("wbadmin.exe get versions", "C:\\Windows\\System32\\wbadmin.exe"),
    ),
    "Boot Recovery Disabled": (
        proc("bcdedit.exe /set {default} recoveryenabled no") + proc("reagentc.exe /disable"),
        proc("bcdedit.exe /enum") + proc("reagentc /info"),
    ),
    "Secure Deletion Tool Run (SDelete, cipher /w)": (
        proc('cmd.exe /c "sdelete.exe C:\\some\\file.txt"') + proc("cipher.exe /w:C:\\"),
        proc("cipher.exe /e secret") + proc("notepad sdeleted-notes.txt"),
    ),
    "Volume Formatted from the Command Line": (
        proc("format.com D: /q /y", "C:\\Windows\\System32\\format.com"),
        proc("format-table Name", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
    ),
    "NTFS USN Journal Deleted": (
        proc("fsutil usn deletejournal /d C:"),
        proc("fsutil usn queryjournal C:"),
    ),
    "Raw Disk Read by an Unusual Process": (
        sysmon(9, Image="C:\\Users\\x\\AppData\\Local\\Temp\\w.exe", Device="\\Device\\Harddisk0\\DR0"),
        sysmon(9, Image="C:\\Windows\\System32\\svchost.exe", Device="\\Device\\HarddiskVolume2")
        + sysmon(9, Image="System", Device="\\Device\\HarddiskVolume1"),
    ),
    "Raw Disk Driver Abused by Wipers Loaded": (
        sysmon(6, ImageLoaded="C:\\Windows\\System32\\drivers\\epmntdrv.sys", Signature="x"),
        sysmon(6, ImageLoaded="C:\\Windows\\System32\\drivers\\disk.sys", Signature="Microsoft Windows"),
    ),
    "Service Installed for a Raw Disk Driver Abused by Wipers": (
        win("System", 7045, "Service Control Manager", ServiceName="x", ImagePath="C:\\Windows\\elrawdsk.sys"),
        win("System", 7045, "Service Control Manager", ServiceName="x", ImagePath="C:\\Windows\\ok.sys"),
    ),
    "Kernel Driver Service Installed from a User-Writable Folder": (
        win("System", 7045, "Service Control Manager", ServiceType="kernel mode driver", ImagePath="C:\\Users\\x\\AppData\\d.sys"),
        win("System", 7045, "Service Control Manager", ServiceType="kernel mode driver", ImagePath="C:\\Windows\\System32\\drivers\\d.sys"),
    ),
    "Crash Dumps Disabled": (
        sysmon(13, TargetObject="HKLM\\System\\CurrentControlSet\\Control\\CrashControl\\CrashDumpEnabled", Details="DWORD (0x00000000)"),
        sysmon(13, TargetObject="HKLM\\System\\CurrentControlSet\\Control\\CrashControl\\CrashDumpEnabled", Details="DWORD (0x00000007)"),
    ),
    "Crash Dumps Disabled from the Command Line": (
        proc("reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\CrashControl /v CrashDumpEnabled /t REG_DWORD /d 0 /f"),
        proc("reg add HKLM\\SYSTEM\\CurrentControlSet\\Control\\CrashControl /v CrashDumpEnabled /t REG_DWORD /d 7 /f"),
    ),
    "Security Event Log Cleared": (
        win("Security", 1102, "Microsoft-Windows-Eventlog", SubjectUserName="bob"),
        win("Security", 1100, "Microsoft-Windows-Eventlog"),
    ),
    "Event Log Cleared (System 104)": (
        win("System", 104, "Microsoft-Windows-Eventlog"),
        win("System", 104, "Some-Other-Provider"),
    ),
    "Event Log Cleared from the Command Line": (
        proc("wevtutil.exe cl Security", "C:\\Windows\\System32\\wevtutil.exe") + proc("powershell Clear-EventLog -LogName System"),
        proc("wevtutil.exe qe Security", "C:\\Windows\\System32\\wevtutil.exe"),
    ),
    "Event Log Cleared from a PowerShell Script": (
        win("Microsoft-Windows-PowerShell/Operational", 4104, ScriptBlockText="Clear-EventLog -LogName Security"),
        win("Microsoft-Windows-PowerShell/Operational", 4104, ScriptBlockText="Get-EventLog -LogName Security"),
    ),
    "Audit Policy Cleared or Disabled with auditpol": (
        proc("auditpol.exe /clear /y", "C:\\Windows\\System32\\auditpol.exe")
        + proc("auditpol /set /category:* /success:disable /failure:disable", "C:\\Windows\\System32\\auditpol.exe"),
        proc("auditpol.exe /get /category:*", "C:\\Windows\\System32\\auditpol.exe"),
    ),
    "System Audit Policy Changed to Stop Auditing (4719)": (
        win("Security", 4719, AuditPolicyChanges="%%8448, %%8450"),
        win("Security", 4719, AuditPolicyChanges="%%8449"),
    ),
    "Burst of File Deletions by One Process": (
        burst(deleted, 150, 0.2),  # 150 deletions in 30 s
        burst(deleted, 150, 2.0),  # 150 deletions over 5 minutes: at most 30 per minute
    ),
    "Burst of File Deletions or Renames by One Process (4663)": (
        burst(access, 120, 0.1),
        burst(lambda i: access(i, "C:\\d\\same.doc"), 300, 0.1),  # one file touched many times
    ),
    "Password Spraying from One Source (4625)": (
        burst(lambda i: sec(4625, TargetUserName=f"user{i}", IpAddress="203.0.113.5"), 12, 60),
        burst(lambda i: sec(4625, TargetUserName=f"user{i}", IpAddress="203.0.113.5"), 12, 600),
    ),
    "Brute Force on One Account (4625)": (
        burst(lambda i: sec(4625, TargetUserName="admin", TargetDomainName="CORP"), 25, 5),
        burst(lambda i: sec(4625, TargetUserName="admin", TargetDomainName="CORP"), 25, 60),
    ),
    "Kerberos Password Spraying (4771)": (
        burst(lambda i: sec(4771, TargetUserName=f"u{i}", IpAddress="172.16.66.1", Status="0x18"), 3, 1),
        burst(lambda i: sec(4771, TargetUserName="u1", IpAddress="172.16.66.1", Status="0x18"), 3, 1),
    ),
    "NTLM Password Spraying from One Workstation (4776)": (
        burst(lambda i: sec(4776, TargetUserName=f"u{i}", Workstation="EVIL", Status="0xc000006a"), 12, 10),
        burst(lambda i: sec(4776, TargetUserName=f"u{i}", Workstation="EVIL", Status="0x0"), 12, 10),
    ),
    "Kerberos User Enumeration (4768)": (
        burst(lambda i: sec(4768, TargetUserName=f"guess{i}", IpAddress="10.0.0.9", Status="0x6"), 15, 5),
        burst(lambda i: sec(4768, TargetUserName=f"guess{i}", IpAddress="10.0.0.9", Status="0x0"), 15, 5),
    ),
}


def _titles() -> dict[str, str]:
    rs = load([BUILTIN_DIR])
    assert not rs.skipped, rs.skipped
    loaded: list[LoadedRule | LoadedCorrelation] = [*rs.rules, *rs.correlations]
    return {x.meta.title: x.meta.id for x in loaded if x.output}


def test_every_pack_rule_has_cases() -> None:
    assert set(_titles()) == set(CASES)


@pytest.mark.parametrize("title", sorted(CASES))
def test_pack_rule_fires_and_stays_silent(title: str) -> None:
    fires, silent = CASES[title]
    rid = _titles()[title]
    hits = [f for f in run(raw_con(fires), Params()).findings if f.detector == rid]
    assert hits, f"{title} did not fire"
    quiet = [f for f in run(raw_con(silent), Params()).findings if f.detector == rid]
    assert not quiet, f"{title} fired on its silent case: {quiet[0].summary}"


def test_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    import json

    (tmp_path / "bad.yml").write_text("title: x\nlogsource: {product: windows}\ndetection: {condition: nope}\n")
    assert check([str(BUILTIN_DIR), str(tmp_path)], json_out=True) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["loaded"] == len(_titles()) + 6  # the base rules of the seven correlations (4625 serves two)
    assert [s["path"] for s in doc["skipped"]] == [str(tmp_path / "bad.yml")] and doc["skipped"][0]["reason"]
    assert check([str(tmp_path / "missing")], json_out=False) == 2
