"""What the Sigma package needs before (or without) pySigma: where rules live, which files are
rules, and a rule that could not be used. Kept free of heavy imports, so that a hunt with no
``raw`` events can report the rule set from the cache without loading pySigma."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: shoreup's own pack.
BUILTIN_DIR = Path(__file__).resolve().parent.parent.parent / "rules"


@dataclass
class Skip:
    """A rule (or a whole file) that cannot be used, and why."""

    path: str
    id: str
    reason: str
    title: str = ""

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "id": self.id, "reason": self.reason}


def yaml_files(dirs: Iterable[str | Path]) -> Iterator[Path]:
    """Every ``.yml`` / ``.yaml`` file under ``dirs`` (or the file itself), sorted per folder."""
    for d in dirs:
        p = Path(d)
        if p.is_file():
            yield p
            continue
        yield from sorted(x for x in p.rglob("*") if x.suffix in (".yml", ".yaml") and x.is_file())
