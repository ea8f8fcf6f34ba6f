"""The project's own transfer engine: list, split into ranges, fetch concurrently, ``pwrite`` into place.

Flow: ``source.list()`` → filter (KServe's allow/ignore patterns) → create every file at its final size in
the staging directory → a bounded set of daemon worker threads takes ranges from one queue, streams each
into its file with ``os.pwrite`` at its offset → every range must deliver exactly its bytes → a single
archive is unpacked with :mod:`mr_storage_initializer.archive`.

A range whose connection is cut resumes from the last byte written: a failed attempt that made progress
starts a fresh retry budget at the new offset; one that made none counts against the budget
(``retry.call``: backoff with jitter, at most ``attempts`` tries within ``deadline`` seconds).
Memory is bounded by the connections (:func:`.plan.connections`) times the chunk (1 MiB), whatever the size.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.options import Limits, Tunables
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.transfer.engine import NO_HOOKS, Hooks, Observer
from mr_storage_initializer.transfer.plan import Part, Patterns, RemoteFile, connections, small, split
from mr_storage_initializer.transfer.progress import Progress, Stall
from mr_storage_initializer.transfer.resume import Ledger
from mr_storage_initializer.transfer.source import Sink, Source, SourceError, escalate
from mr_storage_initializer.transfer.staged_files import StagedFiles, reserve

log = logging.getLogger("mr_storage_initializer.transfer")


class FastEngine:
    """The own engine on one source (``hooks``: told of the listed paths and of every range written)."""

    name = "fast"
    revision: str | None = None  # a plain source has no version of its own

    def __init__(
        self,
        source: Source,
        tunables: Tunables,
        patterns: Patterns | None = None,
        limits: Limits | None = None,
        *,
        hooks: Hooks = NO_HOOKS,
    ) -> None:
        self.source = source
        self.tunables = tunables
        self.patterns = patterns or Patterns()
        self.limits = limits or Limits()
        self.before_fetch = hooks.before_fetch
        self.observer: Observer | None = hooks.observer

    def download(self, uri: str, dest: Path) -> str:
        try:
            files = self._list(uri)  # Unsupported propagates: transfer.fall_back decides what follows
            if self.before_fetch is not None and not (len(files) == 1 and _is_archive(files[0].rel)):
                self.before_fetch([f.rel for f in files])  # a single archive's names are known once unpacked
            _Run(self.source, files, dest, self.tunables, redact_url(uri), observer=self.observer).run()
        finally:
            self.source.close()
        if len(files) == 1:
            from mr_storage_initializer.archive import archive_kind, extract

            if archive_kind(files[0].rel) is not None:
                log.info("unpacking %s", files[0].rel, extra={"step": "unpacking"})
                extract(dest / files[0].rel, dest, limits=self.limits)
        return self.name

    def _list(self, uri: str) -> list[RemoteFile]:
        def attempt() -> list[RemoteFile]:
            try:
                return self.source.list()
            except SourceError as exc:
                raise escalate(exc, f"downloading {redact_url(uri)} failed: {exc.message}") from exc

        listed = retry.call(attempt, deadline=self.tunables.deadline, max_attempts=self.tunables.attempts)
        files = [f for f in listed if self.patterns.wants(f.rel)]
        skipped = len(listed) - len(files)
        if skipped:
            log.info("%d files skipped by STORAGE_ALLOW/IGNORE_PATTERNS", skipped, extra={"step": "listed"})
        if not files:
            raise StorageError(f"downloading {redact_url(uri)} failed: no model files there; check the artifact's uri")
        log.info(
            "%d files, %d bytes to fetch with %s%d connections",
            len(files),
            sum(f.size for f in files),
            "up to " if self.tunables.ramp else "",
            connections(files, self.tunables),
            extra={"step": "listed", "source": self.source.label},
        )
        return files


def _is_archive(rel: str) -> bool:
    from mr_storage_initializer.archive import archive_kind

    return archive_kind(rel) is not None


class _Cancelled(Exception):
    pass


class _Run:
    """One download: the queue of ranges, the workers, the first failure."""

    def __init__(
        self,
        source: Source,
        files: list[RemoteFile],
        dest: Path,
        tunables: Tunables,
        shown: str,
        *,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer
        self.source = source
        self.shown = shown
        self.files = files
        self.dest = dest
        self.tunables = tunables
        self.parts: deque[Part] = deque(split(files, tunables.chunk_size))
        self.progress = Progress(sum(f.size for f in files), interval=tunables.progress_interval)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.failure: BaseException | None = None
        self.running = 0
        self.cpu: list[float] = []  # per worker: its thread's CPU seconds, as of its last chunk (for _Ramp)
        self.slots: list[Iterator[int]] = []  # the configured workers' free slots, then the small files' ones
        self.ledger: Ledger | None = None
        self.staged = StagedFiles(dest)  # each directory opened once, each file opened from it

    def run(self) -> None:
        self.ledger = Ledger.open(self.dest, self.files, self.tunables.chunk_size)
        if self.ledger is not None:
            kept = [part for part in self.parts if self.ledger.has(part)]
            self.parts = deque(part for part in self.parts if not self.ledger.has(part))
            self.progress.add(sum(part.size for part in kept))
            if self.observer is not None:  # on disk already: the observer may start with them
                for part in kept:
                    self.observer(part.file.rel, part.start, part.size)
        try:
            self._create_files()
            if self.parts:  # none: every range was kept from a killed run; the checks below still run
                self._fetch_all()
        finally:
            self.stop.set()  # on a signal or a failure, the other workers stop at their next chunk
            self.staged.close()
            if self.ledger is not None:
                self.ledger.close()
        if self.failure is not None:
            raise self.failure
        self.progress.finish()
        self._check_sizes()
        if self.ledger is not None:
            self.ledger.finish()

    def _fetch_all(self) -> None:
        """Start the workers and wait for them, ramping their number up where the connections are slow."""
        most = min(connections(self.files, self.tunables), len(self.parts))  # past the configured: small files
        start = min(RAMP_START, len({part.file.rel for part in self.parts}))  # one writer per file at first
        self.cpu = [0.0] * max(most, self.tunables.concurrency)
        self.slots = [iter(range(self.tunables.concurrency)), iter(range(self.tunables.concurrency, most))]
        ramp = _Ramp(self, most) if self.tunables.ramp and most > start else None
        self.add_workers(start if ramp is not None else most)
        self.add_workers(most - self.tunables.concurrency, small=True)  # a tree of small files: all at once
        while not self.finished.wait(timeout=RAMP_TICK if ramp is not None else 0.5 if self.progress.live else 1):
            self.progress.tick()
            if ramp is not None and not ramp.check():
                ramp = None

    def add_workers(self, count: int, *, small: bool = False) -> None:
        """Up to ``count`` more workers (as many as ranges wait, none once all ended); ``small``: for small files."""
        with self.lock:
            if self.finished.is_set():
                return
            take = [self.slots[1]] if small else self.slots
            slots = list(itertools.islice(itertools.chain(*take), max(0, min(count, len(self.parts)))))
            self.running += len(slots)
        for slot in slots:
            threading.Thread(target=self._worker, args=(slot,), name=f"fetch-{slot}", daemon=True).start()

    def _create_files(self) -> None:
        """Create every file larger than one range at its final size (a full disk fails here, before its
        bytes are fetched), and empty files; a file of one range is created by the worker that fetches it,
        beside the other workers' transfers instead of before them all (see :meth:`_fetch`)."""
        self.dest.mkdir(parents=True, exist_ok=True)
        for remote in self.files:
            if self.ledger is not None and remote.rel in self.ledger.kept:
                continue  # kept from an interrupted run, at its full size already
            if self._created_late(remote):
                continue
            os.close(self._create(remote))

    def _create(self, remote: RemoteFile) -> int:
        """A new file for ``remote`` (never one found there), at its final size; its descriptor."""
        fd = self.staged.open(remote.rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, parents=True)
        try:
            if remote.size:
                reserve(fd, remote.size)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _worker(self, slot: int) -> None:
        try:
            while not self.stop.is_set():
                part = self._take(slot)
                if part is None:
                    break
                self._fetch(part, slot)
                if self.ledger is not None:
                    self.ledger.done(part)
        except _Cancelled:
            pass
        except BaseException as exc:
            with self.lock:
                if self.failure is None:
                    self.failure = exc
            self.stop.set()
            self.finished.set()
        finally:
            with self.lock:
                self.running -= 1
                if self.running == 0:
                    self.finished.set()

    def _take(self, slot: int) -> Part | None:
        """The next range for the worker in ``slot``. Workers beyond the configured concurrency (ramped up
        for a tree of small files) take only small whole files, the last one queued (:func:`.plan.split`
        queues the smallest files last): a large file never gets more writers than configured."""
        with self.lock:
            if not self.parts:
                return None
            if slot < self.tunables.concurrency:
                return self.parts.popleft()
            for back, part in enumerate(reversed(self.parts)):  # past a large file's last ranges, if any
                if small(part):
                    del self.parts[len(self.parts) - 1 - back]
                    return part
            return None

    def _fetch(self, part: Part, slot: int) -> None:
        if part.size == 0:
            return
        remote = part.file
        late = self._created_late(remote)  # its one range: create the file here, never reuse one found there
        fd = self._create(remote) if late else self.staged.open(remote.rel, os.O_WRONLY)
        stall = Stall(remote, part.start, self.tunables.stall_timeout)
        try:
            written = 0
            while written < part.size:
                written = retry.call(
                    functools.partial(self._attempt, fd, part, written, stall, slot),
                    deadline=self.tunables.deadline,
                    max_attempts=self.tunables.attempts,
                )
                if written < part.size:
                    log.warning(
                        "%s: connection ended at byte %d of %d; resuming there",
                        remote.rel,
                        part.start + written,
                        remote.size,
                        extra={"step": "resume", "file": remote.rel, "offset": part.start + written},
                    )
        finally:
            os.close(fd)

    def _created_late(self, remote: RemoteFile) -> bool:
        """Whether ``remote`` is created when its only range is fetched: not empty, at most one range."""
        return 0 < remote.size <= self.tunables.chunk_size

    def _attempt(self, fd: int, part: Part, written: int, stall: Stall, slot: int) -> int:
        """Fetch what is left of ``part`` from ``written``; return how far it got (progress ends a retry budget).

        Progress is a byte beyond the furthest one ever written: a source without ranges starts over at 0,
        and the bytes it sends again are no progress (``stall`` bounds the time without any)."""
        remote = part.file
        if not remote.ranges and written:  # a source without ranges starts over
            self.progress.add(-written)
            written = 0
        best = stall.best
        sink = Sink(fd, part.start + written, part.end)
        chunks = iter(self.source.read(remote, part.start + written, part.end, sink))
        while True:
            if self.stop.is_set():
                raise _Cancelled
            stall.check(written)
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except SourceError as exc:
                if exc.transient and written > best:
                    return written  # progress was made: resume at the new offset with a fresh budget
                message = f"downloading {remote.rel} from {self.shown} failed: {exc.message}"
                raise escalate(exc, message, subject=remote.rel) from exc
            n = chunk if isinstance(chunk, int) else len(memoryview(chunk))  # int: written at sink already
            if written + n > part.size:
                raise StorageError(
                    f"{remote.rel}: the server sent more than the {remote.size} bytes it listed; refusing the file"
                )
            if not isinstance(chunk, int):
                sink.write(chunk)
            if self.observer is not None:
                self.observer(remote.rel, part.start + written, n)
            written += n
            self.progress.add(n)
            self.cpu[slot] = time.thread_time()  # only this worker writes its slot
            stall.check(written)
        if written < part.size and written <= best:
            final = StorageError(
                f"{remote.rel}: got {part.start + written} of {remote.size} bytes; the object is shorter than listed"
            )
            raise retry.TransientError(f"{remote.rel}: connection ended early", final)
        return written

    def _check_sizes(self) -> None:
        root = str(self.dest)
        for remote in self.files:
            actual = os.lstat(os.path.join(root, remote.rel)).st_size  # a string join: no Path per file
            if actual != remote.size:
                raise StorageError(f"{remote.rel}: {actual} bytes on disk, {remote.size} listed; refusing the model")


