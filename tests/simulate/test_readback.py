"""Every simulated file reads back through the pipeline whole, and the truth is in what was read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shoreup.engine.duckdb import Store
from shoreup.pipeline import IngestReport

FORMAT_OF = {"sshd": "sshd", "entra": "entra", "okta": "okta", "cloudtrail": "cloudtrail", "windows": "winjson",
             "weblog": "weblog"}


def _rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return store.con.execute(sql, list(params)).fetchall()


def test_every_file_reads_without_damage(sim: tuple[Path, dict[str, Any]],
                                         ingested: tuple[Store, IngestReport]) -> None:
    out, truth = sim
    _, report = ingested
    assert not report.damaged, report.problems()
    assert not report.warnings()
    by_name = {Path(f.path).relative_to(out).as_posix(): f for f in report.files}
    assert set(by_name) == set(truth["files"])
    for name, stats in by_name.items():
        assert stats.records_read == stats.events + sum(stats.skipped.values())
        assert stats.records_read == truth["lines"][name], name
        expected = {"auth.log": "sshd", "access.log": "weblog", "windows_security.jsonl": "winjson",
                    "entra_signins.json": "entra", "okta_system_log.json": "okta"}.get(name, "cloudtrail")
        assert stats.format == expected, name
        # Only what a reader is meant to pass over is skipped: cron lines, page views, sshd chatter.
        assert set(stats.skipped) <= {"other_program", "not_auth_message", "not_login_request"}, (name, stats.skipped)


def test_truth_is_in_what_was_read(sim: tuple[Path, dict[str, Any]], ingested: tuple[Store, IngestReport]) -> None:
    _, truth = sim
    store, _ = ingested
    for sc in truth["scenarios"]:
        fmts = [FORMAT_OF[f] for f in sc["formats"] if f in FORMAT_OF]
        marks = ",".join("?" * len(fmts))
        ips = {r[0] for r in _rows(store, f"SELECT DISTINCT src_ip FROM auth WHERE source_format IN ({marks})", *fmts)}
        assert set(sc["src_ips"]) <= ips, sc["id"]
        users = {r[0] for r in _rows(store, "SELECT DISTINCT user FROM auth WHERE source_format IN "
                                     f"({marks}) UNION SELECT DISTINCT user FROM process", *fmts)}
        assert set(sc["users"]) <= users, (sc["id"], sorted(set(sc["users"]) - users)[:5])
        for user in sc["compromised"]:
            ok = _rows(store, f"SELECT count(*) FROM auth WHERE user = ? AND outcome = 'success' AND source_format "
                       f"IN ({marks}) AND time BETWEEN CAST(? AS TIMESTAMPTZ) AND CAST(? AS TIMESTAMPTZ)",
                       user, *fmts, sc["start"], sc["end"])[0][0]
            assert ok >= 1, (sc["id"], user)
        for host in sc["hosts"]:
            assert _rows(store, "SELECT count(*) FROM raw WHERE host = ?", host)[0][0] > 0


def test_attack_shapes_as_read(sim: tuple[Path, dict[str, Any]], ingested: tuple[Store, IngestReport]) -> None:
    _, truth = sim
    store, _ = ingested
    by_id = {s["id"]: s for s in truth["scenarios"]}
    bf = by_id["brute-force-1"]
    n, seconds = _rows(store, "SELECT count(*), epoch(max(time) - min(time)) FROM auth WHERE source_format = 'sshd' "
                       "AND outcome = 'failure' AND src_ip = ?", bf["src_ips"][0])[0]
    assert n >= 60 and seconds <= 90
    mfa = by_id["mfa-fatigue-1"]
    reasons = dict(_rows(store, "SELECT reason, count(*) FROM auth WHERE source_format = 'okta' AND user = ? "
                         "AND src_ip = ? GROUP BY reason", mfa["users"][0], mfa["src_ips"][0]))
    assert reasons["mfa_push_sent"] >= 20 and reasons.get("mfa_denied", 0) + reasons.get("mfa_timeout", 0) >= 20
    assert reasons.get("mfa_timeout", 0) >= 1 and reasons.get("mfa_denied", 0) >= 1
    dspray = by_id["dspray-entra-1"]
    uas, asns = _rows(store, "SELECT count(DISTINCT user_agent), count(DISTINCT asn) FROM auth WHERE source_format = "
                      "'entra' AND outcome = 'failure' AND src_ip IN (SELECT unnest(?)) AND src_ip <> ?", dspray["src_ips"],
                      dspray["compromise_ip"])[0]
    assert uas == 1 and asns <= 3
    victim = dspray["compromised"][0]
    assert _rows(store, "SELECT method, mfa_used FROM auth WHERE source_format = 'entra' AND user = ? AND src_ip = ? "
                 "AND outcome = 'success'", victim, dspray["compromise_ip"]) == [("legacy:imap4", False)]
    stuffing = by_id["stuffing-okta-1"]
    unknown = _rows(store, "SELECT avg(CASE WHEN reason = 'unknown_user' THEN 1 ELSE 0 END) FROM auth WHERE "
                    "source_format = 'okta' AND outcome = 'failure' AND src_ip IN (SELECT unnest(?))",
                    stuffing["src_ips"])[0][0]
    assert unknown > 0.7
    aws = _rows(store, "SELECT count(*) FROM auth WHERE source_format = 'cloudtrail' AND reason = 'unknown_user' "
                "AND user IS NULL")[0][0]
    assert aws == by_id["stuffing-aws-1"]["hidden_users"]


def test_the_chain_on_the_file_server(sim: tuple[Path, dict[str, Any]], ingested: tuple[Store, IngestReport]) -> None:
    _, truth = sim
    store, _ = ingested
    chain = next(s for s in truth["scenarios"] if s["kind"] == "full_chain")
    (victim,), (host,) = chain["compromised"], chain["hosts"]
    logons = _rows(store, "SELECT logon_type, src_ip, time FROM auth WHERE source_format = 'winjson' AND host = ? "
                   "AND user = ? AND event_code = '4624' AND src_ip IN (SELECT unnest(?))", host, victim,
                   chain["src_ips"])
    assert [lt for lt, _, _ in logons] == ["10"]
    commands = [r[0] for r in _rows(store, "SELECT command_line FROM process WHERE host = ? AND user = ? ORDER BY time",
                                    host, victim)]
    assert commands[:3] == ["vssadmin.exe delete shadows /all /quiet", "wbadmin delete catalog -quiet",
                            "bcdedit /set {default} recoveryenabled no"]
    cleared = dict(_rows(store, "SELECT target, time FROM tamper WHERE host = ? AND user = ?", host, victim))
    first_wipe = _rows(store, "SELECT min(time) FROM process WHERE host = ? AND user = ?", host, victim)[0][0]
    logon_time = logons[0][2]
    assert set(cleared) == {"Security", "System"}
    assert 30 * 60 <= (cleared["Security"] - first_wipe).total_seconds() <= 62 * 60
    assert logon_time < first_wipe


def test_hard_negatives_are_there(sim: tuple[Path, dict[str, Any]], ingested: tuple[Store, IngestReport]) -> None:
    _, truth = sim
    store, _ = ingested
    by_kind = {s["kind"]: s for s in truth["scenarios"]}
    egress = by_kind["benign_shared_egress"]
    assert set(egress["src_ips"]) <= set(truth["org"]["office_ips"]) and len(egress["users"]) >= 20
    users_behind_nat = _rows(store, "SELECT count(DISTINCT user) FROM auth WHERE src_ip IN (SELECT unnest(?)) "
                             "AND outcome = 'success'", truth["org"]["office_ips"])[0][0]
    assert users_behind_nat >= 100
    typos = by_kind["benign_typo_then_success"]
    assert {"entra", "okta", "windows"} <= set(typos["formats"])
    stale = by_kind["benign_stale_password"]
    (user,) = stale["users"]
    gaps = [r[0] for r in _rows(store, "SELECT epoch(time - lag(time) OVER (ORDER BY time)) FROM auth WHERE "
                                "source_format = 'entra' AND user = ? AND outcome = 'failure'", user) if r[0]]
    assert len(gaps) >= 95 * truth["period"]["days"] - 2 and all(840 <= g <= 960 for g in gaps)
    travel = by_kind["benign_travel"]
    countries = _rows(store, "SELECT country, min(time) FROM auth WHERE user = ? AND source_format = 'entra' "
                      "GROUP BY country ORDER BY 2", travel["users"][0])
    assert [c for c, _ in countries] == ["US", "GB"]
    assert (countries[1][1] - countries[0][1]).total_seconds() >= 12 * 3600
    service = by_kind["benign_service_account"]
    per_day = _rows(store, "SELECT count(*) FROM auth WHERE user = 'svc_backup' AND event_code = '4624'")[0][0]
    assert set(service["users"]) == {"svc_backup", "svc_sql"} and per_day >= 250 * truth["period"]["days"]
    shadow = by_kind["benign_backup_shadow_copy"]
    lines = {r[0] for r in _rows(store, "SELECT command_line FROM process WHERE user = 'svc_backup'")}
    assert shadow["users"] == ["svc_backup"] and "vssadmin.exe create shadow /for=C:" in lines
    assert not any("delete" in line for line in lines)
