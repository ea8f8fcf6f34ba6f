"""Resuming a download that a SIGKILL interrupted (OOM kill, node loss, a grace period that ran out).

The staging directory of a download is named after the artifact's fingerprint
(``.mr-staging-resume-<16 hex>``) and the own engine keeps a ledger beside the files in it
(``.mr-resume.json``): the listing it worked from (key, path, size and version of each object), the range
size, and the ranges completely written. A SIGTERM still removes staging, as before; only a run that could
not clean up leaves it. The next run for the same artifact keeps a file's completed ranges when the object
has the same key, path, size and a non-empty validator (ETag, else Last-Modified, or GCS generation) equal to
the stored one; the remaining ranges are then fetched pinned to that validator (``If-Range``/``If-Match``),
so a changed object is never stitched. Everything else in staging is removed; a leftover for another
artifact is removed when a download starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mr_storage_initializer.errors import DestinationError
from mr_storage_initializer.transfer.plan import Part, RemoteFile

log = logging.getLogger("mr_storage_initializer.transfer")

PREFIX = ".mr-staging-resume-"
STATE = ".mr-resume.json"
_FORMAT = 1


def keep_leftover(path: Path) -> bool:
    """For ``install``'s clean-up of a killed run: keep a resumable staging directory that has a ledger."""
    return path.name.startswith(PREFIX) and (path / STATE).is_file()


@contextlib.contextmanager
def staging(root: Path, fingerprint: str) -> Iterator[Path]:
    """The staging directory for the artifact ``fingerprint`` in DEST ``root``, kept from a killed run if
    there is one; leftovers for other artifacts are removed. Removed when the block ends, as any staging."""
    path = root / f"{PREFIX}{fingerprint[:16]}"
    for other in root.glob(f"{PREFIX}*"):
        if other != path:
            log.info("removing leftover directory %s", other.name, extra={"step": "recover"})
            shutil.rmtree(other, ignore_errors=True)
    if path.exists() and not keep_leftover(path):
        shutil.rmtree(path, ignore_errors=True)
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise DestinationError(f"cannot create a staging directory in {root}: {exc.strerror}") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Ledger:
    """The ranges of one download written so far, saved (atomically) after each one."""

    def __init__(self, dest: Path, files: list[RemoteFile], chunk_size: int) -> None:
        self.path = dest / STATE
        self.chunk_size = chunk_size
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {
            f.rel: {"key": f.key, "size": f.size, "version": f.version, "done": []} for f in files
        }
        self.kept: dict[str, set[int]] = {}
        self.closed = False

    @classmethod
    def open(cls, dest: Path, files: list[RemoteFile], chunk_size: int) -> Ledger | None:
        """The ledger for a download into ``dest``, with what an earlier run left kept and the rest removed;
        ``None`` when ``dest`` is not a resumable staging directory."""
        if not dest.name.startswith(PREFIX):
            return None
        ledger = cls(dest, files, chunk_size)
        previous = _load(ledger.path)
        if previous.get("format") == _FORMAT and previous.get("chunk_size") == chunk_size:
            stored = previous.get("files") if isinstance(previous.get("files"), dict) else {}
            for rel, now in ledger.files.items():
                old = stored.get(rel) if isinstance(stored, dict) else None
                if not isinstance(old, dict) or not now["version"]:
                    continue
                same = all(old.get(k) == now[k] for k in ("key", "size", "version"))
                done = {s for s in old.get("done", []) if isinstance(s, int)} if same else set()
                if done and (dest / rel).is_file() and (dest / rel).stat().st_size == now["size"]:
                    ledger.kept[rel] = done
                    now["done"] = sorted(done)
        _remove_all_but(dest, set(ledger.kept) | {STATE})
        ledger.save()
        if ledger.kept:
            log.info(
                "resuming: %d files keep ranges an interrupted run wrote", len(ledger.kept), extra={"step": "resume"}
            )
        return ledger

    def has(self, part: Part) -> bool:
        return part.start in self.kept.get(part.file.rel, ())

    def done(self, part: Part) -> None:
        with self.lock:
            if self.closed:
                return
            entry = self.files[part.file.rel]
            entry["done"] = sorted({*entry["done"], part.start})
            self.save()

    def save(self) -> None:
        state = {"format": _FORMAT, "chunk_size": self.chunk_size, "files": self.files}
        temp = self.path.with_name(self.path.name + ".tmp")
        temp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temp, self.path)

    def close(self) -> None:
        """The run is over: a worker still ending its range writes nothing more. Staging is removed right
        after a failure or a signal, and a file created while it is removed would leave the directory."""
        with self.lock:
            self.closed = True

    def finish(self) -> None:
        """The download is complete: the ledger goes, so it is never installed."""
        self.path.unlink(missing_ok=True)


def _load(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _remove_all_but(dest: Path, keep: set[str]) -> None:
    """Remove every file below ``dest`` whose relative path is not in ``keep``, and the empty directories."""
    for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if path.relative_to(dest).as_posix() not in keep:
                path.unlink()
        for name in dirnames:
            path = base / name
            if path.is_symlink():
                path.unlink()
            elif not any(path.iterdir()):
                path.rmdir()
