"""Atomic, restart-safe installs into DEST_PATH.

A model is downloaded into a staging directory inside DEST_PATH (same file system), then its top-level
entries are renamed into DEST_PATH and the provenance file is written last: its presence means the
install is complete. Before the renames a journal lists them, so a run killed half-way is rolled back by
the next run. Entries DEST_PATH already had that are not ours are never touched; a name clash is an error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mr_storage_initializer import lock
from mr_storage_initializer.errors import DestinationError, StorageError

log = logging.getLogger("mr_storage_initializer.install")

PROVENANCE = ".model-registry.json"
LOCK = ".model-registry.lock"
JOURNAL = ".model-registry.pending.json"
STAGING_PREFIX = ".mr-staging-"
SCRATCH_PREFIX = ".mr-scratch-"
RESERVED = frozenset({PROVENANCE, LOCK, JOURNAL})


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int


def prepare(dest: Path) -> Path:
    """Make sure ``dest`` is a writable directory (creating it if needed); return it absolute."""
    dest = dest.absolute()
    try:
        if dest.exists() and not dest.is_dir():
            raise DestinationError(f"destination {dest} exists and is not a directory")
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DestinationError(f"cannot create or open destination directory {dest}: {exc.strerror}") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise DestinationError(f"destination {dest} is not writable by uid {os.getuid()}")
    return dest


def list_files(root: Path) -> list[FileEntry]:
    """Regular files below ``root`` with their sizes, sorted; symlinks are listed by their own path."""
    entries: list[FileEntry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath, name)
            size = 0 if full.is_symlink() else full.stat().st_size
            entries.append(FileEntry(full.relative_to(root).as_posix(), size))
    return entries


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # the model server may run as another uid
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class Destination:
    """DEST_PATH while this process holds its lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading --------------------------------------------------------------------------------------
    def provenance(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / PROVENANCE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring unreadable %s", self.root / PROVENANCE, extra={"step": "installed"})
            return None
        return data if isinstance(data, dict) else None

    def installed(self, fingerprint: str) -> dict[str, Any] | None:
        """The provenance of a complete install of the artifact ``fingerprint`` names, if DEST has one."""
        data = self.provenance()
        if data is None or data.get("fingerprint") != fingerprint:
            return None
        files = data.get("files")
        if not isinstance(files, list) or not files:
            return None
        for item in files:
            if not isinstance(item, dict):
                return None
            path = self.root / str(item.get("path", ""))
            try:
                if path.lstat().st_size != item.get("size") and not path.is_symlink():
                    return None
            except OSError:
                return None
        return data

    # -- writing --------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Undo what a killed predecessor left: its staging directories and a half-done install."""
        from mr_storage_initializer.transfer.resume import keep_leftover

        for prefix in (STAGING_PREFIX, SCRATCH_PREFIX):
            for leftover in self.root.glob(f"{prefix}*"):
                if keep_leftover(leftover):  # a killed download of an artifact, kept to resume it
                    continue
                log.info("removing leftover directory %s", leftover.name, extra={"step": "recover"})
                _remove(leftover)
        journal = self.root / JOURNAL
        try:
            pending = json.loads(journal.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            pending = {}
        names = pending.get("entries", []) if isinstance(pending, dict) else []
        log.warning("rolling back an interrupted install of %d entries", len(names), extra={"step": "recover"})
        for name in names:
            if isinstance(name, str) and name and "/" not in name and name not in RESERVED:
                _remove(self.root / name)
        (self.root / PROVENANCE).unlink(missing_ok=True)
        journal.unlink()

    @contextmanager
    def staging(self, prefix: str = STAGING_PREFIX) -> Iterator[Path]:
        """A fresh staging directory inside DEST, removed when the block ends (success or not)."""
        try:
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))
        except OSError as exc:
            raise DestinationError(f"cannot create a staging directory in {self.root}: {exc.strerror}") from None
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def scratch_tmpdir(self) -> Iterator[Path]:
        """TMPDIR inside DEST for the libraries' temporary files, so the root file system may be read-only."""
        with self.staging(SCRATCH_PREFIX) as scratch:
            saved = os.environ.get("TMPDIR")
            os.environ["TMPDIR"] = str(scratch)
            tempfile.tempdir = None  # forget the cached default
            try:
                yield scratch
            finally:
                if saved is None:
                    os.environ.pop("TMPDIR", None)
                else:
                    os.environ["TMPDIR"] = saved
                tempfile.tempdir = None

    def commit(self, staging: Path, record: dict[str, Any]) -> dict[str, Any]:
        """Move the staged model into place and write the provenance ``record`` (plus the file list) last."""
        entries = sorted(p.name for p in staging.iterdir())
        reserved = [n for n in entries if n in RESERVED or n.startswith((STAGING_PREFIX, SCRATCH_PREFIX))]
        if reserved:
            raise StorageError(f"the artifact contains {reserved[0]!r}, a name reserved for the installer")
        files = list_files(staging)
        previous = self.provenance()
        ours = _top_level_names(previous) if previous else set()
        clashes = [n for n in entries if (self.root / n).exists() and n not in ours]
        if clashes:
            raise DestinationError(
                f"destination {self.root} already has {clashes[0]!r}, which is not from a previous install; "
                "empty the directory or choose another one"
            )
        journal = self.root / JOURNAL
        _write_json_atomically(journal, {"entries": entries})
        try:
            (self.root / PROVENANCE).unlink(missing_ok=True)
            for name in sorted(ours):
                _remove(self.root / name)
            for name in entries:
                os.rename(staging / name, self.root / name)
            _fsync_dir(self.root)
            record = {**record, "files": [{"path": f.path, "size": f.size} for f in files]}
            _write_json_atomically(self.root / PROVENANCE, record)
        except BaseException as exc:  # an OSError, or a signal between two renames: undo at once
            self.recover()
            if isinstance(exc, OSError):
                raise DestinationError(f"installing into {self.root} failed: {exc.strerror}") from exc
            raise
        journal.unlink()
        _fsync_dir(self.root)
        return record


def _top_level_names(provenance: dict[str, Any]) -> set[str]:
    files = provenance.get("files")
    names: set[str] = set()
    if isinstance(files, list):
        for item in files:
            path = item.get("path") if isinstance(item, dict) else None
            if isinstance(path, str) and path and not path.startswith(("/", "..")):
                top = path.split("/", 1)[0]
                if top not in RESERVED:
                    names.add(top)
    return names


@contextmanager
def open_destination(dest: Path, *, lock_timeout: float) -> Iterator[Destination]:
    """Prepare ``dest``, take its lock, clean up after a killed predecessor, and yield it."""
    root = prepare(dest)
    with lock.locked(root / LOCK, timeout=lock_timeout):
        destination = Destination(root)
        destination.recover()
        yield destination
