"""KServe's webhook adds variables to every storage-initializer container, custom ones included; a
``model-registry://`` install of each scheme, on both engines, runs with exactly that environment:
accepted without a warning and without an import error (hf_transfer is not installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.hub import Hub
from fixtures.tls import TlsFiles
from helpers import register, run_cli, tree

# pkg/webhook/admission/pod/storage_initializer_injector.go: always, and the CA bundle when one is configured
INJECTED = {"HF_HUB_ENABLE_HF_TRANSFER": "1", "HF_XET_HIGH_PERFORMANCE": "1", "HF_XET_NUM_CONCURRENT_RANGE_GETS": "8"}


def _ca_bundle(tmp_path: Path, tls_files: TlsFiles) -> dict[str, str]:
    mount = tmp_path / "custom-certs"
    mount.mkdir()
    (mount / "cabundle.crt").write_bytes(tls_files.ca.read_bytes())
    return {"CA_BUNDLE_CONFIGMAP_NAME": "odh-trusted-ca-bundle", "CA_BUNDLE_VOLUME_MOUNT_POINT": str(mount)}


@pytest.mark.parametrize("engine", ["fast", "kserve"])
@pytest.mark.parametrize("scheme", ["http", "s3", "gs", "azure", "hf"])
def test_each_scheme_installs_under_kserves_injected_environment(
    request: pytest.FixtureRequest, registry: Any, tls_files: TlsFiles, tmp_path: Path, scheme: str, engine: str
) -> None:
    env: dict[str, str] = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine}
    env.update(INJECTED)
    env.update(_ca_bundle(tmp_path, tls_files))
    data = f"{scheme} weights".encode()
    if scheme == "http":
        server: Any = request.getfixturevalue("http_server")
        uri = server.add("m/model.bin", data)
    elif scheme == "s3":
        server = request.getfixturevalue("s3_server")
        uri = server.put("bucket", "m/model.bin", data)
        env.update(server.env)
    elif scheme == "gs":
        server = request.getfixturevalue("gcs_server")
        uri = server.put("bucket", "m/model.bin", data)
        env.update(server.env)
    elif scheme == "azure":
        server = request.getfixturevalue("azure_server")
        uri = server.put("models", "m/model.bin", data)
        env.update(server.env)
    else:
        hub: Hub = request.getfixturevalue("hub")
        hub.add("org/model", {"model.bin": data})
        uri = "hf://org/model"
        env.update(hub.env)
        env["HOME"] = str(tmp_path / "home")
        if engine == "kserve":
            env["HF_HUB_DISABLE_XET"] = "1"  # the test Hub serves no Xet
    register(registry.url, "m", uri, "v1")

    result = run_cli("model-registry://m/v1", tmp_path / "dest", env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == {"model.bin": data}
    assert " WARNING " not in result.stderr, result.stderr
    assert "hf_transfer" not in result.stderr
    assert "Traceback" not in result.stderr
