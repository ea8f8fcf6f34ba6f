"""Plain-HTTP bodies spliced from the socket into the file, against a real HTTP server on loopback."""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fixtures.storage import HttpFileServer
from mr_storage_initializer.transfer import splice
from mr_storage_initializer.transfer.http import PLAIN_MAX_BYTES, HttpSource
from mr_storage_initializer.transfer.source import Sink, SourceError

# several pipes' worth, not a multiple of a page, and over the size whose ranges go through urllib3 (a smaller
# file is fetched on plain sockets into Python: tests/unit/test_plain_http.py)
DATA = os.urandom(PLAIN_MAX_BYTES + 3 * 1024 * 1024 + 12_345)


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    splice._REFUSED.clear()
    yield
    splice._REFUSED.clear()


def _source(http_server: HttpFileServer) -> HttpSource:
    return HttpSource(http_server.add("m/model.bin", DATA), {}, connections=1)


def _read(source: HttpSource, path: Path, start: int, end: int) -> list[Any]:
    """Read ``[start, end)`` into ``path`` as the engine does: counts were written by the source, bytes are
    written here, each at the offset the chunks before it reached."""
    remote = source.list()[0]
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    chunks: list[Any] = []
    offset = start
    try:
        os.ftruncate(fd, remote.size)
        for chunk in source.read(remote, start, end, Sink(fd, start, end)):
            if isinstance(chunk, int):
                offset += chunk
            else:
                offset += os.pwrite(fd, chunk, offset)
            chunks.append(chunk if isinstance(chunk, int) else bytes(chunk))
    finally:
        os.close(fd)
    return chunks


def test_a_plain_http_range_is_spliced_into_the_file(http_server: HttpFileServer, tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    chunks = _read(_source(http_server), target, 0, len(DATA))
    assert all(isinstance(chunk, int) for chunk in chunks)  # counts written: no byte came through Python
    assert sum(chunks) == len(DATA)
    assert target.read_bytes() == DATA


def test_the_connection_serves_the_next_range_after_a_splice(http_server: HttpFileServer, tmp_path: Path) -> None:
    source = _source(http_server)
    target = tmp_path / "model.bin"
    middle = len(DATA) // 2 + 1
    assert sum(_read(source, target, 0, middle)) == middle
    assert sum(_read(source, target, middle, len(DATA))) == len(DATA) - middle
    assert target.read_bytes() == DATA
    pool = source.pool.real().connection_from_url(source.url)
    assert pool.num_connections == 1  # the listing and both ranges: one connection, read to the byte


def test_a_cut_connection_counts_every_byte_written_before_it(http_server: HttpFileServer, tmp_path: Path) -> None:
    source = _source(http_server)
    remote = source.list()[0]
    http_server.cut_next(1_500_000)
    fd = os.open(tmp_path / "model.bin", os.O_RDWR | os.O_CREAT, 0o644)
    written = 0
    try:
        os.ftruncate(fd, remote.size)
        with pytest.raises(SourceError, match="connection broke") as raised:
            for chunk in source.read(remote, 0, remote.size, Sink(fd, 0, remote.size)):
                written += chunk if isinstance(chunk, int) else len(chunk)
    finally:
        os.close(fd)
    assert raised.value.transient
    assert written == 1_500_000  # what resume will start from
    assert (tmp_path / "model.bin").read_bytes()[:written] == DATA[:written]


def test_a_body_longer_than_its_range_is_not_spliced(http_server: HttpFileServer, tmp_path: Path) -> None:
    source = _source(http_server)
    remote = source.list()[0]
    fd = os.open(tmp_path / "model.bin", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        first = next(iter(source.read(remote, 0, remote.size, Sink(fd, 0, remote.size - 1))))
    finally:
        os.close(fd)
    assert not isinstance(first, int)  # bytes: the engine sees the excess and refuses the file


def test_a_file_system_that_refuses_splices_gets_every_byte_anyway(
    http_server: HttpFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.splice

    def no_splice_into_files(src: int, dst: int, count: int, offset_src: Any = None, offset_dst: Any = None) -> int:
        if offset_dst is not None:  # into the file: what a file system without splice_write answers
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(src, dst, count)

    monkeypatch.setattr(os, "splice", no_splice_into_files)
    source = _source(http_server)
    target = tmp_path / "model.bin"
    chunks = _read(source, target, 0, len(DATA))
    assert target.read_bytes() == DATA
    assert isinstance(chunks[1], int)  # the bytes already in the pipe, written by pwrite
    assert any(not isinstance(chunk, int) for chunk in chunks)  # then the rest the ordinary way
    assert splice._REFUSED.is_set()
    again = _read(source, tmp_path / "again.bin", 0, len(DATA))
    assert not any(isinstance(chunk, int) for chunk in again)  # the process no longer tries
    assert (tmp_path / "again.bin").read_bytes() == DATA


def test_only_a_plain_socket_with_a_counted_body_is_spliced() -> None:
    size = splice.SPLICE_MIN
    sink = Sink(fd=0, offset=0, end=size)
    plain = socket.socket()
    tls = ssl.create_default_context().wrap_socket(
        socket.socket(), server_hostname="example.com", do_handshake_on_connect=False
    )
    try:

        def answer(sock: socket.socket, **raw: Any) -> Any:
            response = SimpleNamespace(connection=SimpleNamespace(sock=sock), headers=raw.pop("headers", {}))
            return splice.usable(response, SimpleNamespace(**{"length": size, "chunked": False, **raw}), sink)

        assert answer(plain) is plain
        assert answer(tls) is None  # the bytes on the wire are not the body
        assert answer(plain, chunked=True) is None
        assert answer(plain, length=None) is None
        assert answer(plain, headers={"Content-Encoding": "gzip"}) is None
        assert answer(plain, length=size + 1) is None
        assert answer(plain, length=size - 1) is None  # a short body is read into Python: no pipe of its own
    finally:
        plain.close()
        tls.close()


def test_a_kernel_that_will_not_splice_sockets_gets_every_byte_the_ordinary_way(
    http_server: HttpFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.splice

    def sandboxed(src: int, dst: int, count: int, offset_src: Any = None, offset_dst: Any = None) -> int:
        if offset_dst is None:  # from the socket: what gVisor or a seccomp filter answers
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(src, dst, count, offset_dst=offset_dst)

    monkeypatch.setattr(os, "splice", sandboxed)
    source = _source(http_server)
    target = tmp_path / "model.bin"
    chunks = _read(source, target, 0, len(DATA))
    assert target.read_bytes() == DATA
    assert [type(chunk) for chunk in chunks[:2]] == [int, bytes]  # http.client's buffer, then ordinary reads
    assert splice._REFUSED.is_set()


def test_a_file_that_takes_no_spliced_bytes_is_an_error_not_a_loop(
    http_server: HttpFileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.splice

    def stuck(src: int, dst: int, count: int, offset_src: Any = None, offset_dst: Any = None) -> int:
        if offset_dst is not None:  # into the file: it takes nothing and says nothing
            return 0
        return real(src, dst, count)

    monkeypatch.setattr(os, "splice", stuck)
    with pytest.raises(OSError, match="the file took no bytes") as raised:
        _read(_source(http_server), tmp_path / "model.bin", 0, len(DATA))
    assert raised.value.errno == errno.EIO  # an OSError on the destination, as from a failed pwrite
