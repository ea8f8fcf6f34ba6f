"""Hostile storage, round 2 (issue #11): nothing outside DEST, pinned versions, stalls, redirects, userinfo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.faults import FaultProxy
from fixtures.hostile import HostileServer, running
from fixtures.storage import HttpFileServer, S3Server
from helpers import cli_env, fetch, ranges_written, register, run_cli, tree
from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.settings import Settings


def _aws_profile_home(tmp_path: Path, s3_server: S3Server) -> dict[str, str]:
    """S3 credentials only in ~/.aws/credentials: obstore cannot read them, so `auto` falls back to kserve."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    env = s3_server.env
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    return {
        "HOME": str(home),
        "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
        "AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"],
        "S3_VERIFY_SSL": "0",
    }


@pytest.mark.parametrize("engine", ["kserve", "auto"])
@pytest.mark.parametrize("key", ["m/trav/../../escape.txt", "m/a/sub/../../../../escape.txt"])
def test_kserve_path_never_writes_outside_dest(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str, key: str
) -> None:
    s3_server.put("hostile", "m/ok.bin", b"ok")
    s3_server.put("hostile", key, b"evil")  # moto stores the key as written
    register(registry.url, "escape", "s3://hostile/m", "v1")
    parent = tmp_path / "vol"
    dest = parent / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine}
    env.update(s3_server.env if engine == "kserve" else _aws_profile_home(tmp_path, s3_server))
    result = run_cli("model-registry://escape/v1", dest, env=env)
    assert result.code == 5, result.stderr
    if engine == "auto":
        assert "AWS profile file" in result.stderr  # it really took the fallback
    assert "ERROR" in result.last_line
    assert "'escape.txt'" in result.last_line and "above the model directory" in result.last_line
    assert sorted(p.name for p in parent.iterdir()) == ["models"]  # nothing beside DEST
    assert not list(tmp_path.rglob("escape.txt"))
    assert [p.name for p in dest.iterdir() if not p.name.startswith(".")] == []


# -- case 2: one version per object ---------------------------------------------------------------------
MIB = 1024 * 1024
DATA = os.urandom(3 * MIB)
ONE_WORKER = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "1MiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    yield from running("127.0.0.1")


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """A second server on another loopback address: another host."""
    yield from running("127.0.0.2")


