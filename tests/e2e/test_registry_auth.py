"""Registry auth and TLS from the initializer's side: tokens, token files, private CAs; secrets never logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import RegistryProcess
from fixtures.storage import HttpFileServer
from fixtures.tls import TlsFiles
from helpers import client_for, run_cli, tree

TOKEN = "tok-3f9c1d2e-registry"


@pytest.fixture
def secured(http_server: HttpFileServer) -> Any:
    with RegistryProcess("--token", TOKEN) as registry:
        client_for(registry.url, user_token=TOKEN).register_model(
            "iris",
            http_server.add("m.bin", b"secure"),
            model_format_name="sklearn",
            model_format_version="1",
            version="v1",
        )
        yield registry


def test_token_from_environment(secured: Any, tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": secured.host_port, "MODEL_REGISTRY_TOKEN": TOKEN}
    result = run_cli("model-registry://iris/v1", tmp_path, "--debug", env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"m.bin": b"secure"}
    assert TOKEN not in result.stderr + result.stdout
    assert TOKEN not in (tmp_path / ".model-registry.json").read_text()


def test_token_from_file(secured: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {"MODEL_REGISTRY_BASE_URL": secured.host_port, "MODEL_REGISTRY_TOKEN_PATH": str(token_file)}
    result = run_cli("model-registry://iris/v1", tmp_path / "models", "--log-format", "json", env=env)
    assert result.code == 0, result.stderr
    assert TOKEN not in result.stderr


def test_missing_token_is_exit_4_auth(secured: Any, tmp_path: Path) -> None:
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_BASE_URL": secured.host_port})
    assert result.code == 4
    assert "requires credentials (HTTP 401)" in result.last_line
    assert "none were sent" in result.last_line
    assert "rejected" not in result.last_line  # none were sent
    assert "bearer token" in result.last_line  # the server's own words, not masked
    assert "MODEL_REGISTRY_TOKEN" in result.last_line
    assert list(tmp_path.iterdir()) == []
    assert "retrying" not in result.stderr  # 401 is final


def test_wrong_token_is_exit_4_and_not_logged(secured: Any, tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": secured.host_port, "MODEL_REGISTRY_TOKEN": "wrong-token-value-77"}
    result = run_cli("model-registry://iris/v1", tmp_path, "--debug", env=env)
    assert result.code == 4
    assert "wrong-token-value-77" not in result.stderr


def test_unreadable_token_file_is_exit_4(tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TOKEN_PATH": str(tmp_path / "absent")}
    result = run_cli("model-registry://iris/v1", tmp_path / "m", env=env)
    assert result.code == 4
    assert "cannot read the registry token file" in result.last_line


def test_https_registry_with_private_ca(tls_files: TlsFiles, http_server: HttpFileServer, tmp_path: Path) -> None:
    ca_pem, chain, key = tls_files.ca, tls_files.chain, tls_files.key
    with RegistryProcess("--tls-cert", chain, "--tls-key", key) as registry:
        client_for(registry.url, custom_ca=str(ca_pem), user_token="unused-by-this-registry").register_model(
            "iris",
            http_server.add("m.bin", b"tls"),
            model_format_name="sklearn",
            model_format_version="1",
            version="v1",
        )
        base = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_SCHEME": "https"}

        untrusted = run_cli("model-registry://iris/v1", tmp_path / "a", env=base)
        assert untrusted.code == 4
        assert "TLS verification failed" in untrusted.last_line
        assert "MODEL_REGISTRY_CA_BUNDLE" in untrusted.last_line

        trusted = run_cli(
            "model-registry://iris/v1", tmp_path / "b", env={**base, "MODEL_REGISTRY_CA_BUNDLE": str(ca_pem)}
        )
        assert trusted.code == 0, trusted.stderr
        assert tree(tmp_path / "b") == {"m.bin": b"tls"}
