"""An upgrade killed at any step of the commit (SIGKILL, or SIGTERM) leaves DEST, after the next successful
run, holding exactly one complete version and nothing else of ours; a later install of the old version works.

The real CLI runs against the embedded registry and moto; ``MODEL_REGISTRY_TEST_FAULT=STEP[:TERM]`` (a
test-only hook, see ``journal.py``) makes it kill itself at STEP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import S3Server
from helpers import register, run_cli, tree
from mr_storage_initializer.journal import ROLLBACK_STEPS, STEPS

V1 = {"shared.txt": b"v1 shared", "old.bin": b"v1" * 100, "sub/a.txt": b"v1 a", "sub/deep/x.txt": b"v1 x"}
V2 = {"shared.txt": b"v2 shared!", "new.bin": b"v2" * 300, "sub/b.txt": b"v2 b", "extra/e.txt": b"v2 e"}
USER = {"notes.txt": b"the user's own file", "lost+found/keep": b"fsck"}

# SIGTERM runs the in-process undo; a few steps are enough to prove it, SIGKILL is tried at every step.
CASES = [(step, "KILL") for step in STEPS] + [
    (step, "TERM") for step in ("old-entry-moved", "new-entry-moved", "provenance-temp-written")
]


def _publish(registry_url: str, s3: S3Server, model: str) -> None:
    for version, files in (("v1", V1), ("v2", V2)):
        for rel, data in files.items():
            s3.put("upgrades", f"{model}/{version}/{rel}", data)
        register(registry_url, model, f"s3://upgrades/{model}/{version}", version)


def _install(registry: Any, s3: S3Server, model: str, version: str, dest: Path, **extra: str) -> Any:
    env = {**s3.env, "MODEL_REGISTRY_BASE_URL": registry.host_port, **extra}
    return run_cli(f"model-registry://{model}/{version}", dest, env=env)


def _assert_exactly(dest: Path, files: dict[str, bytes], version: str) -> None:
    assert tree(dest) == {**files, **USER}
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == [".model-registry.json"]
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["model_version"]["name"] == version
    assert sorted(f["path"] for f in provenance["files"]) == sorted(files)


@pytest.mark.parametrize(("step", "signal_name"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_upgrade_killed_at_each_step_is_settled_by_the_next_run(
    registry_session: Any, s3_server: S3Server, tmp_path: Path, step: str, signal_name: str
) -> None:
    model = f"up-{step}-{signal_name}".lower()
    _publish(registry_session.url, s3_server, model)
    dest = tmp_path / "models"
    dest.mkdir()
    for rel, data in USER.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)

    first = _install(registry_session, s3_server, model, "v1", dest)
    assert first.code == 0, first.stderr
    _assert_exactly(dest, V1, "v1")

    killed = _install(registry_session, s3_server, model, "v2", dest, MODEL_REGISTRY_TEST_FAULT=f"{step}:{signal_name}")
    assert killed.code == (-9 if signal_name == "KILL" else 143), killed.stderr
    if signal_name == "TERM":
        assert "stopped by SIGTERM" in killed.last_line

    again = _install(registry_session, s3_server, model, "v2", dest)
    assert again.code == 0, again.stderr
    _assert_exactly(dest, V2, "v2")

    back = _install(registry_session, s3_server, model, "v1", dest)
    assert back.code == 0, back.stderr
    _assert_exactly(dest, V1, "v1")


def test_a_first_install_killed_while_moving_in_leaves_nothing_of_ours(
    registry_session: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    _publish(registry_session.url, s3_server, "first-install")
    dest = tmp_path / "models"
    killed = _install(
        registry_session, s3_server, "first-install", "v2", dest, MODEL_REGISTRY_TEST_FAULT="new-entry-moved"
    )
    assert killed.code == -9
    assert any(p.name == ".model-registry.pending.json" for p in dest.iterdir())
    resolved = _install(registry_session, s3_server, "first-install", "v2", dest)
    assert resolved.code == 0, resolved.stderr
    assert tree(dest) == V2
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == [".model-registry.json"]


@pytest.mark.parametrize("rollback_step", ROLLBACK_STEPS)
def test_a_run_killed_while_undoing_a_killed_upgrade_is_finished_by_the_next(
    registry_session: Any, s3_server: S3Server, tmp_path: Path, rollback_step: str
) -> None:
    model = f"undo-{rollback_step}"
    _publish(registry_session.url, s3_server, model)
    dest = tmp_path / "models"
    dest.mkdir()
    for rel, data in USER.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    assert _install(registry_session, s3_server, model, "v1", dest).code == 0
    killed = _install(registry_session, s3_server, model, "v2", dest, MODEL_REGISTRY_TEST_FAULT="new-entry-moved")
    assert killed.code == -9
    killed_again = _install(registry_session, s3_server, model, "v2", dest, MODEL_REGISTRY_TEST_FAULT=rollback_step)
    assert killed_again.code == -9, killed_again.stderr
    assert (dest / ".model-registry.pending.json").exists()  # the undo itself was cut short

    again = _install(registry_session, s3_server, model, "v2", dest)
    assert again.code == 0, again.stderr
    _assert_exactly(dest, V2, "v2")
    assert _install(registry_session, s3_server, model, "v1", dest).code == 0
    _assert_exactly(dest, V1, "v1")
