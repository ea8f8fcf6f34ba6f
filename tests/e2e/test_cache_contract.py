"""KServe's LocalModelCache job and kubectl status: the exact command lines, REQUIRE_VERSION, the
termination message, and what the log says when a newer version replaces an older one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer
from helpers import register, run_cli, tree


def _env(registry: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **(extra or {})}


@pytest.mark.parametrize("uri", ["model-registry://iris", "model-registry://{host}/iris"])
def test_require_version_refuses_a_uri_without_version(
    registry: Any, http_server: HttpFileServer, tmp_path: Path, uri: str
) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    dest = tmp_path / "models"
    env = _env(registry, {"MODEL_REGISTRY_REQUIRE_VERSION": "true"})
    result = run_cli(uri.format(host=registry.host_port), dest, env=env)
    assert result.code == 2, result.stderr
    assert "names no model version, and MODEL_REGISTRY_REQUIRE_VERSION=true" in result.last_line
    assert "use model-registry://MODEL/VERSION" in result.last_line
    assert not dest.exists() or tree(dest) == {}


def test_require_version_accepts_model_slash_version_as_the_cache_job_runs_it(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    mnt = tmp_path / "mnt" / "models"  # the job's arguments: SOURCE_URI /mnt/models
    env = _env(registry, {"MODEL_REGISTRY_REQUIRE_VERSION": "true"})
    result = run_cli("model-registry://iris/v1", mnt, env=env)
    assert result.code == 0, result.stderr
    assert tree(mnt) == {"m.bin": b"x"}


def test_require_version_is_a_boolean_setting(tmp_path: Path) -> None:
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_REQUIRE_VERSION": "perhaps"})
    assert result.code == 2
    assert "MODEL_REGISTRY_REQUIRE_VERSION='perhaps' must be true or false" in result.last_line


def test_an_unversioned_install_says_which_version_it_replaced(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("v1/model.bin", b"one"), "v1")
    dest = tmp_path / "models"
    assert run_cli("model-registry://iris", dest, env=_env(registry)).code == 0
    register(registry.url, "iris", http_server.add("v2/model.bin", b"two"), "v2")

    result = run_cli("model-registry://iris", dest, env=_env(registry))

    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.bin": b"two"}
    (line,) = [line for line in result.stderr.splitlines() if "replacing:" in line]
    assert " WARNING " in line
    assert "replacing iris version v1 (installed " in line
    assert "with version v2" in line


def test_termination_message_on_success_is_json_with_what_was_installed(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    uri = http_server.add("iris/model.bin", b"weights")
    register(registry.url, "iris", uri, "v1")
    log = tmp_path / "termination-log"
    result = run_cli(
        "model-registry://iris/v1", tmp_path / "m", env=_env(registry, {"MODEL_REGISTRY_TERMINATION_LOG": str(log)})
    )
    assert result.code == 0, result.stderr
    (pair,) = json.loads(log.read_text())["pairs"]
    provenance = json.loads((tmp_path / "m" / ".model-registry.json").read_text())
    assert pair["model"] == "iris"
    assert pair["version"] == "v1"
    assert pair["artifact_id"] == provenance["model_artifact"]["id"]
    assert pair["uri"] == uri
    assert pair["fingerprint"] == provenance["fingerprint"]
    assert (pair["files"], pair["bytes"], pair["downloaded"]) == (1, 7, True)


@pytest.mark.parametrize("bad_setting", [False, True])
def test_termination_message_on_failure_is_the_error_line(tmp_path: Path, bad_setting: bool) -> None:
    log = tmp_path / "termination-log"
    env = {"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TERMINATION_LOG": str(log)}
    env["MODEL_REGISTRY_TIMEOUT"] = "2"  # nothing listens there: give up after 2 s, not the tests' 10 s
    if bad_setting:
        env["MODEL_REGISTRY_TIMEOUT"] = "forever"
    result = run_cli("model-registry://iris/v1", tmp_path / "m", env=env)
    assert result.code == (2 if bad_setting else 4)
    message = log.read_text()
    assert "\n" not in message
    assert message in result.last_line
    assert ("MODEL_REGISTRY_TIMEOUT" if bad_setting else "cannot reach the model registry") in message


def test_resolve_only_writes_no_termination_message(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    log = tmp_path / "termination-log"
    result = run_cli(
        "model-registry://iris/v1", "--resolve-only", env=_env(registry, {"MODEL_REGISTRY_TERMINATION_LOG": str(log)})
    )
    assert result.code == 0, result.stderr
    assert not log.exists()


def test_kserve_engine_pairs_run_one_at_a_time_and_both_install(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "a", http_server.add("a/model.bin", b"aaa"), "v1")
    register(registry.url, "b", http_server.add("b/model.bin", b"bbb"), "v1")
    result = run_cli(
        "model-registry://a/v1",
        tmp_path / "a",
        "model-registry://b/v1",
        tmp_path / "b",
        env=_env(registry, {"MODEL_REGISTRY_TRANSFER": "kserve"}),
    )
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "a") == {"model.bin": b"aaa"}
    assert tree(tmp_path / "b") == {"model.bin": b"bbb"}
    assert "engine=kserve" in result.stderr
    assert not list(tmp_path.glob("*/.mr-s*"))
