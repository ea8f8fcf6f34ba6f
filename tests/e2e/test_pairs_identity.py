"""Pairs decided on what the DEST paths are, not how they are spelled, and a SIGTERM that says what is
installed (issue #20, item 7)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from commit_steps import left_by, ours, replacement_cuts
from fixtures.storage import HttpFileServer
from helpers import cli_env, register, run_cli, run_cli_killed, tree
from kill_at import shown
from mr_storage_initializer import lock


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def test_a_dest_spelled_through_a_link_and_dotdot_is_caught_as_nested(tmp_path: Path) -> None:
    # W/L/../B is W/A/B for the kernel (L points into W/A), not the W/B its spelling suggests
    work = tmp_path / "W"
    (work / "A" / "sub").mkdir(parents=True)
    (work / "L").symlink_to(work / "A" / "sub", target_is_directory=True)
    result = run_cli("http://127.0.0.1:9/a.bin", work / "A", "http://127.0.0.1:9/d.bin", f"{work}/L/../B")
    assert result.code == 2, result.stderr
    assert "are nested" in result.last_line and len(_errors(result.stderr)) == 1
    assert sorted(p.name for p in (work / "A").iterdir()) == ["sub"]  # no B, no lock file: nothing ran
    assert not (work / "B").exists()


def test_a_relative_dest_through_a_link_is_resolved_the_same_way(tmp_path: Path) -> None:
    work = tmp_path / "W"
    (work / "A" / "sub").mkdir(parents=True)
    (work / "L").symlink_to("A/sub", target_is_directory=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mr_storage_initializer",
            "http://127.0.0.1:9/a.bin",
            "W/L/../B",
            "http://127.0.0.1:9/d.bin",
            "W/A",
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "are nested" in done.stderr.strip().splitlines()[-1]
    assert not (work / "A" / "B").exists()


def _in_mount_namespace(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in a private mount namespace as root; skip where that is refused."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")
    return subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("mount_from", "second", "fragment"),
    [
        ("first", "bound", "is the same directory as another DEST_PATH"),
        ("work", "bound/first/inner", "are nested"),
    ],
)
def test_a_dest_that_is_a_bind_mount_of_another_is_refused_before_anything_runs(
    tmp_path: Path, mount_from: str, second: str, fragment: str
) -> None:
    work = tmp_path / "work"
    (work / "first").mkdir(parents=True)
    (work / "first" / "model.bin").write_bytes(b"installed")
    (tmp_path / "bound").mkdir()
    source = work / "first" if mount_from == "first" else work
    script = (
        f"mount --bind '{source}' '{tmp_path / 'bound'}' || exit 77\n"
        f"exec '{sys.executable}' -m mr_storage_initializer http://127.0.0.1:9/a.bin '{work / 'first'}' "
        f"http://127.0.0.1:9/d.bin '{tmp_path / second}'\n"
    )
    done = _in_mount_namespace(tmp_path, script)
    if done.returncode == 77:
        pytest.skip(f"mount --bind is refused here: {done.stderr.strip()}")
    assert done.returncode == 2, done.stderr
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert fragment in last and len(_errors(done.stderr)) == 1
    assert sorted(p.name for p in (work / "first").iterdir()) == ["model.bin"]  # untouched, no lock file
    assert not (tmp_path / "bound" / "first").exists()


def test_sigterm_after_pair_one_is_installed_names_what_is_and_is_not(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "a", http_server.add("a.bin", b"a"), "v1")
    register(registry.url, "b", http_server.add("b.bin", b"b"), "v1")
    first, held = tmp_path / "a", tmp_path / "b"
    held.mkdir()
    termination = tmp_path / "termination-log"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_LOCK_TIMEOUT": "60",
        "MODEL_REGISTRY_TERMINATION_LOG": str(termination),
    }
    with lock.locked(held / ".model-registry.lock", timeout=5):  # pair 2 waits for this lock
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "mr_storage_initializer"),
                *("model-registry://a/v1", str(first)),
                *("model-registry://b/v1", str(held)),
            ],
            env=cli_env(env),
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        while "another initializer is installing" not in seen or "installed: a version v1" not in seen:
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        rest = proc.stderr.read()
    assert code == 143
    last = rest.strip().splitlines()[-1]
    expected = f"stopped by SIGTERM; installed: pair 1 ({first}); not installed: pair 2 ({held})"
    assert expected in last, last
    assert "nothing was installed" not in rest
    assert termination.read_text().splitlines()[-1] == expected
    assert tree(first) == {"a.bin": b"a"} and (first / ".model-registry.json").is_file()
    assert tree(held) == {}


def test_sigterm_right_after_a_single_pairs_provenance_is_written_says_it_is_installed(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "one", http_server.add("one.bin", b"one"), "v1")
    dest = tmp_path / "one"
    termination = tmp_path / "termination-log"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TERMINATION_LOG": str(termination),
    }
    # The signal lands once the provenance is in place and the journal removed: the install is complete.
    cut = replacement_cuts(old=0, had_provenance=False)["journal-removed"]
    kill = [*cut.args(), "--signal", "TERM", "--show", str(dest)]
    result = run_cli_killed(kill, "model-registry://one/v1", dest, env=env)
    assert result.code == 143, result.stderr
    assert ours(shown(result.stderr)) == left_by("journal-removed", [], ["one.bin"], had_provenance=False)
    expected = f"stopped by SIGTERM; installed: pair 1 ({dest})"
    assert expected in result.last_line and len(_errors(result.stderr)) == 1
    assert termination.read_text() == expected
    assert tree(dest) == {"one.bin": b"one"} and (dest / ".model-registry.json").is_file()
