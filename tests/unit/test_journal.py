"""The commit journal in-process: a replacement cut at every step (no in-process undo, as after SIGKILL) leaves
what the step says, is settled by the next open to exactly the old or the new version, and settling again
changes nothing. The cut is planted from outside (:func:`kill_at.plant` at :mod:`commit_steps`' calls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commit_steps import FORWARD, STEPS, left_by, ours, replacement_cuts
from kill_at import listing, plant
from mr_storage_initializer import install

OLD = {"shared.txt": b"old", "old.bin": b"1", "dir/a.txt": b"a"}
NEW = {"shared.txt": b"new!", "new.bin": b"22", "dir/b.txt": b"b", "other/c.txt": b"c"}
TOPS = [sorted({p.split("/")[0] for p in files}) for files in (OLD, NEW)]
CUTS = replacement_cuts(old=len(TOPS[0]))


class _Killed(BaseException):
    pass


def _stage(dest: install.Destination, files: dict[str, bytes]) -> Path:
    staging = dest.root / f"{install.STAGING_PREFIX}t"
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    return staging


def _content(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("step", STEPS)
def test_a_replacement_cut_at_each_step_settles_to_one_version(
    tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.txt").write_bytes(b"user")
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.commit(_stage(dest, OLD), {"fingerprint": "old"})

        def kill() -> None:  # what DEST holds at this instant, then the cut
            left.extend(ours(listing(tmp_path), users=["mine.txt"]))
            raise _Killed(step)

        left: list[str] = []
        cut = CUTS[step]
        plant(cut.target, kill, call=cut.call, after=cut.after, setattr_=monkeypatch.setattr)
        monkeypatch.setattr(install.Destination, "recover", lambda self: None)  # SIGKILL: no undo in-process
        with pytest.raises(_Killed):
            dest.commit(_stage(dest, NEW), {"fingerprint": "new"})
        monkeypatch.undo()
    assert left == left_by(step, *TOPS)

    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        settled = _content(tmp_path)
        expected, fingerprint = (NEW, "new") if step in FORWARD else (OLD, "old")
        provenance = json.loads(settled.pop(install.PROVENANCE))
        assert settled.pop(install.LOCK) == b""  # ours while we hold it; removed on release
        assert settled == {**expected, "mine.txt": b"user"}
        assert provenance["fingerprint"] == fingerprint
        assert dest.installed(fingerprint) is not None
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == sorted(
            [install.LOCK, install.PROVENANCE]
        )
        before = _content(tmp_path)
        dest.recover()  # settling again is a no-op
        assert _content(tmp_path) == before


def test_an_unlisted_file_in_an_installed_directory_refuses_the_replacement(tmp_path: Path) -> None:
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.commit(_stage(dest, OLD), {"fingerprint": "old"})
        (tmp_path / "dir" / "notes.txt").write_bytes(b"mine")
        with pytest.raises(install.DestinationError, match=r"'dir/notes\.txt' inside 'dir'"):
            dest.check_replaceable()
        with pytest.raises(install.DestinationError, match="did not list"):
            dest.commit(_stage(dest, NEW), {"fingerprint": "new"})
    assert (tmp_path / "dir" / "notes.txt").read_bytes() == b"mine"
    assert (tmp_path / "old.bin").exists()


def test_names_are_checked_from_a_listing(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"mine")
    with install.open_destination(tmp_path, lock_timeout=5) as dest:
        dest.check_names(["config.json", "tok/vocab.txt"])
        with pytest.raises(install.DestinationError, match=r"already has 'weights\.bin'"):
            dest.check_names(["config.json", "weights.bin"])
        with pytest.raises(install.StorageError, match="reserved"):
            dest.check_names([".mr-trash-x/y"])
        with pytest.raises(install.DestinationError, match=r"already has 'weights\.bin'"):
            dest.check_names(["./weights.bin/x"])  # the top-level name of './weights.bin/x', not '.'
        dest.check_names(["./config.json", "./tok/vocab.txt"])
