"""Reading a layer's blob: an uncompressed layer's file copied in the kernel, gzip and zstd streams
decompressed in small pieces (zlib and zstd run without the GIL, so layers unpacked at once use different
cores; pieces of 64 KiB come from Python's heap again and again, where fresh 1 MiB buffers cost a page
fault per page)."""

from __future__ import annotations

import contextlib
import errno
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mr_storage_initializer.errors import ArchiveError

CHUNK = 1 << 20
PIECE = 64 << 10


def copy_range(source: int, target: int, offset: int, size: int) -> None:
    """``size`` bytes of ``source`` from ``offset`` into ``target`` by ``copy_file_range`` (no copy through
    Python; a file system that can share blocks does so), else by reads and writes."""
    done = 0
    while done < size:
        try:
            n = os.copy_file_range(source, target, min(size - done, 1 << 30), offset + done, done)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            n = 0
        if n == 0:  # not supported here, or the blob ended early
            data = os.pread(source, min(size - done, CHUNK), offset + done)
            if not data:
                raise ArchiveError("a layer ends inside one of its files")
            n = os.pwrite(target, data, done)
        done += n


class _Gunzip:
    """A gzip stream (every member of it) read in 1 MiB pieces: the decompression runs in zlib without the
    GIL, so that layers unpacked in parallel use different cores (``gzip.GzipFile`` reads 8 KiB at a time)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.data = b""  # compressed bytes not yet decompressed
        self.inside = False  # a member has begun and not ended
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        want = size if size > 0 else 1 << 62
        out: list[bytes] = []
        got = 0
        while got < want and not self.ended:
            if not self.data:
                self.data = self.handle.read(PIECE)
                if not self.data:
                    if self.inside:
                        raise EOFError("the gzip stream ends early")
                    self.ended = True
                    break
            self.inside = True
            piece = self.inflate.decompress(self.data, min(want - got, PIECE))  # bounded: no bomb in memory
            if self.inflate.eof:  # a member ends; another may follow
                self.data = self.inflate.unused_data
                self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.inside = False
            else:
                self.data = self.inflate.unconsumed_tail
            if piece:
                out.append(piece)
                got += len(piece)
        return b"".join(out)


@contextlib.contextmanager
def open_layer(path: Path, compression: str) -> Iterator[IO[bytes]]:
    if compression == "gzip":
        with open(path, "rb") as handle:
            yield _Gunzip(handle)  # type: ignore[misc]
    elif compression == "zstd":
        from backports import zstd

        with zstd.ZstdFile(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with open(path, "rb") as stream:
            yield stream
