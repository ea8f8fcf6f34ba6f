"""The digest service: each file hashed once and remembered while unchanged; one listing comparison."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mr_storage_initializer import digests
from mr_storage_initializer.digests import Difference, Digests, FileDigest, compare, file_digest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The files read for hashing (by descriptor's inode), each time one is."""
    seen: list[int] = []
    real = digests.hash_range

    def counted(fd: int, hasher: object, offset: int, end: int | None, buffer: memoryview) -> int:
        seen.append(os.fstat(fd).st_ino)
        return real(fd, hasher, offset, end, buffer)

    monkeypatch.setattr(digests, "hash_range", counted)
    return seen


def test_a_file_is_read_once_for_two_checks_and_again_once_changed(tmp_path: Path, reads: list[int]) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 3_000_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"b")
    service = Digests(tmp_path)
    first = service.sha256(["a.bin", "sub/b.bin"])
    assert first == {"a.bin": _sha(b"a" * 3_000_000), "sub/b.bin": _sha(b"b")}
    assert service.sha256(["sub/b.bin", "a.bin"]) == first
    assert len(reads) == 2
    (tmp_path / "sub" / "b.bin").write_bytes(b"changed")
    os.utime(tmp_path / "sub" / "b.bin", ns=(1, 1))  # a change the mtime alone would not show: the size does
    assert service.sha256(["sub/b.bin"]) == {"sub/b.bin": _sha(b"changed")}
    assert len(reads) == 3
    assert service.computed() == {"a.bin": first["a.bin"], "sub/b.bin": _sha(b"changed")}


def test_a_digest_from_the_download_is_used_while_the_file_is_unchanged(tmp_path: Path, reads: list[int]) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(b"model")
    st = path.stat()
    known = {"m.bin": FileDigest("f" * 64, st.st_ino, st.st_size, st.st_mtime_ns)}  # as prehash gives it
    assert Digests(tmp_path, known).sha256(["m.bin"]) == {"m.bin": "f" * 64}
    assert reads == []
    path.write_bytes(b"model, unpacked over")
    assert Digests(tmp_path, known).sha256(["m.bin"]) == {"m.bin": _sha(b"model, unpacked over")}


def test_file_digests_never_follow_a_link(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    os.symlink("real", tmp_path / "link")
    assert file_digest(tmp_path, "real") == _sha(b"x")
    assert file_digest(tmp_path, "real", "sha512") == hashlib.sha512(b"x").hexdigest()
    with pytest.raises(OSError):
        file_digest(tmp_path, "link")


@pytest.mark.parametrize(
    ("expected", "found"),
    [
        ({"a": _sha(b"a"), "b": _sha(b"b"), "gone": _sha(b"")}, Difference("gone", "missing")),
        ({"a": _sha(b"a")}, Difference("b", "unlisted")),
        ({"b": _sha(b"x"), "a": _sha(b"y")}, Difference("b", "digest", _sha(b"b"))),  # first in listing order
        ({"a": _sha(b"a").upper(), "b": _sha(b"b")}, None),
    ],
)
def test_a_listing_is_compared_with_the_files_missing_then_unlisted_then_digests(
    tmp_path: Path, expected: dict[str, str], found: Difference | None
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    assert compare(expected, ["a", "b"], Digests(tmp_path)) == found
