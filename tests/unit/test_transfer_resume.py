"""The resume ledger and the obstore error sentence, without servers: what is kept, what is removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mr_storage_initializer.transfer.objectstore import readable
from mr_storage_initializer.transfer.plan import RemoteFile, split
from mr_storage_initializer.transfer.resume import PREFIX, STATE, Ledger, encode, keep_leftover, load, staging

A = RemoteFile("m/a.bin", "a.bin", 8, version='"e1"')
B = RemoteFile("m/sub/b.bin", "sub/b.bin", 8, version='"e2"')


def _interrupted(root: Path) -> Path:
    """A staging directory as a killed run leaves it: both files allocated, a.bin's first range written."""
    dest = root / f"{PREFIX}0123456789abcdef"
    dest.mkdir(parents=True)
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None
    (dest / "sub").mkdir()
    (dest / "a.bin").write_bytes(b"AAAA\0\0\0\0")
    (dest / "sub" / "b.bin").write_bytes(bytes(8))
    (dest / "stray.tmp").write_bytes(b"x")
    ledger.done(split([A], 4)[0])
    return dest


def test_unchanged_objects_keep_their_completed_ranges(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {"a.bin": {(0, 4)}}
    assert [ledger.has(p) for p in split([A], 4)] == [True, False]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [STATE, "a.bin"]


def test_a_changed_validator_size_or_range_size_keeps_nothing(tmp_path: Path) -> None:
    for changed, chunk in (
        (RemoteFile(A.key, A.rel, 8, version='"e9"'), 4),
        (RemoteFile(A.key, A.rel, 9, version=A.version), 4),
        (RemoteFile(A.key, A.rel, 8, version=""), 4),  # no validator: never resumed
        (A, 2),
    ):
        dest = _interrupted(tmp_path / str(len(list(tmp_path.iterdir()))))
        ledger = Ledger.open(dest, [changed, B], chunk)
        assert ledger is not None and ledger.kept == {}, (changed, chunk)
        assert sorted(p.name for p in dest.iterdir()) == [STATE]


def test_a_source_that_stopped_serving_ranges_keeps_nothing(tmp_path: Path) -> None:
    # one unranged part from 0 now; the ledger proves only [0, 4): its start matches, its length does not
    dest = _interrupted(tmp_path)
    unranged = RemoteFile(A.key, A.rel, A.size, ranges=False, version=A.version)
    ledger = Ledger.open(dest, [unranged, B], 4)
    assert ledger is not None and ledger.kept == {}
    assert [ledger.has(p) for p in split([unranged], 4)] == [False]
    assert sorted(p.name for p in dest.iterdir()) == [STATE]


def test_a_ledger_range_not_identical_to_a_planned_one_keeps_nothing(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    state = load(dest / STATE)
    assert state["format"] == 3 and state["files"]["a.bin"]["done"] == [[0, 4]]
    assert state["files"]["a.bin"]["ranges"] is True
    for done in ([[0, 3]], [[0, 8]], [0], [[1, 5]], ["x"]):  # a shorter, a longer, a start-only (format 1) entry
        state["files"]["a.bin"]["done"] = done
        (dest / STATE).write_text(encode(state))
        (dest / "a.bin").write_bytes(b"AAAA\0\0\0\0")
        ledger = Ledger.open(dest, [A, B], 4)
        assert ledger is not None and ledger.kept == {}, done


def test_a_format_1_ledger_keeps_nothing(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    (dest / STATE).write_text(
        json.dumps(
            {
                "format": 1,
                "chunk_size": 4,
                "files": {"a.bin": {"key": A.key, "size": 8, "version": A.version, "done": [0]}},
            }
        )
    )
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {}


def test_a_format_2_ledger_keeps_nothing(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    state = load(dest / STATE)
    (dest / STATE).write_text(json.dumps({**state, "format": 2}))  # one JSON document, rewritten per range
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {}


def test_a_range_costs_one_appended_line(tmp_path: Path) -> None:
    # the ledger is never rewritten while ranges complete: 2,000 files cost 2,000 small writes, not 2,000
    # rewrites of a ledger that lists them all
    dest = tmp_path / f"{PREFIX}0123456789abcdef"
    dest.mkdir()
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None
    header = (dest / STATE).read_text()
    assert header.count("\n") == 1
    for part in split([A, B], 4):
        ledger.done(part)
    text = (dest / STATE).read_text()
    assert text.startswith(header) and text.count("\n") == 1 + 4
    ledger.close()
    ledger.done(split([A], 4)[0])  # a worker ending after the run closed it writes nothing
    assert (dest / STATE).read_text() == text


def test_a_line_a_kill_cut_short_is_ignored(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    with open(dest / STATE, "a") as ledger_file:
        ledger_file.write('["a.bin",4,')  # the kill came mid-write: [4, 8) is not proven
    (dest / "a.bin").write_bytes(b"AAAABBBB")
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {"a.bin": {(0, 4)}}


def test_a_kept_file_reached_through_a_link_is_not_kept(tmp_path: Path) -> None:
    dest = _interrupted(tmp_path)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"PPPPPPPP")
    (dest / "a.bin").unlink()
    (dest / "a.bin").symlink_to(outside)
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {}
    assert sorted(p.name for p in dest.iterdir()) == [STATE] and outside.read_bytes() == b"PPPPPPPP"


def test_a_kept_file_with_another_hard_link_is_not_kept(tmp_path: Path) -> None:
    # a hard link is a second name for a file elsewhere on the volume: writing the rest would change it too
    dest = _interrupted(tmp_path)
    elsewhere = tmp_path / "elsewhere.bin"
    os.link(dest / "a.bin", elsewhere)
    ledger = Ledger.open(dest, [A, B], 4)
    assert ledger is not None and ledger.kept == {}
    assert elsewhere.read_bytes() == b"AAAA\0\0\0\0"


def test_no_ledger_outside_a_resumable_staging_directory(tmp_path: Path) -> None:
    assert Ledger.open(tmp_path, [A], 4) is None
    assert not (tmp_path / STATE).exists()


def test_staging_keeps_its_own_leftover_and_removes_other_artifacts(tmp_path: Path) -> None:
    mine = _interrupted(tmp_path)
    other = tmp_path / f"{PREFIX}ffffffffffffffff"
    other.mkdir()
    (other / STATE).write_text("{}")
    assert keep_leftover(mine) and keep_leftover(other)
    assert not keep_leftover(tmp_path / ".mr-staging-abc")
    with staging(tmp_path, "0123456789abcdef" + "0" * 48) as path:
        assert path == mine and (path / "a.bin").exists()
        assert not other.exists()
    assert not mine.exists()  # a run that ends, however it ends, removes it; only SIGKILL leaves it


def test_obstore_errors_read_as_one_sentence() -> None:
    text = (
        "Generic S3 error: Error performing GET http://h/b/k in 1ms - HTTP error: error sending request\n\n"
        'Debug source:\nGeneric {\n    store: "S3",\n    source: RetryError(\n        RetryErrorImpl {\n'
        "            uri: Some(\n                http://h/b/k,\n            ),\n"
        '                                "tcp connect error",\n                    message: "Connection refused",\n'
    )
    assert readable(text) == (
        "Generic S3 error: Error performing GET http://h/b/k in 1ms - HTTP error: error sending request "
        "(tcp connect error: Connection refused)"
    )
    short = readable(text, limit=60)
    assert short.endswith(" …") and len(short) <= 62
    assert short == "Generic S3 error: Error performing GET http://h/b/k in 1ms …"
