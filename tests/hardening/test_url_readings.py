"""Hostile URLs, round 3 (issue #20 items 1, 2, 9): one reading of every URL for the policy and the connection,
allow-list prefixes that see the server's path, and one right ERROR line for what no engine can fetch.

The loopback server a hostile URL seems to name is a :class:`RecordingServer`: it must see no request.
"""

from __future__ import annotations

import http.server
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures import serving
from fixtures.hostile import HostileServer, running
from fixtures.metadata import RecordingServer
from fixtures.storage import S3Server
from fixtures.tls import TlsFiles
from helpers import register, run_cli

ENGINES = ["fast", "kserve", "auto"]


def _env(registry: Any, engine: str, **extra: str) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine, **extra}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line or line.startswith("ERROR")]


def _untouched(dest: Path) -> bool:
    return not dest.exists()


def _empty(dest: Path) -> bool:
    return not dest.exists() or [p.name for p in dest.iterdir() if not p.name.startswith(".")] == []


# -- item 1: one reading ---------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_an_artifact_uri_two_parsers_read_differently_is_refused(
    registry: Any, recording_server: RecordingServer, tmp_path: Path, engine: str
) -> None:
    port = recording_server.server_address[1]
    uri = f"http://169.254.169.254:{port}\\@127.0.0.1:{port}/x.bin"  # 127.0.0.1 to urlsplit, 169.254… to urllib3
    register(registry.url, "two-readings", uri, "v1")
    dest = tmp_path / "models"

    result = run_cli(f"model-registry://{registry.host_port}/two-readings/v1", dest, env=_env(registry, engine))

    assert result.code == 3, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused artifact" in result.last_line and "backslash" in result.last_line
    assert "downloading:" not in result.stderr
    assert recording_server.hits == []
    assert _untouched(dest)


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_an_endpoint_query_two_parsers_read_differently_is_refused(
    registry: Any, s3_server: S3Server, recording_server: RecordingServer, tmp_path: Path, engine: str
) -> None:
    """The registry's ``?endpoint=``: exit 3 before obstore (which panicked on it) or kserve_storage sees it."""
    s3_server.put("models", "m/model.bin", b"w")
    port = recording_server.server_address[1]
    register(registry.url, "ep", f"s3://models/m/model.bin?endpoint=http://169.254.169.254:{port}\\@127.0.0.1:{port}")
    keys = {k: v for k, v in s3_server.env.items() if k != "AWS_ENDPOINT_URL"}
    dest = tmp_path / "models"

    result = run_cli(f"model-registry://{registry.host_port}/ep/v1", dest, env=_env(registry, engine, **keys))

    assert result.code == 3, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused the S3 endpoint in the artifact uri (endpoint=)" in result.last_line
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    assert recording_server.hits == []
    assert _untouched(dest)


@pytest.mark.parametrize("engine", ["fast", "kserve"])
@pytest.mark.parametrize("setting", ["AWS_ENDPOINT_URL", "STORAGE_CONFIG"])
def test_a_user_endpoint_two_parsers_read_differently_is_a_usage_error(
    registry: Any, s3_server: S3Server, recording_server: RecordingServer, tmp_path: Path, engine: str, setting: str
) -> None:
    port = recording_server.server_address[1]
    endpoint = f"http://169.254.169.254:{port}\\@127.0.0.1:{port}"
    register(registry.url, "user-ep", s3_server.put("models", "u/model.bin", b"w"), "v1")
    env = {**s3_server.env, "AWS_ENDPOINT_URL": endpoint}
    if setting == "STORAGE_CONFIG":
        del env["AWS_ENDPOINT_URL"]
        env["STORAGE_CONFIG"] = json.dumps({"type": "s3", "endpoint_url": endpoint})
    dest = tmp_path / "models"

    result = run_cli(f"model-registry://{registry.host_port}/user-ep/v1", dest, env=_env(registry, engine, **env))

    assert result.code == 2, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "backslash" in result.last_line and setting in result.last_line
    assert recording_server.hits == []
    assert _untouched(dest)


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_a_storage_config_entry_endpoint_two_parsers_read_differently_is_a_usage_error(
    registry: Any, s3_server: S3Server, recording_server: RecordingServer, tmp_path: Path, engine: str
) -> None:
    port = recording_server.server_address[1]
    entry = (
        '{"type": "s3", "access_key_id": "k", "secret_access_key": "entry-secret-do-not-print", '
        f'"endpoint_url": "http://169.254.169.254:{port}\\\\@127.0.0.1:{port}"}}'
    )
    s3_server.put("models", "e/model.bin", b"w")
    register(registry.url, "entry-ep", "s3://models/e/model.bin", "v1", storage_key="conn")
    dest = tmp_path / "models"

    result = run_cli(
        f"model-registry://{registry.host_port}/entry-ep/v1",
        dest,
        env=_env(registry, engine, MR_STORAGE_CONFIG_conn=entry),
    )

    assert result.code == 2, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "storage-config entry 'conn'" in result.last_line and "backslash" in result.last_line
    assert "entry-secret-do-not-print" not in result.stderr
    assert recording_server.hits == []
    assert _untouched(dest)


