"""Paths below the model directory: one sanitiser for every name that comes from outside (object keys,
URL file names, archive members and hard-link targets), and the no-follow rules for what DEST holds.

DEST is often a volume others can write (a PVC, a LocalModelCache volume, an emptyDir shared with the model
server), so nothing found in it is trusted as a path: a file we reopen, a staging directory we resume into,
the lock file, a trash directory a journal names. Every helper here looks at an entry itself, never at what
a symbolic link points to: ``lstat``, ``O_NOFOLLOW`` on each component (walked from a directory file
descriptor), ``os.fwalk`` that does not follow links, and removal that unlinks a link instead of walking
through it. The promise covers what DEST holds when a run looks at it; a writer racing the run inside the
directory is not covered (docs/reliability.md, "A hostile volume").
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from pathlib import Path

from mr_storage_initializer.errors import InitializerError, StorageError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(rel: str, *, backslash: bool) -> list[str] | None:
    """The components of ``rel`` without empty and ``.`` ones (``\\`` read as ``/`` when ``backslash``), or
    None when it is absolute or has a ``..`` component."""
    cleaned = rel.replace("\\", "/") if backslash else rel
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    return None if cleaned.startswith("/") or ".." in parts else parts


def safe_relpath(rel: str, what: str, *, error: type[InitializerError] = StorageError, empty_ok: bool = False) -> str:
    """``rel`` as a normalized relative path (``\\`` read as ``/``, empty and ``.`` parts dropped), or
    ``error`` when it is absolute or has a ``..`` part; ``""`` for a name that is only the directory itself
    (``.``, ``./``) when ``empty_ok``."""
    parts = _parts(rel, backslash=True)
    if not (parts or (parts is not None and empty_ok)):
        raise error(f"{what} {rel!r} would be written outside the model directory; refusing it")
    return posixpath.join(*parts) if parts else ""


# Names read back from the installer's own files (the provenance's file list, the commit journal) were
# written from what is on disk: a backslash there is a character of a name, not a separator, and a name
# that is not inside the directory is skipped (never touched), not an error.


def listed_path(value: object) -> str | None:
    """``value`` as a normalized path inside the directory (``./x`` is ``x``), or None when it is not a string
    naming something below the directory."""
    parts = _parts(value, backslash=False) if isinstance(value, str) else None
    return posixpath.join(*parts) if parts else None


def top_level(value: object) -> str | None:
    """The top-level entry a listed path is under (``x`` for ``./x/y``), or None (see :func:`listed_path`)."""
    path = listed_path(value)
    return path.split("/", 1)[0] if path else None


def plain_name(value: object) -> str | None:
    """``value`` if it is exactly one path component below the directory (not ``.``, ``..``, empty or with
    ``/``), else None."""
    return value if isinstance(value, str) and listed_path(value) == value and "/" not in value else None


def remove(path: Path, *, ignore_errors: bool = False) -> None:
    """Remove ``path`` itself: a real directory with its contents (``shutil.rmtree`` walks by file descriptor
    and never follows a link inside), anything else (a symbolic link included, whatever it points to) unlinked."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError:
        if ignore_errors:
            return
        raise
    if stat.S_ISDIR(mode):
        with contextlib.suppress(OSError):  # an empty directory (a staging or trash one, mostly) goes at once
            os.rmdir(path)
            return
        import shutil  # only for a directory with contents

        shutil.rmtree(path, ignore_errors=ignore_errors)
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError:
        if not ignore_errors:
            raise


