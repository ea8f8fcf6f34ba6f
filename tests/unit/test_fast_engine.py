"""The own engine in process, against a FakeSource: workers, resume, retries, cancel, size checks, listing."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import Block, Cut, Extra, Fail, FakeSource, Hold, Short
from fixtures.storage import make_tar_gz
from helpers import retries_without_waiting
from mr_storage_initializer.errors import ArchiveError, DestinationError, StorageError
from mr_storage_initializer.options import Limits, Patterns, Tunables
from mr_storage_initializer.transfer import fast_engine, plan
from mr_storage_initializer.transfer.engine import Hooks
from mr_storage_initializer.transfer.fast_engine import FastEngine, _Run
from mr_storage_initializer.transfer.plan import split
from mr_storage_initializer.transfer.resume import PREFIX, STATE, Ledger
from mr_storage_initializer.transfer.source import Unsupported

DATA = os.urandom(1000)


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Retries keep their attempt counts but do not sleep."""
    with retries_without_waiting():
        yield


def _engine(source: FakeSource, **tunables: int) -> FastEngine:
    settings = {"concurrency": 1, "chunk_size": 1000, "attempts": 3, **tunables}
    return FastEngine(source, Tunables(deadline=30, progress_interval=3600, **settings))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_byte_lands_with_many_workers_and_short_reads(tmp_path: Path) -> None:
    files = {"a.bin": DATA, "sub/b.bin": DATA[:333], "c.bin": b""}
    source = FakeSource(files, chunk=7)
    assert _engine(source, concurrency=4, chunk_size=100).download("fake://m", tmp_path) == "fast"
    assert _tree(tmp_path) == files
    assert sorted(start for rel, start, _ in source.reads if rel == "a.bin") == list(range(0, 1000, 100))
    assert source.closed


def test_a_cut_resumes_at_the_last_byte_written_with_a_fresh_budget(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Cut(at=300), Cut(at=600))
    _engine(source, attempts=1).download("fake://m", tmp_path)  # one attempt each: progress renews the budget
    assert _tree(tmp_path) == {"a.bin": DATA}
    assert source.reads == [("a.bin", 0, 1000), ("a.bin", 300, 1000), ("a.bin", 600, 1000)]


def test_a_transient_failure_without_progress_is_retried_then_fails_with_the_final_message(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Fail(transient=True), Fail(transient=True), Fail(transient=True))
    with pytest.raises(StorageError, match=r"downloading a.bin from fake://m failed: the server answered HTTP 503"):
        _engine(source, attempts=3).download("fake://m", tmp_path)
    assert len(source.reads) == 3
    assert source.closed


def test_a_transient_failure_is_retried_until_it_passes(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Fail(transient=True), Fail(transient=True))
    _engine(source, attempts=3).download("fake://m", tmp_path)
    assert _tree(tmp_path) == {"a.bin": DATA}
    assert len(source.reads) == 3


def test_a_final_failure_is_not_retried(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Fail(transient=False, message="access was denied (HTTP 403)"))
    with pytest.raises(StorageError, match="access was denied"):
        _engine(source, attempts=5).download("fake://m", tmp_path)
    assert len(source.reads) == 1


def test_a_source_without_ranges_starts_over_after_a_cut(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA}, ranges=False)
    source.fault(Cut(at=400))
    _engine(source, chunk_size=100).download("fake://m", tmp_path)  # one part: no ranges to split into
    assert _tree(tmp_path) == {"a.bin": DATA}
    assert source.reads == [("a.bin", 0, 1000), ("a.bin", 0, 1000)]


def test_more_bytes_than_listed_are_refused(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Extra())
    with pytest.raises(StorageError, match="sent more than the 1000 bytes it listed"):
        _engine(source).download("fake://m", tmp_path)


