"""Registry faults: transient ones are retried with backoff inside the deadline and logged; final ones are not;
a rotated service-account token is re-read once on a 401."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import RegistryProcess
from fixtures.storage import HttpFileServer
from helpers import client_for, register, run_cli, tree


def test_transient_faults_are_retried_and_the_model_installs(
    registry: Any, http_server: HttpFileServer, fault_proxy: Any, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"ok"), "v1")
    proxy = fault_proxy(registry.url, [503, "reset", 429, 502, 500, 504])
    env = {"MODEL_REGISTRY_BASE_URL": proxy.host_port, "MODEL_REGISTRY_TIMEOUT": "40"}  # six backoffs: ~11-17 s
    result = run_cli("model-registry://iris/v1", tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"m.bin": b"ok"}
    assert result.stderr.count("retry: retrying in") == 6
    assert len(proxy.requests) == 6 + 3  # six faults, then model, version, artifacts (v1 decided by the first)


@pytest.mark.parametrize(("status", "fragment"), [(403, "denied access (HTTP 403)"), (400, "answered HTTP 400")])
def test_final_answers_are_not_retried(
    registry: Any, fault_proxy: Any, tmp_path: Path, status: int, fragment: str
) -> None:
    proxy = fault_proxy(registry.url, [status])
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_BASE_URL": proxy.host_port})
    assert result.code == 4
    assert fragment in result.last_line
    assert len(proxy.requests) == 1
    assert "retrying" not in result.stderr


def test_persistent_503_gives_up_at_the_deadline(registry: Any, fault_proxy: Any, tmp_path: Path) -> None:
    proxy = fault_proxy(registry.url, [503] * 1000)
    env = {"MODEL_REGISTRY_BASE_URL": proxy.host_port, "MODEL_REGISTRY_TIMEOUT": "2"}
    result = run_cli("model-registry://iris/v1", tmp_path, env=env)
    assert result.code == 4
    assert "answered HTTP 503" in result.last_line
    assert 2 <= len(proxy.requests) < 20


def test_rotated_token_file_is_read_again_once_on_401(
    http_server: HttpFileServer, fault_proxy: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("old-token-expired")
    with RegistryProcess("--token", "new-token-rotated") as registry:
        client_for(registry.url, user_token="new-token-rotated").register_model(
            "iris", http_server.add("m.bin", b"rot"), model_format_name="x", model_format_version="1", version="v1"
        )
        proxy = fault_proxy(registry.url)

        def rotate_on_first_401(status: int, _path: str) -> None:
            if status == 401:  # the kubelet rotates the projected token while we run
                token_file.write_text("new-token-rotated")

        proxy.on_response = rotate_on_first_401
        env = {"MODEL_REGISTRY_BASE_URL": proxy.host_port, "MODEL_REGISTRY_TOKEN_PATH": str(token_file)}
        result = run_cli("model-registry://iris/v1", tmp_path / "models", env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "models") == {"m.bin": b"rot"}
    assert "old-token-expired" not in result.stderr
    assert "new-token-rotated" not in result.stderr
