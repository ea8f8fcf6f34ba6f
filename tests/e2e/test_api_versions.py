"""Both Model Registry REST APIs: v1 preferred, v1alpha3 when v1 is not served, pinned by a setting.

The registry is ``mr-registry-lite`` behind a gate (tests/fixtures/api_gate.py) that hides one API (or
both) the way a real server without it answers: a plain-text 404, or 410 Gone after the alpha sunset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.api_gate import V1, V1ALPHA3, GateRules, api_gate
from fixtures.storage import HttpFileServer
from helpers import register, run_cli, tree

KINDS = {
    "v1-only": GateRules(blocked={V1ALPHA3: 410}),
    "v1-only-404": GateRules(blocked={V1ALPHA3: 404}),
    "v1alpha3-only": GateRules(blocked={V1: 404}),
    "both": GateRules(),
}


def _is_probe(path: str) -> bool:
    return path.endswith("/registered_models?pageSize=1")


def _nothing_in(dest: Path) -> bool:
    return not dest.exists() or not any(dest.iterdir())


def _install(gate: Any, dest: Path, uri: str = "model-registry://iris/v1", **env: str) -> Any:
    return run_cli(uri, dest, env={"MODEL_REGISTRY_BASE_URL": gate.host_port, **env})


@pytest.mark.parametrize(
    ("kind", "used", "why"),
    [
        ("v1-only", V1, "because it serves v1"),
        ("v1-only-404", V1, "because it serves v1"),
        ("v1alpha3-only", V1ALPHA3, "because it does not serve v1"),
        ("both", V1, "because it serves v1"),
    ],
)
def test_same_model_installs_through_each_kind_of_registry(
    registry: Any, http_server: HttpFileServer, tmp_path: Path, kind: str, used: str, why: str
) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    with api_gate(registry.url, KINDS[kind]) as gate:
        result = _install(gate, tmp_path)
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"m.bin": b"weights"}
    version = used.rstrip("/").rsplit("/", 1)[-1]
    assert f"API {version} at http://{gate.host_port} {why}" in result.stderr
    other = V1ALPHA3 if used == V1 else V1
    resolving = [p for p in gate.asked(used) if not _is_probe(p)]
    assert resolving, gate.paths
    if used == V1:  # the first real answer decides: model, version, artifacts, and no probe
        assert len(gate.paths) == 3, gate.paths
        assert gate.asked(other) == []
    else:  # the first call, answered "not here" in v1, is checked with one list call, then made in v1alpha3
        assert len([p for p in gate.asked(other) if not _is_probe(p)]) == 1, gate.paths
        assert len([p for p in gate.paths if _is_probe(p)]) == 1


def test_registry_serving_neither_api_is_exit_4_not_a_missing_model(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    with api_gate(registry.url, GateRules(blocked={V1: 404, V1ALPHA3: 404})) as gate:
        result = _install(gate, tmp_path / "dest")
    assert result.code == 4, result.stderr
    assert "serves neither API v1 (/api/model_registry/v1) nor v1alpha3" in result.last_line
    assert "ERROR" in result.last_line and "not found in the model registry" not in result.stderr
    assert _nothing_in(tmp_path / "dest")


def test_missing_model_on_a_v1alpha3_only_registry_is_still_not_found(registry: Any, tmp_path: Path) -> None:
    with api_gate(registry.url, KINDS["v1alpha3-only"]) as gate:
        result = _install(gate, tmp_path / "dest", "model-registry://nosuch/v1")
    assert result.code == 3, result.stderr
    assert "registered model 'nosuch' was not found" in result.last_line
    assert _nothing_in(tmp_path / "dest")


@pytest.mark.parametrize(("pin", "prefix"), [("v1", V1), ("v1alpha3", V1ALPHA3)])
def test_pinned_api_version_is_the_only_one_asked(
    registry: Any, http_server: HttpFileServer, tmp_path: Path, pin: str, prefix: str
) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    with api_gate(registry.url) as gate:
        result = _install(gate, tmp_path, MODEL_REGISTRY_API_VERSION=pin)
    assert result.code == 0, result.stderr
    assert f"API {pin} (MODEL_REGISTRY_API_VERSION={pin})" in result.stderr
    assert gate.paths and all(p.startswith(prefix) for p in gate.paths)
    assert not any(_is_probe(p) for p in gate.paths)  # a pin costs no extra request


@pytest.mark.parametrize(("pin", "kind"), [("v1", "v1alpha3-only"), ("v1alpha3", "v1-only")])
def test_pinned_api_the_registry_does_not_serve_is_exit_4(registry: Any, tmp_path: Path, pin: str, kind: str) -> None:
    register(registry.url, "iris", "https://example.invalid/m.bin", "v1")
    with api_gate(registry.url, KINDS[kind]) as gate:  # v1-only answers 410 Gone on the alpha paths
        result = _install(gate, tmp_path / "dest", MODEL_REGISTRY_API_VERSION=pin)
    assert result.code == 4, result.stderr
    sentence = f"does not serve API {pin} (/api/model_registry/{pin}), which MODEL_REGISTRY_API_VERSION={pin} asks for"
    assert sentence in result.last_line
    assert "not found" not in result.stderr
    assert _nothing_in(tmp_path / "dest")


def test_deprecation_and_sunset_headers_become_one_warning(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    marks = {"Deprecation": "@1767225600", "Sunset": "Thu, 31 Dec 2026 23:59:59 GMT"}
    rules = GateRules(headers={V1ALPHA3: marks})
    with api_gate(registry.url, rules) as gate:
        result = _install(gate, tmp_path, MODEL_REGISTRY_API_VERSION="v1alpha3")
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "as deprecated" in line]
    assert len(warnings) == 1, result.stderr
    assert "API v1alpha3" in warnings[0] and "Sunset: Thu, 31 Dec 2026 23:59:59 GMT" in warnings[0]
    assert len(gate.asked(V1ALPHA3)) > 1  # several answers carried the headers; one line said so


def test_host_model_probe_finds_a_v1_only_registry(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    with api_gate(registry.url, KINDS["v1-only"]) as gate:
        result = run_cli(
            f"model-registry://{gate.host_port}/iris", tmp_path, env={"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9"}
        )
    assert result.code == 0, result.stderr
    assert f"a model registry answered at http://{gate.host_port}" in result.stderr
    assert tree(tmp_path) == {"m.bin": b"weights"}


def test_host_model_probe_finds_a_v1alpha3_only_registry(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("iris/m.bin", b"weights"), "v1")
    with api_gate(registry.url, KINDS["v1alpha3-only"]) as gate:
        result = run_cli(
            f"model-registry://{gate.host_port}/iris", tmp_path, env={"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9"}
        )
    assert result.code == 0, result.stderr
    assert f"a model registry answered at http://{gate.host_port}" in result.stderr
    assert "API v1alpha3" in result.stderr


def test_unknown_api_version_setting_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("model-registry://iris/v1", tmp_path, env={"MODEL_REGISTRY_API_VERSION": "v2"})
    assert result.code == 2
    assert "MODEL_REGISTRY_API_VERSION='v2' must be one of auto, v1, v1alpha3" in result.last_line


def test_lite_with_the_alpha_api_gone_auto_uses_v1_and_a_v1alpha3_pin_is_exit_4(
    start_registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    # mr-registry-lite's own flags (no gate): v1alpha3 answers 410 Gone with Deprecation/Sunset headers
    lite = start_registry("--gone-v1alpha3", "--alpha-sunset-date", "2027-03-31")
    register(lite.url, "iris", http_server.add("iris/gone.bin", b"weights"), "v1")
    env = {"MODEL_REGISTRY_BASE_URL": lite.host_port}

    auto = run_cli("model-registry://iris/v1", tmp_path / "auto", env=env)
    pinned = run_cli(
        "model-registry://iris/v1", tmp_path / "pinned", env={**env, "MODEL_REGISTRY_API_VERSION": "v1alpha3"}
    )

    assert auto.code == 0, auto.stderr
    assert tree(tmp_path / "auto") == {"gone.bin": b"weights"}
    assert f"API v1 at http://{lite.host_port} because it serves v1" in auto.stderr
    assert pinned.code == 4, pinned.stderr
    assert "does not serve API v1alpha3 (/api/model_registry/v1alpha3)" in pinned.last_line
    assert "not found" not in pinned.stderr
    assert _nothing_in(tmp_path / "pinned")