def test_an_object_shorter_than_listed_fails_once_the_attempts_without_progress_are_spent(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.fault(Short(), Short(), Short(), Short())
    with pytest.raises(StorageError, match="got 999 of 1000 bytes; the object is shorter than listed"):
        _engine(source, attempts=3).download("fake://m", tmp_path)
    # the first read made progress (999 bytes); then three reads from 999 made none
    assert source.reads == [("a.bin", 0, 1000)] + [("a.bin", 999, 1000)] * 3


def test_a_failure_stops_the_other_workers_at_their_next_chunk(tmp_path: Path) -> None:
    release = threading.Event()
    source = FakeSource({"big.bin": DATA, "small.bin": DATA[:500]}, chunk=10)
    block = Block(release)
    source.fault(block, rel="big.bin")  # one chunk, then it waits
    denied = Fail(transient=False, message="access was denied (HTTP 403)", after=block.waiting)
    source.fault(denied, rel="small.bin")  # fails while big.bin's read is waiting
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            _engine(source, concurrency=2).download("fake://m", tmp_path)
        except BaseException as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the engine waited for a blocked worker instead of failing"
    assert isinstance(outcome[0], StorageError) and "access was denied" in outcome[0].message
    release.set()  # the blocked worker wakes up, sees the stop, and ends without reading on
    for thread in [t for t in threading.enumerate() if t.name.startswith("fetch-")]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    # the chunk it was waiting for is written; nothing after it, and no new read was started
    assert (tmp_path / "big.bin").read_bytes()[20:] == bytes(980)
    assert [r for r in source.reads if r[0] == "big.bin"] == [("big.bin", 0, 1000)]


def test_a_worker_that_ends_its_range_after_a_failure_writes_no_ledger(tmp_path: Path) -> None:
    """Staging is removed as soon as the run fails (or a SIGTERM arrives); a worker still finishing its range
    must not write the ledger then, or the removal races with a new file and leaves the directory behind."""
    dest = tmp_path / f"{PREFIX}0123456789abcdef"
    dest.mkdir()
    release = threading.Event()
    source = FakeSource({"big.bin": DATA, "small.bin": DATA[:500]}, chunk=100)
    hold = Hold(release)
    source.fault(hold, rel="big.bin")  # every byte, then the stream waits before it ends
    source.fault(Fail(transient=False, message="access was denied (HTTP 403)", after=hold.waiting), rel="small.bin")
    with pytest.raises(StorageError, match="access was denied"):
        _engine(source, concurrency=2, ramp=False).download("fake://m", dest)
    before = (dest / STATE).read_bytes()
    release.set()  # big.bin's range ends now, after the run gave up
    for thread in [t for t in threading.enumerate() if t.name.startswith("fetch-")]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert (dest / STATE).read_bytes() == before
    assert sorted(p.name for p in dest.iterdir()) == [STATE, "big.bin", "small.bin"]


def test_a_run_with_every_range_kept_from_a_killed_run_still_finishes_its_ledger(tmp_path: Path) -> None:
    # killed between the last range's ledger entry and the end of the run: nothing is left to fetch, and the
    # ledger must still go (else staging would install .mr-resume.jsonl as a model file)
    source = FakeSource({"a.bin": DATA}, chunk=100, version='"v1"')
    dest = tmp_path / f"{PREFIX}0123456789abcdef"
    dest.mkdir()
    ledger = Ledger.open(dest, source.list(), 500)
    assert ledger is not None
    (dest / "a.bin").write_bytes(DATA)
    for part in split(source.list(), 500):
        ledger.done(part)
    _engine(source, chunk_size=500).download("fake://m", dest)
    assert source.reads == []
    assert _tree(dest) == {"a.bin": DATA}


def test_a_staged_file_replaced_by_a_link_mid_run_is_refused_not_followed(tmp_path: Path) -> None:
    # the next range opens the file again: with O_NOFOLLOW from the staging directory's fd, never the target
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"P" * len(DATA))
    dest = tmp_path / "staging"
    source = FakeSource({"a.bin": DATA})

    def swap(rel: str, offset: int, size: int) -> None:
        if offset == 0 and not (dest / rel).is_symlink():
            (dest / rel).unlink()
            (dest / rel).symlink_to(outside)

    engine = FastEngine(
        source,
        Tunables(concurrency=1, chunk_size=500, attempts=3, deadline=30, progress_interval=3600),
        hooks=Hooks(observer=swap),
    )
    with pytest.raises(DestinationError, match=r"a\.bin: a symbolic link replaced a staged file"):
        engine.download("fake://m", dest)
    assert outside.read_bytes() == b"P" * len(DATA)


