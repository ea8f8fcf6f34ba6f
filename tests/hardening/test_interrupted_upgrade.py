"""An upgrade killed at any step of the commit (SIGKILL, or SIGTERM) leaves DEST, after the next successful
run, holding exactly one complete version and nothing else of ours; a later install of the old version works.

The real CLI runs against the embedded registry and moto, started through ``tests/kill_at.py``, which kills
it at the call where a step ends (:mod:`commit_steps`) and shows what DEST held at that instant: each case
first proves the kill landed on its step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from commit_steps import FORWARD, JOURNAL, PROVENANCE, ROLLBACK_CUTS, STEPS, TRASH, left_by, ours, replacement_cuts
from fixtures.storage import S3Server
from helpers import register, run_cli, run_cli_killed, tree
from kill_at import shown

V1 = {"shared.txt": b"v1 shared", "old.bin": b"v1" * 100, "sub/a.txt": b"v1 a", "sub/deep/x.txt": b"v1 x"}
V2 = {"shared.txt": b"v2 shared!", "new.bin": b"v2" * 300, "sub/b.txt": b"v2 b", "extra/e.txt": b"v2 e"}
USER = {"notes.txt": b"the user's own file", "lost+found/keep": b"fsck"}
V1_TOP, V2_TOP, USER_TOP = ([*sorted({p.split("/")[0] for p in files})] for files in (V1, V2, USER))
CUTS = replacement_cuts(old=len(V1_TOP))

# SIGTERM runs the in-process undo; a few steps are enough to prove it, SIGKILL is tried at every step.
CASES = [(step, "KILL") for step in STEPS] + [
    (step, "TERM") for step in ("old-entry-moved", "new-entry-moved", "provenance-temp-written", "provenance-written")
]


def _publish(registry_url: str, s3: S3Server, model: str) -> None:
    for version, files in (("v1", V1), ("v2", V2)):
        for rel, data in files.items():
            s3.put("upgrades", f"{model}/{version}/{rel}", data)
        register(registry_url, model, f"s3://upgrades/{model}/{version}", version)


def _install(registry: Any, s3: S3Server, model: str, version: str, dest: Path, kill: Sequence[str] = ()) -> Any:
    env = {**s3.env, "MODEL_REGISTRY_BASE_URL": registry.host_port}
    if kill:
        return run_cli_killed([*kill, "--show", str(dest)], f"model-registry://{model}/{version}", dest, env=env)
    return run_cli(f"model-registry://{model}/{version}", dest, env=env)


def _assert_exactly(dest: Path, files: dict[str, bytes], version: str) -> None:
    assert tree(dest) == {**files, **USER}
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == [".model-registry.json"]
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["model_version"]["name"] == version
    assert sorted(f["path"] for f in provenance["files"]) == sorted(files)


def _with_user_files(dest: Path) -> None:
    for rel, data in USER.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)


@pytest.mark.parametrize(("step", "signal_name"), CASES, ids=[f"{s}-{k}" for s, k in CASES])
def test_upgrade_killed_at_each_step_is_settled_by_the_next_run(
    registry_session: Any, s3_server: S3Server, tmp_path: Path, step: str, signal_name: str
) -> None:
    model = f"up-{step}-{signal_name}".lower()
    _publish(registry_session.url, s3_server, model)
    dest = tmp_path / "models"
    _with_user_files(dest)

    first = _install(registry_session, s3_server, model, "v1", dest)
    assert first.code == 0, first.stderr
    _assert_exactly(dest, V1, "v1")

    killed = _install(registry_session, s3_server, model, "v2", dest, [*CUTS[step].args(), "--signal", signal_name])
    assert killed.code == (-9 if signal_name == "KILL" else 143), killed.stderr
    assert ours(shown(killed.stderr), users=USER_TOP) == left_by(step, V1_TOP, V2_TOP)
    if signal_name == "TERM":
        assert "stopped by SIGTERM" in killed.last_line
        if step in FORWARD:  # the new provenance was in place: finished in-process, and said so
            assert f"installed: pair 1 ({dest})" in killed.last_line, killed.last_line
            _assert_exactly(dest, V2, "v2")
        else:
            assert "nothing was installed" in killed.last_line, killed.last_line
            _assert_exactly(dest, V1, "v1")  # undone in-process, before the run ended

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
    cut = replacement_cuts(old=0, had_provenance=False)["new-entry-moved"]
    killed = _install(registry_session, s3_server, "first-install", "v2", dest, cut.args())
    assert killed.code == -9
    assert ours(shown(killed.stderr)) == left_by("new-entry-moved", [], V2_TOP, had_provenance=False)
    resolved = _install(registry_session, s3_server, "first-install", "v2", dest)
    assert resolved.code == 0, resolved.stderr
    assert tree(dest) == V2
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == [".model-registry.json"]


# What DEST holds when the undo of an upgrade killed at new-entry-moved is itself killed.
UNDO_LEFT = {
    "rollback-entry-removed": [JOURNAL, TRASH, *(f"{TRASH}/{n}" for n in [PROVENANCE, *V1_TOP])],
    "rollback-entry-restored": [PROVENANCE, JOURNAL, TRASH, *(f"{TRASH}/{n}" for n in V1_TOP)],
}


@pytest.mark.parametrize("rollback_step", sorted(ROLLBACK_CUTS))
def test_a_run_killed_while_undoing_a_killed_upgrade_is_finished_by_the_next(
    registry_session: Any, s3_server: S3Server, tmp_path: Path, rollback_step: str
) -> None:
    model = f"undo-{rollback_step}"
    _publish(registry_session.url, s3_server, model)
    dest = tmp_path / "models"
    _with_user_files(dest)
    assert _install(registry_session, s3_server, model, "v1", dest).code == 0
    killed = _install(registry_session, s3_server, model, "v2", dest, CUTS["new-entry-moved"].args())
    assert killed.code == -9
    killed_again = _install(registry_session, s3_server, model, "v2", dest, ROLLBACK_CUTS[rollback_step].args())
    assert killed_again.code == -9, killed_again.stderr
    assert ours(shown(killed_again.stderr), users=USER_TOP) == sorted(UNDO_LEFT[rollback_step])

    again = _install(registry_session, s3_server, model, "v2", dest)
    assert again.code == 0, again.stderr
    _assert_exactly(dest, V2, "v2")
    assert _install(registry_session, s3_server, model, "v1", dest).code == 0
    _assert_exactly(dest, V1, "v1")
