"""oci:// images made the way users make them: the official client's ``save_to_oci_registry`` (olot + skopeo,
onto a base image made here) and ``oras push`` (PyPI ``oras``), installed through ``model-registry://``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.oci import Registry, layer, tree_of
from helpers import client_for, register, run_cli

ENV = {"KSERVE_OCI_INSECURE_REGISTRY": "true", "KSERVE_OCI_DOCKER_CONFIG": "/nonexistent/config.json"}


def _model_files(root: Path) -> dict[str, bytes]:
    files = {"config.json": b'{"arch": "tiny"}', "weights/model.safetensors": bytes(range(256)) * 64}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_save_to_oci_registry_with_skopeo_then_install(
    registry: Any, oci_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("Debian's skopeo is not installed (make system-deps)")
    from model_registry.utils import save_to_oci_registry

    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{oci_registry.host}"\ninsecure = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    # Debian bookworm's skopeo 1.9 predates CONTAINERS_REGISTRIES_CONF (it reads /etc/containers only): a shim
    # ahead of it on PATH gives `copy` the same meaning for this registry (plain HTTP) with its own flags.
    shim = tmp_path / "bin" / "skopeo"
    shim.parent.mkdir()
    shim.write_text(
        '#!/bin/sh\nif [ "$1" = copy ]; then shift; '
        'exec /usr/bin/skopeo copy --src-tls-verify=false --dest-tls-verify=false "$@"; fi\n'
        'exec /usr/bin/skopeo "$@"\n'
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    oci_registry.push_image("base/minimal", "latest", [layer({"etc/os-release": b"ID=minimal\n"}, "gzip")])
    files = _model_files(tmp_path / "model")
    uri = save_to_oci_registry(
        base_image=f"{oci_registry.host}/base/minimal:latest",
        oci_ref=f"{oci_registry.host}/saved/modelcar:v1",
        model_files_path=str(tmp_path / "model"),
        dest_dir=str(tmp_path / "layout"),
        backend="skopeo",
    )
    assert uri == f"oci://{oci_registry.host}/saved/modelcar:v1"
    register(registry.url, "saved", uri, "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **ENV}
    result = run_cli("model-registry://saved/v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    assert {k: v for k, v in tree_of(tmp_path / "dest").items() if k in files} == files
    assert "etc/os-release" not in tree_of(tmp_path / "dest")


def test_oras_push_then_install(registry: Any, oci_registry: Registry, tmp_path: Path) -> None:
    import oras.client

    files = _model_files(tmp_path / "model")
    target = f"{oci_registry.host}/pushed/by-oras:v1"
    client = oras.client.OrasClient(insecure=True)
    paths = [str(tmp_path / "model" / "config.json"), str(tmp_path / "model" / "weights")]
    client.push(target=target, files=paths, disable_path_validation=True)
    register(registry.url, "pushed", f"oci://{target}", "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **ENV}
    result = run_cli("model-registry://pushed/v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    got = tree_of(tmp_path / "dest")
    assert got["config.json"] == files["config.json"]
    assert any(
        k.endswith("weights/model.safetensors") and v == files["weights/model.safetensors"] for k, v in got.items()
    ), sorted(got)
    assert json.loads((tmp_path / "dest" / ".model-registry.json").read_text())["transfer"]["engine"] == "fast"
    assert client_for(registry.url) is not None
