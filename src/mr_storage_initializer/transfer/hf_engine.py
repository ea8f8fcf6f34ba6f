"""``hf://`` downloads: the fast engine on :class:`~.hf.HfSource`, LFS digests checked, the commit recorded;
and ``kserve_storage``'s ``snapshot_download`` path, tamed, for what only Xet can serve.

The tamed path (also ``MODEL_REGISTRY_TRANSFER=kserve`` for ``hf://``): ``HF_HOME`` and ``snapshot_download``'s
``local_dir`` sit in a temporary directory (the scratch directory inside DEST when the CLI runs), so nothing
is written to ``$HOME`` and no ``.cache/huggingface`` reaches the installed model; the token is the one this
package found (read before ``HF_HOME`` moves); progress bars are off and ``huggingface_hub``'s own log
handler is removed, so its lines go through ours (formatted, masked); every request has a timeout, the call
runs in a daemon thread so SIGTERM is not held up, and a download that writes no byte for the deadline fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.transfer.fast_engine import FastEngine, Tunables
from mr_storage_initializer.transfer.hf import HfRef, HfSource, hf_token, hub_endpoint, parse_hf_uri, pinned_commit
from mr_storage_initializer.transfer.plan import Patterns, RemoteFile
from mr_storage_initializer.transfer.source import SourceError, Unsupported

log = logging.getLogger("mr_storage_initializer.transfer")
T = TypeVar("T")


def _retried(fn: Callable[[], T], tunables: Tunables) -> T:
    """``fn()`` with retries on what may pass (5xx, 429, cut, timeout); a SourceError's sentence is final."""

    def attempt() -> T:
        try:
            return fn()
        except SourceError as exc:
            final = StorageError(exc.message)
            if not exc.transient:
                raise final from exc
            raise retry.TransientError(exc.message, final) from exc

    return retry.call(attempt, deadline=tunables.deadline, max_attempts=tunables.attempts)


def pin(source: HfSource, tunables: Tunables) -> str:
    """The commit sha of the source's revision."""
    return _retried(source.resolve, tunables)


class HfEngine:
    name = "fast"

    def __init__(
        self, source: HfSource, tunables: Tunables, patterns: Patterns, env: Mapping[str, str], *, strict: bool = False
    ) -> None:
        self.strict = strict  # MODEL_REGISTRY_TRANSFER=fast: no fallback
        self.source = source
        self.tunables = tunables
        self.patterns = patterns
        self.env = env
        self.revision: str | None = None

    def download(self, uri: str, dest: Path) -> str:
        source = self.source
        try:
            self.revision = pin(source, self.tunables)
            files = _retried(source.list, self.tunables)
        except Unsupported as reason:
            source.close()
            if self.strict:
                raise UsageError(f"MODEL_REGISTRY_TRANSFER=fast cannot serve {redact_url(uri)}: {reason}") from None
            log.warning("handing %s to kserve_storage: %s", redact_url(uri), reason, extra={"step": "fallback"})
            pinned = f"hf://{source.ref.repo_id}:{self.revision}"
            return TamedKServe(self.env, self.tunables.deadline).download(pinned, dest)
        except BaseException:
            source.close()
            raise
        log.info("%s is commit %s", redact_url(uri), self.revision, extra={"step": "listed", "revision": self.revision})
        digests = LfsDigests(dest, source, self.patterns)
        source.on_delivered = digests.delivered
        FastEngine(source, self.tunables, self.patterns).download(uri, dest)
        digests.verify({f.key: f for f in files})
        return self.name


class LfsDigests:
    """SHA-256 of every LFS file, computed as the download runs: a worker that finishes a range hashes the
    file's contiguous written prefix from the page cache (one thread per file at a time); ``verify`` hashes
    whatever is left and compares with the Hub's ``lfs.oid``."""

    def __init__(self, dest: Path, source: HfSource, patterns: Patterns) -> None:
        self.dest = dest
        self.source = source
        self.wanted = {path: oid for path, oid in source.lfs.items() if patterns.wants(path)}
        self._hashes = {path: hashlib.sha256() for path in self.wanted}
        self._next = dict.fromkeys(self.wanted, 0)  # bytes hashed so far
        self._done: dict[str, dict[int, int]] = {path: {} for path in self.wanted}  # written ranges start → end
        self._locks = {path: threading.Lock() for path in self.wanted}
        self._guard = threading.Lock()

    def delivered(self, remote: RemoteFile, start: int, end: int) -> None:
        if remote.key not in self.wanted:
            return
        with self._guard:
            self._done[remote.key][start] = end
        if self._locks[remote.key].acquire(blocking=False):  # another worker is hashing this file: it goes on
            try:
                self._advance(remote.key, remote.rel)
            finally:
                self._locks[remote.key].release()

    def _advance(self, key: str, rel: str, size: int | None = None) -> None:
        with open(self.dest / rel, "rb") as handle:
            while True:
                with self._guard:
                    end = self._done[key].pop(self._next[key], None)
                if end is None and size is not None and self._next[key] < size:
                    end = size  # the final pass: whatever is left
                if end is None:
                    return
                handle.seek(self._next[key])
                left = end - self._next[key]
                while left > 0:
                    block = handle.read(min(4 << 20, left))
                    if not block:
                        break
                    self._hashes[key].update(block)
                    left -= len(block)
                self._next[key] = end

    def verify(self, files: dict[str, RemoteFile]) -> None:
        if not self.wanted:
            return
        log.info("checking %d LFS files against the Hub's SHA-256", len(self.wanted), extra={"step": "verifying"})

        def finish(key: str) -> str:
            with self._locks[key]:
                self._advance(key, files[key].rel, files[key].size)
            return self._hashes[key].hexdigest()

        keys = sorted(self.wanted)
        with ThreadPoolExecutor(max_workers=min(4, len(keys))) as pool:
            got = dict(zip(keys, pool.map(finish, keys), strict=True))
        for key in keys:
            if got[key] != self.wanted[key]:
                raise StorageError(
                    f"{files[key].rel}: SHA-256 {got[key]} is not the {self.wanted[key]} the Hub lists for commit "
                    f"{self.source.commit} of {self.source.ref.repo_id}; refusing the model"
                )