def _installed(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_http_object_with_a_new_etag_on_every_answer_is_never_stitched(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    hostile.new_etag_each_time = True
    register(registry.url, "moving", hostile.add("m/model.bin", DATA), "v1")
    dest = tmp_path / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    result = run_cli("model-registry://moving/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "model.bin" in result.last_line and "changed on the server during the download" in result.last_line
    assert _installed(dest) == []
    ranges = [headers for path, headers in hostile.seen if headers.get("Range") != "bytes=0-0"]
    assert ranges and all(h.get("If-Range") == '"v1"' for h in ranges), ranges  # pinned to the listed version


def test_s3_object_overwritten_mid_download_is_never_stitched(
    registry: Any, s3_server: S3Server, fault_proxy: Callable[..., FaultProxy], tmp_path: Path
) -> None:
    s3_server.put("moving", "m/model.bin", DATA)
    proxy = fault_proxy(s3_server.endpoint)
    overwritten: list[str] = []

    def overwrite_after_first_range(status: int, path: str) -> None:
        if status == 206 and not overwritten:
            overwritten.append(path)
            s3_server.put("moving", "m/model.bin", bytes(len(DATA)))  # same size, other bytes

    proxy.on_response = overwrite_after_first_range
    register(registry.url, "moving", "s3://moving/m", "v1")
    dest = tmp_path / "models"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": "fast",
        **s3_server.env,
        "AWS_ENDPOINT_URL": f"http://{proxy.host_port}",
        **ONE_WORKER,
    }
    result = run_cli("model-registry://moving/v1", dest, env=env)
    assert overwritten, proxy.requests
    assert result.code == 5, result.stderr
    assert "model.bin" in result.last_line and "changed on the server during the download" in result.last_line
    assert _installed(dest) == []


# -- case 5: a restart at 0 is not progress; the stall bound -------------------------------------------
def _halving(http_server: HttpFileServer) -> str:
    """A server that ignores Range, announces the full length and cuts every body in half."""
    http_server.server.ranges = False
    http_server.cut_next(*([len(DATA) // 2] * 10_000))
    return http_server.add("m/model.bin", DATA)


def test_server_cutting_every_body_in_half_ends_in_exit_5(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "halves", _halving(http_server), "v1")
    dest = tmp_path / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    result = run_cli("model-registry://halves/v1", dest, env=env, timeout=60)
    assert result.code == 5, result.stderr
    assert "model.bin" in result.last_line and "ERROR" in result.last_line
    assert len(http_server.requests) <= 10, len(http_server.requests)  # the probe, one pass, 5 attempts
    assert _installed(dest) == []


def test_no_progress_for_the_stall_timeout_ends_in_exit_5_naming_the_file(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "halves", _halving(http_server), "v1")
    http_server.server.throttle = MIB  # each half takes 1.5 s: the resent first half is no progress
    dest = tmp_path / "models"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": "fast",
        "MODEL_REGISTRY_TRANSFER_ATTEMPTS": "100",
        "MODEL_REGISTRY_TIMEOUT": "300",
        "MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT": "1",
        **ONE_WORKER,
    }
    result = run_cli("model-registry://halves/v1", dest, env=env, timeout=60)
    assert result.code == 5, result.stderr
    assert "model.bin: no progress for 1s" in result.last_line, result.last_line
    assert _installed(dest) == []


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_stall_timeout_is_validated_at_start(value: str) -> None:
    with pytest.raises(UsageError, match="MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT"):
        Settings.from_env({"MODEL_REGISTRY_TRANSFER_STALL_TIMEOUT": value})
    assert Settings.from_env({}).tunables.stall_timeout == 60.0


# -- case 7: credentials never follow a redirect to another host ----------------------------------------
SECRET = "sekrit-api-key-0042"


def test_own_engine_drops_host_headers_on_a_redirect_to_another_host(
    hostile: HostileServer, elsewhere: HostileServer, tmp_path: Path
) -> None:
    elsewhere.add("m/model.bin", DATA)
    hostile.redirect_to = elsewhere.url
    env = {"127.0.0.1-headers": json.dumps({"X-Api-Key": SECRET}), **ONE_WORKER}
    result = fetch(f"{hostile.url}/m/model.bin", tmp_path / "out", "fast", env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    assert hostile.seen and all(h.get("X-Api-Key") == SECRET for _, h in hostile.seen)
    assert elsewhere.seen and not any(SECRET in str(h) for _, h in elsewhere.seen), elsewhere.seen


def test_kserve_engine_refuses_a_redirect_that_would_carry_host_headers(
    registry: Any, hostile: HostileServer, elsewhere: HostileServer, tmp_path: Path
) -> None:
    elsewhere.add("m/model.bin", DATA)
    hostile.redirect_to = elsewhere.url
    register(registry.url, "moved", f"{hostile.url}/m/model.bin", "v1")
    dest = tmp_path / "models"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": "kserve",
        "127.0.0.1-headers": json.dumps({"X-Api-Key": SECRET}),
    }
    result = run_cli("model-registry://moved/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "redirects to another host" in result.last_line
    assert not any(SECRET in str(h) for _, h in elsewhere.seen), elsewhere.seen
    assert SECRET not in result.stderr
    assert _installed(dest) == []


# -- case 9: userinfo in an artifact URL is Basic auth, to that host only --------------------------------
def test_userinfo_in_the_url_is_basic_auth_on_the_own_engine(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.basic = "reader:p@ss#1"
    url = hostile.add("m/model.bin", DATA).replace("http://", "http://reader:p%40ss%231@")
    result = fetch(url, tmp_path / "out", "fast", ONE_WORKER)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    assert "p@ss" not in result.stderr and "p%40ss" not in result.stderr


def test_userinfo_basic_auth_does_not_follow_a_redirect_to_another_host(
    hostile: HostileServer, elsewhere: HostileServer, tmp_path: Path
) -> None:
    elsewhere.add("m/model.bin", DATA)
    hostile.redirect_to = elsewhere.url
    url = f"{hostile.url}/m/model.bin".replace("http://", "http://reader:pw-0042@")
    result = fetch(url, tmp_path / "out", "fast", ONE_WORKER)
    assert result.code == 0, result.stderr
    assert all(h.get("Authorization", "").startswith("Basic ") for _, h in hostile.seen)
    assert elsewhere.seen and not any("Authorization" in h for _, h in elsewhere.seen), elsewhere.seen


# -- case 11 (part): obstore errors read as a sentence ---------------------------------------------------
def test_an_unreachable_s3_endpoint_is_reported_as_a_sentence(registry: Any, tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    register(registry.url, "nowhere", "s3://nowhere/m", "v1")
    dest = tmp_path / "models"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": "fast",
        "MODEL_REGISTRY_TRANSFER_ATTEMPTS": "1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret-key-0042",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = run_cli("model-registry://nowhere/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "error sending request (tcp connect error: Connection refused)" in result.last_line, result.last_line
    assert "RetryError" not in result.last_line and "Some(" not in result.last_line


# -- resume after a SIGKILL ------------------------------------------------------------------------------
DATA4 = os.urandom(4 * MIB)


def _killed_mid_download(registry: Any, hostile: HostileServer, dest: Path, name: str) -> Path:
    """Start an install, SIGKILL it once the ledger shows a completed range (not all); return its staging."""
    hostile.throttle = 2 * MIB
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mr_storage_initializer", f"model-registry://{name}/v1", str(dest)],
        env=cli_env(env),
        stderr=subprocess.DEVNULL,
    )
    try:
        done = ranges_written(dest, "model.bin")
        assert done and len(done) < 4, done
    finally:
        proc.kill()
        proc.wait(10)
    hostile.throttle = 0
    hostile.seen.clear()
    (staging,) = dest.glob(".mr-staging-resume-*")
    return staging


def _ranges(server: HostileServer) -> list[str | None]:
    return [headers.get("Range") for _, headers in server.seen]


def test_rerun_after_sigkill_resumes_the_ranges_written(registry: Any, hostile: HostileServer, tmp_path: Path) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    _killed_mid_download(registry, hostile, dest, "big")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    result = run_cli("model-registry://big/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": DATA4}
    assert "resuming" in result.stderr
    assert f"bytes=0-{MIB - 1}" not in _ranges(hostile), _ranges(hostile)  # the written range was kept
    assert all(h.get("If-Range") == '"v1"' for _, h in hostile.seen if h.get("Range") != "bytes=0-0")
    assert not list(dest.glob(".mr-*"))  # nothing else of ours


def test_rerun_after_sigkill_starts_over_when_the_object_changed(
    registry: Any, hostile: HostileServer, tmp_path: Path
) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    dest = tmp_path / "models"
    _killed_mid_download(registry, hostile, dest, "big")
    hostile.files["/m/model.bin"] = bytes(reversed(DATA4))
    hostile.etag = '"v2"'
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    result = run_cli("model-registry://big/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": bytes(reversed(DATA4))}  # the new version only, never stitched
    assert "resuming" not in result.stderr
    assert f"bytes=0-{MIB - 1}" in _ranges(hostile)
    assert not list(dest.glob(".mr-*"))


def test_a_leftover_of_another_artifact_is_removed(registry: Any, hostile: HostileServer, tmp_path: Path) -> None:
    register(registry.url, "big", hostile.add("m/model.bin", DATA4), "v1")
    register(registry.url, "other", hostile.add("o/model.bin", DATA), "v1")
    dest = tmp_path / "models"
    _killed_mid_download(registry, hostile, dest, "big")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": "fast", **ONE_WORKER}
    result = run_cli("model-registry://other/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": DATA}
    assert not list(dest.glob(".mr-*"))
