"""A hostile volume, and a resume that keeps only what it can prove (issue #20, items 3 and 4).

DEST is often a volume others can write. What it holds when a run starts is never trusted as a path: a
staged file or a staging directory replaced by a link, a link planted at the lock file's name. And a rerun
whose server stopped honouring ``Range`` keeps nothing a killed ranged run wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.hostile import HostileServer, running
from helpers import cli_env, ranges_written, register, run_cli, tree
from mr_storage_initializer.transfer.resume import load

KIB = 1024
DATA4 = os.urandom(4 * KIB * KIB)
CHUNK = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "64KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    yield from running("127.0.0.1")


def _env(registry: Any) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **CHUNK}


def _killed_mid_download(registry: Any, hostile: HostileServer, dest: Path) -> Path:
    """SIGKILL an install of ``big`` once its ledger shows a completed 64 KiB range (not all); its staging."""
    hostile.throttle = 1 << 20
    proc = subprocess.Popen(
        [sys.executable, "-m", "mr_storage_initializer", "model-registry://big/v1", str(dest)],
        env=cli_env(_env(registry)),
        stderr=subprocess.DEVNULL,
    )
    try:
        done = ranges_written(dest, "model.bin")
        assert done and len(done) < 64, done
    finally:
        proc.kill()
        proc.wait(10)
    hostile.throttle = 0
    hostile.seen.clear()
    (staging,) = dest.glob(".mr-staging-resume-*")
    return staging


def _ours(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name.startswith(".mr-") or p.is_symlink())


# -- item 4: a resume keeps only what it can prove --------------------------------------------------------
def test_a_rerun_whose_server_dropped_range_support_starts_over(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    _killed_mid_download(registry, hostile, dest)
    hostile.ignore_range = True  # a CDN in front now answers 200 with the whole body to `Range: bytes=0-0`
    result = run_cli("model-registry://big/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": DATA4}  # every byte from the server, not a 64 KiB prefix and zeros
    assert "resuming:" not in result.stderr
    assert _ours(dest) == []


def test_a_rerun_with_ranges_keeps_exactly_the_ranges_proven(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    staging = _killed_mid_download(registry, hostile, dest)
    proven = load(staging / ".mr-resume.jsonl")["files"]["model.bin"]["done"]
    result = run_cli("model-registry://big/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": DATA4}
    asked = [h.get("Range") for _, h in hostile.seen]
    for start, end in proven:
        assert f"bytes={start}-{end - 1}" not in asked, (start, end)


# -- item 3: nothing in DEST is trusted as a path ---------------------------------------------------------
def test_a_staged_file_replaced_by_a_link_never_writes_through_it(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    staging = _killed_mid_download(registry, hostile, dest)
    victim = tmp_path / "outside" / "precious.bin"
    victim.parent.mkdir()
    victim.write_bytes(b"P" * len(DATA4))  # the listed size: a size check alone would keep it
    (staging / "model.bin").unlink()
    (staging / "model.bin").symlink_to(victim)
    result = run_cli("model-registry://big/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert victim.read_bytes() == b"P" * len(DATA4)  # never opened for writing
    assert tree(dest) == {"model.bin": DATA4} and not (dest / "model.bin").is_symlink()
    assert _ours(dest) == []


def test_a_staging_directory_replaced_by_a_link_is_unlinked_not_emptied(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    staging = _killed_mid_download(registry, hostile, dest)
    victim = tmp_path / "outside"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (victim / ".mr-resume.jsonl").write_text((staging / ".mr-resume.jsonl").read_text())  # looks resumable
    (victim / "model.bin").write_bytes(b"P" * len(DATA4))
    for entry in staging.iterdir():
        entry.unlink()
    staging.rmdir()
    staging.symlink_to(victim, target_is_directory=True)
    result = run_cli("model-registry://big/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in victim.iterdir()) == [".mr-resume.jsonl", "keep.txt", "model.bin"]
    assert (victim / "keep.txt").read_text() == "mine" and (victim / "model.bin").read_bytes() == b"P" * len(DATA4)
    assert tree(dest) == {"model.bin": DATA4}
    assert _ours(dest) == []


def test_a_leftover_staging_link_is_unlinked_by_the_sweep(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "small", hostile.add("s/model.bin", b"weights"), "v1")
    dest = tmp_path / "models"
    dest.mkdir()
    victim = tmp_path / "outside"
    victim.mkdir()
    (victim / ".mr-resume.jsonl").write_text("{}")
    (victim / "keep.txt").write_text("mine")
    (dest / ".mr-staging-resume-0000000000000000").symlink_to(victim, target_is_directory=True)
    (dest / ".mr-trash-x").symlink_to(victim, target_is_directory=True)
    result = run_cli("model-registry://small/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in victim.iterdir()) == [".mr-resume.jsonl", "keep.txt"]
    assert tree(dest) == {"model.bin": b"weights"} and _ours(dest) == []


def test_a_lock_file_planted_as_a_link_creates_nothing_outside_dest(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "small", hostile.add("s/model.bin", b"weights"), "v1")
    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / ".model-registry.lock").symlink_to(outside / "created-by-the-run")
    result = run_cli("model-registry://small/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert list(outside.iterdir()) == []
    assert tree(dest) == {"model.bin": b"weights"}
    assert not os.path.lexists(dest / ".model-registry.lock") and _ours(dest) == []


def test_a_journal_naming_a_linked_trash_never_moves_files_from_outside(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "small", hostile.add("s/model.bin", b"weights"), "v1")
    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    (dest / ".mr-trash-evil").symlink_to(outside, target_is_directory=True)
    pending = {"old": ["secret.txt"], "new": [], "trash": ".mr-trash-evil", "had_provenance": False}
    (dest / ".model-registry.pending.json").write_text(json.dumps(pending))
    result = run_cli("model-registry://small/v1", dest, env=_env(registry))
    assert result.code == 0, result.stderr
    assert (outside / "secret.txt").read_text() == "not yours"
    assert tree(dest) == {"model.bin": b"weights"} and _ours(dest) == []
