"""Atomic, restart-safe installs on a real file system: staging, journal, provenance last, locking."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from mr_storage_initializer import install, lock
from mr_storage_initializer.errors import DestinationError, StorageError


def _stage(dest: install.Destination, files: dict[str, bytes]) -> Path:
    staging = Path(dest.root, install.STAGING_PREFIX + "test")
    staging.mkdir(exist_ok=True)
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    return staging


def test_commit_moves_files_and_writes_provenance_last(tmp_path: Path) -> None:
    with install.open_destination(tmp_path / "models", lock_timeout=5) as dest:
        staging = _stage(dest, {"model.bin": b"abc", "tok/vocab.txt": b"hello"})
        record = dest.commit(staging, {"fingerprint": "f1"})
        staging.rmdir()  # commit moved everything out of it
    root = tmp_path / "models"
    assert (root / "model.bin").read_bytes() == b"abc"
    assert (root / "tok" / "vocab.txt").read_bytes() == b"hello"
    assert record["files"] == [{"path": "model.bin", "size": 3}, {"path": "tok/vocab.txt", "size": 5}]
    assert json.loads((root / install.PROVENANCE).read_text())["fingerprint"] == "f1"
    assert sorted(p.name for p in root.iterdir()) == [install.PROVENANCE, "model.bin", "tok"]


def test_installed_needs_matching_fingerprint_and_sizes(tmp_path: Path) -> None:
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.commit(_stage(dest, {"m.bin": b"1234"}), {"fingerprint": "f1"})
        assert dest.installed("f1") is not None
        assert dest.installed("f2") is None
        (tmp_path / "m.bin").write_bytes(b"12")
        assert dest.installed("f1") is None
        (tmp_path / "m.bin").unlink()
        assert dest.installed("f1") is None


def test_a_new_artifact_replaces_only_the_previous_install(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir()
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.commit(_stage(dest, {"old.bin": b"1", "shared.txt": b"1"}), {"fingerprint": "f1"})
        dest.commit(_stage(dest, {"new.bin": b"22", "shared.txt": b"22"}), {"fingerprint": "f2"})
        _stage(dest, {}).rmdir()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [install.PROVENANCE, "lost+found", "new.bin", "shared.txt"]
    assert (tmp_path / "shared.txt").read_bytes() == b"22"


def test_a_provenance_listing_dot_slash_paths_names_their_top_level_entries(tmp_path: Path) -> None:
    """A listed ``./weights/a.bin`` is under ``weights`` (not ``.``): a replacement takes that entry as the
    previous install's, moves it aside and checks it for the user's files like any other."""
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.commit(_stage(dest, {"weights/a.bin": b"1"}), {"fingerprint": "f1"})
        provenance = json.loads((tmp_path / install.PROVENANCE).read_text())
        provenance["files"] = [{"path": "./weights/a.bin", "size": 1}, {"path": "weights/../../etc", "size": 0}]
        (tmp_path / install.PROVENANCE).write_text(json.dumps(provenance))
        assert dest.installed("f1") is None  # a path outside DEST is no file of a complete install
        assert install._top_level_names(provenance) == {"weights"}
        dest.check_replaceable()  # weights/a.bin is listed (as ./weights/a.bin): not the user's
        dest.commit(_stage(dest, {"weights/b.bin": b"22"}), {"fingerprint": "f2"})
        _stage(dest, {}).rmdir()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        install.PROVENANCE,
        "weights",
        "weights/b.bin",
    ]


def test_a_clash_with_an_unrelated_file_is_a_destination_error_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"mine")
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        staging = _stage(dest, {"model.bin": b"theirs"})
        with pytest.raises(DestinationError, match=r"already has 'model\.bin', which is not from a previous install"):
            dest.commit(staging, {"fingerprint": "f1"})
    assert (tmp_path / "model.bin").read_bytes() == b"mine"
    assert not (tmp_path / install.PROVENANCE).exists()


def test_an_artifact_may_not_carry_a_reserved_name(tmp_path: Path) -> None:
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        staging = _stage(dest, {install.PROVENANCE: b"{}"})
        with pytest.raises(StorageError, match="reserved"):
            dest.commit(staging, {"fingerprint": "f1"})


def test_recover_rolls_back_a_half_done_install_and_leftover_staging(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("unrelated")
    (tmp_path / "a.bin").write_bytes(b"half")
    (tmp_path / f"{install.STAGING_PREFIX}dead").mkdir()
    (tmp_path / install.JOURNAL).write_text(json.dumps({"entries": ["a.bin", "b.bin"]}))
    with install.open_destination(tmp_path, lock_timeout=5):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_staging_is_removed_even_when_the_block_fails(tmp_path: Path) -> None:
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        with pytest.raises(RuntimeError), dest.staging() as staging:
            (staging / "partial").write_bytes(b"x")
            raise RuntimeError("download broke")
    assert list(tmp_path.iterdir()) == []


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "models"
    target.write_text("x")
    with pytest.raises(DestinationError, match="exists and is not a directory"):
        install.prepare(target)


@pytest.mark.skipif(os.getuid() == 0, reason="root can write anywhere; the CLI test covers this as non-root")
def test_destination_not_writable_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    with pytest.raises(DestinationError, match="not writable"):
        install.prepare(tmp_path)


def _hold_lock(path: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with lock.locked(Path(path), timeout=5):
        ready.set()
        release.wait(10)


def test_a_second_holder_waits_then_times_out_clearly(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / "l"), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(DestinationError, match="another initializer still holds"),
            lock.locked(tmp_path / "l", timeout=0.3),
        ):
            pass
    finally:
        release.set()
        holder.join(10)
    with lock.locked(tmp_path / "l", timeout=5):  # free again once the holder is gone
        pass
    assert not (tmp_path / "l").exists()


def test_scratch_tmpdir_lives_in_dest_and_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setenv("TMPDIR", "/nonexistent-readonly-root")
    with install.open_destination(tmp_path, lock_timeout=5) as dest, dest.scratch_tmpdir() as scratch:
        assert tempfile.gettempdir() == str(scratch)
        assert scratch.parent == tmp_path
        with tempfile.NamedTemporaryFile() as handle:
            assert handle.name.startswith(str(scratch))
    assert os.environ["TMPDIR"] == "/nonexistent-readonly-root"
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_fresh_and_private_as_tempfile_makes_them(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        made = {install._temp_dir(tmp_path, ".mr-staging-") for _ in range(3)}
        fd, name = install._temp_file(tmp_path, ".x.")
    finally:
        os.umask(old)
    os.close(fd)
    assert len(made) == 3
    assert all(p.parent == tmp_path and p.name.startswith(".mr-staging-") and p.is_dir() for p in made)
    assert {stat.S_IMODE(p.stat().st_mode) for p in made} == {0o700}
    assert Path(name).parent == tmp_path and Path(name).name.startswith(".x.")
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
