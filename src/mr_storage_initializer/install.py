"""Atomic, restart-safe installs into DEST_PATH.

A model is downloaded into a staging directory inside DEST_PATH (same file system), then its top-level
entries are renamed into DEST_PATH and the provenance file is written last: its presence means the
install is complete. A replaced install's entries are renamed aside into a trash directory, removed only
once the new provenance is written; a journal lists both sides first, so the next run finishes or undoes a
run killed at any step (:mod:`.journal`). Entries DEST_PATH already had that are not ours are never
touched: a name clash, or a file of the user's inside a directory a replacement would remove, is an error
found before the download (:meth:`Destination.check_names`, :meth:`Destination.check_replaceable`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mr_storage_initializer import lock
from mr_storage_initializer.errors import DestinationError, StorageError
from mr_storage_initializer.journal import TRASH_PREFIX, settle
from mr_storage_initializer.paths import is_real_dir, listed_path, top_level
from mr_storage_initializer.paths import read_text as _read_text
from mr_storage_initializer.paths import remove as _remove
from mr_storage_initializer.staged import StagedFile, StagedTree, walk

log = logging.getLogger("mr_storage_initializer.install")

PROVENANCE = ".model-registry.json"
LOCK = ".model-registry.lock"
JOURNAL = ".model-registry.pending.json"
STAGING_PREFIX = ".mr-staging-"
SCRATCH_PREFIX = ".mr-scratch-"
RESERVED = frozenset({PROVENANCE, LOCK, JOURNAL})
_OUR_PREFIXES = (STAGING_PREFIX, SCRATCH_PREFIX, TRASH_PREFIX, f".{PROVENANCE}.", f".{JOURNAL}.")
_T = TypeVar("_T")


FileEntry = StagedFile  # one entry of the staged tree (path, size, link)


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
    """Every file below ``root`` with its size, sorted; symlinks are listed by their own path (size 0)."""
    return list(walk(root).files)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fresh(parent: Path, prefix: str, make: Callable[[str], _T]) -> _T:
    """``make(path)`` for a new random name ``prefix…`` in ``parent``, tried again while the name is taken, as
    ``tempfile.mkstemp``/``mkdtemp`` do (without importing tempfile, and shutil, random, bz2 and lzma with it:
    ~2 ms of a small install)."""
    for _ in range(100):
        try:
            return make(os.path.abspath(os.path.join(parent, prefix + os.urandom(6).hex())))
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused name {prefix}… in {parent}")


def _temp_file(parent: Path, prefix: str) -> tuple[int, str]:
    """A new file ``prefix…`` in ``parent``, opened read-write, mode 0600 (``tempfile.mkstemp``'s flags)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return _fresh(parent, prefix, lambda path: (os.open(path, flags, 0o600), path))


def _temp_dir(parent: Path, prefix: str) -> Path:
    """A new directory ``prefix…`` in ``parent``, mode 0700 (as ``tempfile.mkdtemp`` makes it)."""

    def make(path: str) -> Path:
        os.mkdir(path, 0o700)
        return Path(path)

    return _fresh(parent, prefix, make)


def _forget_tempdir() -> None:
    """Make tempfile read TMPDIR again on its next use (it caches it); nothing to do if nothing imported it."""
    module: Any = sys.modules.get("tempfile")
    if module is not None:
        module.tempdir = None


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = _temp_file(path.parent, f".{path.name}.")  # swept by recover() if we die
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


class Destination:
    """DEST_PATH while this process holds its lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading --------------------------------------------------------------------------------------
    def provenance(self) -> dict[str, Any] | None:
        try:
            data = json.loads(_read_text(self.root / PROVENANCE))  # a link planted there is never followed
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
            rel = listed_path(item.get("path")) if isinstance(item, dict) else None
            if rel is None:
                return None
            path = self.root / rel
            try:
                if path.lstat().st_size != item.get("size") and not path.is_symlink():
                    return None
            except OSError:
                return None
        return data

    # -- writing --------------------------------------------------------------------------------------
    def recover(self) -> str | None:
        """Finish or undo what a killed predecessor left (:func:`.journal.settle`), then sweep its leftovers:
        staging, scratch and trash directories and half-written temp files of the provenance or journal.
        Return which way a pending replacement was settled (``"forward"`` or ``"back"``), None if none was."""
        from mr_storage_initializer.transfer.resume import keep_leftover

        journal = self.root / JOURNAL
        try:
            pending: Any = json.loads(_read_text(journal))
        except FileNotFoundError:
            pending = None
        except (OSError, ValueError):  # cannot happen (written atomically): drop it, touch nothing else
            log.warning("ignoring an unreadable %s", journal.name, extra={"step": "recover"})
            journal.unlink(missing_ok=True)
            pending = None
        settled = None
        if pending is not None:
            settled = settle(self.root, pending, provenance=PROVENANCE, reserved=RESERVED)
            _fsync_dir(self.root)
            journal.unlink(missing_ok=True)
            _fsync_dir(self.root)
        for prefix in _OUR_PREFIXES:
            for leftover in self.root.glob(f"{prefix}*"):
                if keep_leftover(leftover):  # a killed download of an artifact, kept to resume it
                    continue
                log.info("removing leftover %s", leftover.name, extra={"step": "recover"})
                _remove(leftover)
        return settled

    def check_names(self, paths: list[str]) -> None:
        """Refuse, before anything is downloaded or moved, an artifact whose top-level names are reserved
        for the installer or taken in DEST by something that is not from a previous install."""
        entries = sorted({top for top in map(top_level, paths) if top is not None})
        reserved = [n for n in entries if n in RESERVED or n.startswith(_OUR_PREFIXES)]
        if reserved:
            raise StorageError(f"the artifact contains {reserved[0]!r}, a name reserved for the installer")
        previous = self.provenance()
        ours = _top_level_names(previous) if previous else set()
        clashes = [n for n in entries if os.path.lexists(self.root / n) and n not in ours]
        if clashes:
            raise DestinationError(
                f"destination {self.root} already has {clashes[0]!r}, which is not from a previous install; "
                "empty the directory or choose another one"
            )

    def check_replaceable(self) -> None:
        """Refuse to replace a previous install whose directories hold files it did not install (the user's):
        a replacement removes those directories whole. Called before the download and again at commit."""
        previous = self.provenance()
        if not previous:
            return
        listed = _listed(previous)
        for name in sorted(_top_level_names(previous)):
            top = self.root / name
            if not is_real_dir(top):
                continue
            for entry in list_files(top):
                path = f"{name}/{entry.path}"
                if path not in listed:
                    raise DestinationError(
                        f"destination {self.root} has {path!r} inside {name!r}, which the previous install put "
                        f"there but did not list; replacing that install would delete it: move it out of "
                        f"{name!r} (or empty the directory) and run again"
                    )

    @contextmanager
    def staging(self, prefix: str = STAGING_PREFIX) -> Iterator[Path]:
        """A fresh staging directory inside DEST, removed when the block ends (success or not)."""
        try:
            path = _temp_dir(self.root, prefix)
        except OSError as exc:
            raise DestinationError(f"cannot create a staging directory in {self.root}: {exc.strerror}") from None
        try:
            yield path
        finally:
            _remove(path, ignore_errors=True)

    @contextmanager
    def scratch_tmpdir(self) -> Iterator[Path]:
        """TMPDIR inside DEST for the libraries' temporary files, so the root file system may be read-only."""
        with self.staging(SCRATCH_PREFIX) as scratch:
            saved = os.environ.get("TMPDIR")
            os.environ["TMPDIR"] = str(scratch)
            _forget_tempdir()
            try:
                yield scratch
            finally:
                if saved is None:
                    os.environ.pop("TMPDIR", None)
                else:
                    os.environ["TMPDIR"] = saved
                _forget_tempdir()

    def commit(
        self,
        staging: Path,
        record: dict[str, Any],
        tree: StagedTree | None = None,
        *,
        installed: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Move the staged model into place and write the provenance ``record`` last; a record without a
        file list gets the staged tree's (``tree``, walked here when not given). ``installed`` is called the
        moment the provenance is in place (a signal after it must not say "nothing was installed").

        Crash-safe at every step (see :mod:`.journal`): the previous install goes to a trash directory and is
        removed only after the new provenance is written."""
        entries = sorted(p.name for p in staging.iterdir())
        self.check_names(entries)
        self.check_replaceable()
        files = (tree or walk(staging)).files
        old, had_provenance = self._installed_entries()
        try:
            trash = self._swap_entries(staging, entries, old, had_provenance=had_provenance)
            record = _with_file_list(record, files)
            _write_json_atomically(self.root / PROVENANCE, record)
            if installed is not None:
                installed()
            self._discard_replaced(trash)
        except BaseException as exc:  # an OSError, or a signal between two steps: finish or undo at once
            if self.recover() == "forward" and installed is not None:
                installed()  # the provenance was in place before installed() was reached: it is installed
            if isinstance(exc, OSError):
                raise DestinationError(f"installing into {self.root} failed: {exc.strerror}") from exc
            raise
        return record

    def _installed_entries(self) -> tuple[list[str], bool]:
        """The top-level entries of the install in place (sorted), and whether DEST has a provenance file."""
        previous = self.provenance()
        old = sorted(_top_level_names(previous)) if previous else []
        return old, os.path.lexists(self.root / PROVENANCE)

    def _swap_entries(self, staging: Path, entries: list[str], old: list[str], *, had_provenance: bool) -> Path:
        """Write the journal, rename the provenance and the ``old`` entries into a new trash directory and the
        staged ``entries`` into DEST, then fsync DEST; return the trash directory."""
        trash = _temp_dir(self.root, TRASH_PREFIX)
        pending = {"old": old, "new": entries, "trash": trash.name, "had_provenance": had_provenance}
        _write_json_atomically(self.root / JOURNAL, pending)
        if had_provenance:
            os.rename(self.root / PROVENANCE, trash / PROVENANCE)
        for name in old:
            if os.path.lexists(self.root / name):
                os.rename(self.root / name, trash / name)
        for name in entries:
            os.rename(staging / name, self.root / name)
        _fsync_dir(self.root)
        return trash

    def _discard_replaced(self, trash: Path) -> None:
        """Once the new provenance is in place: remove the journal (fsync DEST), then the trash directory."""
        (self.root / JOURNAL).unlink()
        _fsync_dir(self.root)
        for leftover in sorted(trash.iterdir()):
            _remove(leftover)
        trash.rmdir()


def _with_file_list(record: dict[str, Any], files: tuple[StagedFile, ...]) -> dict[str, Any]:
    """``record`` itself when it lists its files, else a copy listing ``files`` (path and size)."""
    if "files" in record:
        return record
    return {**record, "files": [{"path": f.path, "size": f.size} for f in files]}


def _listed(provenance: dict[str, Any]) -> set[str]:
    """The paths a provenance lists, normalized (:func:`.paths.listed_path`); one outside DEST is left out."""
    files = provenance.get("files")
    items = files if isinstance(files, list) else []
    return {p for p in (listed_path(i.get("path")) for i in items if isinstance(i, dict)) if p is not None}


def _top_level_names(provenance: dict[str, Any]) -> set[str]:
    """The top-level entries of DEST a provenance's files are under (``x`` for a listed ``./x/y``)."""
    return {top for top in map(top_level, _listed(provenance)) if top is not None and top not in RESERVED}


@contextmanager
def open_destination(dest: Path, *, lock_timeout: float) -> Iterator[Destination]:
    """Prepare ``dest``, take its lock, clean up after a killed predecessor, and yield it."""
    root = prepare(dest)
    with lock.locked(root / LOCK, timeout=lock_timeout):
        destination = Destination(root)
        destination.recover()
        yield destination
