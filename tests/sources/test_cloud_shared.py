"""The cloud readers on the public field-shape samples in ../shared/data (skipped when absent)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from shoreup import sources
from shoreup.sources import cloudtrail, entra, okta
from tests.helpers import read_bytes


@pytest.mark.shared
@pytest.mark.parametrize(("folder", "reader"), [("azure", entra), ("okta", okta), ("aws", cloudtrail)])
def test_field_shapes(shared_data: Path, folder: str, reader: object) -> None:
    files = sorted((shared_data / "field-shapes" / folder).iterdir())
    assert files
    for path in files:
        data = path.read_bytes()
        assert sources.sniff(data[:4096], path.name) == reader.FORMAT  # type: ignore[attr-defined]
        out, stats = read_bytes(reader, data, path.name)  # type: ignore[arg-type]
        assert not stats.damage, [str(d) for d in stats.damage]
        assert stats.records_read == stats.events + sum(stats.skipped.values())
        assert stats.records_read == len(data.strip().splitlines())
        assert len(out["raw"]) == stats.events and out["auth"]


@pytest.mark.shared
def test_mordor_cloudtrail_and_other_cloud_exports(shared_data: Path) -> None:
    mordor = shared_data / "mordor" / "datasets"
    with zipfile.ZipFile(mordor / "atomic/aws/collection/ec2_proxy_s3_exfiltration.zip") as archive:
        for member in archive.namelist():
            data = archive.read(member)
            assert cloudtrail.sniff(data[:4096], member)
            out, stats = read_bytes(cloudtrail, data, f"x.zip!{member}")
            assert stats.events == len(data.splitlines()) == len(out["raw"]) and not stats.damage
    # Azure AD audit, Defender and Office exports are not sign-ins: none of these readers claims them.
    for archive_path in sorted((mordor / "compound" / "GoldenSAMLADFSMailAccess").glob("*.Zip")):
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.namelist():
                head = archive.open(member).read(4096)
                for reader in (entra, okta, cloudtrail):
                    assert not reader.sniff(head, member), (reader.FORMAT, member)
                _ = io.BytesIO(head)
