"""Hand-made ``auth`` rows and a hunt over them, shared by the credential detector tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from shoreup import detect
from shoreup.engine.duckdb import Store
from shoreup.findings import Finding
from shoreup.schema import AUTH

T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
HOUR, DAY = 3600.0, 86400.0

Row = dict[str, Any]
Make = Callable[[], list[Row]]

_seq = [0]


def ev(sec: float, user: str | None, ip: str | None, outcome: str = "failure", reason: str | None = "bad_password",
       **extra: Any) -> Row:
    """One auth row ``sec`` seconds after T0; failures default to a wrong password."""
    _seq[0] += 1
    row: Row = {"time": T0 + dt.timedelta(seconds=sec), "host": "idp", "source_format": "test", "ref_file": "f",
                "ref_record": _seq[0], "user": user, "src_ip": ip, "outcome": outcome,
                "reason": reason if outcome != "success" else None, "method": "password"}
    row.update(extra)
    return row


def ok(sec: float, user: str, ip: str, **extra: Any) -> Row:
    return ev(sec, user, ip, "success", None, **extra)


def hunt(name: str, events: list[Row]) -> list[Finding]:
    """Run one detector, with its defaults, over the rows."""
    module = detect.load(name)
    with Store() as store:
        rows = [{f.name: e.get(f.name) for f in AUTH} for e in events]
        if rows:
            store.append("auth", pa.RecordBatch.from_pylist(rows, schema=AUTH))
        found: list[Finding] = module.detect(store.con, module.Params())
        return found


def check(finding: Finding, expect: dict[str, Any]) -> None:
    """Every expected key matches the finding's JSON field or metric (``users_include`` … for subsets)."""
    f = finding.to_json()
    for k, v in expect.items():
        if k.endswith("_include"):
            assert set(v) <= set(f[k.removesuffix("_include")]), (k, f[k.removesuffix("_include")])
        elif k.endswith("_min"):
            key = k.removesuffix("_min")
            assert (f[key] if key in f else f["metrics"][key]) >= v, (k, f)
        else:
            assert (f[k] if k in f else f["metrics"][k]) == v, (k, f.get(k, f["metrics"].get(k)))
    assert f["evidence"], "a finding points at its evidence"


# --- The tenant's ordinary life: the hard negatives every detector must stay quiet on. -----------

def users(n: int) -> list[str]:
    return [f"user{i:03d}" for i in range(n)]


def home(i: int) -> str:
    return f"100.{64 + i // 250}.{i % 250}.{10 + i % 7}"


def normal_days(n_users: int = 60, days: int = 3, mfa: bool = True) -> list[Row]:
    """Each person signs in once or twice a day from home with their own browser; a few typos first."""
    out: list[Row] = []
    for d in range(days):
        for i, u in enumerate(users(n_users)):
            t = d * DAY + 8 * HOUR + (i * 397) % (9 * HOUR)
            kw: dict[str, Any] = {"user_agent": f"Browser/{i % 5}", "country": "US", "asn": 7922, "mfa_used": mfa}
            if (i + d) % 9 == 0:  # a typo, then the right password
                out.append(ev(t - 20, u, home(i), **kw))
            out.append(ok(t, u, home(i), **kw))
    return out


def nat_egress(n_users: int = 300, days: int = 2) -> list[Row]:
    """A corporate NAT / VPN egress: hundreds of people, a trickle of typos, some never followed by success."""
    out: list[Row] = []
    for d in range(days):
        for i, u in enumerate(users(n_users)):
            t = d * DAY + 8 * HOUR + (i * 113) % (2 * HOUR)
            if i % 10 == 0:
                out.append(ev(t - 15, u, "198.51.100.1"))
            out.append(ok(t, u, "198.51.100.1"))
        for k in range(6):  # people who typo and give up (they try again from home later)
            out.append(ev(d * DAY + 12 * HOUR + k * 600, f"user{(k * 37 + d) % n_users:03d}", "198.51.100.1"))
    return out


def typos_then_success() -> list[Row]:
    return [ev(0, "dave", "203.0.113.2"), ev(6, "dave", "203.0.113.2"), ev(11, "dave", "203.0.113.2"),
            ok(15, "dave", "203.0.113.2")]


