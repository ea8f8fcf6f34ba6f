"""End to end: models registered with the official client, served by real HTTP and S3 servers, installed by
the CLI run as a subprocess exactly as KServe runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer, S3Server, make_tar_gz, make_zip
from helpers import register, run_cli, tree

FILES = {"model.joblib": b"joblib-bytes" * 100, "conf/config.json": b'{"a": 1}', "tok/vocab.txt": b"a\nb\n"}


def _env(registry: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **(extra or {})}


def test_http_single_file_installs_with_provenance(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    uri = http_server.add("iris/model.joblib", b"weights")
    register(registry.url, "iris", uri, "v1")
    dest = tmp_path / "models"

    result = run_cli("model-registry://iris/v1", dest, env=_env(registry))

    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.joblib": b"weights"}
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["registered_model"]["name"] == "iris"
    assert provenance["model_version"]["name"] == "v1"
    assert provenance["model_artifact"]["uri"] == uri
    assert provenance["registry_url"] == registry.url
    assert provenance["files"] == [{"path": "model.joblib", "size": 7}]
    assert provenance["seconds"] >= 0
    assert sorted(p.name for p in dest.iterdir()) == [".model-registry.json", "model.joblib"]
    for step in ("parsed:", "resolved:", "downloading:", "installed:"):
        assert step in result.stderr


@pytest.mark.parametrize("form", ["{model}", "{model}/{version}", "{host}/{model}", "{host}/{model}/{version}"])
def test_all_four_uri_forms(registry: Any, http_server: HttpFileServer, tmp_path: Path, form: str) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"one"), "v1")
    uri = "model-registry://" + form.format(model="iris", version="v1", host=registry.host_port)
    # Forms with a host must not need the base URL: point it at nothing.
    base = registry.host_port if "{host}" not in form else "127.0.0.1:9"
    result = run_cli(uri, tmp_path, env={"MODEL_REGISTRY_BASE_URL": base})
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"m.bin": b"one"}


def test_host_model_reading_is_logged(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    result = run_cli(
        f"model-registry://{registry.host_port}/iris", tmp_path, env={"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9"}
    )
    assert result.code == 0, result.stderr
    assert "a model registry answered at" in result.stderr


def test_model_version_reading_when_first_segment_is_no_registry(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "localhost", http_server.add("m.bin", b"x"), "v1")
    # "localhost" (port 80) is a valid host but no registry answers there: MODEL/VERSION it is.
    result = run_cli("model-registry://localhost/v1", tmp_path, env=_env(registry))
    assert result.code == 0, result.stderr
    assert "no model registry answered at http://localhost" in result.stderr


def test_without_version_the_newest_live_version_is_installed(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("v1/m.bin", b"one"), "v1")
    register(registry.url, "iris", http_server.add("v2/m.bin", b"two"), "v2")
    result = run_cli("model-registry://iris", tmp_path / "a", env=_env(registry))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "a") == {"m.bin": b"two"}

    from helpers import client_for

    client = client_for(registry.url)
    version = client.get_model_version("iris", "v2")
    from model_registry.types import ModelVersionState

    version.state = ModelVersionState.ARCHIVED
    client.update(version)
    result = run_cli("model-registry://iris", tmp_path / "b", env=_env(registry))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "b") == {"m.bin": b"one"}


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("model.tar.gz", make_tar_gz(FILES), FILES),
        ("model.zip", make_zip(FILES), FILES),
    ],
)
def test_http_archives_are_unpacked(
    registry: Any, http_server: HttpFileServer, tmp_path: Path, name: str, payload: bytes, expected: dict[str, bytes]
) -> None:
    register(registry.url, "arch", http_server.add(name, payload), "v1")
    result = run_cli("model-registry://arch/v1", tmp_path, env=_env(registry))
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == expected


def test_s3_single_file(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    uri = s3_server.put("models", "iris/model.joblib", b"s3-weights")
    register(registry.url, "iris", uri, "v1")
    result = run_cli("model-registry://iris/v1", tmp_path, env=_env(registry, s3_server.env))
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"model.joblib": b"s3-weights"}


def test_s3_prefix_with_nested_files(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    for key, data in FILES.items():
        s3_server.put("models", f"llm/{key}", data)
    register(registry.url, "llm", "s3://models/llm", "v1")
    result = run_cli("model-registry://llm/v1", tmp_path, env=_env(registry, s3_server.env))
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == FILES


@pytest.mark.parametrize(("key", "payload"), [("m.tar.gz", make_tar_gz(FILES)), ("m.zip", make_zip(FILES))])
def test_s3_archives_are_unpacked(registry: Any, s3_server: S3Server, tmp_path: Path, key: str, payload: bytes) -> None:
    register(registry.url, "arch", s3_server.put("models", f"arch/{key}", payload), "v1")
    result = run_cli("model-registry://arch/v1", tmp_path, env=_env(registry, s3_server.env))
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == FILES


def test_second_run_downloads_nothing_http(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x" * 1000), "v1")
    assert run_cli("model-registry://iris/v1", tmp_path, env=_env(registry)).code == 0
    served = list(http_server.requests)
    assert served

    again = run_cli("model-registry://iris/v1", tmp_path, env=_env(registry))

    assert again.code == 0, again.stderr
    assert http_server.requests == served
    assert "nothing to download" in again.stderr


def test_second_run_downloads_nothing_s3(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    register(registry.url, "iris", s3_server.put("models", "iris/m.bin", b"y" * 1000), "v1")
    assert run_cli("model-registry://iris/v1", tmp_path, env=_env(registry, s3_server.env)).code == 0
    seen = len(s3_server.requests)

    again = run_cli("model-registry://iris/v1", tmp_path, env=_env(registry, s3_server.env))

    assert again.code == 0, again.stderr
    assert len(s3_server.requests) == seen


def test_a_changed_file_is_downloaded_again(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x" * 10), "v1")
    assert run_cli("model-registry://iris/v1", tmp_path, env=_env(registry)).code == 0
    (tmp_path / "m.bin").write_bytes(b"short")
    again = run_cli("model-registry://iris/v1", tmp_path, env=_env(registry))
    assert again.code == 0, again.stderr
    assert (tmp_path / "m.bin").read_bytes() == b"x" * 10


def test_resolve_only_prints_json_and_writes_nothing(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    uri = http_server.add("m.bin", b"x")
    register(registry.url, "iris", uri, "v1")
    result = run_cli("model-registry://iris", tmp_path / "none", "--resolve-only", env=_env(registry))
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model_version"]["name"] == "v1"
    assert data["model_artifact"]["uri"] == uri
    assert not (tmp_path / "none").exists()
    assert http_server.requests == []


def test_json_logs_are_one_object_per_line(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    result = run_cli("model-registry://iris/v1", tmp_path, "--log-format", "json", env=_env(registry))
    assert result.code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    steps = [r.get("step") for r in records]
    for step in ("parsed", "resolved", "downloading", "downloaded", "installed"):
        assert step in steps
