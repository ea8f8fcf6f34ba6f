"""Safe extraction of tar, tar.gz/tgz and zip artifacts, as KServe unpacks them, but refusing harm.

Refused (``ArchiveError``, exit 5), with nothing left behind: members with absolute paths or ``..``
components, links (symbolic or hard) pointing outside the destination, device files, FIFOs, and archives
that expand past ``max_bytes`` or ``max_ratio`` times their own size or hold more than ``max_members``
entries (zip bombs). The archive is removed after a successful extraction, as KServe does.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path
from typing import IO

from mr_storage_initializer.errors import ArchiveError
from mr_storage_initializer.options import Limits
from mr_storage_initializer.paths import is_real_file, remove, safe_relpath

__all__ = [
    "Budget",
    "Limits",
    "archive_kind",
    "copy_member",
    "extract",
    "file_mode",
    "inside",
    "make_room",
    "raised_by_disk",
]

_CHUNK = 1024 * 1024


def archive_kind(name: str) -> str | None:
    """``"tar"``, ``"zip"`` or ``None``, by file name, as KServe decides whether to unpack.

    KServe asks ``mimetypes``: ``application/x-tar`` (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``,
    ``.tar.xz``, …) is a tar, ``application/zip`` a zip.
    """
    mimetype, _ = mimetypes.guess_type(name.lower(), strict=True)
    if mimetype == "application/x-tar":
        return "tar"
    if mimetype == "application/zip":
        return "zip"
    return None


def _safe_name(name: str, what: str) -> str:
    return safe_relpath(name, f"{what} member", error=ArchiveError, empty_ok=True)


def inside(root: Path, path: Path, member: str) -> None:
    """Refuse ``path`` unless it resolves, through any links already extracted, to a place below ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise ArchiveError(f"archive member {member!r} would be written outside the model directory (through a link)")


def _check_link_target(root: Path, target: Path, member: str, link: str) -> None:
    if link.startswith("/"):
        raise ArchiveError(f"archive member {member!r} links to {link!r}, outside the model directory")
    try:
        inside(root, target.parent / link, member)
    except ArchiveError:
        raise ArchiveError(f"archive member {member!r} links to {link!r}, outside the model directory") from None


class Budget:
    """The archive limits while one archive is extracted: its members counted, the bytes written added up."""

    def __init__(self, archive_size: int, limits: Limits) -> None:
        self.limit = min(limits.max_bytes, int(max(archive_size, 1) * limits.max_ratio))
        self.limits = limits
        self.written = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(f"archive has more than {self.limits.max_members} members")

    def add(self, n: int) -> None:
        self.written += n
        if self.written > self.limit:
            raise ArchiveError(
                f"archive expands past {self.limit} bytes (limits: {self.limits.max_ratio:g}x its size, "
                f"{self.limits.max_bytes} bytes); refusing a possible zip bomb"
            )


def make_room(root: Path, name: str, member: str, *, directory: bool) -> Path:
    """Where the member ``name`` goes below ``root`` (refused when a link already extracted would take it
    outside): a directory is made there, else the directory that holds it."""
    target = root / name
    inside(root, target.parent, member)
    (target if directory else target.parent).mkdir(parents=True, exist_ok=True)
    return target


def copy_member(source: IO[bytes], target: Path, budget: Budget, chunk: int = _CHUNK) -> None:
    """Write the new file ``target`` from ``source`` (then closed), every chunk counted against ``budget``."""
    with source, open(target, "xb") as out:
        while data := source.read(chunk):
            budget.add(len(data))
            out.write(data)


def file_mode(mode: int) -> int:
    """The permissions of an extracted file whose member's mode is ``mode``: rw-r--r--, and executable by all
    when its owner may execute it."""
    return 0o644 | (0o111 if mode & 0o100 else 0)


def raised_by_disk(exc: BaseException) -> bool:
    """Whether ``exc``, raised while unpacking, is the local disk's to report (an OSError with an errno: full,
    read-only, …) rather than a sign of a bad archive (a name already written by an earlier member is one)."""
    return isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, FileExistsError)


def _extract_tar(path: Path, dest: Path, budget: Budget) -> None:
    import tarfile

    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            budget.member()
            name = _safe_name(member.name, "tar")
            if not name:
                continue
            target = make_room(dest, name, member.name, directory=member.isdir())
            if member.isdir():
                continue
            if member.isfile():
                budget.add(0)
                source = archive.extractfile(member)
                if source is None:
                    raise ArchiveError(f"archive member {member.name!r} cannot be read")
                copy_member(source, target, budget)
                os.chmod(target, file_mode(member.mode))
            elif member.issym():
                _check_link_target(dest, target, member.name, member.linkname)
                os.symlink(member.linkname, target)
            elif member.islnk():
                link = _safe_name(member.linkname, "tar hard link")
                source_path = dest / link
                if not is_real_file(source_path):
                    raise ArchiveError(f"archive member {member.name!r} is a hard link to {member.linkname!r}")
                budget.add(source_path.stat().st_size)
                import shutil

                shutil.copyfile(source_path, target)
            else:
                raise ArchiveError(f"archive member {member.name!r} is a device, FIFO or other special file")


def _extract_zip(path: Path, dest: Path, budget: Budget) -> None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            budget.member()
            name = _safe_name(info.filename, "zip")
            if not name:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"archive member {info.filename!r} is a symbolic link; links are not allowed in zip")
            # Many zip writers set only permission bits (no file type): that is a regular file.
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ArchiveError(f"archive member {info.filename!r} is a device, FIFO or other special file")
            target = make_room(dest, name, info.filename, directory=info.is_dir())
            if not info.is_dir():
                copy_member(archive.open(info), target, budget)


def extract(path: Path, dest: Path, *, limits: Limits | None = None) -> None:
    """Extract ``path`` into ``dest`` safely, then delete ``path``; on any refusal ``dest`` keeps nothing new."""
    kind = archive_kind(path.name)
    if kind is None:
        raise ArchiveError(f"{path.name!r} is not a tar or zip archive")
    import tarfile  # only when there is an archive to unpack
    import zipfile

    budget = Budget(path.stat().st_size, limits or Limits())
    before = set(dest.iterdir())
    try:
        if kind == "tar":
            _extract_tar(path, dest, budget)
        else:
            _extract_zip(path, dest, budget)
    except ArchiveError:
        _remove_new(dest, before)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        _remove_new(dest, before)
        if raised_by_disk(exc):
            raise
        raise ArchiveError(
            f"cannot unpack {path.name!r}: it is corrupt or not a valid {kind} archive ({exc})"
        ) from None
    path.unlink()


def _remove_new(dest: Path, before: set[Path]) -> None:
    for entry in set(dest.iterdir()) - before:
        remove(entry, ignore_errors=True)
