"""IPv6-only clusters: a registry and artifact hosts at IPv6 literals (``[::1]``), or at a name that resolves
only to an AAAA record, on both engines; ``mr-registry-lite --host ::1`` listens there."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import serving
from fixtures.proxy import Namespace
from fixtures.registry import RegistryProcess
from helpers import CliResult, cli_env, register, run_cli, tree


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")


class _V6Files(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


@pytest.fixture
def registry6() -> Iterator[RegistryProcess]:
    with RegistryProcess("--host", "::1") as process:
        yield process


@pytest.fixture
def files6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A file server on [::1]: (its URL, its root)."""
    root = tmp_path_factory.mktemp("v6-files")
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = _V6Files(("::1", 0), lambda *a: handler(*a, directory=str(root)))
    serving.serve(server)
    try:
        yield f"http://[::1]:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def moto6() -> Iterator[str]:
    """moto's S3 on [::1]: its endpoint, with bucket ``bucket6`` holding ``m/model.bin``."""
    import boto3
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    server = make_server("::1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    serving.serve(server)
    endpoint = f"http://[::1]:{server.port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    client.create_bucket(Bucket="bucket6")
    client.put_object(Bucket="bucket6", Key="m/model.bin", Body=b"v6 s3 weights")
    try:
        yield endpoint
    finally:
        server.shutdown()


def _s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_lite_registry_listens_on_ipv6(registry6: RegistryProcess) -> None:
    assert registry6.url.startswith("http://[::1]:")


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_registry_and_artifacts_at_ipv6_literals(
    registry6: RegistryProcess, files6: tuple[str, Path], moto6: str, tmp_path: Path, engine: str
) -> None:
    url, root = files6
    (root / "model.bin").write_bytes(b"v6 http weights")
    register(registry6.url, "web", f"{url}/model.bin", "v1")
    register(registry6.url, "blob", "s3://bucket6/m", "v1")
    env = {"MODEL_REGISTRY_TRANSFER": engine, **_s3_env(moto6)}

    by_base = run_cli(
        "model-registry://web/v1", tmp_path / "a", env={**env, "MODEL_REGISTRY_BASE_URL": registry6.host_port}
    )
    by_uri = run_cli(
        f"model-registry://{registry6.host_port}/blob/v1",
        tmp_path / "b",
        env={**env, "MODEL_REGISTRY_BASE_URL": "[::1]:9"},
    )

    assert by_base.code == 0, by_base.stderr
    assert tree(tmp_path / "a") == {"model.bin": b"v6 http weights"}
    assert by_uri.code == 0, by_uri.stderr
    assert tree(tmp_path / "b") == {"model.bin": b"v6 s3 weights"}


def _run_in(namespace: Namespace, *args: str | Path, env: dict[str, str]) -> CliResult:
    argv = namespace.wrap([sys.executable, "-m", "mr_storage_initializer", *map(str, args)])
    proc = subprocess.run(argv, env=cli_env(env), capture_output=True, text=True, timeout=120, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_hosts_that_resolve_only_to_aaaa(
    loopback_names: Namespace,
    registry6: RegistryProcess,
    files6: tuple[str, Path],
    moto6: str,
    tmp_path: Path,
    engine: str,
) -> None:
    url, root = files6
    (root / "model.bin").write_bytes(b"aaaa weights")
    port = url.rsplit(":", 1)[1]
    register(registry6.url, "web", f"http://v6host:{port}/model.bin", "v1")
    register(registry6.url, "blob", "s3://bucket6/m", "v1")
    registry_port = registry6.host_port.rsplit(":", 1)[1]
    env = {
        "MODEL_REGISTRY_TRANSFER": engine,
        "MODEL_REGISTRY_BASE_URL": f"v6host:{registry_port}",
        **_s3_env(f"http://v6host:{moto6.rsplit(':', 1)[1]}"),
    }

    result = _run_in(
        loopback_names, "model-registry://web/v1", tmp_path / "a", "model-registry://blob/v1", tmp_path / "b", env=env
    )

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "a") == {"model.bin": b"aaaa weights"}
    assert tree(tmp_path / "b") == {"model.bin": b"v6 s3 weights"}
    with contextlib.suppress(OSError):
        assert socket.getaddrinfo("v6host", 80) == []  # outside the namespace the name does not exist
