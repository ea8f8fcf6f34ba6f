"""One sanitiser for every outside name (keys, URL names, archive members) and one removal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mr_storage_initializer.errors import ArchiveError, StorageError
from mr_storage_initializer.paths import remove, safe_relpath


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


def test_remove_unlinks_a_link_to_a_directory_and_keeps_its_target(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "f").write_text("x")
    os.symlink("target", tmp_path / "link")
    remove(tmp_path / "link")
    remove(tmp_path / "missing")
    assert (tmp_path / "target" / "f").exists() and not (tmp_path / "link").exists()
    remove(tmp_path / "target")
    assert not (tmp_path / "target").exists()
