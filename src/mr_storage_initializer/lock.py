"""An exclusive, inter-process lock on a destination directory (``fcntl.flock`` on a lock file).

The lock file is removed when the lock is released, so a finished or failed run leaves nothing behind.
A waiter that wins the lock checks that the file it locked is still the one at the path (a previous
holder may have unlinked it) and starts over if not: two holders can never both believe they own it.
The lock file is opened with ``O_NOFOLLOW``: a symbolic link planted at its name (DEST may be a volume
others write) is unlinked, never followed, so the run creates nothing outside DEST.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mr_storage_initializer.errors import DestinationError

log = logging.getLogger("mr_storage_initializer.lock")
POLL_SECONDS = 0.1


def _try_lock(path: Path) -> int | None:
    """An fd holding the lock on the file now at ``path``, or None if another process holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        log.warning("removing a symbolic link at %s (not ours; never followed)", path, extra={"step": "lock"})
        os.unlink(path)
        return _try_lock(path)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "it is not a regular file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    try:
        same = os.fstat(fd).st_ino == os.lstat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # the holder before us unlinked it after we opened it
        os.close(fd)
        return _try_lock(path)
    return fd


@contextmanager
def locked(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold the lock at ``path`` for the ``with`` block, waiting up to ``timeout`` seconds for it."""
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            fd = _try_lock(path)
        except OSError as exc:
            raise DestinationError(f"cannot create the lock file {path}: {exc.strerror}") from None
        if fd is not None:
            break
        if not announced:
            log.info(
                "another initializer is installing into %s; waiting up to %.0fs for it",
                path.parent,
                timeout,
                extra={"step": "lock"},
            )
            announced = True
        if time.monotonic() >= deadline:
            raise DestinationError(
                f"another initializer still holds {path} after {timeout:.0f}s; "
                "if none is running, the lock is stale only if its holder is stuck (raise MODEL_REGISTRY_LOCK_TIMEOUT)"
            )
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
