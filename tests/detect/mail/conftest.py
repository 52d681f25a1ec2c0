"""Fixtures for mail triage tests."""

from __future__ import annotations

import pathlib

import pytest


@pytest.fixture
def write(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    counter = iter(range(10_000))

    def _write(data: bytes, name: str = "") -> str:
        path = tmp_path / (name or f"m{next(counter)}.eml")
        path.write_bytes(data)
        return str(path)

    return _write
