"""Plain lists for the people who act: a blocklist for firewalls, an account list for identity admins."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from shoreup.incidents import ACTION_KINDS, Incident, hostile_networks
from shoreup.report.text import csv_cell, safe

#: Actions that name accounts (or mailboxes) rather than networks or hosts.
ACCOUNT_ACTIONS = ("reset_password", "revoke_sessions", "enforce_mfa", "purge_mail")
ACCOUNT_COLUMNS = ("account", "action", "why")


def blocklist(incidents: Sequence[Incident]) -> list[str]:
    """Every network to block, as IPs and CIDRs: a CIDR only where its whole range attacked."""
    return hostile_networks(t for i in incidents for a in i.actions if a.kind == "block_network" for t in a.targets)


def blocklist_text(incidents: Sequence[Incident]) -> str:
    """One address or CIDR per line, IPv4 then IPv6, in address order; nothing else."""
    return "".join(f"{n}\n" for n in blocklist(incidents))


@dataclass(frozen=True)
class AccountAction:
    """One line of the account list."""

    account: str
    action: str
    why: str


def account_actions(incidents: Sequence[Incident]) -> list[AccountAction]:
    """One line per account and action; the reasons of several incidents are joined."""
    whys: dict[tuple[str, str], list[str]] = {}
    for inc in sorted(incidents, key=lambda i: i.id):
        for a in inc.actions:
            if a.kind not in ACCOUNT_ACTIONS:
                continue
            for account in a.targets:
                reasons = whys.setdefault((account, a.kind), [])
                line = f"{a.why} [{inc.id}]"
                if line not in reasons:
                    reasons.append(line)
    rows = [AccountAction(acc, kind, "; ".join(r)) for (acc, kind), r in whys.items()]
    return sorted(rows, key=lambda r: (r.account, ACTION_KINDS.index(r.action)))


def accounts_csv(incidents: Sequence[Incident]) -> str:
    """CSV with the header ``account,action,why``; no cell is read as a spreadsheet formula."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(ACCOUNT_COLUMNS)
    for r in account_actions(incidents):
        w.writerow([csv_cell(safe(r.account, 1000)), r.action, csv_cell(safe(r.why, 4000))])
    return buf.getvalue()
