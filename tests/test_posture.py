"""Posture: every number equals the truth computed independently from the simulated files."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from shoreup import pipeline
from shoreup.engine.duckdb import Store
from shoreup.posture import assess
from shoreup.simulate import generate

LEGACY_CLIENTS = {"IMAP4", "POP3", "Authenticated SMTP", "Exchange ActiveSync", "Other clients", "MAPI Over HTTP"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("posture")
    generate(out, seed=21, formats=["entra", "okta", "cloudtrail", "sshd", "windows"])
    with Store() as store:
        pipeline.ingest([str(out)], store)
        findings = pipeline.detect(store, ["brute_force"])
        doc = assess(store.con, findings).to_json()
    return out, doc


def _summary(per_user: dict[str, list[bool]]) -> dict[str, Any]:
    signins = sum(len(v) for v in per_user.values())
    with_mfa = sum(sum(v) for v in per_user.values())
    return {
        "accounts": len(per_user),
        "signins": signins,
        "mfa_signin_share": round(with_mfa / signins, 4) if signins else None,
        "accounts_never_mfa": sorted(u for u, v in per_user.items() if not any(v)),
        "accounts_mixed_mfa": sorted(u for u, v in per_user.items() if any(v) and not all(v)),
    }


def _source(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (s,) = [s for s in doc["sources"] if s["format"] == name]
    return s


def test_entra_matches_truth(world: tuple[Path, dict[str, Any]]) -> None:
    out, doc = world
    per_user: dict[str, list[bool]] = defaultdict(list)
    legacy: dict[tuple[str, str], int] = defaultdict(int)
    for line in (out / "entra_signins.json").read_text().splitlines():
        p = json.loads(line)["properties"]
        if p["status"]["errorCode"] != 0 or p.get("servicePrincipalId"):
            continue
        user = p["userPrincipalName"].split("@")[0].lower()
        per_user[user].append(p["authenticationRequirement"] == "multiFactorAuthentication")
        if p["clientAppUsed"] in LEGACY_CLIENTS:
            legacy[(user, p["clientAppUsed"].lower())] += 1
    got = _source(doc, "entra")
    assert {k: got[k] for k in _summary(per_user)} == _summary(per_user)
    assert {(i["account"], i["client"]): i["count"] for i in got["legacy_auth"]} == dict(legacy)
    assert legacy, "the simulated tenant has legacy sign-ins"


def test_cloudtrail_matches_truth(world: tuple[Path, dict[str, Any]]) -> None:
    out, doc = world
    per_user: dict[str, list[bool]] = defaultdict(list)
    for f in sorted((out / "cloudtrail").glob("*.json")):
        for r in json.loads(f.read_text())["Records"]:
            if r["eventName"] != "ConsoleLogin" or (r.get("responseElements") or {}).get("ConsoleLogin") != "Success":
                continue
            ident = r["userIdentity"]
            user = (ident.get("userName") or ident["type"]).lower()
            per_user[user].append(r["additionalEventData"].get("MFAUsed") == "Yes")
    got = _source(doc, "cloudtrail")
    assert {k: got[k] for k in _summary(per_user)} == _summary(per_user)


def test_okta_matches_truth(world: tuple[Path, dict[str, Any]]) -> None:
    out, doc = world
    events = [json.loads(x) for x in (out / "okta_system_log.json").read_text().splitlines()]

    def when(e: dict[str, Any]) -> dt.datetime:
        return dt.datetime.fromisoformat(e["published"].replace("Z", "+00:00"))

    factors: dict[str, list[dt.datetime]] = defaultdict(list)
    for e in events:
        if e["eventType"] == "user.authentication.auth_via_mfa" and e["outcome"]["result"] == "SUCCESS":
            factors[e["actor"]["alternateId"].split("@")[0].lower()].append(when(e))
    per_user: dict[str, list[bool]] = defaultdict(list)
    window = dt.timedelta(minutes=10)
    for e in events:
        if e["eventType"] == "user.session.start" and e["outcome"]["result"] == "SUCCESS":
            user = e["actor"]["alternateId"].split("@")[0].lower()
            per_user[user].append(any(abs(t - when(e)) <= window for t in factors[user]))
    got = _source(doc, "okta")
    assert {k: got[k] for k in _summary(per_user)} == _summary(per_user)


def test_sources_without_mfa_say_so(world: tuple[Path, dict[str, Any]]) -> None:
    _, doc = world
    for name in ("windows", "sshd"):
        s = _source(doc, name)
        assert s["mfa_signin_share"] is None and "does not record" in s["note"]
        assert s["accounts_never_mfa"] == [] and s["signins"] > 0


def test_ssh_passwords_where_keys_are_the_norm(world: tuple[Path, dict[str, Any]]) -> None:
    out, doc = world
    accepted = [ln for ln in (out / "auth.log").read_text().splitlines() if " Accepted " in ln]
    keys = sum(" Accepted publickey " in ln for ln in accepted)
    assert keys / len(accepted) >= 0.5
    counts: dict[str, int] = defaultdict(int)
    for ln in accepted:
        if " Accepted password for " in ln:
            counts[ln.split(" Accepted password for ")[1].split(" from ")[0].lower()] += 1
    got = {i["account"]: i["count"] for i in _source(doc, "sshd")["legacy_auth"]}
    assert got == dict(counts)


def test_attacked_accounts_without_mfa_come_first(world: tuple[Path, dict[str, Any]]) -> None:
    _, doc = world
    flagged = {t["account"] for t in doc["targeted_without_mfa"]}
    # The brute-forced admin signs in over ssh with a password on a host where keys are the norm.
    sshd_password_users = {i["account"] for i in _source(doc, "sshd")["legacy_auth"]}
    assert flagged and flagged <= (
        sshd_password_users
        | {u for s in doc["sources"] for u in s["accounts_never_mfa"] + s["accounts_mixed_mfa"]}
        | {i["account"] for s in doc["sources"] for i in s["legacy_auth"]}
    )
    assert all(t["action"] and t["why"] for t in doc["targeted_without_mfa"])


@pytest.mark.shared
@pytest.mark.parametrize("folder", ["field-shapes", "mordor"])
def test_real_data_runs_and_is_plain_about_missing_mfa(shared_data: Path, folder: str) -> None:
    with Store() as store:
        pipeline.ingest([str(shared_data / folder)], store)
        doc = assess(store.con, []).to_json()
    assert doc["schema"] == "shoreup.posture/1"
    for s in doc["sources"]:
        assert s["mfa_signin_share"] is not None or s["note"]
