"""One sanitiser for every outside name (keys, URL names, archive members), one removal, and the no-follow
helpers for what DEST holds (issue #20 item 3)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from mr_storage_initializer.errors import ArchiveError, StorageError
from mr_storage_initializer.paths import (
    identity,
    is_real_dir,
    is_real_file,
    listed_path,
    open_beneath,
    plain_name,
    prune,
    read_text,
    regular_size,
    remove,
    remove_empty_dirs,
    safe_relpath,
    top_level,
    write_text,
)


@pytest.mark.parametrize("name", ["../x", "a/../b", "a/../../x", "/abs", "\\abs", "a\\..\\b"])
@pytest.mark.parametrize("error", [StorageError, ArchiveError])
def test_a_dotdot_part_or_an_absolute_name_is_refused_for_keys_and_archive_members(
    name: str, error: type[StorageError]
) -> None:
    with pytest.raises(error, match="outside the model directory"):
        safe_relpath(name, "member", error=error)


def test_the_directory_itself_is_empty_only_where_allowed() -> None:
    assert safe_relpath("./", "archive member", empty_ok=True) == ""
    with pytest.raises(StorageError):
        safe_relpath("./", "key")


@pytest.mark.parametrize(
    ("value", "path", "top", "plain"),
    [
        ("./x", "x", "x", None),
        ("x", "x", "x", "x"),
        ("./x/y", "x/y", "x", None),
        ("a//b/./c", "a/b/c", "a", None),
        ("a\\b", "a\\b", "a\\b", "a\\b"),  # read back from disk: a backslash is part of the name
        (".", None, None, None),
        ("", None, None, None),
        ("..", None, None, None),
        ("a/../../x", None, None, None),
        ("/etc", None, None, None),
        (7, None, None, None),
    ],
)
def test_names_read_back_from_our_own_files_are_normalized_or_skipped(
    value: object, path: str | None, top: str | None, plain: str | None
) -> None:
    assert (listed_path(value), top_level(value), plain_name(value)) == (path, top, plain)


def test_a_link_to_a_file_is_not_a_real_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    os.symlink("f", tmp_path / "link")
    assert is_real_file(tmp_path / "f")
    assert not is_real_file(tmp_path / "link") and not is_real_file(tmp_path) and not is_real_file(tmp_path / "no")


def test_remove_unlinks_a_link_to_a_directory_and_keeps_its_target(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "f").write_text("x")
    os.symlink("target", tmp_path / "link")
    remove(tmp_path / "link")
    remove(tmp_path / "missing")
    assert (tmp_path / "target" / "f").exists() and not (tmp_path / "link").exists()
    remove(tmp_path / "target")
    assert not (tmp_path / "target").exists()


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "file").write_text("theirs")
    (outside / "sub" / "file").write_text("theirs")
    return outside


@pytest.mark.parametrize("rel", ["link", "dirlink/file", "real/dirlink/file"])
def test_open_beneath_never_follows_a_link_on_the_way(tmp_path: Path, rel: str) -> None:
    outside = _outside(tmp_path)
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "link").symlink_to(outside / "file")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "real" / "dirlink").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OSError) as caught:
        open_beneath(root, rel, os.O_WRONLY | os.O_TRUNC)
    assert caught.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert regular_size(root, rel) is None
    assert (outside / "file").read_text() == "theirs" and (outside / "sub" / "file").read_text() == "theirs"


def test_open_beneath_creates_missing_directories_and_refuses_dotdot(tmp_path: Path) -> None:
    fd = open_beneath(tmp_path, "a/b/c.bin", os.O_WRONLY | os.O_CREAT | os.O_EXCL, parents=True)
    os.write(fd, b"xyz")
    os.close(fd)
    assert regular_size(tmp_path, "a/b/c.bin") == 3
    with pytest.raises(OSError):
        open_beneath(tmp_path, "a/../a/b/c.bin", os.O_RDONLY)


def test_prune_unlinks_links_and_keeps_only_listed_regular_files(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "kept.bin").write_bytes(b"k")
    (root / "d" / "stray").write_bytes(b"s")
    (root / "d" / "dirlink").symlink_to(outside, target_is_directory=True)
    (root / "filelink").symlink_to(outside / "file")
    prune(root, {"d/kept.bin", "filelink", "d/dirlink/file"})
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == ["d", "d/kept.bin"]
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == ["file", "sub", "sub/file"]


def test_prune_does_not_walk_a_root_that_is_a_link(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (tmp_path / "root").symlink_to(outside, target_is_directory=True)
    prune(tmp_path / "root", set())
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == ["file", "sub", "sub/file"]


def test_read_and_write_text_never_go_through_a_link(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (tmp_path / "planted").symlink_to(outside / "file")
    with pytest.raises(OSError):
        read_text(tmp_path / "planted")
    with pytest.raises(OSError):
        write_text(tmp_path, "planted", "ours")
    assert (outside / "file").read_text() == "theirs"
    write_text(tmp_path, "fresh", "ours")
    assert read_text(tmp_path / "fresh") == "ours"


def test_a_link_to_a_directory_is_not_a_real_directory_but_has_its_identity(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    assert is_real_dir(outside) and not is_real_dir(tmp_path / "link")
    assert identity(tmp_path / "link") == identity(outside) is not None
    assert identity(tmp_path / "missing") is None


def test_remove_empty_dirs_removes_chains_and_reports_the_ones_empty_from_the_start(tmp_path: Path) -> None:
    (tmp_path / "deep" / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "evil").mkdir()
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "vocab.txt").write_text("a")
    assert remove_empty_dirs(tmp_path) == ["deep/a/b/c/", "evil/"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["tok", "tok/vocab.txt"]
