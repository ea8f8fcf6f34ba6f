"""Hashing completed prefixes while ranges arrive out of order gives each file's SHA-256, or none at all."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

from fakes import FakeSource
from mr_storage_initializer.options import Tunables
from mr_storage_initializer.prehash import PrefixHasher
from mr_storage_initializer.transfer.engine import Hooks
from mr_storage_initializer.transfer.fast_engine import FastEngine
from mr_storage_initializer.transfer.plan import split
from mr_storage_initializer.transfer.resume import PREFIX, Ledger


def _write(path: Path, data: bytes, hasher: PrefixHasher, ranges: list[tuple[int, int]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, len(data))
        for start, end in ranges:
            os.pwrite(fd, data[start:end], start)
            hasher.written(path.name, start, end - start)
    finally:
        os.close(fd)


def _chunks(size: int, part: int, chunk: int) -> list[list[tuple[int, int]]]:
    """Each part of ``part`` bytes as its sequence of ``chunk``-sized writes."""
    return [
        [(c, min(c + chunk, p + part, size)) for c in range(p, min(p + part, size), chunk)]
        for p in range(0, size, part)
    ]


def test_out_of_order_parts_give_the_files_sha256(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(3_000_001)
    parts = _chunks(len(data), 400_000, 65_536)
    order: list[tuple[int, int]] = []
    rng = random.Random(2)
    while any(parts):  # interleave the parts' chunk streams, as concurrent connections do
        live = [p for p in parts if p]
        order.append(rng.choice(live).pop(0))
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "model.bin", data, hasher, order)
    digests = hasher.close()
    assert digests["model.bin"].sha256 == hashlib.sha256(data).hexdigest()
    assert digests["model.bin"].matches(tmp_path / "model.bin")


def test_a_rewrite_of_hashed_bytes_drops_the_digest(tmp_path: Path) -> None:
    data = b"a" * 100_000
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "model.bin", data, hasher, [(0, 50_000), (0, 100_000)])  # a source restarting at 0
    assert hasher.close() == {}


def test_an_incomplete_file_has_no_digest(tmp_path: Path) -> None:
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "model.bin", b"b" * 10_000, hasher, [(0, 4_000), (6_000, 10_000)])
    assert hasher.close() == {}


def test_a_file_shorter_than_the_bytes_reported_has_no_digest(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"c" * 100_000)
    hasher = PrefixHasher(tmp_path)
    hasher.written("model.bin", 0, 300_000)  # more than the file holds: the read back ends early
    assert hasher.close() == {}


def test_a_file_changed_afterwards_no_longer_matches(tmp_path: Path) -> None:
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "model.bin", b"c" * 1000, hasher, [(0, 1000)])
    digest = hasher.close()["model.bin"]
    (tmp_path / "model.bin").unlink()
    (tmp_path / "model.bin").write_bytes(b"d" * 1000)
    assert not digest.matches(tmp_path / "model.bin")


def test_abort_gives_no_digest(tmp_path: Path) -> None:
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "model.bin", b"e" * 100_000, hasher, [(0, 100_000)])
    hasher.abort()
    assert hasher.close() == {}


def test_ranges_kept_from_a_killed_run_are_hashed_with_the_rest(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(1_000_000)
    source = FakeSource({"a.bin": data}, chunk=65_536, version='"v1"')  # a validator: ranges can be kept
    dest = tmp_path / f"{PREFIX}0123456789abcdef"
    dest.mkdir()
    files = source.list()
    ledger = Ledger.open(dest, files, 100_000)  # as a killed run left it: ranges 0 and 3 written, the rest not
    assert ledger is not None
    (dest / "a.bin").write_bytes(data[:100_000] + bytes(200_000) + data[300_000:400_000] + bytes(600_000))
    parts = split(files, 100_000)
    ledger.done(parts[0])
    ledger.done(parts[3])
    hasher = PrefixHasher(dest)
    tunables = Tunables(concurrency=3, chunk_size=100_000, deadline=30, progress_interval=3600)
    engine = FastEngine(source, tunables, hooks=Hooks(observer=hasher))
    engine.download("fake://m", dest)
    assert (dest / "a.bin").read_bytes() == data
    assert sorted(start for _, start, _ in source.reads) == [p.start for p in parts if p.start not in (0, 300_000)]
    digests = hasher.close()
    assert digests["a.bin"].sha256 == hashlib.sha256(data).hexdigest()


def test_finish_gives_a_files_digest_before_close_and_none_for_a_rewritten_one(tmp_path: Path) -> None:
    data = random.Random(3).randbytes(2_000_000)
    hasher = PrefixHasher(tmp_path)
    _write(tmp_path / "a.bin", data, hasher, [(1_000_000, 2_000_000), (0, 1_000_000)])
    _write(tmp_path / "b.bin", data, hasher, [(0, 100), (0, 2_000_000)])  # restarted at 0
    assert hasher.finish("a.bin", len(data)) == hashlib.sha256(data).hexdigest()
    assert hasher.finish("a.bin", len(data) + 1) is None  # not hashed to that size
    assert hasher.finish("b.bin", len(data)) is None
    assert hasher.finish("never-written.bin", 0) is None
    assert set(hasher.close()) == {"a.bin"}  # finish does not end the hashing of a file
