"""Triage: read every input, parse, look inside attachments, run the signals, score."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

from . import files, qr
from .inputs import RawMessage, Unreadable, iter_inputs
from .model import InputProblem, MailReport, MessageResult, Reason
from .org import Context, Org, load_org
from .parse import parse
from .scoring import score
from .signals import modules

#: Below this many messages a worker pool costs more to start than it saves.
_PARALLEL_FROM = 200


def analyze(raw: RawMessage, ctx: Context) -> MessageResult:
    """The verdict on one raw message; attachment bytes are dropped afterwards (hashes stay)."""
    msg = parse(raw)
    files.enrich(msg)
    qr.enrich(msg)
    reasons: list[Reason] = []
    for mod in modules():
        reasons.extend(mod.check(msg, ctx))
    total, verdict, ordered = score(reasons)
    msg.attachments = [replace(a, data=b"") for a in msg.attachments]
    for doc in msg.html:
        doc.scripts, doc.data_uris, doc.text = [], [], ""
    msg.text = ""
    return MessageResult(msg, verdict, total, ordered)


_WORKER_CTX: Context | None = None


def _init_worker(org: Org) -> None:
    global _WORKER_CTX
    _WORKER_CTX = Context.build(org)


def _work(raw: RawMessage) -> MessageResult:
    assert _WORKER_CTX is not None
    return analyze(raw, _WORKER_CTX)


def triage_org(paths: list[str], org: Org, workers: int | None = None) -> MailReport:
    """Triage ``paths`` for ``org``; results keep input order. ``workers`` defaults to the CPU count."""
    report = MailReport()
    items = list(iter_inputs(paths))
    raws: list[RawMessage] = []
    for item in items:
        if isinstance(item, Unreadable):
            report.problems.append(InputProblem(item.path, item.position, item.detail))
        else:
            raws.append(item)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n > 1 and len(raws) >= _PARALLEL_FROM:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=n, initializer=_init_worker, initargs=(org,)) as pool:
            report.results.extend(pool.map(_work, raws, chunksize=16))
    else:
        ctx = Context.build(org)
        report.results.extend(analyze(raw, ctx) for raw in raws)
    return report


def iter_results(paths: list[str], org: Org) -> Iterator[MessageResult | InputProblem]:
    """Stream results one by one in a single process (for large mailboxes)."""
    ctx = Context.build(org)
    for item in iter_inputs(paths):
        if isinstance(item, Unreadable):
            yield InputProblem(item.path, item.position, item.detail)
        else:
            yield analyze(item, ctx)


def triage(paths: list[str], org: str | Org | None = None, workers: int | None = None) -> MailReport:
    """Triage ``paths`` with the organization config file ``org`` (a path), an Org, or none."""
    org_obj = org if isinstance(org, Org) else load_org(org)
    return triage_org(paths, org_obj, workers)
