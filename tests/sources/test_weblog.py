"""Web access logs: login requests to auth, everything else counted."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, cast

import pytest

from shoreup.sources import weblog
from shoreup.sources._base import FileStats, ReadContext, ReadOptions
from tests.helpers import read_bytes

SAMPLES = Path(__file__).parent / "samples"


def test_sniff() -> None:
    assert weblog.sniff((SAMPLES / "weblog_combined.log").read_bytes()[:4096], "access.log")
    assert weblog.sniff((SAMPLES / "weblog_access.ndjson").read_bytes()[:4096], "access.json")
    for name in ("entra_diagnostic.ndjson", "okta_events.ndjson", "cloudtrail_events.ndjson", "entra_portal.csv"):
        assert not weblog.sniff((SAMPLES / name).read_bytes()[:4096], name), name
    assert not weblog.sniff(b"Oct 10 13:55:36 host sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2\n", "x")


def test_combined_mapping_and_outcome_rule() -> None:
    out, stats = read_bytes(weblog, (SAMPLES / "weblog_combined.log").read_bytes())
    assert stats.events == 5
    assert stats.skipped == {"not_login_request": 3, "malformed_line": 1}
    auth = {r["ref_record"]: r for r in out["auth"]}
    assert sorted(auth) == [1, 2, 3, 8, 10]
    assert (auth[1]["outcome"], auth[1]["src_ip"], auth[1]["application"]) == ("unknown", "203.0.113.5", "/wp-login.php")
    assert auth[1]["time"].isoformat() == "2023-10-10T20:55:36+00:00"
    assert (auth[2]["outcome"], auth[2]["user_agent"]) == ("success", 'Mozilla/5.0 "quoted"')
    assert (auth[3]["outcome"], auth[3]["reason"], auth[3]["user"], auth[3]["application"]) == (
        "failure", "other", "alice", "/login")
    assert (auth[8]["outcome"], auth[8]["reason"]) == ("failure", "restriction")
    assert auth[10]["outcome"] == "unknown" and auth[10]["method"] == "password"
    fields = json.loads(out["raw"][2]["fields"])
    assert fields["cs-uri-query"] == "next=/admin" and fields["sc-status"] == 401


def test_configured_login_path_and_gzip() -> None:
    options = ReadOptions(login_paths=("/portal/",))
    with gzip.open(SAMPLES / "weblog_combined.log.gz", "rb") as stream:
        stats = FileStats("access.log.gz")
        ctx = ReadContext("access.log.gz", stats, options)
        rows = [r for t, b in weblog.read(cast(IO[bytes], stream), ctx) if t == "auth" for r in b.to_pylist()]
    assert stats.events == 6 and stats.skipped["not_login_request"] == 2
    portal = next(r for r in rows if r["application"] == "/portal/session")
    assert portal["outcome"] == "failure" and portal["ref_record"] == 9


def test_json_access_log() -> None:
    out, stats = read_bytes(weblog, (SAMPLES / "weblog_access.ndjson").read_bytes())
    assert stats.events == 2
    assert stats.skipped == {"not_login_request": 1, "malformed_json": 1, "malformed_line": 1}
    assert stats.damage[0].position == "line 4"
    first, second = out["auth"]
    assert (first["outcome"], first["application"], first["src_ip"]) == ("failure", "/user/login", "203.0.113.9")
    assert (second["outcome"], second["application"]) == ("success", "/signin")


def test_chunks_keep_line_numbers() -> None:
    line = b'192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
    login = b'192.0.2.2 - - [10/Oct/2023:13:55:36 +0000] "POST /login HTTP/1.1" 401 1 "-" "x"\n'
    data = line * 150_000 + login + b"\xff\xfe not utf-8\n" + line
    out, stats = read_bytes(weblog, data)
    assert [r["ref_record"] for r in out["auth"]] == [150_001]
    assert stats.records_read == 150_003 and stats.skipped["malformed_line"] == 1


def _adversarial_lines(seed: int, n: int) -> list[str]:
    """Access-log lines built to hit every branch of the login mapping: odd users, escaped quotes,
    control characters, non-ASCII, missing referer / user agent, queries, bad times, any-case POST."""
    import random

    rng = random.Random(seed)
    odd = ["-", "", 'a\\"b', "x\\\\y", "é", "\x1b[31m", "tab\there", "Ω", "\u2028", "{}", "\x7f", "q\\\\\\\"r"]
    out = []
    for _ in range(n):
        ip = rng.choice(["192.0.2.1", "::ffff:198.51.100.7", "2001:db8::1", "-", "10.0.0.5", "fd00::2"])
        vhost = rng.choice(["", "", "www.example.org:443 ", "Shop.Example.COM:80 "])
        user = rng.choice(["-", "alice", "CORP\\Bob", "Eve@Corp.example", "ß"])
        ts = rng.choice(["10/Oct/2023:13:55:36 +0000", "31/Dec/2025:23:59:59 -0500", "99/Foo/2023:00:00:00 +0000"])
        method = rng.choice(["POST", "post", "Post", "GET", "POSTED"])
        target = rng.choice(["/login", "/LOGIN?next=/a", "/wp-login.php", "/xmlrpc.php?a=b?c", "/signin#f",
                             "/?q", "/home", "/login?", "/api/auth/%C3%A9"])
        proto = rng.choice([" HTTP/1.1", "", " HTTP/1.0 x"])
        status = rng.choice(["200", "302", "303", "401", "403", "429", "500", "007"])
        tail = ""
        if rng.random() < 0.8:
            ref = rng.choice(["-", "", "https://example.org/", *odd])
            agent = rng.choice(["Mozilla/5.0", "-", "", "curl/8", *odd])
            tail = f' "{ref}" "{agent}"'.replace('"\\"', '"\\\\"')
            if rng.random() < 0.5:  # nginx "main": X-Forwarded-For last
                tail += ' "' + rng.choice(["-", "", "198.51.100.9", "10.1.1.1, 203.0.113.5", "203.0.113.6, 10.0.0.1",
                                           "unknown", "2001:db8::7, fd00::1", "192.168.1.1, 10.2.2.2"]) + '"'
        out.append(f'{vhost}{ip} - {user} [{ts}] "{method} {target}{proto}" {status} {rng.choice(["1", "-"])}{tail}')
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_text_logins_column_wise_equal_row_wise(seed: int) -> None:
    """The text reader maps login lines column by column; ``_event`` (the JSON reader's row-by-row
    mapping) is the oracle, on lines parsed by Python's ``re``."""
    import datetime as dt

    lines = _adversarial_lines(seed, 600)
    out, stats = read_bytes(weblog, ("\n".join(lines) + "\n").encode())
    want_auth, want_raw, no_time = {}, {}, 0
    for no, line in enumerate(lines, 1):
        m = weblog._LINE_RE.match(line)
        assert m, line
        row = m.groupdict()
        path = row["target"].split("?")[0].split("#")[0].lower()
        if row["method"].upper() != "POST" or not path.startswith(weblog.DEFAULT_LOGIN_PATHS):
            continue
        try:
            time = dt.datetime.strptime(row["ts"], "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.UTC)
        except ValueError:
            no_time += 1
            continue
        event = weblog._event({k: v if v is not None else "" for k, v in row.items()}, time, no)
        want_raw[no] = event.pop("fields")
        want_auth[no] = event
    assert want_auth and no_time and any("\\u00" in f for f in want_raw.values())  # every branch met
    assert any(e["host"] for e in want_auth.values())
    assert {"203.0.113.6", "198.51.100.9", "2001:db8::7"} & {e["src_ip"] for e in want_auth.values()}
    assert stats.events == len(want_auth) and stats.skipped.get("no_timestamp", 0) == no_time
    got = {r["ref_record"]: r for r in out["auth"]}
    assert sorted(got) == sorted(want_auth)
    for no, event in want_auth.items():
        assert {k: got[no][k] for k in event} == event, no
    assert {r["ref_record"]: r["fields"] for r in out["raw"]} == want_raw


# (remote address, X-Forwarded-For, the client shoreup takes)
CLIENTS = [
    ("203.0.113.9", "", "203.0.113.9"),
    ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # a public sender: its header is its own say
    ("10.0.0.5", "198.51.100.7", "198.51.100.7"),  # behind a load balancer
    ("10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"),  # the client's own left entries never trusted
    ("10.0.0.5", "1.2.3.4, 198.51.100.7, 10.0.0.9, 172.16.4.4", "198.51.100.7"),  # proxies walked from the right
    ("127.0.0.1", "2001:db8::7, fd00::1", "2001:db8::7"),
    ("::ffff:192.168.1.1", "::ffff:198.51.100.8", "198.51.100.8"),
    ("100.64.1.1", "198.51.100.7", "198.51.100.7"),  # carrier-grade NAT range of cloud balancers
    ("10.0.0.5", "unknown", "10.0.0.5"),  # a chain that cannot be followed: the sender
    ("10.0.0.5", "198.51.100.7, unknown", "10.0.0.5"),
    ("10.0.0.5", "10.0.0.6, 10.0.0.7", "10.0.0.5"),  # only proxies: the sender
    ("10.0.0.5", "-", "10.0.0.5"),
    ("-", "198.51.100.7", None),
    ("10.0.0.5", "198.51.100.7:56789", "198.51.100.7"),  # Azure Application Gateway: the client's port too
    ("10.0.0.5", "[2001:db8::7]:443, 10.0.0.9:80", "2001:db8::7"),
    ("10.0.0.5", "[2001:db8::7", "10.0.0.5"),
    ("10.0.0.5", "::ffff:198.51.100.8", "198.51.100.8"),
    ("10.0.0.5", "203.0.113.1:x", "10.0.0.5"),
]


@pytest.mark.parametrize(("remote", "xff", "client"), CLIENTS)
def test_client_behind_a_proxy(remote: str, xff: str, client: str | None) -> None:
    assert weblog._client(remote, xff) == client
    line = f'{remote} - - [03/Mar/2026:10:00:01 +0000] "POST /login HTTP/1.1" 401 45 "-" "curl"'
    out, stats = read_bytes(weblog, (line + (f' "{xff}"' if xff else "") + "\n").encode())
    assert stats.events == 1 and out["auth"][0]["src_ip"] == client
    fields = json.loads(out["raw"][0]["fields"])
    assert fields.get("c-ip") == (remote if remote != "-" else "-") and fields.get("x-forwarded-for") == (
        xff if xff not in ("", "-") else None)


def test_vhost_combined() -> None:
    """Apache's vhost_combined (Debian's other_vhosts_access.log): the site is the host of the event."""
    lines = (
        b'www.example.org:443 203.0.113.9 - - [03/Mar/2026:10:00:01 +0000] "POST /wp-login.php HTTP/1.1" 200 4520 '
        b'"-" "Mozilla/5.0"\n'
        b'Blog.Example.ORG:80 2001:db8::1 - - [03/Mar/2026:10:00:02 +0000] "POST /xmlrpc.php HTTP/1.1" 200 4 "-" "x"\n'
        b'www.example.org:443 203.0.113.9 - - [03/Mar/2026:10:00:03 +0000] "GET / HTTP/1.1" 200 45 "-" "x"\n'
    )
    assert weblog.sniff(lines, "other_vhosts_access.log")
    out, stats = read_bytes(weblog, lines)
    assert stats.events == 2 and stats.skipped == {"not_login_request": 1}
    assert [(r["host"], r["src_ip"]) for r in out["auth"]] == [("www.example.org", "203.0.113.9"),
                                                              ("blog.example.org", "2001:db8::1")]
    assert [r["host"] for r in out["raw"]] == ["www.example.org", "blog.example.org"]
    assert json.loads(out["raw"][0]["fields"])["cs-host"] == "www.example.org:443"
    # a combined line whose first token looks like an address with a port stays a combined line
    plain = b'::1 - - [03/Mar/2026:10:00:01 +0000] "POST /login HTTP/1.1" 401 45 "-" "x"\n'
    out, _ = read_bytes(weblog, plain)
    assert out["auth"][0]["src_ip"] == "::1" and out["auth"][0]["host"] is None


def test_json_access_log_behind_a_proxy() -> None:
    doc = {"remote_addr": "10.0.0.5", "http_x_forwarded_for": "1.2.3.4, 198.51.100.7", "host": "Shop.Example.com",
           "request": "POST /login HTTP/1.1", "status": 401, "time_local": "03/Mar/2026:10:00:01 +0000"}
    out, stats = read_bytes(weblog, json.dumps(doc).encode() + b"\n")
    assert stats.events == 1
    assert (out["auth"][0]["src_ip"], out["auth"][0]["host"]) == ("198.51.100.7", "shop.example.com")


def test_trusted_proxy_networks() -> None:
    """A CDN in front of the site sends from public addresses: only when its network is given as a
    trusted proxy is its X-Forwarded-For followed (and the CDN's own hops walked past)."""
    lines = (
        b'173.245.48.10 - - [03/Mar/2026:10:00:01 +0000] "POST /login HTTP/1.1" 401 45 "-" "x" "198.51.100.7"\n'
        b'173.245.48.11 - - [03/Mar/2026:10:00:02 +0000] "POST /login HTTP/1.1" 401 45 "-" "x" '
        b'"1.2.3.4, 198.51.100.8, 173.245.48.99"\n'
        b'203.0.113.9 - - [03/Mar/2026:10:00:03 +0000] "POST /login HTTP/1.1" 401 45 "-" "x" "198.51.100.9"\n'
    )
    out, _ = read_bytes(weblog, lines)
    assert [r["src_ip"] for r in out["auth"]] == ["173.245.48.10", "173.245.48.11", "203.0.113.9"]
    cdn = ReadOptions(trusted_proxies=("173.245.48.0/20",))
    out, _ = read_bytes(weblog, lines, options=cdn)
    assert [r["src_ip"] for r in out["auth"]] == ["198.51.100.7", "198.51.100.8", "203.0.113.9"]
    doc = {"remote_addr": "173.245.48.10", "http_x_forwarded_for": "198.51.100.7", "request": "POST /login HTTP/1.1",
           "status": 401, "time_local": "03/Mar/2026:10:00:01 +0000"}
    out, _ = read_bytes(weblog, json.dumps(doc).encode() + b"\n", options=cdn)
    assert out["auth"][0]["src_ip"] == "198.51.100.7"