def test_sizes_on_disk_are_checked_against_the_listing(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    run = _Run(source, source.list(), tmp_path, Tunables(progress_interval=3600), "fake://m")
    run.run()
    os.truncate(tmp_path / "a.bin", 10)
    with pytest.raises(StorageError, match=r"a\.bin: 10 bytes on disk, 1000 listed"):
        run._check_sizes()


def test_the_listing_is_retried_when_transient_and_final_otherwise(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.list_faults(Fail(transient=True), Fail(transient=False, message="it does not exist (HTTP 404)"))
    with pytest.raises(StorageError, match="downloading fake://m failed: it does not exist"):
        _engine(source).download("fake://m", tmp_path)
    assert source.lists == 2
    assert list(tmp_path.iterdir()) == []


def test_unsupported_is_left_to_the_caller_with_nothing_written(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA})
    source.unsupported = "the server announces no length and no ranges"
    with pytest.raises(Unsupported):
        _engine(source).download("fake://m", tmp_path)
    assert source.closed and list(tmp_path.iterdir()) == []


def test_patterns_filter_the_listing_and_nothing_left_is_an_error(tmp_path: Path) -> None:
    source = FakeSource({"a.bin": DATA, "notes.txt": b"x"})
    FastEngine(source, Tunables(), Patterns(allow=("*.bin",))).download("fake://m", tmp_path / "one")
    assert _tree(tmp_path / "one") == {"a.bin": DATA}
    (tmp_path / "none").mkdir()
    with pytest.raises(StorageError, match="no model files there"):
        FastEngine(source, Tunables(), Patterns(ignore=("*",))).download("fake://m", tmp_path / "none")


def test_a_single_archive_is_unpacked_within_the_limits_given(tmp_path: Path) -> None:
    source = FakeSource({"model.tar.gz": make_tar_gz({"a.bin": DATA, "b.bin": DATA})})
    _engine(source).download("fake://m", tmp_path / "ok")
    assert _tree(tmp_path / "ok") == {"a.bin": DATA, "b.bin": DATA}
    (tmp_path / "refused").mkdir()
    engine = FastEngine(source, Tunables(), limits=Limits(max_members=1))
    with pytest.raises(ArchiveError, match="more than 1 members"):
        engine.download("fake://m", tmp_path / "refused")


def test_big_chunks_reach_the_page_cache_in_pieces_of_at_most_write_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mr_storage_initializer.transfer.source import WRITE_PIECE

    data = os.urandom(3 * WRITE_PIECE + 12345)
    sizes: list[int] = []
    real_pwrite = os.pwrite

    def pwrite(fd: int, view: memoryview, offset: int) -> int:
        sizes.append(len(view))
        return real_pwrite(fd, view, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    source = FakeSource({"a.bin": data}, chunk=2 * WRITE_PIECE + 1)  # chunks bigger than a piece
    _engine(source, chunk_size=len(data)).download("fake://m", tmp_path)
    assert _tree(tmp_path) == {"a.bin": data}
    assert max(sizes) == WRITE_PIECE
    assert sum(sizes) == len(data)


# -- how many connections ---------------------------------------------------------------------------------
def _parts(count: int, size: int = 1000) -> dict[str, bytes]:
    return {f"f{index:02}.bin": DATA[:size] for index in range(count)}


def test_a_slow_link_gets_every_connection_allowed(tmp_path: Path) -> None:
    # each read is ~10 KB/s, far below FAST_CONNECTION: the run doubles 2 -> 4 -> 6 within a few ticks
    source = FakeSource(_parts(60), chunk=100, pace=0.01)
    _engine(source, concurrency=6, chunk_size=1000).download("fake://m", tmp_path)
    assert source.most_active == 6
    assert _tree(tmp_path) == _parts(60)


def test_a_tree_of_many_small_files_gets_more_connections_than_configured(tmp_path: Path) -> None:
    # each small file is a round trip or two: 200 of them get one more connection per 16 files, 12 in all
    source = FakeSource(_parts(200), chunk=100, pace=0.01)
    _engine(source, concurrency=6, chunk_size=1000).download("fake://m", tmp_path)
    assert source.most_active == 200 // plan.FILES_PER_SMALL_CONNECTION == 12
    assert _tree(tmp_path) == _parts(200)


def test_connections_beyond_the_configured_ones_never_take_a_range_of_a_large_file(tmp_path: Path) -> None:
    files = {"large.bin": DATA * 40, **_parts(200)}
    source = FakeSource(files, chunk=100, pace=0.01)
    run = _Run(source, source.list(), tmp_path, Tunables(concurrency=2, chunk_size=1000, progress_interval=3600), "m")
    extra = [run._take(slot=5) for _ in range(201)]
    assert all(part is not None and part.file.size == 1000 for part in extra[:200])
    assert extra[200] is None  # only large.bin's ranges are left (queued in turn with the small files)
    assert len(run.parts) == 40 and run._take(slot=0) is not None


def test_a_fast_link_keeps_two_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # any progress at all counts as fast here; the reads still last long enough for the ramp to look
    monkeypatch.setattr(fast_engine, "FAST_CONNECTION", 1.0)
    source = FakeSource(_parts(40), chunk=100, pace=0.002)
    _engine(source, concurrency=6, chunk_size=1000).download("fake://m", tmp_path)
    assert source.most_active == fast_engine.RAMP_START == 2
    assert _tree(tmp_path) == _parts(40)


def test_one_file_starts_with_one_connection_and_several_files_with_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # writers to one file queue on its lock in the kernel; writers to different files do not
    monkeypatch.setattr(fast_engine, "FAST_CONNECTION", 1.0)  # every connection counts as fast: no ramp
    one = FakeSource({"model.bin": DATA * 20}, chunk=100, pace=0.002)
    _engine(one, concurrency=6, chunk_size=1000).download("fake://m", tmp_path / "one")
    assert one.most_active == 1
    assert _tree(tmp_path / "one") == {"model.bin": DATA * 20}
    two = FakeSource(_parts(20), chunk=100, pace=0.002)
    _engine(two, concurrency=6, chunk_size=1000).download("fake://m", tmp_path / "two")
    assert two.most_active == 2


def _share_of_a_core(seconds: float = 0.2) -> float:
    """The share of a core a spinning thread gets on this machine now (1.0 idle, less beside other work)."""
    wall, cpu = time.monotonic(), time.thread_time()
    while time.monotonic() - wall < seconds:
        pass
    return (time.thread_time() - cpu) / (time.monotonic() - wall)


def test_a_connection_busy_on_the_cpu_gets_no_company(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # slow (far below FAST_CONNECTION) but not waiting on the network: more writers would only queue. A loaded
    # machine gives the spinning connection less of a core, so the bar is a third of what a spinning thread
    # gets here now (0.8 on an idle machine); a paced connection (test_a_slow_link_gets_every_connection_allowed)
    # uses almost none, so it stays under any such bar.
    monkeypatch.setattr(fast_engine, "BUSY_CONNECTION", min(0.8, _share_of_a_core() / 3))
    source = FakeSource({"model.bin": DATA * 30}, chunk=100, spin=0.002)
    _engine(source, concurrency=6, chunk_size=1000).download("fake://m", tmp_path)
    assert source.most_active == 1
    assert _tree(tmp_path) == {"model.bin": DATA * 30}


def test_cpu_spent_by_other_threads_does_not_hold_the_ramp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # signature hashing threads, or another pair's download in the same process, are busy; the connections
    # of this run wait on the network and get company (measured with process-wide CPU, they did not)
    monkeypatch.setattr(fast_engine, "BUSY_CONNECTION", 0.3)
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            hashlib.sha256(bytes(256 << 10))  # releases the GIL, as hashing a model's files does

    burner = threading.Thread(target=burn, daemon=True)
    burner.start()
    try:
        source = FakeSource({"model.bin": DATA * 60}, chunk=100, pace=0.01)
        _engine(source, concurrency=6, chunk_size=1000).download("fake://m", tmp_path)
    finally:
        stop.set()
        burner.join()
    assert source.most_active == 6


def test_a_concurrency_the_user_set_is_used_from_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_engine, "FAST_CONNECTION", 1.0)  # a ramp would keep two: the user said four
    source = FakeSource(_parts(16), chunk=100, pace=0.002)
    tunables = Tunables(concurrency=4, chunk_size=1000, deadline=30, progress_interval=3600, ramp=False)
    FastEngine(source, tunables).download("fake://m", tmp_path)
    assert source.most_active == 4
    assert _tree(tmp_path) == _parts(16)
