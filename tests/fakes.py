"""A storage source in memory that implements the engine's ``Source`` protocol, with faults on demand.

``FakeSource({"a.bin": data})`` lists its files (sizes from the data) and serves byte ranges in chunks of
``chunk`` bytes (short reads). Faults are scripted per read, in the order the reads start:
``source.fault(Cut(at=1000))`` makes the next read deliver its bytes up to absolute offset 1000 and then fail
as a cut connection (transient); ``Fail(transient=...)`` fails before the first byte; ``Short()`` ends the
stream one byte early without an error; ``Extra()`` sends one byte too many; ``Block(event)`` delivers one
chunk and then waits for ``event`` before each further chunk (for cancel tests); ``Hold(event)`` delivers every
byte and then waits for ``event`` before the stream ends (a worker between its last byte and the range's
end). ``list_faults`` does the same
for ``list``. Every read is recorded as ``(rel, start, end)``. ``pace`` (seconds per chunk) makes each read a
slow connection, as a server that limits each one would; ``spin`` (CPU seconds per chunk) makes it a
connection that is slow because it keeps its thread busy; ``most_active`` is the most reads ever in flight.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from mr_storage_initializer.transfer.plan import RemoteFile
from mr_storage_initializer.transfer.source import Sink, SourceError, Unsupported

_BURN = bytes(256 << 10)


@dataclass(frozen=True)
class Cut:
    at: int  # absolute offset in the file where the connection breaks


@dataclass(frozen=True)
class Fail:
    transient: bool
    message: str = "the server answered HTTP 503"
    after: threading.Event | None = None  # fail only once this is set (to order faults between workers)


@dataclass(frozen=True)
class Short:
    pass


@dataclass(frozen=True)
class Extra:
    pass


@dataclass(frozen=True)
class Block:
    event: threading.Event
    waiting: threading.Event = field(default_factory=threading.Event)  # set once the read waits for ``event``


@dataclass(frozen=True)
class Hold:
    event: threading.Event
    waiting: threading.Event = field(default_factory=threading.Event)  # set once every byte is delivered


Fault = Cut | Fail | Short | Extra | Block | Hold | None


class FakeSource:
    label = "fake"

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        chunk: int = 7,
        ranges: bool = True,
        pace: float = 0.0,
        spin: float = 0.0,
        version: str = "",
    ) -> None:
        self.data = dict(files)
        self.version = version  # the validator every object is listed with ("": none, so nothing is resumed)
        self.chunk = chunk
        self.pace = pace
        self.spin = spin
        self.active = 0
        self.most_active = 0
        self.ranges = ranges
        self.reads: list[tuple[str, int, int]] = []
        self.lists = 0
        self.closed = False
        self.unsupported: str | None = None
        self._faults: dict[str, list[Fault]] = {}
        self._list_faults: list[Fail] = []
        self._lock = threading.Lock()

    def fault(self, *faults: Fault, rel: str = "*") -> None:
        """Faults for the next reads (of file ``rel``, or of any file), one each (``None``: that read goes well)."""
        self._faults.setdefault(rel, []).extend(faults)

    def list_faults(self, *faults: Fail) -> None:
        self._list_faults.extend(faults)

    # -- Source ------------------------------------------------------------------------------------------
    def list(self) -> list[RemoteFile]:
        with self._lock:
            self.lists += 1
            fault = self._list_faults.pop(0) if self._list_faults else None
        if fault is not None:
            raise SourceError(fault.message, transient=fault.transient)
        if self.unsupported:
            raise Unsupported(self.unsupported)
        return [
            RemoteFile(rel, rel, len(data), ranges=self.ranges, version=self.version)
            for rel, data in sorted(self.data.items())
        ]

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        with self._lock:
            self.reads.append((remote.rel, start, end))
            queue = self._faults.get(remote.rel) or self._faults.get("*") or []
            fault = queue.pop(0) if queue else None
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            yield from self._read(remote, start, end, fault)
        finally:
            with self._lock:
                self.active -= 1

    def _read(self, remote: RemoteFile, start: int, end: int, fault: Fault) -> Iterator[bytes | memoryview]:
        if isinstance(fault, Fail):
            if fault.after is not None:
                fault.after.wait()
            raise SourceError(fault.message, transient=fault.transient)
        data = self.data[remote.key]
        stop = end
        if isinstance(fault, Cut):
            stop = min(end, fault.at)
        elif isinstance(fault, Short):
            stop = end - 1
        body = data[start:stop] + (b"!" if isinstance(fault, Extra) else b"")
        for offset in range(0, len(body), self.chunk):
            if isinstance(fault, Block) and offset:
                fault.waiting.set()
                fault.event.wait()
            if self.pace:
                time.sleep(self.pace)  # the connection's pace, not the test's synchronisation
            if self.spin:
                until = time.thread_time() + self.spin
                while time.thread_time() < until:  # CPU work in this thread, as a slow copy into the page cache
                    hashlib.sha256(_BURN)  # (hashing releases the GIL, as a system call does)
            yield memoryview(body)[offset : offset + self.chunk]
        if isinstance(fault, Hold):
            fault.waiting.set()
            fault.event.wait()
        if isinstance(fault, Cut):
            raise SourceError("the connection broke mid-transfer", transient=True)

    def close(self) -> None:
        self.closed = True
