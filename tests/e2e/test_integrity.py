"""Digests given in the registry are verified before anything is installed; a mismatch is exit 5."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer, S3Server
from helpers import register, run_cli, tree

FILES = {"weights.bin": b"w" * 1000, "tok/vocab.txt": b"a\nb\n"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sums(files: dict[str, bytes]) -> str:
    return "\n".join(f"{_sha(data)}  {name}" for name, data in files.items())


def test_single_file_sha256_matches(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    uri = http_server.add("m.bin", b"model-bytes")
    register(registry.url, "iris", uri, "v1", metadata={"sha256": _sha(b"model-bytes")})
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_BASE_URL": registry.host_port})
    assert result.code == 0, result.stderr
    assert "verified: 1 files match the model version's sha256" in result.stderr
    assert json.loads((tmp_path / ".model-registry.json").read_text())["verified_files"] == 1


def test_single_file_sha256_mismatch_is_exit_5_and_installs_nothing(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    uri = http_server.add("m.bin", b"tampered")
    register(registry.url, "iris", uri, "v1", metadata={"sha256": _sha(b"original")})
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_BASE_URL": registry.host_port})
    assert result.code == 5
    assert "sha256 mismatch for 'm.bin'" in result.last_line
    assert list(tmp_path.iterdir()) == []


def test_sha256sums_for_a_prefix(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    for name, data in FILES.items():
        s3_server.put("models", f"llm/{name}", data)
    register(registry.url, "llm", "s3://models/llm", "v1", metadata={"sha256sums": _sums(FILES)})
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    result = run_cli("model-registry://llm/v1", tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == FILES
    assert "verified: 2 files" in result.stderr


@pytest.mark.parametrize(
    ("sums", "message"),
    [
        ({"weights.bin": b"other", "tok/vocab.txt": FILES["tok/vocab.txt"]}, "sha256 mismatch for 'weights.bin'"),
        ({"weights.bin": FILES["weights.bin"]}, "'tok/vocab.txt' was downloaded but is not listed"),
        ({**FILES, "extra.bin": b"x"}, "'extra.bin' is listed in sha256sums but was not downloaded"),
    ],
)
def test_sha256sums_problems_are_exit_5(
    registry: Any, s3_server: S3Server, tmp_path: Path, sums: dict[str, bytes], message: str
) -> None:
    for name, data in FILES.items():
        s3_server.put("models", f"llm/{name}", data)
    register(registry.url, "llm", "s3://models/llm", "v1", metadata={"sha256sums": _sums(sums)})
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    result = run_cli("model-registry://llm/v1", tmp_path, env=env)
    assert result.code == 5
    assert message in result.last_line
    assert list(tmp_path.iterdir()) == []


def test_one_sha256_for_many_files_is_refused(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    for name, data in FILES.items():
        s3_server.put("models", f"llm/{name}", data)
    register(registry.url, "llm", "s3://models/llm", "v1", metadata={"sha256": _sha(b"x")})
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    result = run_cli("model-registry://llm/v1", tmp_path, env=env)
    assert result.code == 5
    assert "installs 2 files; use sha256sums" in result.last_line
