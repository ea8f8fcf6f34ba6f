"""The artifact policy end to end: refused before any byte moves (exit 3), or mid-download on a redirect
(exit 5), on both engines; a name that resolves to a metadata address is refused like the address."""

from __future__ import annotations

import http.server
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.serving import serve
from fixtures.storage import HttpFileServer, S3Server
from helpers import register, run_cli, tree

ENGINES = ["fast", "kserve"]

# Loaded by every Python the test starts (PYTHONPATH): answers the names in FAKE_DNS itself, like a
# cluster DNS that maps a harmless-looking name onto the metadata service.
SITECUSTOMIZE = """
import os, socket
_table = dict(item.split("=", 1) for item in os.environ.get("FAKE_DNS", "").split(",") if item)
_real = socket.getaddrinfo
def _fake(host, port, *args, **kwargs):
    if isinstance(host, str) and host in _table:
        address = _table[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port or 0))]
    return _real(host, port, *args, **kwargs)
socket.getaddrinfo = _fake
"""


@pytest.fixture
def fake_dns(tmp_path: Path) -> dict[str, str]:
    hook = tmp_path / "dns-hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "FAKE_DNS": "imds.example.test=169.254.169.254,v6.example.test=fe80::1"}


class _Redirector(http.server.ThreadingHTTPServer):
    daemon_threads = True
    location = ""


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    server: _Redirector

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


@pytest.fixture
def redirector() -> Iterator[_Redirector]:
    server = _Redirector(("127.0.0.1", 0), _RedirectHandler)
    serve(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _env(registry: Any, engine: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine, **(extra or {})}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/model.bin",
        "http://[fd00:ec2::254]/latest/model.bin",
        "http://metadata.google.internal./computeMetadata/v1/model.bin",
        "https://METADATA.GOOG/model.bin",
        "http://169.254.7.7:8080/model.bin",
        "http://[fe80::1]/model.bin",
    ],
)
def test_metadata_and_link_local_artifacts_are_refused(registry: Any, tmp_path: Path, engine: str, uri: str) -> None:
    register(registry.url, "evil", uri, "v1")
    dest = tmp_path / "models"
    result = run_cli("model-registry://evil/v1", dest, env=_env(registry, engine))
    assert result.code == 3, result.stderr
    assert "refused artifact" in result.last_line
    assert "never fetched" in result.last_line
    assert "downloading:" not in result.stderr
    assert not dest.exists() or tree(dest) == {}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["imds.example.test", "v6.example.test"])
def test_a_name_resolving_to_a_blocked_address_is_refused(
    registry: Any, tmp_path: Path, fake_dns: dict[str, str], engine: str, name: str
) -> None:
    register(registry.url, "sneaky", f"http://{name}/latest/model.bin", "v1")
    result = run_cli("model-registry://sneaky/v1", tmp_path / "m", env=_env(registry, engine, fake_dns))
    assert result.code == 3, result.stderr
    assert f"{name} resolves to" in result.last_line
    assert "downloading:" not in result.stderr


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/iam", "http://imds.example.test/x.bin", "http://[fe80::1]/x"]
)
def test_a_redirect_to_a_blocked_host_is_refused_mid_download(
    registry: Any, redirector: _Redirector, tmp_path: Path, fake_dns: dict[str, str], engine: str, target: str
) -> None:
    redirector.location = target
    host, port = redirector.server_address[:2]
    register(registry.url, "hop", f"http://{host}:{port}/model.bin", "v1")
    dest = tmp_path / "models"
    result = run_cli("model-registry://hop/v1", dest, env=_env(registry, engine, fake_dns))
    assert result.code == 5, result.stderr
    assert "refused to follow the download to" in result.last_line
    assert tree(dest) == {}
    assert sorted(p.name for p in dest.iterdir()) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_plain_pair_is_checked_too(tmp_path: Path, engine: str) -> None:
    result = run_cli("http://169.254.169.254/latest/model.bin", tmp_path / "m", env={"MODEL_REGISTRY_TRANSFER": engine})
    assert result.code == 3, result.stderr
    assert "refused artifact" in result.last_line


def test_an_s3_endpoint_at_the_metadata_service_is_refused(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    register(registry.url, "s3model", s3_server.put("bucket", "m/model.bin", b"x"), "v1")
    env = {**s3_server.env, "AWS_ENDPOINT_URL": "http://169.254.169.254:80"}
    result = run_cli("model-registry://s3model/v1", tmp_path / "m", env=_env(registry, "auto", env))
    assert result.code == 3, result.stderr
    assert "refused the S3 endpoint" in result.last_line


def test_allow_list_refuses_and_allows(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    uri = http_server.add("iris/model.bin", b"w")
    register(registry.url, "iris", uri, "v1")
    refused = run_cli(
        "model-registry://iris/v1",
        tmp_path / "a",
        env=_env(registry, "auto", {"ALLOWED_ARTIFACT_URI_PREFIXES": "s3://models/,gs://models/"}),
    )
    assert refused.code == 3, refused.stderr
    assert "starts with none of ALLOWED_ARTIFACT_URI_PREFIXES (s3://models/, gs://models/)" in refused.last_line
    assert not (tmp_path / "a").exists() or tree(tmp_path / "a") == {}
    allowed = run_cli(
        "model-registry://iris/v1",
        tmp_path / "b",
        env=_env(registry, "auto", {"ALLOWED_ARTIFACT_URI_PREFIXES": f"s3://models/,{http_server.url}/iris/"}),
    )
    assert allowed.code == 0, allowed.stderr
    assert tree(tmp_path / "b") == {"model.bin": b"w"}
