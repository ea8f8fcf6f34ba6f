"""The files of one download below its staging directory, opened without following a link on the way.

:func:`.paths.open_beneath` walks a relative path one component at a time from directory file descriptors,
``O_NOFOLLOW`` on each: a file three directories deep costs four opens. A download opens each of its files
twice (to create it at its final size, then to write its ranges), so a tree of small files paid most of its
system calls walking the same few directories again. Here each directory of the tree is opened once, by
the same walk, and its descriptor kept for the rest of the run: a file costs one ``openat`` (``O_NOFOLLOW``)
from its directory's descriptor. A link planted in place of a staged file is still refused (``ELOOP``); a
directory replaced by a link after it was opened is never entered, since the run keeps writing into the
directory it opened. At most :data:`MAX_DIRS` descriptors are kept; deeper trees walk from the nearest
kept ancestor.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from pathlib import Path

from mr_storage_initializer.errors import DestinationError

MAX_DIRS = 256  # descriptors kept open per run, well under any file-descriptor limit
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class StagedFiles:
    """Open files below ``root`` (a staging directory the run made or checked) through kept directory fds."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def open(self, rel: str, flags: int, *, parents: bool = False) -> int:
        """``os.open`` of the staged file ``rel`` with ``flags`` (mode 0644), never through a link; a link on
        the way is a :class:`DestinationError`. ``parents``: create missing directories (mode 0755)."""
        parts = [p for p in rel.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise OSError(errno.EINVAL, f"not a plain relative path: {rel!r}")
        try:
            with self._lock:
                if self._closed:
                    raise OSError(errno.EBADF, "the download is over")
                fd, own = self._directory(parts[:-1], parents)
                try:
                    return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
                finally:
                    if own:
                        os.close(fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise DestinationError(
                    f"{rel}: a symbolic link replaced a staged file or directory in {self.root.parent}; "
                    "refusing to follow it"
                ) from None
            raise

    def _directory(self, parts: list[str], parents: bool) -> tuple[int, bool]:
        """The descriptor of the directory ``parts`` below root, and whether the caller must close it (not
        kept: over MAX_DIRS). Called with the lock held."""
        key = "/".join(parts)
        if key in self._dirs:
            return self._dirs[key], False
        if parts:
            parent, own_parent = self._directory(parts[:-1], parents)
            try:
                fd = _enter(parent, parts[-1], parents)
            finally:
                if own_parent:
                    os.close(parent)
        else:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if len(self._dirs) >= MAX_DIRS:
            return fd, True
        self._dirs[key] = fd
        return fd, False

    def close(self) -> None:
        """Close the kept descriptors; a worker still ending its range opens nothing more."""
        with self._lock:
            self._closed = True
            for fd in self._dirs.values():
                os.close(fd)
            self._dirs.clear()


def _enter(parent: int, name: str, create: bool) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=parent)
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def reserve(fd: int, size: int) -> None:
    """Give the file its final size, reserving the blocks where the file system can (a full disk fails here)."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise
        os.ftruncate(fd, size)
