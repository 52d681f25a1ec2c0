"""The compiled-rule cache: a loaded :class:`.loader.RuleSet`, pickled to disk, read back next time.

Loading SigmaHQ's ~2,400 Windows rules (pySigma parse, compile, plan) takes seconds; reading the
pickle back takes a fraction of one. One cache file per set of rule folders lives in
``$XDG_CACHE_HOME/shoreup`` (``~/.cache/shoreup`` without it), named by a digest of:

- every rule file: its path, size, ``mtime_ns`` and the SHA-256 of its bytes (so a rule edited
  within one clock tick, or a file swapped for one of the same size, still invalidates);
- the folders and placeholders asked for;
- shoreup's version and the source of this package (an edited compiler never reads stale plans);
- the versions of Python, pySigma and DuckDB (whose RE2 decides which regexes it runs).

The file repeats the full key ahead of the pickle, with a summary of the rule set (files, rules,
correlations, skipped rules) in plain types that :func:`cached_summary` reads without pySigma. A
file that does not match, cannot be read, is truncated or corrupt, or was written by an
incompatible build is ignored: the rules load afresh and the file is rewritten, never a crash. A file not owned by this user, or writable by others, is
never unpickled. Files are written to a temporary name and renamed (``os.replace``), so a reader
never sees half a file; only the newest :data:`KEEP` are kept. ``SHOREUP_NO_CACHE=1`` turns the
cache off (neither read nor written).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ._files import Skip, yaml_files

if TYPE_CHECKING:
    from .loader import RuleSet

#: Bumped whenever the file layout changes.
FORMAT = 2
#: Setting this environment variable (to anything but empty, 0, false, no) disables the cache.
ENV_DISABLE = "SHOREUP_NO_CACHE"
#: Cache files kept (the most recently written); older ones are removed.
KEEP = 8
_PREFIX = "sigma-"
_SUFFIX = ".pickle"
_PACKAGE = Path(__file__).resolve().parent


def enabled() -> bool:
    """Whether the cache is on (``SHOREUP_NO_CACHE`` unset, empty, 0, false or no)."""
    return os.environ.get(ENV_DISABLE, "").strip().lower() in ("", "0", "false", "no")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/shoreup``, or ``~/.cache/shoreup`` when it is unset or not absolute."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "shoreup"


def load_cached(
    dirs: Iterable[str | Path],
    placeholders: dict[str, list[str]] | None = None,
    directory: Path | None = None,
) -> RuleSet:
    """The RuleSet of ``dirs``, as :func:`.loader.load` gives it (and :func:`.runner.prepare`d),
    from the cache when a valid entry is there; otherwise loaded and written to it."""
    targets = [str(d) for d in dirs]
    if not enabled():
        return prepare(load(targets, placeholders))
    try:
        key = cache_key(targets, placeholders)
    except OSError:  # a file vanished or became unreadable while hashing: the loader reports it
        return prepare(load(targets, placeholders))
    try:
        where = directory if directory is not None else cache_dir()
    except RuntimeError:  # no home folder to put it in: no cache
        return prepare(load(targets, placeholders))
    path = where / f"{_PREFIX}{key[:40]}{_SUFFIX}"
    rs = read(path, key)
    if rs is not None:
        return rs
    rs = prepare(load(targets, placeholders))
    write(path, key, rs)
    return rs


def load(dirs: list[str], placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    """The rules of ``dirs`` loaded afresh (pySigma and the compiler imported only here)."""
    from .loader import load as load_rules

    return load_rules(dirs, placeholders)


def prepare(rs: RuleSet) -> RuleSet:
    from .runner import prepare as prepare_rules

    return prepare_rules(rs)


def cached_summary(
    dirs: Iterable[str | Path],
    placeholders: dict[str, list[str]] | None = None,
    directory: Path | None = None,
) -> dict[str, Any] | None:
    """How many files, rules and correlations :func:`load_cached` would give for ``dirs`` and what it
    would skip (``files``, ``loaded``, ``correlations``, ``skipped`` as :class:`Skip`) — read from the
    head of a valid cache entry, without loading pySigma; None when there is no such entry."""
    targets = [str(d) for d in dirs]
    if not enabled():
        return None
    try:
        key = cache_key(targets, placeholders)
        where = directory if directory is not None else cache_dir()
    except (OSError, RuntimeError):
        return None
    head = _head(where / f"{_PREFIX}{key[:40]}{_SUFFIX}", key)
    summary: Any = head.get("summary") if head is not None else None
    try:
        return {
            "files": int(summary["files"]),
            "loaded": int(summary["loaded"]),
            "correlations": int(summary["correlations"]),
            "skipped": [Skip(*(str(v) for v in s)) for s in summary["skipped"]],
        }
    except (TypeError, KeyError, ValueError):  # no summary, or not of this shape: ask the whole entry
        return None


def cache_key(dirs: list[str], placeholders: dict[str, list[str]] | None = None) -> str:
    """The hex digest naming the cache entry of ``dirs`` (see the module's docstring)."""
    h = hashlib.sha256()
    h.update(orjson.dumps(_environment(), option=orjson.OPT_SORT_KEYS))
    h.update(orjson.dumps({"dirs": dirs, "placeholders": placeholders}, option=orjson.OPT_SORT_KEYS))
    for p in yaml_files(dirs):
        st = p.stat()
        h.update(f"\n{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _environment() -> dict[str, Any]:
    src = hashlib.sha256()
    for f in sorted(_PACKAGE.glob("*.py")):
        src.update(f.name.encode() + b"\0" + f.read_bytes())
    return {
        "format": FORMAT,
        "shoreup": _version("shoreup"),
        "source": src.hexdigest(),
        "python": sys.version,
        "pysigma": _version("pysigma"),
        "duckdb": _version("duckdb"),
        "pickle": pickle.HIGHEST_PROTOCOL,
    }


def _version(dist: str) -> str:
    if dist == "shoreup":
        from shoreup import __version__

        return __version__
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _own(path: Path) -> bool:
    """Whether ``path`` exists and only this user could have written it (else it is never unpickled)."""
    try:
        st = path.stat()
    except OSError:
        return False
    getuid = getattr(os, "getuid", None)
    return not ((getuid is not None and st.st_uid != getuid()) or st.st_mode & 0o022)


def _valid_head(head: Any, key: str) -> bool:
    return isinstance(head, dict) and head.get("format") == FORMAT and head.get("key") == key


def _head(path: Path, key: str) -> dict[str, Any] | None:
    """The head of the entry in ``path`` when it is this user's and made under ``key``."""
    if not _own(path):
        return None
    try:
        with path.open("rb") as fh:
            head = pickle.load(fh)
    except Exception:
        return None
    return head if _valid_head(head, key) else None


def read(path: Path, key: str) -> RuleSet | None:
    """The RuleSet cached in ``path`` under ``key``; None when absent, foreign, stale or unreadable."""
    from .loader import RuleSet

    if not _own(path):
        return None
    try:
        with path.open("rb") as fh:
            if not _valid_head(pickle.load(fh), key):
                return None
            rs = pickle.load(fh)
    except Exception:  # truncated, corrupt, or classes of another build: load afresh
        return None
    return rs if isinstance(rs, RuleSet) else None


def head_of(key: str, rs: RuleSet) -> dict[str, Any]:
    """What an entry holds ahead of the pickled RuleSet: its format, key and summary (plain types)."""
    summary = {
        "files": rs.files,
        "loaded": rs.loaded,
        "correlations": len(rs.correlations),
        "skipped": [(k.path, k.id, k.reason, k.title) for k in rs.skipped],
    }
    return {"format": FORMAT, "key": key, "summary": summary}


def write(path: Path, key: str, rs: RuleSet) -> bool:
    """Write ``rs`` under ``key`` atomically (temporary file, then ``os.replace``); False if it could
    not be written — the cache is an optimization, never a reason to fail."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{_PREFIX}", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(head_of(key, rs), fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(rs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
    except Exception:
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _prune(path.parent)
    return True


def _prune(folder: Path, keep: int = KEEP, stale_tmp_s: float = 3600.0) -> None:
    """Keep the ``keep`` newest cache files; drop temporary files left by a crash long ago."""
    with contextlib.suppress(OSError):
        entries = []
        for p in folder.iterdir():
            with contextlib.suppress(OSError):
                if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX):
                    entries.append((p.stat().st_mtime, p))
                elif (
                    p.name.startswith(f".{_PREFIX}")
                    and p.name.endswith(".tmp")
                    and time.time() - p.stat().st_mtime > stale_tmp_s
                ):
                    p.unlink()
        entries.sort(reverse=True)
        for _, p in entries[keep:]:
            with contextlib.suppress(OSError):
                p.unlink()
