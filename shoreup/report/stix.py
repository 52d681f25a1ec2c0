"""A STIX 2.1 bundle to share with peers and ISACs: what attacked, how, and that it was seen here.

Contents: the reporting organization (identity), a TLP marking on every object, an indicator per
attacking network (IPs, and CIDRs where the whole range attacked) and per phishing domain, an
attack pattern per ATT&CK technique, ``indicates`` relationships, sightings by the organization,
and one grouping per incident. No internal names leave: usernames, hostnames, file paths and mail
recipients stay out of the bundle; descriptions name techniques and counts only.

Deterministic: ids are UUIDv5 of their content, and every timestamp comes from the findings.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tomllib
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
import stix2

from shoreup.findings import Finding
from shoreup.incidents import STAGES, TECHNIQUE_NAMES, Analysis, hostile_networks, stage_of

#: Namespace of shoreup's STIX ids (uuid5 of the object's content key).
NAMESPACE = uuid.UUID("4f1d2c2e-61a8-5b8e-9a0e-73686f726575")
TLP = {"white": stix2.v21.TLP_WHITE, "green": stix2.v21.TLP_GREEN, "amber": stix2.v21.TLP_AMBER,
       "red": stix2.v21.TLP_RED}  # fmt: skip


def _id(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'{kind}|{key}')}"


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _literal(s: str) -> str:
    """A STIX patterning string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _shared_domains() -> tuple[str, ...]:
    """Domains a phish borrows but does not own: brands, free mail, shorteners, free hosting."""
    out: set[str] = set()
    data = resources.files("shoreup").joinpath("data")
    for name in ("brands.toml", "mail_hosts.toml"):
        try:
            doc = tomllib.loads(data.joinpath(name).read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for brand in doc.get("brand", []):
            out.update(str(d).lower() for d in brand.get("domains", []))
        for value in doc.values():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out.update(v.lower() for v in value)
    return tuple(sorted(out))


def _borrowed(domain: str, shared: tuple[str, ...], own: set[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in (*shared, *own))


@dataclass
class _Seen:
    first: dt.datetime
    last: dt.datetime
    count: int = 0
    techniques: set[str] = field(default_factory=set)
    what: set[str] = field(default_factory=set)

    def add(self, f: Finding) -> None:
        self.first = min(self.first, _utc(f.start))
        self.last = max(self.last, _utc(f.end))
        self.count += int(f.metrics.get("evidence_total", len(f.evidence)) or 1)
        if f.technique:
            self.techniques.add(f.technique)
        self.what.add(TECHNIQUE_NAMES.get(f.technique, f.title).lower())


def bundle(analysis: Analysis, org_name: str = "Reporting organization", tlp: str = "amber") -> stix2.v21.Bundle:
    """The bundle for ``analysis``; ``tlp`` is white, green, amber or red (TLP 1.0 markings)."""
    marking = TLP[tlp.lower()]
    findings = [f for f in analysis.findings if stage_of(f)]
    if not findings:
        return stix2.v21.Bundle(objects=[], id=_id("bundle", "empty"), allow_custom=False)
    epoch = min(_utc(f.start) for f in findings)
    common: dict[str, Any] = {"object_marking_refs": [marking.id]}
    identity = stix2.v21.Identity(
        id=_id("identity", org_name), name=org_name, identity_class="organization", created=epoch, modified=epoch,
        **common,
    )  # fmt: skip
    by: dict[str, Any] = {"created_by_ref": identity.id, **common}
    objects: list[Any] = [marking, identity]

    # Attack patterns: one per technique seen.
    tech_seen: dict[str, _Seen] = {}
    for f in findings:
        for t in {f.technique} - {""}:
            tech_seen.setdefault(t, _Seen(_utc(f.start), _utc(f.end))).add(f)
    patterns: dict[str, str] = {}
    for t in sorted(tech_seen):
        s = tech_seen[t]
        url = "https://attack.mitre.org/techniques/" + t.replace(".", "/") + "/"
        ap = stix2.v21.AttackPattern(
            id=_id("attack-pattern", t), name=TECHNIQUE_NAMES.get(t, t), created=s.first, modified=s.first,
            external_references=[{"source_name": "mitre-attack", "external_id": t, "url": url}], **by,
        )  # fmt: skip
        patterns[t] = ap.id
        objects.append(ap)

    # Indicators of attacking networks, from the findings that name them as sources.
    attack = [f for f in findings if stage_of(f) in ("credential_attack", "compromise")]
    nets = hostile_networks(ip for f in attack for ip in f.src_ips)
    parsed = [(n, ipaddress.ip_network(n, strict=False)) for n in nets]
    # Every address of a collapsed network attacked, so the map from address to network is small.
    net_of = {str(a): n for n, net in parsed for a in (net if net.num_addresses > 1 else [net.network_address])}
    net_seen: dict[str, _Seen] = {}
    for f in attack:
        for n in sorted({net_of[k] for k in (_key(ip) for ip in f.src_ips) if k in net_of}):
            net_seen.setdefault(n, _Seen(_utc(f.start), _utc(f.end))).add(f)
    indicators: list[tuple[str, _Seen]] = []
    for n, net in parsed:
        s = net_seen[n]
        kind = "ipv4-addr" if net.version == 4 else "ipv6-addr"
        op = "=" if net.num_addresses == 1 else "ISSUBSET"
        ind = stix2.v21.Indicator(
            id=_id("indicator", n), name=f"Attacking address {n}", pattern_type="stix",
            pattern=f"[{kind}:value {op} {_literal(n)}]", valid_from=s.first, created=s.first, modified=s.first,
            indicator_types=["malicious-activity"],
            description=f"Source of {', '.join(sorted(s.what))} seen from {s.first:%Y-%m-%d %H:%M} "
                        f"to {s.last:%Y-%m-%d %H:%M} UTC ({s.count} events).",
            **by,
        )  # fmt: skip
        objects.append(ind)
        indicators.append((ind.id, s))

    # Indicators of phishing domains: the attacker's own, not brands or hosting they borrow.
    shared = _shared_domains()
    mail = [f for f in analysis.findings if f.detector == "mail" and f.metrics.get("verdict") == "phishing"]
    own = {str(r).rpartition("@")[2].lower() for f in mail for r in f.metrics.get("recipients", [])}
    dom_seen: dict[str, _Seen] = {}
    for f in mail:
        for d in f.metrics.get("domains", []):
            d = str(d).lower().rstrip(".")
            if d and not _borrowed(d, shared, own) and not _is_ip(d):
                dom_seen.setdefault(d, _Seen(_utc(f.start), _utc(f.end))).add(f)
    for d in sorted(dom_seen):
        s = dom_seen[d]
        ind = stix2.v21.Indicator(
            id=_id("indicator", "domain:" + d), name=f"Phishing domain {d}", pattern_type="stix",
            pattern=f"[domain-name:value = {_literal(d)}]", valid_from=s.first, created=s.first, modified=s.first,
            indicator_types=["malicious-activity"],
            description=f"Sender or link domain of {s.count} phishing message(s) delivered here.", **by,
        )  # fmt: skip
        objects.append(ind)
        indicators.append((ind.id, s))

    for ind_id, s in indicators:
        for t in sorted(s.techniques):
            objects.append(
                stix2.v21.Relationship(
                    id=_id("relationship", f"{ind_id}|{t}"), relationship_type="indicates", source_ref=ind_id,
                    target_ref=patterns[t], created=s.first, modified=s.first, **by,
                )
            )  # fmt: skip
        objects.append(_sighting(ind_id, s, identity.id, by))
    for t in sorted(tech_seen):
        objects.append(_sighting(patterns[t], tech_seen[t], identity.id, by))

    # One grouping per incident, of shareable objects only.
    ind_by_net = dict(zip(nets, [i for i, _ in indicators[: len(nets)]], strict=True))
    by_id = analysis.by_id
    attack_ids = {f.id for f in attack}
    for inc in analysis.incidents:
        refs: set[str] = set()
        for fid in inc.finding_ids:
            g = by_id.get(fid)
            if g is None or not stage_of(g):
                continue
            if g.technique in patterns:
                refs.add(patterns[g.technique])
            if g.id in attack_ids:
                refs.update(ind_by_net[net_of[k]] for k in (_key(ip) for ip in g.src_ips) if k in net_of)
            for d in g.metrics.get("domains", []) if g.detector == "mail" else []:
                if str(d).lower() in dom_seen:
                    refs.add(_id("indicator", "domain:" + str(d).lower()))
        if not refs:
            continue
        chain = " → ".join(s.replace("_", " ") for s in inc.stages if s in STAGES)
        objects.append(
            stix2.v21.Grouping(
                id=_id("grouping", inc.id), name=f"shoreup incident {inc.id} ({inc.severity}): {chain}",
                context="suspicious-activity", object_refs=sorted(refs), created=_utc(inc.start),
                modified=_utc(inc.end), **by,
            )
        )  # fmt: skip
    return stix2.v21.Bundle(objects=objects, id=_id("bundle", "|".join(sorted(o.id for o in objects))))


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _key(ip: str) -> str:
    """An address as ``hostile_networks`` writes it (IPv4-mapped IPv6 as IPv4)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def _sighting(ref: str, s: _Seen, where: str, by: dict[str, Any]) -> stix2.v21.Sighting:
    last = max(s.last, s.first)
    return stix2.v21.Sighting(
        id=_id("sighting", ref), sighting_of_ref=ref, where_sighted_refs=[where], first_seen=s.first,
        last_seen=last, count=min(s.count, 999_999_999), created=s.first, modified=s.first, **by,
    )  # fmt: skip


def dumps(b: stix2.v21.Bundle) -> bytes:
    """The bundle as indented JSON, the same bytes for the same bundle.

    ``serialize(pretty=True)`` orders properties with a search that grows with the square of the
    bundle (minutes for a few thousand objects); the compact form, re-indented, keeps its order.
    """
    return orjson.dumps(orjson.loads(b.serialize()), option=orjson.OPT_INDENT_2) + b"\n"