def is_real_dir(path: Path) -> bool:
    """Whether ``path`` itself is a directory (not a link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_file(path: Path) -> bool:
    """Whether ``path`` itself is a regular file (not a link to one)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def regular_size(root: Path, rel: str) -> int | None:
    """The size of the regular file ``rel`` below the real directory ``root``, reached without following a
    link at any component; None when it is missing, is not a regular file, has other hard links (a name for
    a file elsewhere on the volume, which a write would change too), or the way to it has a link."""
    try:
        fd = open_beneath(root, rel, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    return info.st_size if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 else None


def open_beneath(root: Path, rel: str, flags: int, mode: int = 0o644, *, parents: bool = False) -> int:
    """``os.open`` of ``rel`` below ``root``, one component at a time from directory file descriptors, with
    ``O_NOFOLLOW`` on every one below ``root``: a symbolic link anywhere on the way is ``ELOOP`` (or
    ``ENOTDIR``), never followed. ``root`` is the caller's (a staging directory it made or checked with
    :func:`is_real_dir`). ``parents``: create missing directories on the way (mode 0755)."""
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise OSError(errno.EINVAL, f"not a plain relative path: {rel!r}")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not parents:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
    finally:
        os.close(fd)


def read_text(path: Path) -> str:
    """The text of the regular file ``path``; ``OSError`` (``ELOOP``) when ``path`` is a symbolic link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        return handle.read().decode("utf-8")


def write_text(root: Path, name: str, text: str) -> None:
    """Create or replace ``root/name`` with ``text`` without following a link planted at that name."""
    fd = open_beneath(root, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(text.encode("utf-8"))


def prune(root: Path, keep: set[str]) -> None:
    """Below the real directory ``root``: unlink every entry that is not a regular file listed in ``keep``
    (relative paths with ``/``), symbolic links whatever they point to, then remove the directories left
    empty. Walks by directory file descriptor and never through a link (``root`` itself included)."""
    if not is_real_dir(root):
        return
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, topdown=False, follow_symlinks=False):
        base = Path(dirpath).relative_to(root)
        for name in filenames + dirnames:
            info = os.lstat(name, dir_fd=dirfd)
            rel = (base / name).as_posix()
            if stat.S_ISDIR(info.st_mode):
                try:
                    os.rmdir(name, dir_fd=dirfd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
            elif not (stat.S_ISREG(info.st_mode) and rel in keep):
                os.unlink(name, dir_fd=dirfd)


def identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the directory ``path`` (links followed: what the path really is), if it exists."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


Location = tuple[tuple[object, ...], ...]


def location(path: Path) -> Location:
    """What ``path`` is, decided on the file system and not on its spelling: the directories from ``/`` to it,
    each existing one by its identity (``st_dev``, ``st_ino``: a bind mount of a directory is that
    directory), each missing one by its nearest existing ancestor's identity and the names below it.

    ``path`` is resolved as the kernel would (``os.path.realpath`` of the path joined to the working
    directory, never ``abspath``: ``L/../B`` with ``L`` a link is the ``B`` beside the link's target)."""
    real = Path(os.path.realpath(Path.cwd() / path))
    chain: list[tuple[object, ...]] = []
    anchor: tuple[object, ...] = ()
    missing: list[str] = []
    for depth, name in enumerate(real.parts):
        if not missing:  # below a missing directory nothing exists
            try:
                info = os.stat(Path(*real.parts[: depth + 1]))
            except OSError:
                pass
            else:
                anchor = (info.st_dev, info.st_ino)
                chain.append(anchor)
                continue
        missing.append(name)
        chain.append((*anchor, *missing))
    return tuple(chain)


def overlap(first: Path, second: Path) -> str | None:
    """``"same"`` when two paths are one directory, ``"nested"`` when one is inside the other (both decided
    by :func:`location`), else None."""
    a, b = location(first), location(second)
    if a[-1] == b[-1]:
        return "same"
    if a[-1] in b or b[-1] in a:
        return "nested"
    return None


def remove_empty_dirs(root: Path) -> list[str]:
    """Remove every directory below ``root`` that holds nothing (bottom-up, so a chain of empty directories
    goes whole; links are not followed); return the ones that were empty to begin with, as ``rel/``."""
    removed: list[str] = []
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, topdown=False, follow_symlinks=False):
        if Path(dirpath) == root or os.listdir(dirfd):
            continue
        rel = Path(dirpath).relative_to(root).as_posix() + "/"
        os.rmdir(dirpath)
        if not dirnames and not filenames:
            removed.append(rel)
    return sorted(removed)
