"""The client owns which API it speaks: one ordered list, one decision per registry and run, pins ask nothing.

A small registry of the test's own on 127.0.0.1 serves some of the APIs (the others answer Go's plain-text
404) and records every path asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mr_storage_initializer import api_version
from mr_storage_initializer.api_version import API_V1, API_V1ALPHA3, Learned
from mr_storage_initializer.errors import RegistryResponseError
from mr_storage_initializer.registry import RegistryClient
from mr_storage_initializer.settings import Settings


class _Registry(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, served: tuple[str, ...]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.served = served
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Registry

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if not any(self.path.startswith(f"{prefix}/") for prefix in self.server.served):
            self._send(404, b"404 page not found\n", "text/plain")
        elif "/registered_models?" in self.path:
            self._send(200, json.dumps({"items": [], "size": 0}).encode(), "application/json")
        else:  # every lookup misses, in the registry's own words
            self._send(404, json.dumps({"code": "", "message": "not found"}).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def serving() -> Iterator[Any]:
    started: list[_Registry] = []

    def start(*served: str) -> _Registry:
        server = _Registry(served)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _lookup(registry: _Registry, setting: str, learned: Learned) -> RegistryClient:
    client = RegistryClient(registry.url, deadline=10, api_version=setting, learned=learned)
    assert client.find_registered_model("iris") is None
    client.close()
    return client


def test_auto_moves_on_to_the_next_api_once_and_the_run_remembers(
    serving: Any, caplog: pytest.LogCaptureFixture
) -> None:
    registry, learned = serving(API_V1ALPHA3), Learned()
    caplog.set_level("INFO", "mr_storage_initializer.registry")
    first = _lookup(registry, "auto", learned)
    assert [p.split("?")[0] for p in registry.paths] == [
        f"{API_V1}/registered_model",
        f"{API_V1}/registered_models",
        f"{API_V1ALPHA3}/registered_model",
        f"{API_V1ALPHA3}/registered_models",  # the last API left is confirmed before a 404 means "missing"
    ]
    assert first.api_prefix == API_V1ALPHA3
    assert "API v1alpha3 at " in caplog.text and "because it does not serve v1" in caplog.text
    assert learned.chosen(registry.url) == (API_V1ALPHA3, True)

    registry.paths.clear()
    second = _lookup(registry, "auto", learned)
    assert [p.split("?")[0] for p in registry.paths] == [f"{API_V1ALPHA3}/registered_model"]
    assert second.api_prefix == API_V1ALPHA3
    assert "because it was decided earlier in this run" in caplog.text


def test_a_run_of_its_own_decides_again(serving: Any) -> None:
    registry = serving(API_V1ALPHA3)
    _lookup(registry, "auto", Learned())
    registry.paths.clear()
    _lookup(registry, "auto", Learned())
    assert registry.paths[0].startswith(f"{API_V1}/")


def test_auto_keeps_the_preferred_api_that_a_registry_serves(serving: Any) -> None:
    registry, learned = serving(API_V1, API_V1ALPHA3), Learned()
    client = _lookup(registry, "auto", learned)
    assert client.api_prefix == API_V1 and client.api_confirmed
    assert learned.chosen(registry.url) == (API_V1, True)
    assert all(p.startswith(f"{API_V1}/") for p in registry.paths)


@pytest.mark.parametrize(("pin", "prefix"), [("v1", API_V1), ("v1alpha3", API_V1ALPHA3)])
def test_a_pin_asks_only_its_api_and_names_the_setting_when_unserved(serving: Any, pin: str, prefix: str) -> None:
    other = API_V1ALPHA3 if prefix == API_V1 else API_V1
    served, unserved = serving(prefix), serving(other)
    learned = Learned()
    assert _lookup(served, pin, learned).api_prefix == prefix
    assert all(p.startswith(f"{prefix}/") for p in served.paths)
    assert learned.chosen(served.url) is None  # a pin is no finding about the registry
    client = RegistryClient(unserved.url, deadline=10, api_version=pin, learned=learned)
    with pytest.raises(RegistryResponseError, match=f"MODEL_REGISTRY_API_VERSION={pin} asks for"):
        client.find_registered_model("iris")
    assert all(p.startswith(f"{prefix}/") for p in unserved.paths)


def test_a_registry_serving_none_is_said_with_every_api_tried(serving: Any) -> None:
    registry = serving()
    client = RegistryClient(registry.url, deadline=10, learned=Learned())
    with pytest.raises(RegistryResponseError, match=r"serves neither API v1 \(/api/model_registry/v1\) nor v1alpha3"):
        client.find_registered_model("iris")


def test_the_one_list_orders_the_probe_and_bounds_the_setting() -> None:
    assert api_version.prefixes("auto") == tuple(prefix for _, prefix in api_version.VERSIONS)
    assert api_version.prefixes("auto")[0] == API_V1
    assert api_version.prefixes("v1alpha3") == (API_V1ALPHA3,)
    assert api_version.SETTINGS[0] == "auto"
    assert api_version.SETTINGS[1:] == tuple(api_version.PREFIXES)
    for setting in api_version.SETTINGS:
        assert Settings.from_env({"MODEL_REGISTRY_API_VERSION": setting}).api_version == setting