@pytest.fixture
def origin() -> Iterator[HostileServer]:
    yield from running("127.0.0.1")


@pytest.fixture
def other() -> Iterator[HostileServer]:
    yield from running("127.0.0.2")


@pytest.mark.parametrize("engine", ["kserve", "fast"])
def test_a_redirect_two_parsers_read_differently_is_refused(
    registry: Any, origin: HostileServer, other: HostileServer, tmp_path: Path, engine: str
) -> None:
    """``urlsplit`` reads the Location as the same host (127.0.0.1), ``requests`` as 127.0.0.2: with
    ``<host>-headers`` set, the kserve engine's redirect pre-check would have sent the key there."""
    other.add("m/model.bin", b"w")
    origin.redirect_to = f"http://127.0.0.2:{other.server_address[1]}\\@127.0.0.1:{origin.server_address[1]}"
    register(registry.url, "bent", f"{origin.url}/m/model.bin", "v1")
    dest = tmp_path / "models"
    env = _env(registry, engine, **{"127.0.0.1-headers": json.dumps({"X-Api-Key": "api-key-do-not-send"})})

    result = run_cli(f"model-registry://{registry.host_port}/bent/v1", dest, env=env)

    assert result.code == 5, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused to follow the download to" in result.last_line and "backslash" in result.last_line
    assert other.seen == []
    assert "api-key-do-not-send" not in result.stderr
    assert _empty(dest)


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_a_space_inside_an_object_key_is_still_one_reading(s3_server: S3Server, tmp_path: Path, engine: str) -> None:
    uri = s3_server.put("models", "with space/model.bin", b"w")

    result = run_cli(uri, tmp_path / "models", env={"MODEL_REGISTRY_TRANSFER": engine, **s3_server.env})

    assert result.code == 0, result.stderr
    assert (tmp_path / "models" / "model.bin").read_bytes() == b"w"


# -- item 2: the allow-list sees the server's path -------------------------------------------------------
@pytest.mark.parametrize("engine", ["fast", "kserve"])
@pytest.mark.parametrize("hop", ["../evil", "%2e%2e/evil", "./../evil"])
def test_a_dot_segment_cannot_leave_an_allowed_prefix(
    registry: Any, recording_server: RecordingServer, tmp_path: Path, engine: str, hop: str
) -> None:
    allowed = f"{recording_server.url}/good/"
    register(registry.url, "climb", f"{allowed}{hop}/model.bin", "v1")
    dest = tmp_path / "models"

    result = run_cli(
        f"model-registry://{registry.host_port}/climb/v1",
        dest,
        env=_env(registry, engine, ALLOWED_ARTIFACT_URI_PREFIXES=allowed),
    )

    assert result.code == 3, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused artifact" in result.last_line and "segment" in result.last_line
    assert recording_server.hits == []  # urllib3 would have asked for /evil/model.bin
    assert _untouched(dest)


