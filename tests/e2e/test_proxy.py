"""HTTPS_PROXY / HTTP_PROXY / NO_PROXY through a real forward proxy (tinyproxy), every path, Go's rules.

The initializer runs in a mount namespace where ``*.proxytest`` names resolve to loopback (loopback literals
are never proxied); the proxy's own log says which requests went through it."""

from __future__ import annotations

import http.server
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from fixtures import serving
from fixtures.proxy import ForwardProxy, Namespace
from fixtures.storage import HttpFileServer, S3Server
from helpers import CliResult, cli_env, register, tree


def run_in(namespace: Namespace, *args: str | Path, env: Mapping[str, str]) -> CliResult:
    argv = namespace.wrap([sys.executable, "-m", "mr_storage_initializer", *map(str, args)])
    proc = subprocess.run(argv, env=cli_env(env), capture_output=True, text=True, timeout=120, check=False)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def named(url: str, name: str) -> str:
    """``url`` with its 127.0.0.1 host replaced by ``name`` (which resolves to 127.0.0.1 in the namespace)."""
    return url.replace("127.0.0.1", name, 1)


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/", 1)[0]


@pytest.fixture
def models(registry: Any, http_server: HttpFileServer, s3_server: S3Server) -> dict[str, str]:
    """One model per path: a plain HTTP file and an S3 prefix, at ``*.proxytest`` names."""
    register(registry.url, "web", named(http_server.add("web/model.bin", b"web-weights"), "files.proxytest"), "v1")
    s3_server.put("bucket", "m/model.bin", b"s3-weights")
    register(registry.url, "blob", "s3://bucket/m", "v1")
    return {"registry": named(registry.host_port, "registry.proxytest")}


