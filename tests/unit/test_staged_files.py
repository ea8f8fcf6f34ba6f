"""Staged files opened from kept directory descriptors: one open per file, never through a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mr_storage_initializer.errors import DestinationError
from mr_storage_initializer.transfer import staged_files
from mr_storage_initializer.transfer.staged_files import StagedFiles

CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _write(staged: StagedFiles, rel: str, data: bytes, flags: int = CREATE) -> None:
    fd = staged.open(rel, flags, parents=True)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_files_in_nested_directories_are_created_and_reopened(tmp_path: Path) -> None:
    staged = StagedFiles(tmp_path)
    _write(staged, "a/b/c.bin", b"one")
    _write(staged, "a/b/d.bin", b"two")
    _write(staged, "top.bin", b"three")
    _write(staged, "a/b/c.bin", b"ONE", os.O_WRONLY)
    staged.close()
    assert (tmp_path / "a/b/c.bin").read_bytes() == b"ONE"
    assert (tmp_path / "a/b/d.bin").read_bytes() == b"two"
    assert (tmp_path / "top.bin").read_bytes() == b"three"


def test_a_link_in_place_of_a_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "staging"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(DestinationError, match=r"sub/x\.bin: a symbolic link replaced a staged file or directory"):
        _write(StagedFiles(root), "sub/x.bin", b"x")
    assert list(outside.iterdir()) == []


def test_a_directory_replaced_by_a_link_after_it_was_opened_is_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "staging"
    root.mkdir()
    staged = StagedFiles(root)
    _write(staged, "sub/a.bin", b"a")
    os.rename(root / "sub", root / "moved")
    (root / "sub").symlink_to(outside)
    _write(staged, "sub/b.bin", b"b")  # into the directory it opened, wherever that is now
    staged.close()
    assert list(outside.iterdir()) == []
    assert (root / "moved" / "b.bin").read_bytes() == b"b"


def test_a_link_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"P")
    root = tmp_path / "staging"
    root.mkdir()
    staged = StagedFiles(root)
    _write(staged, "a.bin", b"a")
    (root / "a.bin").unlink()
    (root / "a.bin").symlink_to(outside)
    with pytest.raises(DestinationError, match=r"a\.bin: a symbolic link replaced"):
        _write(staged, "a.bin", b"x", os.O_WRONLY)
    assert outside.read_bytes() == b"P"


def test_more_directories_than_kept_are_walked_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staged_files, "MAX_DIRS", 2)
    staged = StagedFiles(tmp_path)
    names = [f"d{i}/e{i}/f.bin" for i in range(5)]
    for name in names:
        _write(staged, name, name.encode())
    for name in names:
        _write(staged, name, name.upper().encode(), os.O_WRONLY)
    assert len(staged._dirs) == 2
    staged.close()
    assert {name: (tmp_path / name).read_bytes() for name in names} == {n: n.upper().encode() for n in names}


def test_nothing_is_opened_once_closed(tmp_path: Path) -> None:
    staged = StagedFiles(tmp_path)
    _write(staged, "a.bin", b"a")
    staged.close()
    with pytest.raises(OSError, match="the download is over"):
        _write(staged, "b.bin", b"b")
    assert not (tmp_path / "b.bin").exists()
