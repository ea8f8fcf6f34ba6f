"""Move a plain-HTTP body from its socket into the file with ``os.splice``, not through Python's memory.

The ordinary path copies every byte twice (``recv`` into a buffer, ``pwrite`` into the page cache) and makes
Python calls for each chunk. ``splice`` moves the socket's pages into a pipe and from the pipe into the
file: one copy, in the kernel, about 1 MiB per call (measurements: benchmarks/RESULTS.md, "Design notes from
measurements").

It serves only what it can do exactly, and what pays: a plain ``socket.socket`` (TLS bodies are decrypted in
user space), a body of announced length of at least :data:`SPLICE_MIN` without ``Content-Encoding`` or
chunking, no longer than the range it is meant to fill, on Linux. For anything else :func:`usable` returns
``None`` and the caller reads the body itself. When the kernel will not splice (a sandbox such as gVisor, a
seccomp filter: ``EINVAL``, ``ENOSYS``, ``EPERM``) or the file system takes no splices, :func:`body` writes
what the pipe already holds with ``pwrite`` and stops with bytes still owed; the caller reads the rest the
ordinary way, and the process splices no more.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

from mr_storage_initializer.transfer.source import Sink, broken, timed_out, transport_failure

PIPE_SIZE = 1 << 20  # the unprivileged maximum (fs.pipe-max-size), fewer calls than the kernel's 64 KiB default
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python >= 3.10 names it; the number is Linux's ABI)
# A shorter body is read into Python: a pipe of its own (pipe, F_SETPIPE_SZ, two splices, two closes) costs
# more than one copy of so few bytes (a tree of small files: benchmarks/RESULTS.md, "Many small files").
SPLICE_MIN = 256 * 1024
_REFUSED = threading.Event()  # set once a destination refused a splice: this process writes the ordinary way


def usable(response: Any, raw: Any, sink: Sink | None) -> socket.socket | None:
    """The plain socket to splice ``response``'s body from, or None when it must be read the ordinary way."""
    if sink is None or _REFUSED.is_set() or not hasattr(os, "splice"):
        return None
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if type(sock) is not socket.socket:  # an ssl.SSLSocket (or none): the bytes on the wire are not the body
        return None
    length = getattr(raw, "length", None)
    if getattr(raw, "chunked", True) or length is None or response.headers.get("Content-Encoding"):
        return None
    if length < SPLICE_MIN:
        return None
    if length > sink.end - sink.offset:  # more than the range holds: the ordinary path refuses it, with its words
        return None
    return sock


def body(raw: Any, sock: socket.socket, sink: Sink, timeout: float) -> Iterator[int]:
    """Write the rest of ``raw`` (http.client's response) at ``sink``; yield each count written.

    First what http.client has buffered already (one ``read1``: its buffer is 8 KiB, and a read1 of more
    empties it), then the socket itself. When the body is all written the response is marked read, so its
    connection goes back to the pool ready for the next request. When the destination refuses splices,
    it stops early with ``raw.length`` bytes still to read, for the caller to read the ordinary way."""
    head = _read_head(raw, timeout)
    if head:
        sink.write(head)
        yield len(head)
    left = raw.length
    refused = False
    pipe_out, pipe_in = os.pipe()
    try:
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(pipe_in, _F_SETPIPE_SZ, PIPE_SIZE)
        fd = sock.fileno()
        while left:
            try:
                moved = _from_socket(fd, pipe_in, min(PIPE_SIZE, left), timeout)
            except _Refused:  # nothing was taken from the socket: the caller reads it all the ordinary way
                _REFUSED.set()
                break
            if not moved:
                raise broken(f"{left} bytes missing")
            try:
                _to_file(pipe_out, sink, moved)
            except _Refused:
                _REFUSED.set()
                refused = True
                sink.write(_drain(pipe_out, moved))
            left -= moved
            raw.length = left
            yield moved
            if refused:
                break
    finally:
        os.close(pipe_out)
        os.close(pipe_in)
    if not left:
        raw.read()  # nothing is left: http.client marks the response closed, and the connection reusable


def _read_head(raw: Any, timeout: float) -> bytes:
    try:
        head: bytes = raw.read1(1 << 16)
    except OSError as exc:
        raise transport_failure(exc, timeout) from exc
    if not head and raw.length:  # http.client met the end of the stream
        raise broken(f"{raw.length} bytes missing")
    return head


class _Refused(Exception):
    """The kernel does not splice this socket (a sandbox such as gVisor, a seccomp filter) or this file
    system does not take splices."""


# What a kernel, sandbox or seccomp filter answers for a splice it does not do (it consumed nothing).
_NOT_DONE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP})


def _from_socket(fd: int, pipe_in: int, count: int, timeout: float) -> int:
    """Up to ``count`` bytes from the socket into the pipe (0: the peer closed); waits at most ``timeout``."""
    while True:
        try:
            return os.splice(fd, pipe_in, count)
        except BlockingIOError:  # the socket has a timeout, so it is non-blocking: wait for bytes
            waiting = select.poll()
            waiting.register(fd, select.POLLIN)
            if not waiting.poll(timeout * 1000):
                raise timed_out(timeout) from None
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno in _NOT_DONE:
                raise _Refused from exc
            raise transport_failure(exc, timeout) from exc


def _to_file(pipe_out: int, sink: Sink, count: int) -> None:
    """All ``count`` bytes in the pipe into the file at ``sink.offset`` (which moves on). A destination
    failure (a full disk) is the OSError it is, as from ``pwrite``."""
    done = 0
    while done < count:
        try:
            n = os.splice(pipe_out, sink.fd, count - done, offset_dst=sink.offset)
        except OSError as exc:
            if exc.errno in _NOT_DONE and done == 0:
                raise _Refused from exc
            raise
        if not n:  # the pipe holds bytes the file did not take: never loop on it
            raise OSError(errno.EIO, f"the file took no bytes of {count - done} spliced")
        done += n
        sink.offset += n


def _drain(pipe_out: int, count: int) -> bytes:
    parts = []
    while count:
        chunk = os.read(pipe_out, count)
        parts.append(chunk)
        count -= len(chunk)
    return b"".join(parts)
