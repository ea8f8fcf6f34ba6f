"""What the fast engine needs from a storage service: a listing and byte ranges, with errors sorted.

A source raises :class:`SourceError` for every failure of the service, saying whether another attempt may
succeed, and :class:`Unsupported` from ``list`` when it meets something only KServe's library handles;
``transfer.fall_back`` then hands the whole download to ``kserve_storage`` (logging the reason), or, with
``MODEL_REGISTRY_TRANSFER=fast``, refuses with exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.retry import TransientError
from mr_storage_initializer.transfer.plan import RemoteFile
from mr_storage_initializer.values import dataclass


class SourceError(Exception):
    """A storage service failed. ``transient``: a retry may succeed (network, timeout, 429, 5xx)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def escalate(exc: SourceError, final_message: str, subject: str = "") -> Exception:
    """What to raise inside ``retry.call`` for ``exc``: a retry for a transient failure (logged as
    ``subject: message``, ending in ``StorageError(final_message)`` when the budget is spent), else that
    ``StorageError`` at once."""
    final = StorageError(final_message)
    if not exc.transient:
        return final
    return TransientError(f"{subject}: {exc.message}" if subject else exc.message, final)


def broken(detail: str) -> SourceError:
    """The connection broke while a body was read (a retry may get the rest); ``detail`` says how."""
    return SourceError(f"the connection broke mid-transfer ({detail})", transient=True)


def timed_out(timeout: float, detail: str = "") -> SourceError:
    """The server sent nothing for ``timeout`` seconds (a retry may do better)."""
    return SourceError(
        f"the server did not answer within {timeout:g}s" + (f" ({detail})" if detail else ""), transient=True
    )


def tls_failed(exc: BaseException, hint: str) -> SourceError:
    """TLS itself failed (trust, protocol): another attempt would fail the same way."""
    return SourceError(f"TLS failed ({exc})" + (f"; {hint}" if hint else ""), transient=False)


def transport_failure(exc: BaseException, timeout: float, tls_hint: str = "") -> SourceError:
    """The SourceError for what a request or the read of its body raised (urllib3's, ``http.client``'s,
    ``ssl``'s or the socket's error), sorted by :func:`mr_storage_initializer.transport.classify`: TLS is
    final; a timeout, a refused connection, a cut (a TLS stream ending early included) may pass."""
    from mr_storage_initializer.transport import Kind, classify

    failure = classify(exc)
    if failure.kind is Kind.TLS:
        return tls_failed(failure.error or exc, tls_hint)
    if failure.kind is Kind.TIMEOUT:
        return timed_out(timeout, failure.text)
    if failure.kind is Kind.CONNECT:
        return SourceError(f"the server {failure.unreachable}", transient=True)
    if failure.kind is Kind.BROKEN:
        import ssl

        tls_cut = isinstance(failure.error, ssl.SSLError)
        return broken(f"the TLS stream ended early: {failure.text}" if tls_cut else failure.text)
    return SourceError(f"{type(failure.error).__name__} ({failure.text})", transient=True)


CHANGED = "it changed on the server during the download; refusing a file stitched from two versions (run again)"


def changed(remote: RemoteFile, now: str) -> SourceError:
    """The object is no longer the version listed (``remote.version``); ``now`` is what the server has."""
    return SourceError(f"{CHANGED} (listed as {remote.version}, now {now})", transient=False)


class Unsupported(Exception):
    """This artifact needs a feature only ``kserve_storage`` has; the message says which."""


# The most one pwrite hands the page cache (why 512 KiB: benchmarks/RESULTS.md, "Design notes from measurements").
WRITE_PIECE = 512 * 1024


@dataclass
class Sink:
    """Where a range lands: the open file, the offset of its next byte, and the offset it must not reach.

    A source that can move bytes from the network into the file without copying them through Python
    (plain HTTP, with ``os.splice``) writes there itself, moves ``offset`` on, and yields the count it wrote
    instead of the bytes. Other sources ignore it."""

    fd: int
    offset: int
    end: int

    def write(self, data: bytes | memoryview) -> None:
        """``data`` at ``offset``, which moves on past it; at most WRITE_PIECE bytes per ``pwrite``."""
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view[:WRITE_PIECE], self.offset)
            view = view[n:]
            self.offset += n


class Source(Protocol):
    label: str

    def list(self) -> list[RemoteFile]:
        """The files of the artifact, with sizes, relative paths already made safe."""

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        """The bytes ``[start, end)`` of ``remote``, in chunks, as they arrive. A chunk may be a view of a
        buffer the source reuses: it is valid until the next chunk is asked for. An ``int`` is a count of
        bytes the source wrote at ``sink`` itself."""

    def close(self) -> None:
        """Release connections."""
