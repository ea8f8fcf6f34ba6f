"""One walk of the staging tree, one rule for links, one list for counts, integrity and provenance."""

from __future__ import annotations

import os
from pathlib import Path

from mr_storage_initializer import install
from mr_storage_initializer.staged import StagedFile, walk


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"12345")
    (root / "sub" / "vocab.txt").write_bytes(b"abc")
    os.symlink("model.bin", root / "latest.bin")  # as an unpacked tar may hold
    os.symlink("sub", root / "linked-dir")
    return root


def test_links_are_listed_by_their_own_path_with_size_zero_and_never_followed(tmp_path: Path) -> None:
    tree = walk(_tree(tmp_path / "staging"))
    assert tree.files == (
        StagedFile("latest.bin", 0, link=True),
        StagedFile("linked-dir", 0, link=True),
        StagedFile("model.bin", 5),
        StagedFile("sub/vocab.txt", 3),
    )
    assert (tree.count, tree.bytes) == (4, 8)
    assert tree.regular == ["model.bin", "sub/vocab.txt"]


def test_provenance_lists_what_the_walk_found(tmp_path: Path) -> None:
    with install.open_destination(tmp_path / "models", lock_timeout=5) as dest, dest.staging() as staging:
        _tree(staging)
        tree = walk(staging)
        record = dest.commit(staging, {"fingerprint": "f"}, tree)
    assert [item["path"] for item in record["files"]] == [f.path for f in tree.files]
