"""Bad input gets a 4xx with the spec's error body and never changes stored data."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from rest_client import Rest


def _state(rest: Rest) -> Any:
    return [rest.call("GET", path)[1]["items"] for path in ("/registered_models", "/model_versions", "/artifacts")]


@pytest.fixture
def seeded(rest: Rest) -> Rest:
    rest.call("POST", "/registered_models", {"name": "m"})
    rest.call("POST", "/model_versions", {"name": "v1", "registeredModelId": "1"})
    rest.call("POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "name": "a", "uri": "u"})
    return rest


@pytest.mark.parametrize(
    ("method", "path", "body", "raw", "status"),
    [
        ("POST", "/registered_models", None, b"{not json", 400),
        ("POST", "/registered_models", None, b"\xff\xfe", 400),
        ("POST", "/registered_models", None, b"[1, 2]", 400),
        ("POST", "/registered_models", {"name": 5}, None, 400),
        ("POST", "/registered_models", {"name": ""}, None, 422),
        ("POST", "/registered_models", {"description": "no name"}, None, 422),
        ("POST", "/registered_models", {"name": "x", "state": "DELETED"}, None, 400),
        ("POST", "/registered_models", {"name": "x", "bogus": 1}, None, 400),
        (
            "POST",
            "/registered_models",
            {"name": "x", "customProperties": {"k": {"string_value": "no type"}}},
            None,
            400,
        ),
        ("POST", "/registered_models", {"name": "x", "customProperties": {"k": {"metadataType": {}}}}, None, 400),
        ("POST", "/registered_models", {"name": "m"}, None, 409),
        ("POST", "/model_versions", {"name": "v2"}, None, 422),
        ("POST", "/model_versions", {"name": "v2", "registeredModelId": ""}, None, 422),
        ("POST", "/registered_models/1/versions", {"name": "v2"}, None, 422),
        ("POST", "/model_versions/2/artifacts", {"id": "99", "uri": "u"}, None, 400),
        ("POST", "/model_versions", {"name": "v2", "registeredModelId": "abc"}, None, 400),
        ("POST", "/model_versions", {"name": "v1", "registeredModelId": "1"}, None, 409),
        ("POST", "/model_versions/2/artifacts", {"artifactType": "rocket", "name": "r"}, None, 400),
        ("POST", "/model_versions/99/artifacts", {"name": "r", "uri": "u"}, None, 404),
        ("PATCH", "/registered_models/1", {"state": 3}, None, 400),
        ("PATCH", "/registered_models/1", {"name": "renamed"}, None, 400),
        ("PATCH", "/registered_models/99", {"description": "x"}, None, 404),
        ("PATCH", "/artifacts/1", {"artifactType": "doc-artifact"}, None, 400),
        ("GET", "/registered_models/abc", None, None, 400),  # upstream: "invalid registered model ID"
        ("GET", "/registered_models/%C2%B2", None, None, 400),
        ("GET", "/registered_models/99999999999", None, None, 400),  # beyond int32
        ("POST", "/registered_models", None, b"[" * 100_000 + b"]" * 100_000, 400),  # issue #20
        ("POST", "/registered_models", None, b"[" * 5_000 + b"]" * 5_000, 400),
        ("POST", "/registered_models", None, b'{"name": ' + b"[" * 3_000 + b"]" * 3_000 + b"}", 400),
        ("GET", "/registered_models/-1", None, None, 404),
        ("GET", "/registered_models?nextPageToken=garbage", None, None, 400),
        ("GET", "/model_version?name=v1", None, None, 400),
        ("GET", "/registered_model", None, None, 400),
    ],
)
def test_bad_input_is_4xx_with_error_body_and_changes_nothing(
    seeded: Rest, method: str, path: str, body: Any, raw: bytes | None, status: int
) -> None:
    before = _state(seeded)
    got, payload = seeded.call(method, path, body, raw=raw)
    assert got == status
    assert isinstance(payload, dict)
    assert set(payload) == {"code", "message"}
    assert isinstance(payload["message"], str)
    assert _state(seeded) == before


def test_a_body_nested_100000_deep_is_400_with_gos_sentence(rest: Rest) -> None:
    """Issue #20: lite answered 500 (Python's parser ran out of recursion); upstream's decoder stops at
    depth 10,000 with this sentence (recorded)."""
    status, payload = rest.call("POST", "/registered_models", raw=b"[" * 100_000 + b"]" * 100_000)
    assert (status, payload) == (400, {"code": "Bad Request", "message": "invalid character '[' exceeded max depth"})
    assert rest.call("GET", "/registered_models")[1]["items"] == []
    deep_field = b'{"name": ' + b"[" * 9_000 + b"]" * 9_000 + b"}"
    message = "json: cannot unmarshal array into Go struct field RegisteredModelCreate.name of type string"
    assert rest.call("POST", "/registered_models", raw=deep_field) == (400, {"code": "Bad Request", "message": message})


def test_unicode_names_round_trip(rest: Rest) -> None:
    status, model = rest.call("POST", "/registered_models", {"name": "模型-ü-🚀"})
    assert status == 201
    assert rest.call("GET", f"/registered_models/{model['id']}")[1]["name"] == "模型-ü-🚀"


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 24 * 1024 * 1024])
def test_huge_body_is_refused_with_413(registry: Any, rest: Rest, size: int) -> None:
    """The server reads (and drops) the refused body before closing, so a client that sends it all first,
    as http.client does, gets the 413 rather than a reset (24 MiB is far beyond any socket buffer)."""
    host, port = registry.host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    payload = json.dumps({"name": "big", "description": "x" * size}).encode()
    connection.request(
        "POST", f"{rest.api}/registered_models", body=payload, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Connection") == "close"
    assert set(json.loads(response.read())) == {"code", "message"}
    connection.close()
    assert rest.call("GET", "/registered_models")[1]["items"] == []


def test_answers_are_not_held_back_by_nagle() -> None:
    """Headers and body are two writes: without TCP_NODELAY every keep-alive answer after the first waited
    ~40 ms for the client's delayed ACK (three of them made a tiny model's install 0.3 s instead of 0.2 s).
    Go's net/http, the upstream server, sets TCP_NODELAY on every connection."""
    from model_registry_lite.server import Handler

    assert Handler.disable_nagle_algorithm is True
