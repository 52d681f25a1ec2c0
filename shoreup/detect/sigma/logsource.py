"""Where a Sigma ``logsource`` lives in the ``raw`` table, and how its field names map to ours.

A logsource becomes a :class:`Source`: a SQL predicate over the ``raw`` columns (``channel``,
``event_id``, ``provider``, ``source_format``) plus, per field, the keys to read from ``fields``.
Rules that share a source are evaluated together over one extracted table, so the key of a
Source is what groups them.

References: SigmaHQ ``documentation/logsource-guides`` and the pySigma Windows / Sysmon pipelines
(category → Sysmon event id, service → channel), Sigma's taxonomy appendix for the cloud products.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from shoreup.errors import RuleError

SYSMON: Final = "microsoft-windows-sysmon/operational"
PS_OPERATIONAL: Final = "microsoft-windows-powershell/operational"
PS_CLASSIC: Final = "windows powershell"

#: Windows ``service`` → channel names (lower case), as the pySigma Windows pipeline maps them.
WINDOWS_SERVICES: Final[dict[str, tuple[str, ...]]] = {
    "security": ("security",),
    "system": ("system",),
    "application": ("application",),
    "sysmon": (SYSMON,),
    "powershell": (PS_OPERATIONAL,),
    "powershell-classic": (PS_CLASSIC,),
    "taskscheduler": ("microsoft-windows-taskscheduler/operational",),
    "wmi": ("microsoft-windows-wmi-activity/operational",),
    "dns-server": ("dns server",),
    "dns-server-analytic": ("microsoft-windows-dns-server/analytical",),
    "dns-server-audit": ("microsoft-windows-dns-server/audit",),
    "dns-client": ("microsoft-windows-dns client events/operational",),
    "driver-framework": ("microsoft-windows-driverframeworks-usermode/operational",),
    "ntlm": ("microsoft-windows-ntlm/operational",),
    "bits-client": ("microsoft-windows-bits-client/operational",),
    "windefend": ("microsoft-windows-windows defender/operational",),
    "codeintegrity-operational": ("microsoft-windows-codeintegrity/operational",),
    "firewall-as": ("microsoft-windows-windows firewall with advanced security/firewall",),
    "applocker": (
        "microsoft-windows-applocker/msi and script",
        "microsoft-windows-applocker/exe and dll",
        "microsoft-windows-applocker/packaged app-deployment",
        "microsoft-windows-applocker/packaged app-execution",
    ),
    "msexchange-management": ("msexchange management",),
    "printservice-admin": ("microsoft-windows-printservice/admin",),
    "printservice-operational": ("microsoft-windows-printservice/operational",),
    "smbclient-security": ("microsoft-windows-smbclient/security",),
    "smbclient-connectivity": ("microsoft-windows-smbclient/connectivity",),
    "smbserver-connectivity": ("microsoft-windows-smbserver/connectivity",),
    "terminalservices-localsessionmanager": (
        "microsoft-windows-terminalservices-localsessionmanager/operational",
    ),
    "dhcp": ("microsoft-windows-dhcp-server/operational",),
    "openssh": ("openssh/operational",),
    "shell-core": ("microsoft-windows-shell-core/operational",),
    "appxdeployment-server": ("microsoft-windows-appxdeploymentserver/operational",),
    "appxpackaging-om": ("microsoft-windows-appxpackaging/operational",),
    "appmodel-runtime": ("microsoft-windows-appmodel-runtime/admin",),
    "lsa-server": ("microsoft-windows-lsa/operational",),
    "capi2": ("microsoft-windows-capi2/operational",),
    "certificateservicesclient-lifecycle-system": (
        "microsoft-windows-certificateservicesclient-lifecycle-system/operational",
    ),
    "diagnosis-scripted": ("microsoft-windows-diagnosis-scripted/operational",),
    "ldap": ("microsoft-windows-ldap-client/debug",),
    "kernel-shimengine": ("microsoft-windows-kernel-shimengine/operational",),
    "bitlocker": ("microsoft-windows-bitlocker/bitlocker management",),
    "vhdmp": ("microsoft-windows-vhdmp-operational",),
    "security-mitigations": (
        "microsoft-windows-security-mitigations/kernel mode",
        "microsoft-windows-security-mitigations/user mode",
    ),
    "iis-configuration": (
        "microsoft-iis-configuration/operational",
        "microsoft-iis-configuration/administrative",
    ),
    "microsoft-servicebus-client": ("microsoft-servicebus-client",),
    "hyper-v-worker": ("microsoft-windows-hyper-v-worker",),
    "sysmon-status": (SYSMON,),
}

#: Fields of a Security 4688 event under their Sysmon names (process_creation from the Security log).
_SECURITY_4688: Final[dict[str, tuple[str, ...]]] = {
    "Image": ("NewProcessName",),
    "ParentImage": ("ParentProcessName",),
    "ProcessId": ("NewProcessId",),
    "ParentProcessId": ("ProcessId",),
    "User": ("TargetUserName", "SubjectUserName"),
    "LogonId": ("TargetLogonId", "SubjectLogonId"),
    "IntegrityLevel": ("MandatoryLabel",),
}


@dataclass(frozen=True)
class Variant:
    """One kind of event a logsource covers: channel(s) and event ids, with its field renames."""

    channels: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()
    formats: tuple[str, ...] = ()  # source_format / channel names for non-Windows sources
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # Sigma field -> keys in this variant

    def predicate(self) -> str:
        parts: list[str] = []
        if self.channels:
            parts.append(f"lower(channel) IN ({_in_list(self.channels)})")
        if self.event_ids:
            parts.append(f"event_id IN ({', '.join(str(i) for i in self.event_ids)})")
        if self.formats:
            names = _in_list(self.formats)
            parts.append(f"(lower(source_format) IN ({names}) OR lower(channel) IN ({names}))")
        return " AND ".join(parts) if parts else "TRUE"


@dataclass(frozen=True)
class Source:
    """The rows of ``raw`` a logsource covers, and its field-name mapping."""

    key: str  # canonical text; rules with the same key are evaluated together
    variants: tuple[Variant, ...]
    generic: bool = False  # mapped by name only (no reader of ours is known to fill it)
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # fields for every variant

    def predicate(self) -> str:
        return " OR ".join(f"({v.predicate()})" for v in self.variants)

    def keys_for(self, name: str, variant: Variant) -> tuple[str, ...]:
        """The ``fields`` keys to read for Sigma field ``name`` in events of ``variant``, in order."""
        for sigma_name, keys in variant.fields:
            if sigma_name == name:
                return keys
        for sigma_name, keys in self.aliases:
            if sigma_name == name:
                return (name, *keys)
        return (name,)


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _sysmon(*event_ids: int) -> tuple[Variant, ...]:
    return (Variant(channels=(SYSMON,), event_ids=event_ids),)


#: Windows ``category`` → variants (Sysmon event ids unless stated).
WINDOWS_CATEGORIES: Final[dict[str, tuple[Variant, ...]]] = {
    "process_creation": (
        Variant(channels=(SYSMON,), event_ids=(1,)),
        Variant(channels=("security",), event_ids=(4688,), fields=tuple(_SECURITY_4688.items())),
    ),
    "file_change": _sysmon(2),
    "network_connection": _sysmon(3),
    "sysmon_status": _sysmon(4, 16),
    "process_termination": _sysmon(5),
    "driver_load": _sysmon(6),
    "image_load": _sysmon(7),
    "create_remote_thread": _sysmon(8),
    "raw_access_thread": _sysmon(9),
    "process_access": _sysmon(10),
    "file_event": _sysmon(11),
    "registry_add": _sysmon(12),
    "registry_delete": _sysmon(12),
    "registry_set": _sysmon(13),
    "registry_rename": _sysmon(14),
    "registry_event": _sysmon(12, 13, 14),
    "create_stream_hash": _sysmon(15),
    "pipe_created": _sysmon(17, 18),
    "wmi_event": _sysmon(19, 20, 21),
    "dns_query": _sysmon(22),
    "file_delete": _sysmon(23, 26),
    "file_delete_detected": _sysmon(26),
    "clipboard_capture": _sysmon(24),
    "process_tampering": _sysmon(25),
    "file_block_executable": _sysmon(27),
    "file_block_shredding": _sysmon(28),
    "file_executable_detected": _sysmon(29),
    "sysmon_error": _sysmon(255),
    "ps_module": (Variant(channels=(PS_OPERATIONAL,), event_ids=(4103,)),),
    "ps_script": (Variant(channels=(PS_OPERATIONAL,), event_ids=(4104,)),),
    "ps_classic_start": (Variant(channels=(PS_CLASSIC,), event_ids=(400,)),),
    "ps_classic_provider_start": (Variant(channels=(PS_CLASSIC,), event_ids=(600,)),),
    "ps_classic_script": (Variant(channels=(PS_CLASSIC,), event_ids=(800,)),),
    "antivirus": (
        Variant(
            channels=("microsoft-windows-windows defender/operational",),
            event_ids=(1006, 1007, 1008, 1015, 1116, 1117, 1118, 1119),
            fields=(("Signature", ("Threat Name",)), ("Filename", ("Path",))),
        ),
    ),
    # Kernel ETW providers: shoreup reads them when a collector exported them to a channel.
    "file_access": (Variant(channels=("microsoft-windows-kernel-file/analytic",)),),
    "file_rename": (Variant(channels=("microsoft-windows-kernel-file/analytic",)),),
    "dns": (Variant(channels=("microsoft-windows-dns-client/operational",)),),
    "firewall": (Variant(channels=WINDOWS_SERVICES["firewall-as"]),),
}

#: Sysmon for Linux writes Sysmon event ids to syslog under this channel.
LINUX_SYSMON: Final = "linux-sysmon/operational"

LINUX_CATEGORIES: Final[dict[str, tuple[Variant, ...]]] = {
    "process_creation": (
        Variant(channels=(LINUX_SYSMON,), event_ids=(1,)),
        Variant(formats=("auditd",), fields=(("Image", ("exe",)), ("CommandLine", ("proctitle",)))),
    ),
    "network_connection": (Variant(channels=(LINUX_SYSMON,), event_ids=(3,)),),
    "file_event": (Variant(channels=(LINUX_SYSMON,), event_ids=(11,)),),
    "file_delete": (Variant(channels=(LINUX_SYSMON,), event_ids=(23,)),),
    "process_termination": (Variant(channels=(LINUX_SYSMON,), event_ids=(5,)),),
    "raw_access_thread": (Variant(channels=(LINUX_SYSMON,), event_ids=(9,)),),
}

#: Linux services → source_format / channel names (what the syslog readers tag their events with).
LINUX_SERVICES: Final[dict[str, tuple[str, ...]]] = {
    "auditd": ("auditd", "audit"),
    "sshd": ("sshd", "auth", "syslog"),
    "auth": ("auth", "sshd", "syslog"),
    "syslog": ("syslog", "sshd", "auth"),
    "sudo": ("sudo", "auth", "syslog"),
    "cron": ("cron", "syslog"),
    "vsftpd": ("vsftpd",),
    "clamav": ("clamav",),
    "guacamole": ("guacamole",),
}

#: Cloud sources: (product, service) → names of our readers / channels, and Sigma → vendor fields.
CLOUD: Final[dict[tuple[str, str], Variant]] = {
    ("aws", "cloudtrail"): Variant(formats=("cloudtrail", "aws:cloudtrail", "aws_cloudtrail")),
    ("azure", "signinlogs"): Variant(
        formats=("entra", "entra_signin", "entra_signins", "azure:signinlogs", "signinlogs"),
        fields=(
            ("ResultType", ("ResultType", "resultType", "properties.status.errorCode", "status.errorCode")),
            ("ResultDescription", ("ResultDescription", "resultDescription", "properties.status.failureReason")),
            ("Status", ("Status", "properties.status.errorCode", "status.errorCode")),
            ("UserPrincipalName", ("UserPrincipalName", "properties.userPrincipalName", "userPrincipalName")),
            ("IPAddress", ("IPAddress", "callerIpAddress", "properties.ipAddress", "ipAddress")),
            ("AppDisplayName", ("AppDisplayName", "properties.appDisplayName", "appDisplayName")),
            ("ClientAppUsed", ("ClientAppUsed", "properties.clientAppUsed", "clientAppUsed")),
            (
                "AuthenticationRequirement",
                ("AuthenticationRequirement", "properties.authenticationRequirement", "authenticationRequirement"),
            ),
            ("Location", ("Location", "location", "properties.location.countryOrRegion")),
        ),
    ),
    ("okta", "okta"): Variant(
        formats=("okta",),
        fields=(
            ("eventtype", ("eventType",)),
            ("displaymessage", ("displayMessage",)),
            ("eventType", ("eventtype",)),
            ("displayMessage", ("displaymessage",)),
        ),
    ),
}


def resolve(product: str | None, category: str | None, service: str | None) -> Source:
    """The Source of a Sigma logsource; raises RuleError when it cannot be placed."""
    p = (product or "").strip().lower()
    c = (category or "").strip().lower()
    s = (service or "").strip().lower()
    key = f"{p}/{c}/{s}"
    if p == "windows" or (not p and c in WINDOWS_CATEGORIES and not s):
        return _windows(key, c, s)
    if p == "linux":
        if c in LINUX_CATEGORIES and not s:
            return Source(key, LINUX_CATEGORIES[c])
        if s in LINUX_SERVICES and not c:
            return Source(key, (Variant(formats=LINUX_SERVICES[s]),))
    if (p, s) in CLOUD and not c:
        return Source(key, (CLOUD[(p, s)],))
    return _generic(key, p, c, s)


def _windows(key: str, c: str, s: str) -> Source:
    if c and s:
        if c in WINDOWS_CATEGORIES and s in WINDOWS_SERVICES:
            # e.g. category: process_creation + service: sysmon — keep the service's channels
            chans = set(WINDOWS_SERVICES[s])
            variants = tuple(v for v in WINDOWS_CATEGORIES[c] if chans & set(v.channels))
            if variants:
                return Source(key, variants)
        raise RuleError(f"unknown Windows logsource category {c!r} with service {s!r}")
    if c:
        if c not in WINDOWS_CATEGORIES:
            raise RuleError(f"unknown Windows logsource category {c!r}")
        return Source(key, WINDOWS_CATEGORIES[c])
    if s:
        if s not in WINDOWS_SERVICES:
            raise RuleError(f"unknown Windows logsource service {s!r}")
        return Source(key, (Variant(channels=WINDOWS_SERVICES[s]),))
    # product: windows alone — every Windows event (those carry a channel)
    return Source(key, (Variant(formats=(), channels=()),), aliases=())


def _generic(key: str, p: str, c: str, s: str) -> Source:
    """Place a logsource by its names: rows whose source_format or channel is one of them.

    This is how a third-party product (zeek, a proxy, GitHub audit logs …) runs as soon as a
    reader tags its events with the product or service name.
    """
    names: list[str] = []
    if s:
        names += [s, f"{p}:{s}", f"{p}_{s}"] if p else [s]
    if c:
        names += [c, f"{p}:{c}", f"{p}_{c}"] if p else [c]
    if p and not (s or c):
        names.append(p)
    if p and s:
        names.append(p)  # e.g. product github, service audit: a reader named "github"
    if not names:
        raise RuleError("logsource has no product, category or service")
    return Source(key, (Variant(formats=tuple(dict.fromkeys(names))),), generic=True)