class TamedKServe:
    """``kserve_storage.Storage.download`` for an ``hf://`` URI, with its side effects kept inside DEST."""

    name = "kserve"

    def __init__(self, env: Mapping[str, str], deadline: float) -> None:
        self.env = env
        self.deadline = deadline
        self.revision: str | None = None

    def download(self, uri: str, dest: Path) -> str:
        ref = parse_hf_uri(uri)
        commit = pinned_commit(hub_endpoint(self.env), ref)  # the commit the fingerprint was made with
        if commit is not None:
            ref = HfRef(ref.repo_id, commit)
        if ref.pinned:
            self.revision = ref.revision
        uri = f"hf://{ref.repo_id}" + (f":{ref.revision}" if ref.revision != "main" else "")
        token = hf_token(self.env)
        work = Path(tempfile.mkdtemp(prefix="hf-kserve-"))  # TMPDIR: the scratch directory inside DEST
        try:
            local = work / "model"
            local.mkdir()
            overrides = {
                "HF_HOME": str(work / "home"),
                "HF_HUB_CACHE": str(work / "home" / "hub"),
                "HF_XET_CACHE": str(work / "home" / "xet"),
                "HF_TOKEN_PATH": str(work / "home" / "token"),
                "HF_ENDPOINT": hub_endpoint(self.env),
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_UPDATE_CHECK": "1",
                "HF_HUB_ETAG_TIMEOUT": str(max(1, int(self.deadline))),
                "HF_HUB_DOWNLOAD_TIMEOUT": str(max(1, int(self.deadline))),
            }
            if token:
                overrides["HF_TOKEN"] = token
            with _environ(overrides):
                _quiet_huggingface_hub(overrides)
                self._run(uri, local)
            for entry in local.iterdir():
                if entry.name == ".cache":  # snapshot_download's local-dir metadata stays in scratch
                    continue
                os.replace(entry, dest / entry.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.name

    def _run(self, uri: str, local: Path) -> None:
        """``Storage.download`` in a daemon thread; fail when it writes nothing for ``deadline`` seconds."""
        from kserve_storage import Storage

        from mr_storage_initializer.logs import adopt_library_loggers

        adopt_library_loggers()
        outcome: list[BaseException | None] = []
        done = threading.Event()

        def work() -> None:
            try:
                Storage.download(uri, out_dir=str(local))
                outcome.append(None)
            except BaseException as exc:  # handed to the main thread
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="kserve-hf", daemon=True).start()
        seen, since = -1, time.monotonic()
        while not done.wait(timeout=1.0):
            size = _bytes_below(local.parent)
            if size != seen:
                seen, since = size, time.monotonic()
            elif time.monotonic() - since > self.deadline:
                raise StorageError(
                    f"downloading {redact_url(uri)} with kserve_storage made no progress for {self.deadline:g}s; "
                    "is the Hub reachable?"
                )
        if outcome and outcome[0] is not None:
            raise outcome[0]


def _bytes_below(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


@contextmanager
def _environ(overrides: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _quiet_huggingface_hub(overrides: Mapping[str, str]) -> None:
    """huggingface_hub reads its settings when first imported: set them there too, and drop its handler."""
    constants: Any = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported earlier in this process (tests): its module constants are stale
        for name in ("HF_HOME", "HF_HUB_CACHE", "HF_XET_CACHE", "HF_TOKEN_PATH"):
            setattr(constants, name, overrides[name])
        constants.ENDPOINT = overrides["HF_ENDPOINT"]
        constants.HF_HUB_DISABLE_PROGRESS_BARS = True
        constants.HF_HUB_ETAG_TIMEOUT = int(overrides["HF_HUB_ETAG_TIMEOUT"])
        constants.HF_HUB_DOWNLOAD_TIMEOUT = int(overrides["HF_HUB_DOWNLOAD_TIMEOUT"])
    from huggingface_hub.utils.tqdm import disable_progress_bars

    disable_progress_bars()
    library = logging.getLogger("huggingface_hub")
    for handler in list(library.handlers):
        library.removeHandler(handler)
    library.propagate = True
    library.setLevel(logging.WARNING)
    for chatty in ("httpx2", "httpx", "httpcore"):  # one INFO line per request otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
