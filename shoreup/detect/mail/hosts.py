"""The host lists of ``shoreup/data/mail_hosts.toml``: free mail, shorteners, free hosting, cloud storage."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .domains import registrable


@dataclass(frozen=True)
class HostLists:
    freemail: frozenset[str]
    shorteners: frozenset[str]
    free_hosting: frozenset[str]
    cloud_storage: frozenset[str]
    abused_tlds: frozenset[str]
    tenant_platforms: tuple[str, ...]

    def is_freemail(self, domain: str) -> bool:
        return domain.lower() in self.freemail

    def is_shortener(self, host: str) -> bool:
        return host in self.shorteners or registrable(host) in self.shorteners

    def free_host(self, host: str) -> str:
        return _parent_in(host, self.free_hosting)

    def storage_host(self, host: str) -> str:
        return _parent_in(host, self.cloud_storage)

    def tenant_platform(self, host: str) -> str:
        return next((d for d in self.tenant_platforms if host.endswith("." + d)), "")

    def abused_tld(self, host: str) -> str:
        labels = host.split(".")
        for n in (2, 1):
            tail = ".".join(labels[-n:])
            if len(labels) > n and tail in self.abused_tlds:
                return tail
        return ""


def _parent_in(host: str, names: frozenset[str]) -> str:
    """The most specific of ``host`` and its parent domains that is in ``names``, or ''."""
    labels = host.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in names:
            return candidate
    return ""


@cache
def host_lists() -> HostLists:
    doc = tomllib.loads(resources.files("shoreup").joinpath("data/mail_hosts.toml").read_text("utf-8"))
    return HostLists(
        frozenset(doc["freemail"]),
        frozenset(doc["shorteners"]),
        frozenset(doc["free_hosting"]),
        frozenset(doc["cloud_storage"]),
        frozenset(doc["abused_tlds"]),
        tuple(doc["tenant_platforms"]),
    )