def stale_device(days: int = 3) -> list[Row]:
    """A phone with an old password retries every 15 minutes for days, from the owner's usual addresses."""
    out = [ok(0, "erin", "100.70.0.5", user_agent="Mail/1")]
    for k in range(int(days * 96)):
        out.append(ev(600 + k * 900, "erin", "100.70.0.5" if k % 3 else "172.58.0.9", user_agent="Mail/1"))
    return out


def service_account(days: int = 2) -> list[Row]:
    """A service account signing in every few minutes, all day."""
    return [ok(k * 180, "svc-backup", "10.0.0.5", method="password", mfa_used=None) for k in range(int(days * 480))]


def travel() -> list[Row]:
    """A person at home for two days, then abroad with their own laptop (new network and country)."""
    out = [ok(d * DAY + 9 * HOUR, "frank", "100.71.0.8", user_agent="Browser/2", country="US", asn=7922,
              mfa_used=True) for d in range(2)]
    out.append(ok(2 * DAY + 20 * HOUR, "frank", "81.2.69.160", user_agent="Browser/2", country="GB", asn=5089,
                  mfa_used=True))
    return out


HARD_NEGATIVES: list[tuple[str, Make]] = [
    ("ordinary days with typos", normal_days),
    ("NAT / VPN egress with a trickle of typos", nat_egress),
    ("typos then success", typos_then_success),
    ("stale password on a device for days", stale_device),
    ("service account every few minutes", service_account),
    ("legitimate travel", travel),
    ("nothing at all", list),
]


# --- Attacks. -----------------------------------------------------------------------------------

def proxy(k: int) -> str:
    return f"45.{130 + k // 250}.{k % 250}.{1 + k % 200}"


def spray_one_ip(n: int = 50, gap: float = 20.0, at: float = 2 * DAY + 3 * HOUR, ip: str = "203.0.113.9",
                 start_user: int = 0) -> list[Row]:
    return [ev(at + k * gap, f"user{start_user + k:03d}", ip, user_agent="python-requests/2.31") for k in range(n)]


def distributed(n_ips: int = 300, tries: int = 2, n_users: int = 150, hours: float = 6.0,
                at: float = 2 * DAY + 2 * HOUR, ua: str = "Mozilla/5.0 (X11) Spray/1", unknown: bool = False) -> list[Row]:
    """``n_ips`` proxies, ``tries`` each, walking one username list once or twice, over ``hours``."""
    out: list[Row] = []
    total = n_ips * tries
    for k in range(total):
        ip = proxy(k % n_ips)
        user = f"leak{k % n_users:04d}" if unknown else f"user{k % n_users:03d}"
        out.append(ev(at + k * hours * HOUR / total, user, ip, reason="unknown_user" if unknown else "bad_password",
                      user_agent=ua, asn=9009, country="NL"))
    return out


def daily_distributed(days: int = 7, n_users: int = 60, at: float = 8 * DAY) -> list[Row]:
    """One try per account per day for a week, every try from another proxy."""
    out: list[Row] = []
    for d in range(days):
        for k in range(n_users):
            out.append(ev(at + d * DAY + k * (DAY / n_users) * 0.9, f"user{k:03d}", proxy(d * n_users + k),
                          user_agent="Mozilla/5.0 Spray/2", asn=9009, country="NL"))
    return out


def scanners(days: int = 3, per_day: int = 30) -> list[Row]:
    """Internet background: IPs that try a service name or two and leave."""
    names = ["root", "admin", "test", "oracle", "postgres", "ubuntu", "pi", "git", "guest", "user", "ftp", "mysql",
             "deploy", "jenkins", "support", "backup", "nagios", "hadoop", "docker", "ansible"]
    out: list[Row] = []
    for d in range(days):
        for k in range(per_day):
            ip = f"61.{d}.{k}.{7 + k % 50}"
            t = d * DAY + k * DAY / per_day
            for j in range(1 + k % 3):
                name = names[(k * 7 + j * 3 + d) % len(names)]
                out.append(ev(t + j * 9, name, ip, reason="bad_password" if name == "root" else "unknown_user"))
    return out
