"""The staging tree, walked once after the download: the one list of what will be installed.

Its result feeds every later step: the transfer's file and byte counts (and its "no files" check), the
integrity check (regular files only: a link has no content of its own), and the provenance's file list.
Rule: every entry that is not a directory is listed by its own path; a symbolic link (to a file or to a
directory, from an unpacked tar) is listed with size 0 and ``link=True`` and never followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from mr_storage_initializer.values import dataclass


@dataclass(frozen=True)
class StagedFile:
    path: str  # relative, with ``/``
    size: int
    link: bool = False


@dataclass(frozen=True)
class StagedTree:
    files: tuple[StagedFile, ...] = ()

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def regular(self) -> list[str]:
        """The relative paths of the regular files (what has content to verify)."""
        return [f.path for f in self.files if not f.link]


def walk(root: Path) -> StagedTree:
    """Every non-directory entry below ``root``, sorted by path (one ``lstat`` per entry, from ``scandir``;
    a directory that cannot be read is skipped, as ``os.walk`` does)."""
    found: list[StagedFile] = []
    pending = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, rel + "/"))
            elif entry.is_symlink():
                found.append(StagedFile(rel, 0, link=True))
            else:
                found.append(StagedFile(rel, entry.stat(follow_symlinks=False).st_size))
    return StagedTree(tuple(sorted(found, key=lambda f: f.path)))