# Connections: start with one per file, at most RAMP_START; every RAMP_TICK seconds, while ranges wait in
# the queue, double them (up to the configured concurrency) if each one delivered less than FAST_CONNECTION
# bytes/s *and* kept its thread less than BUSY_CONNECTION of a core busy, that is, while it waits on the
# network (why: benchmarks/RESULTS.md, "Design notes from measurements").
RAMP_START = 2
RAMP_TICK = 0.1
FAST_CONNECTION = 512e6
BUSY_CONNECTION = 0.8


class _Ramp:
    """Adds connections to a run while each one is slow, waits on the network, and ranges are waiting."""

    def __init__(self, run: _Run, most: int) -> None:
        self.run = run
        self.most = most
        self.since = time.monotonic()
        self.spent = sum(run.cpu)
        self.done = run.progress.done

    def check(self) -> bool:
        """Look at the last interval's rate and CPU; add connections if they are slow and idle. False: ramping
        is over."""
        run = self.run
        # the workers' own CPU: not the hashing threads of a signature check, not another pair's download
        now, spent, done = time.monotonic(), sum(run.cpu), run.progress.done
        elapsed = max(now - self.since, 1e-6)
        rate, busy = (done - self.done) / elapsed, (spent - self.spent) / elapsed
        self.since, self.spent, self.done = now, spent, done
        with run.lock:
            running, waiting = run.running, len(run.parts)
        if not waiting or running >= self.most:
            return False
        if rate / max(running, 1) < FAST_CONNECTION and busy / max(running, 1) < BUSY_CONNECTION:
            more = min(running, self.most - running, waiting)
            log.debug(
                "%d connections bring %.0f MB/s using %.2f cores; adding %d",
                running,
                rate / 1e6,
                busy,
                more,
                extra={"step": "ramp"},
            )
            run.add_workers(more)
        return True
