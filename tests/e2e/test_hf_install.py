"""hf:// artifacts registered with the official client, installed by the real CLI from the test Hub: the commit in
the provenance and the fingerprint, nothing outside DEST, patterns in the fingerprint, bounded failures, SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.hub import Hub
from fixtures.storage import HttpFileServer, S3Server
from helpers import cli_env, register, run_cli, tree

MODEL = {"model.safetensors": os.urandom(600_000), "config.json": b'{"a": 1}', "tok/vocab.txt": b"a\nb\n"}


def _env(registry: Any, hub: Hub, **extra: str) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **hub.env, **extra}


def _provenance(dest: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dest / ".model-registry.json").read_text())
    return data


def test_installs_the_pinned_commit_and_nothing_else(registry: Any, hub: Hub, tmp_path: Path) -> None:
    repo = hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    home = tmp_path / "home"
    result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=_env(registry, hub, HOME=str(home)))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == MODEL
    provenance = _provenance(tmp_path / "dest")
    assert provenance["transfer"]["revision"] == repo.sha
    assert provenance["transfer"]["engine"] == "fast"
    assert provenance["model_artifact"]["uri"] == "hf://org/model"
    assert not (tmp_path / "dest" / ".cache").exists()
    assert not home.exists()


def test_kserve_path_is_tamed(registry: Any, hub: Hub, tmp_path: Path) -> None:
    """MODEL_REGISTRY_TRANSFER=kserve (snapshot_download): no cache in DEST or HOME, JSON lines only, masked."""
    repo = hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    home = tmp_path / "home"
    env = _env(registry, hub, HOME=str(home), MODEL_REGISTRY_TRANSFER="kserve", HF_HUB_DISABLE_XET="1")
    result = run_cli("model-registry://llm/v1", tmp_path / "dest", "--log-format", "json", env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == MODEL
    assert not home.exists()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith("{") and line.endswith("}") for line in lines), result.stderr
    assert len(result.json_lines()) == len(lines)
    assert "X-Amz-Signature=" not in result.stderr
    assert _provenance(tmp_path / "dest")["transfer"]["engine"] == "kserve"
    assert _provenance(tmp_path / "dest")["transfer"]["revision"] == repo.sha  # the commit the fingerprint has


def test_a_moved_branch_is_installed_again_and_an_unmoved_one_is_not(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    env = _env(registry, hub)
    assert run_cli("model-registry://llm/v1", tmp_path, env=env).code == 0
    again = run_cli("model-registry://llm/v1", tmp_path, env=env)
    assert again.code == 0 and "already installed" in again.stderr
    assert hub.count("tree") == 2  # one listing (2 pages); the second run only asked for the revision

    moved = hub.add("org/model", {**MODEL, "config.json": b'{"a": 2}'})
    moved.revisions["main"] = "b" * 40
    third = run_cli("model-registry://llm/v1", tmp_path, env=env)
    assert third.code == 0, third.stderr
    assert "already installed" not in third.stderr
    assert (tmp_path / "config.json").read_bytes() == b'{"a": 2}'
    assert _provenance(tmp_path)["transfer"]["revision"] == "b" * 40


def test_patterns_are_part_of_the_fingerprint(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model:main", "v1")
    partial = run_cli("model-registry://llm/v1", tmp_path, env=_env(registry, hub, STORAGE_ALLOW_PATTERNS="*.json"))
    assert partial.code == 0, partial.stderr
    assert tree(tmp_path) == {"config.json": MODEL["config.json"]}
    full = run_cli("model-registry://llm/v1", tmp_path, env=_env(registry, hub))
    assert full.code == 0, full.stderr
    assert "already installed" not in full.stderr
    assert tree(tmp_path) == MODEL


def test_an_install_without_patterns_keeps_its_old_fingerprint(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    uri = http_server.add("fp/model.bin", b"weights")
    register(registry.url, "plain", uri, "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port}
    assert run_cli("model-registry://plain/v1", tmp_path, env=env).code == 0
    record = _provenance(tmp_path)
    parts = (record["registry_url"], record["model_artifact"]["id"], uri)
    assert record["fingerprint"] == hashlib.sha256("\0".join(parts).encode()).hexdigest()  # the formula of before
    again = run_cli("model-registry://plain/v1", tmp_path, env=env)
    assert "already installed" in again.stderr


def test_errors_are_exit_5_with_one_sentence_and_leave_dest_empty(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model:no-such-branch", "v1")
    result = run_cli("model-registry://llm/v1", tmp_path, env=_env(registry, hub))
    assert result.code == 5
    assert "ERROR failed: " in result.last_line
    assert (
        "revision 'no-such-branch' of Hugging Face repository org/model does not exist (HTTP 404); "
        "check the branch, tag or commit after ':' in the artifact's uri"
    ) in result.last_line
    assert list(tmp_path.iterdir()) == []


def test_gated_repo_fails_with_its_sentence_and_leaves_dest_empty(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/gated", MODEL, gated=True)
    register(registry.url, "llm", "hf://org/gated", "v1")
    result = run_cli("model-registry://llm/v1", tmp_path, env=_env(registry, hub))
    assert result.code == 5
    assert "Hugging Face repository org/gated (revision main) is gated (HTTP 401)" in result.last_line
    assert list(tmp_path.iterdir()) == []


def test_a_hub_that_never_answers_fails_within_bounds(registry: Any, tmp_path: Path) -> None:
    register(registry.url, "llm", "hf://org/model", "v1")
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        env = {
            "MODEL_REGISTRY_BASE_URL": registry.host_port,
            "HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "MODEL_REGISTRY_TIMEOUT": "3",
        }
        started = time.monotonic()
        result = run_cli("model-registry://llm/v1", tmp_path, env=env, timeout=60)
    assert result.code == 5
    assert time.monotonic() - started < 20
    assert "the Hub did not answer within 1s" in result.last_line  # 3 attempts fit in MODEL_REGISTRY_TIMEOUT=3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("engine", ["auto", "kserve"])
def test_sigterm_mid_download_exits_143_within_2s(registry: Any, hub: Hub, tmp_path: Path, engine: str) -> None:
    hub.add("org/model", MODEL)
    hub.fault("cdn", *[("stall", 30)] * 8)
    register(registry.url, "llm", "hf://org/model", "v1")
    env = _env(registry, hub, MODEL_REGISTRY_TRANSFER=engine, HF_HUB_DISABLE_XET="1", HOME=str(tmp_path / "home"))
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mr_storage_initializer", "model-registry://llm/v1", str(dest)],
        env=cli_env(env),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    waited = time.monotonic() + 30
    while hub.count("cdn") == 0:  # a file is being fetched from the CDN (and stalls)
        assert time.monotonic() < waited and proc.poll() is None, "the download never reached the CDN"
        time.sleep(0.05)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=10)
    took = time.monotonic() - started
    rest = proc.stderr.read()
    assert took < 2
    assert code == 143
    assert "stopped by SIGTERM" in rest.strip().splitlines()[-1]
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "home").exists()


def test_an_hf_install_imports_neither_huggingface_hub_nor_kserve_storage(
    registry: Any, hub: Hub, tmp_path: Path
) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['mr-storage-initializer'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('mr_storage_initializer', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'google', 'azure', "
        "'kserve_storage', 'huggingface_hub', 'requests', 'httpx', 'obstore'})\n"
        "print(code, heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "model-registry://llm/v1", str(tmp_path)],
        env=cli_env(_env(registry, hub)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr
    assert tree(tmp_path) == MODEL


def test_patterns_are_part_of_the_fingerprint_for_s3_too(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("fpbucket", "m/config.json", b"{}")
    uri = s3_server.put("fpbucket", "m/model.bin", b"weights")
    register(registry.url, "s3m", uri.rsplit("/", 1)[0], "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    partial = run_cli("model-registry://s3m/v1", tmp_path, env={**env, "STORAGE_IGNORE_PATTERNS": "*.bin"})
    assert partial.code == 0, partial.stderr
    assert tree(tmp_path) == {"config.json": b"{}"}
    full = run_cli("model-registry://s3m/v1", tmp_path, env=env)
    assert full.code == 0, full.stderr
    assert "already installed" not in full.stderr
    assert tree(tmp_path) == {"config.json": b"{}", "model.bin": b"weights"}
