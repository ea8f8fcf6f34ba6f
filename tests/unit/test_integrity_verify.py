"""integrity.verify, in process: digests from the artifact or the version, every file listed, links skipped."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from mr_storage_initializer.errors import IntegrityError
from mr_storage_initializer.integrity import verify
from mr_storage_initializer.resolve import Artifact, Entity, Resolution
from mr_storage_initializer.staged import walk


def _resolution(artifact_props: dict[str, str] | None = None, version_props: dict[str, str] | None = None) -> Any:
    def props(values: dict[str, str] | None) -> dict[str, Any]:
        return {k: {"string_value": v, "metadataType": "MetadataStringValue"} for k, v in (values or {}).items()}

    version = Entity("2", "v1", "LIVE", raw={"customProperties": props(version_props)})
    artifact = Artifact("3", "m", "LIVE", uri="s3://b/m", raw={"customProperties": props(artifact_props)})
    return Resolution("model-registry://m/v1", "http://r", Entity("1", "m", "LIVE"), version, artifact)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"aaa")
    (tmp_path / "sub" / "b.txt").write_bytes(b"bb")
    os.symlink("a.bin", tmp_path / "latest.bin")  # a link has no content of its own: not listed, not counted
    return tmp_path


def test_no_digest_given_verifies_nothing(staging: Path) -> None:
    assert verify(_resolution(), staging) == 0


def test_sha256sums_from_the_version_verify_every_regular_file(staging: Path) -> None:
    sums = f"{_sha(b'aaa')}  a.bin\n{_sha(b'bb')} *./sub/b.txt\n"
    assert verify(_resolution(version_props={"sha256sums": sums}), staging, walk(staging)) == 2


def test_the_artifact_wins_over_the_version(staging: Path) -> None:
    good = f"{_sha(b'aaa')}  a.bin\n{_sha(b'bb')}  sub/b.txt"
    assert verify(_resolution({"sha256sums": good}, {"sha256sums": "garbage"}), staging) == 2


@pytest.mark.parametrize(
    ("sums", "message"),
    [
        (f"{'0' * 64}  a.bin\n{_sha(b'bb')}  sub/b.txt", "sha256 mismatch for 'a.bin'"),
        (f"{_sha(b'aaa')}  a.bin", "'sub/b.txt' was downloaded but is not listed"),
        (f"{_sha(b'aaa')}  a.bin\n{_sha(b'bb')}  sub/b.txt\n{_sha(b'')}  c.bin", "'c.bin' is listed in sha256sums"),
        ("not a line", "line 1 of the model version's sha256sums"),
    ],
)
def test_a_wrong_or_incomplete_list_is_an_integrity_error(staging: Path, sums: str, message: str) -> None:
    with pytest.raises(IntegrityError) as caught:
        verify(_resolution(version_props={"sha256sums": sums}), staging)
    assert message in caught.value.message


def test_one_sha256_needs_exactly_one_file(staging: Path) -> None:
    with pytest.raises(IntegrityError, match="installs 2 files; use sha256sums"):
        verify(_resolution({"sha256": _sha(b"aaa")}), staging)
    (staging / "sub" / "b.txt").unlink()
    assert verify(_resolution({"sha256": _sha(b"aaa").upper()}), staging) == 1
    with pytest.raises(IntegrityError, match="is not a hex SHA-256"):
        verify(_resolution({"sha256": "xyz"}), staging)
