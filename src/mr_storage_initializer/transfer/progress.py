"""Progress of a transfer: a log line every few seconds (pod logs), a live line when stderr is a terminal."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.transfer.plan import RemoteFile

log = logging.getLogger("mr_storage_initializer.transfer")


def _mib(n: int) -> str:
    return f"{n / 1048576:,.1f} MiB"


class Progress:
    def __init__(self, total: int, *, interval: float = 5.0, stream: TextIO | None = None) -> None:
        self.total = total
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._done = 0
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self._last_report = self.started

    def add(self, n: int) -> None:
        with self._lock:
            self._done += n

    @property
    def done(self) -> int:
        with self._lock:
            return self._done

    def line(self) -> str:
        done = self.done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        percent = 100.0 * done / self.total if self.total else 100.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:,.0f}s" if eta != float("inf") else "?"
        return f"{_mib(done)} of {_mib(self.total)} ({percent:.0f}%), {rate / 1048576:,.1f} MiB/s, ETA {eta_text}"

    def tick(self) -> None:
        """Called by the engine's waiting loop: report when the interval has passed."""
        now = time.monotonic()
        if self.live:
            self.stream.write("\r" + self.line() + " " * 4)
            self.stream.flush()
            return
        if now - self._last_report >= self.interval:
            self._last_report = now
            done = self.done
            log.info(
                "%s",
                self.line(),
                extra={"step": "progress", "bytes_done": done, "bytes_total": self.total},
            )

    def finish(self) -> None:
        if self.live:
            self.stream.write("\r" + self.line() + " " * 4 + "\n")
            self.stream.flush()


class Stall:
    """The furthest byte of one range written so far, and since when no byte went further."""

    def __init__(self, remote: RemoteFile, start: int, timeout: float) -> None:
        self.remote = remote
        self.start = start
        self.timeout = timeout
        self.best = 0
        self.since = time.monotonic()

    def check(self, written: int) -> None:
        now = time.monotonic()
        if written > self.best:
            self.best, self.since = written, now
        elif now - self.since > self.timeout:
            raise StorageError(
                f"{self.remote.rel}: no progress for {self.timeout:g}s (stuck at byte {self.start + self.best} of "
                f"{self.remote.size}; MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT); giving up"
            )