def _env(proxy: ForwardProxy, registry: str, s3: S3Server, **extra: str) -> dict[str, str]:
    return {
        "MODEL_REGISTRY_BASE_URL": registry,
        **s3.env,
        "AWS_ENDPOINT_URL": named(s3.endpoint, "s3proxytest"),
        "HTTP_PROXY": proxy.url,
        "HTTPS_PROXY": proxy.url,
        **extra,
    }


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_registry_http_and_s3_go_through_the_proxy(
    forward_proxy: ForwardProxy,
    loopback_names: Namespace,
    models: dict[str, str],
    s3_server: S3Server,
    http_server: HttpFileServer,
    tmp_path: Path,
    engine: str,
) -> None:
    env = _env(forward_proxy, models["registry"], s3_server, MODEL_REGISTRY_TRANSFER=engine)
    web = run_in(
        loopback_names,
        "model-registry://web/v1",
        tmp_path / "web",
        "model-registry://blob/v1",
        tmp_path / "s3",
        env=env,
    )

    assert web.code == 0, web.stderr
    assert tree(tmp_path / "web") == {"model.bin": b"web-weights"}
    assert tree(tmp_path / "s3") == {"model.bin": b"s3-weights"}
    hosts = forward_proxy.hosts()
    assert models["registry"] in hosts  # the registry client
    assert f"files.proxytest:{port_of(http_server.url)}" in hosts  # urllib3 pools / requests
    assert f"s3proxytest:{port_of(s3_server.endpoint)}" in hosts  # obstore / boto3
    assert all(
        line.startswith("GET http://") or line.split()[0] in ("HEAD", "GET", "PUT") for line in forward_proxy.requests()
    )


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_no_proxy_and_loopback_go_direct(
    forward_proxy: ForwardProxy,
    loopback_names: Namespace,
    models: dict[str, str],
    s3_server: S3Server,
    registry: Any,
    tmp_path: Path,
    engine: str,
) -> None:
    env = _env(
        forward_proxy, models["registry"], s3_server, NO_PROXY=".proxytest,s3proxytest", MODEL_REGISTRY_TRANSFER=engine
    )
    named_run = run_in(
        loopback_names, "model-registry://web/v1", tmp_path / "a", "model-registry://blob/v1", tmp_path / "b", env=env
    )
    literal = run_in(
        loopback_names,
        "model-registry://blob/v1",
        tmp_path / "c",
        env={**_env(forward_proxy, registry.host_port, s3_server), "AWS_ENDPOINT_URL": s3_server.endpoint},
    )

    assert named_run.code == 0, named_run.stderr
    assert literal.code == 0, literal.stderr
    assert tree(tmp_path / "c") == {"model.bin": b"s3-weights"}
    # (the HOST/MODEL probe of http://web and http://blob is proxied: single-label names NO_PROXY does not list)
    went = forward_proxy.hosts() - {"web", "blob"}
    assert went == set()  # obstore/reqwest alone would have proxied 127.0.0.1


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector(http_server: HttpFileServer) -> Iterator[str]:
    """``http://127.0.0.1:P/…`` answers 302 to the file server at ``direct.proxytest``."""
    handler = type(
        "Handler", (_Redirect,), {"target": named(http_server.add("r/model.bin", b"moved"), "direct.proxytest")}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving.serve(server)
    try:
        yield f"http://files.proxytest:{server.server_address[1]}/model.bin"
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_across_no_proxy_is_decided_again(
    forward_proxy: ForwardProxy,
    loopback_names: Namespace,
    registry: Any,
    redirector: str,
    http_server: HttpFileServer,
    tmp_path: Path,
) -> None:
    register(registry.url, "moved", redirector, "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "HTTP_PROXY": forward_proxy.url,
        "NO_PROXY": "direct.proxytest",
    }

    result = run_in(loopback_names, "model-registry://moved/v1", tmp_path, env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"model.bin": b"moved"}
    hosts = forward_proxy.hosts()
    assert f"files.proxytest:{port_of(redirector)}" in hosts
    assert not any(h.startswith("direct.proxytest") for h in hosts)


def test_proxy_credentials_are_sent_and_never_printed(
    auth_proxy: ForwardProxy, loopback_names: Namespace, registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "web", named(http_server.add("w.bin", b"w"), "files.proxytest"), "v1")
    credentialed = auth_proxy.url.replace("http://", "http://proxyuser:Pr0xy-s3cret-pw@")
    env = {"MODEL_REGISTRY_BASE_URL": named(registry.host_port, "registry.proxytest"), "HTTP_PROXY": credentialed}

    ok = run_in(loopback_names, "model-registry://web/v1", tmp_path / "ok", "--log-format", "json", env=env)
    refused = run_in(
        loopback_names, "model-registry://web/v1", tmp_path / "no", env={**env, "HTTP_PROXY": auth_proxy.url}
    )

    assert ok.code == 0, ok.stderr
    assert tree(tmp_path / "ok") == {"w.bin": b"w"}
    shown = f"http://127.0.0.1:{port_of(auth_proxy.url)}"  # which proxy, never its credentials
    routed = {line["step"]: line["proxy"] for line in ok.json_lines() if "proxy" in line}
    assert routed == {"registry": shown, "downloading": shown}
    assert refused.code == 4, refused.stderr  # the proxy answered 407 to the registry request
    assert "the proxy for http://registry.proxytest" in refused.last_line
    assert "requires credentials (HTTP 407)" in refused.last_line
    for output in (ok.stdout, ok.stderr, refused.stdout, refused.stderr):
        assert "Pr0xy-s3cret-pw" not in output
    assert not (tmp_path / "no").exists() or not any((tmp_path / "no").iterdir())


@pytest.fixture
def tls_file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS file server for ``files.proxytest`` (a throwaway CA): (URL of model.bin, the CA file)."""
    import ssl

    import trustme

    ca = trustme.CA()
    root = tmp_path_factory.mktemp("tls-proxy")
    (root / "model.bin").write_bytes(b"tls-weights")
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("files.proxytest").configure_cert(context)
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    serving.serve(server)
    try:
        yield f"https://files.proxytest:{server.server_address[1]}/model.bin", root / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_https_goes_through_a_connect_tunnel(
    forward_proxy: ForwardProxy,
    loopback_names: Namespace,
    registry: Any,
    tls_file_server: tuple[str, Path],
    tmp_path: Path,
    engine: str,
) -> None:
    url, ca = tls_file_server
    register(registry.url, "secure", url, "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "HTTPS_PROXY": forward_proxy.url.removeprefix("http://"),  # no scheme: http://, as Go reads it
        "REQUESTS_CA_BUNDLE": str(ca),
        "MODEL_REGISTRY_TRANSFER": engine,
    }

    result = run_in(loopback_names, "model-registry://secure/v1", tmp_path, env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"model.bin": b"tls-weights"}
    assert f"CONNECT files.proxytest:{port_of(url)}" in forward_proxy.requests()


@pytest.mark.parametrize("engine", ["fast", "kserve"])
def test_the_hub_goes_through_the_proxy_and_its_loopback_cdn_does_not(
    forward_proxy: ForwardProxy, loopback_names: Namespace, registry: Any, hub: Any, tmp_path: Path, engine: str
) -> None:
    hub.add("org/model", {"config.json": b"{}", "model.safetensors": b"w" * 4096})
    register(registry.url, "llm", "hf://org/model", "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "HF_ENDPOINT": named(hub.url, "files.proxytest"),  # the Hub by name; its CDN answers at 127.0.0.1
        "HOME": str(tmp_path / "home"),
        "HTTP_PROXY": forward_proxy.url,
        "MODEL_REGISTRY_TRANSFER": engine,
        "HF_HUB_DISABLE_XET": "1",
    }

    result = run_in(loopback_names, "model-registry://llm/v1", tmp_path / "dest", env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == {"config.json": b"{}", "model.safetensors": b"w" * 4096}
    hosts = forward_proxy.hosts()
    assert f"files.proxytest:{port_of(hub.url)}" in hosts
    assert not any(h.startswith("127.0.0.1") for h in hosts)  # the CDN redirect target is loopback: direct


@pytest.mark.parametrize("proxied", [True, False])
def test_an_oci_registry_goes_through_the_proxy_unless_no_proxy_names_it(
    forward_proxy: ForwardProxy,
    loopback_names: Namespace,
    registry: Any,
    s3_server: S3Server,
    oci_registry: Any,
    tmp_path: Path,
    proxied: bool,
) -> None:
    from fixtures.oci import layer

    oci_registry.push_image("proxy/model", "v1", [layer({"models/w.bin": b"oci-weights"})])
    host = named(oci_registry.url, "files.proxytest").split("://", 1)[1]
    register(registry.url, "oci", f"oci://{host}/proxy/model:v1", "v1")
    extra = {} if proxied else {"NO_PROXY": "files.proxytest"}
    env = _env(
        forward_proxy,
        named(registry.host_port, "registry.proxytest"),
        s3_server,
        KSERVE_OCI_INSECURE_REGISTRY="true",
        KSERVE_OCI_DOCKER_CONFIG="/nonexistent/config.json",
        **extra,
    )
    result = run_in(loopback_names, "model-registry://oci/v1", tmp_path / "oci", env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "oci") == {"w.bin": b"oci-weights"}
    assert (host in forward_proxy.hosts()) is proxied  # manifest and blobs, on the own engine