def test_a_dot_segment_in_an_s3_key_is_refused_too(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("models", "good/../evil/model.bin", b"evil")  # moto keeps the key as written
    register(registry.url, "s3-climb", "s3://models/good/../evil/model.bin", "v1")
    s3_server.requests.clear()

    result = run_cli(
        f"model-registry://{registry.host_port}/s3-climb/v1",
        tmp_path / "m",
        env=_env(registry, "auto", ALLOWED_ARTIFACT_URI_PREFIXES="s3://models/good/", **s3_server.env),
    )

    assert result.code == 3, result.stderr
    assert "'..' segment" in result.last_line
    assert s3_server.requests == []


# -- item 9: the right error ---------------------------------------------------------------------------
class _Redirector(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _ToFile(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "file:///etc/passwd")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[http.server.ThreadingHTTPServer]:
    serving.serve(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def to_file() -> Iterator[http.server.ThreadingHTTPServer]:
    yield from _serve(_Redirector(("127.0.0.1", 0), _ToFile))


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_a_redirect_to_a_file_url_says_so(
    to_file: http.server.ThreadingHTTPServer, tmp_path: Path, engine: str
) -> None:
    dest = tmp_path / "models"
    port = to_file.server_address[1]

    result = run_cli(f"http://127.0.0.1:{port}/model.bin", dest, env={"MODEL_REGISTRY_TRANSFER": engine})

    assert result.code == 5, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused to follow the download to file:///etc/passwd" in result.last_line
    assert "follows only http(s)" in result.last_line
    assert _empty(dest)
    assert not any(b"root:" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


class _Ok(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def untrusted_tls(tls_files: TlsFiles) -> Iterator[http.server.ThreadingHTTPServer]:
    """An HTTPS server whose CA the initializer is not told about: every handshake fails."""
    server = _Redirector(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files.chain, tls_files.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def test_a_tls_failure_at_an_oci_registry_is_a_storage_error_not_a_destination_one(
    untrusted_tls: http.server.ThreadingHTTPServer, tmp_path: Path
) -> None:
    """An ``ssl`` error carries errno 1 (EPERM): it is about the connection, never the volume."""
    port = untrusted_tls.server_address[1]
    dest = tmp_path / "models"

    result = run_cli(f"oci://127.0.0.1:{port}/repo/model:v1", dest, env={"MODEL_REGISTRY_TRANSFER": "auto"})

    assert result.code == 5, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "CERTIFICATE_VERIFY_FAILED" in result.last_line
    assert "destination volume" not in result.last_line
    assert _empty(dest)


def test_the_kserve_path_prints_one_error_line(untrusted_tls: http.server.ThreadingHTTPServer, tmp_path: Path) -> None:
    port = untrusted_tls.server_address[1]
    dest = tmp_path / "models"

    result = run_cli(f"https://127.0.0.1:{port}/model.bin", dest, env={"MODEL_REGISTRY_TRANSFER": "kserve"})

    assert result.code == 5, result.stderr
    assert _errors(result.stderr) == [result.last_line]  # kserve_storage's own ERROR record is a WARNING
    assert "[storage.initializer]" in result.stderr and "WARN" in result.stderr
    assert _empty(dest)


@pytest.mark.parametrize("engine", ["auto", "kserve", "fast"])
@pytest.mark.parametrize("source", ["s3:/bad", "gopher://x/y", "not a uri", "http://127.0.0.1:9/", "S3://b/k"])
def test_a_source_no_engine_serves_is_a_usage_error_before_any_network_call(
    tmp_path: Path, engine: str, source: str
) -> None:
    dest = tmp_path / "models"

    result = run_cli(source, dest, env={"MODEL_REGISTRY_TRANSFER": engine})

    assert result.code == 2, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert f"SOURCE_URI {source} cannot be downloaded" in result.last_line
    assert "downloading:" not in result.stderr and "storage.initializer" not in result.stderr
    assert _untouched(dest)


def test_an_existing_local_path_is_still_a_source(tmp_path: Path) -> None:
    model = tmp_path / "local-model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"w")

    result = run_cli(str(model), tmp_path / "models", env={"MODEL_REGISTRY_TRANSFER": "auto"})

    assert result.code != 2, result.stderr
    assert "cannot be downloaded" not in result.stderr
    assert "downloading:" in result.stderr  # handed to kserve_storage, which copies local paths


def test_an_artifact_uri_no_engine_serves_is_refused(registry: Any, tmp_path: Path) -> None:
    register(registry.url, "gopher", "gopher://x/y", "v1")
    dest = tmp_path / "models"

    result = run_cli(f"model-registry://{registry.host_port}/gopher/v1", dest, env=_env(registry, "auto"))

    assert result.code == 3, result.stderr
    assert _errors(result.stderr) == [result.last_line]
    assert "refused artifact gopher://x/y: no engine serves the scheme gopher://" in result.last_line
    assert _untouched(dest)
