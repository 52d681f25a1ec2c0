"""Every reader and detector module is listed in its registry; a duplicate name raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import shoreup
from shoreup import detect, sources
from shoreup._registry import Registry
from shoreup.errors import UsageError

PKG = Path(shoreup.__file__).parent


def _modules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}


def test_every_reader_module_is_listed() -> None:
    listed = {m.rsplit(".", 1)[1] for m in sources.REGISTRY.values()}
    helpers = {"inputs"}  # not readers
    assert _modules(PKG / "sources") - helpers == listed


@pytest.mark.parametrize("name", sources.names())
def test_reader_loads_and_declares_contract(name: str) -> None:
    module = sources.load(name)
    assert module.FORMAT == name
    assert callable(module.sniff) and callable(module.read)
    assert (module.__doc__ or "").strip(), "the first docstring line is the reader's help text"


def test_every_detector_module_is_listed() -> None:
    listed = set(detect.REGISTRY.values())
    found = {
        "shoreup.detect." + ".".join(p.relative_to(PKG / "detect").with_suffix("").parts)
        for p in (PKG / "detect").rglob("*.py")
        if not p.stem.startswith("_") and p.parent.name in ("credential",)
    }
    found.add("shoreup.detect.sigma")  # a package: its __init__ is the detector
    assert found == listed


@pytest.mark.parametrize("name", detect.names())
def test_detector_declares_contract(name: str) -> None:
    module = detect.load(name)
    assert module.NAME == name and callable(module.detect)
    module.Params()  # every parameter has a default


def test_duplicate_names_raise() -> None:
    with pytest.raises(ValueError, match="twice"):
        Registry("format", "FORMAT", [("a", "x"), ("a", "y")])


def test_unknown_name_is_a_usage_error_and_a_wrong_declaration_an_error() -> None:
    with pytest.raises(UsageError, match="unknown format 'nope'"):
        sources.load("nope")
    with pytest.raises(ValueError, match="declares FORMAT"):
        Registry("format", "FORMAT", [("other", "shoreup.sources.sshd")]).load("other")
