"""Resuming a download that a SIGKILL interrupted (OOM kill, node loss, a grace period that ran out).

The staging directory of a download is named after the artifact's fingerprint
(``.mr-staging-resume-<16 hex>``) and the own engine keeps a ledger beside the files in it
(``.mr-resume.jsonl``): a header line with the listing it worked from (key, path, size and version of each
object, and whether the source served byte ranges) and the range size, then one line appended per range
completely written, as its path, start and end (one small write per range, whatever the number of files; a
line a kill cut short counts for nothing). A SIGTERM still removes staging; only a run that could not clean
up leaves it.

A resume keeps only what it can prove. The next run for the same artifact plans its ranges afresh
(:func:`.plan.split`); a planned range is kept when the object has the same key, path, size, range support
and a non-empty validator (ETag, else Last-Modified, or GCS generation) equal to the stored one, *and* the
ledger lists a written range identical in start and end. A source that stopped honouring ``Range`` (one
unranged part from 0) therefore keeps nothing: a range proven for the first 64 KiB never stands for the
whole file. The remaining ranges are fetched pinned to the validator (``If-Range``/``If-Match``), so a
changed object is never stitched. Everything else in staging is removed; a leftover for another artifact is
removed when a download starts.

Nothing in that directory is trusted as a path (DEST may be a volume others write): a staging name that is
not a real directory (a link, a file) is unlinked, never walked; a kept file is reached without following a
link at any component, and must be a regular file of the listed size (:mod:`mr_storage_initializer.paths`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mr_storage_initializer import paths
from mr_storage_initializer.errors import DestinationError
from mr_storage_initializer.transfer.plan import Part, RemoteFile, split

log = logging.getLogger("mr_storage_initializer.transfer")

PREFIX = ".mr-staging-resume-"
STATE = ".mr-resume.jsonl"
_FORMAT = 3  # 3: a header line, then one [path, start, end] line per range (2 rewrote a JSON document per range)


def keep_leftover(path: Path) -> bool:
    """For ``install``'s clean-up of a killed run: keep a resumable staging directory that has a ledger (both
    real: a directory and a regular file, not links)."""
    return path.name.startswith(PREFIX) and paths.is_real_dir(path) and paths.regular_size(path, STATE) is not None


@contextlib.contextmanager
def staging(root: Path, fingerprint: str) -> Iterator[Path]:
    """The staging directory for the artifact ``fingerprint`` in DEST ``root``, kept from a killed run if
    there is one; leftovers for other artifacts are removed. Removed when the block ends, as any staging."""
    path = root / f"{PREFIX}{fingerprint[:16]}"
    for other in root.glob(f"{PREFIX}*"):
        if other != path:
            log.info("removing leftover directory %s", other.name, extra={"step": "recover"})
            paths.remove(other, ignore_errors=True)
    try:
        if os.path.lexists(path) and not keep_leftover(path):
            paths.remove(path)  # not what we created (a link is unlinked, never walked through)
        path.mkdir(exist_ok=True)
        if not paths.is_real_dir(path):
            raise OSError(errno.ENOTDIR, f"{path.name} is not a directory")
    except OSError as exc:
        raise DestinationError(f"cannot create a staging directory in {root}: {exc.strerror}") from None
    try:
        yield path
    finally:
        paths.remove(path, ignore_errors=True)


class Ledger:
    """The ranges of one download written so far: a header line (the listing, the range size), then one line
    appended per completed range, so a range costs one small write whatever the number of files."""

    def __init__(self, dest: Path, files: list[RemoteFile], chunk_size: int) -> None:
        self.path = dest / STATE
        self.dest = dest
        self.chunk_size = chunk_size
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {
            f.rel: {"key": f.key, "size": f.size, "version": f.version, "ranges": f.ranges, "done": []} for f in files
        }
        self.kept: dict[str, set[tuple[int, int]]] = {}  # per file: the planned ranges proven written
        self.closed = False
        self._fd: int | None = None  # the ledger opened for appending (O_APPEND, never through a link)

    @classmethod
    def open(cls, dest: Path, files: list[RemoteFile], chunk_size: int) -> Ledger | None:
        """The ledger for a download into ``dest``, with what an earlier run left kept and the rest removed;
        ``None`` when ``dest`` is not a resumable staging directory."""
        if not dest.name.startswith(PREFIX) or not paths.is_real_dir(dest):
            return None
        ledger = cls(dest, files, chunk_size)
        previous = load(ledger.path)
        if previous.get("format") == _FORMAT and previous.get("chunk_size") == chunk_size:
            stored = previous["files"]
            planned: dict[str, set[tuple[int, int]]] = {}
            for part in split(files, chunk_size):  # the layout this run fetches, exactly as the engine splits it
                planned.setdefault(part.file.rel, set()).add((part.start, part.end))
            for rel, now in ledger.files.items():
                old = stored.get(rel)
                if not isinstance(old, dict) or not now["version"]:
                    continue
                if not all(old.get(k) == now[k] for k in ("key", "size", "version", "ranges")):
                    continue
                proven = {_span(v) for v in old.get("done", [])} & planned.get(rel, set())
                if proven and paths.regular_size(dest, rel) == now["size"]:
                    ledger.kept[rel] = proven
                    now["done"] = sorted([a, b] for a, b in proven)
        paths.prune(dest, set(ledger.kept))
        temp = ledger.path.name + ".tmp"
        paths.write_text(dest, temp, encode(ledger.state()))  # never through a link planted at that name
        os.replace(dest / temp, ledger.path)
        ledger._fd = paths.open_beneath(dest, STATE, os.O_WRONLY | os.O_APPEND)
        if ledger.kept:
            log.info(
                "resuming: %d files keep ranges an interrupted run wrote", len(ledger.kept), extra={"step": "resume"}
            )
        return ledger

    def state(self) -> dict[str, Any]:
        return {"format": _FORMAT, "chunk_size": self.chunk_size, "files": self.files}

    def has(self, part: Part) -> bool:
        return (part.start, part.end) in self.kept.get(part.file.rel, ())

    def done(self, part: Part) -> None:
        with self.lock:
            if self.closed or self._fd is None:
                return
            os.write(self._fd, _line([part.file.rel, part.start, part.end]))

    def close(self) -> None:
        """The run is over: a worker still ending its range writes nothing more. Staging is removed right
        after a failure or a signal, and a file created while it is removed would leave the directory."""
        with self.lock:
            self.closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def finish(self) -> None:
        """The download is complete: the ledger goes, so it is never installed."""
        self.close()
        self.path.unlink(missing_ok=True)


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8") + b"\n"


def encode(state: dict[str, Any]) -> str:
    """A ledger's text: the header (listing without the ranges), then one ``[path, start, end]`` line per
    written range."""
    files = {rel: {k: v for k, v in entry.items() if k != "done"} for rel, entry in state["files"].items()}
    header = {"format": state["format"], "chunk_size": state["chunk_size"], "files": files}
    text = [_line(header)]
    for rel, entry in state["files"].items():
        text += [_line([rel, *(span if isinstance(span, list) else [span])]) for span in entry.get("done", [])]
    return b"".join(text).decode("utf-8")


def _span(value: Any) -> tuple[int, int]:
    """A stored range as ``(start, end)``; ``(-1, -1)`` (matching no planned range) for anything else."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (value[0], value[1])
    return (-1, -1)


def load(path: Path) -> dict[str, Any]:
    """A ledger as one value: ``{"format", "chunk_size", "files": {path: {…, "done": [[start, end], …]}}}``;
    ``{}`` when it is missing, unreadable, a link or not a ledger. Only whole lines count: a line a kill cut
    short is ignored, and so is one that names no listed file."""
    try:
        text = paths.read_text(path)  # a link planted at the ledger's name is not read
    except (OSError, ValueError):
        return {}
    lines = text.split("\n")[:-1]  # the last piece has no newline: cut short, or empty
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        return {}
    if not isinstance(header, dict) or not isinstance(header.get("files"), dict):
        return {}
    files = {rel: {**entry, "done": []} for rel, entry in header["files"].items() if isinstance(entry, dict)}
    for line in lines[1:]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, list) and value and isinstance(value[0], str) and value[0] in files:
            files[value[0]]["done"].append(value[1:])
    return {**header, "files": files}
