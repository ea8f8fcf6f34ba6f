"""Whatever a registry answers — missing fields, wrong types, huge pages, non-JSON, HTML error pages,
redirects to other hosts — resolution ends in a Resolution or a clean error with exit code 3 or 4."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.serving import serve
from helpers import retries_without_waiting, run_cli
from mr_storage_initializer.errors import InitializerError
from mr_storage_initializer.resolve import Resolution, resolve
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.uri import parse_uri

Answer = tuple[int, bytes, str, dict[str, str]]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just("1"), st.just("2"), st.integers(), st.none(), st.text(max_size=5)),
        "name": st.one_of(st.just("m"), st.just("v1"), st.integers(), st.none(), st.text(max_size=5)),
        "state": st.one_of(st.sampled_from(["LIVE", "ARCHIVED", "DELETED", "?"]), st.integers()),
        "artifactType": st.one_of(st.sampled_from(["model-artifact", "doc-artifact"]), st.integers()),
        "uri": st.one_of(st.just("s3://b/k"), st.just(""), st.integers(), st.none()),
        "customProperties": json_values,
        "createTimeSinceEpoch": st.one_of(st.just("1"), st.integers(), st.none()),
    },
)
pages = st.fixed_dictionaries(
    {},
    optional={
        "items": st.one_of(st.lists(fields, max_size=3), json_values, st.just([{"id": "9"}] * 5000)),
        "nextPageToken": st.one_of(st.just(""), st.just("again"), st.integers(), st.none()),
        "size": st.integers(),
    },
)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


answers: st.SearchStrategy[Answer] = st.one_of(
    st.tuples(st.just(200), fields.map(_json), st.just("application/json"), st.just({})),
    st.tuples(st.just(200), pages.map(_json), st.just("application/json"), st.just({})),
    st.tuples(st.just(200), json_values.map(_json), st.just("application/json"), st.just({})),
    st.tuples(st.sampled_from([200, 404, 400]), st.binary(max_size=64), st.just("text/plain"), st.just({})),
    st.tuples(
        st.sampled_from([404, 500, 502, 403, 401]),
        st.just(b"<html><body>Error</body></html>"),
        st.just("text/html"),
        st.just({}),
    ),
    st.tuples(st.just(404), st.just(b'{"code":"404","message":"not found"}'), st.just("application/json"), st.just({})),
    st.tuples(
        st.sampled_from([301, 302, 307]),
        st.just(b""),
        st.just("text/plain"),
        st.just({"Location": "http://evil.example/x"}),
    ),
)


class _Fake(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers: ClassVar[list[Answer]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        status, body, content_type, headers = (
            self.answers.pop(0) if self.answers else (404, b"{}", "application/json", {})
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def fake_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    serve(server)
    try:
        with retries_without_waiting(attempts=1):  # transient answers fail at once here; retries are tested elsewhere
            yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


GOOD_MODEL: Answer = (200, _json({"id": "1", "name": "m", "state": "LIVE"}), "application/json", {})
GOOD_VERSION: Answer = (200, _json({"id": "2", "name": "v1", "state": "LIVE"}), "application/json", {})
GOOD_VERSIONS: Answer = (
    200,
    _json({"items": [json.loads(GOOD_VERSION[1])], "nextPageToken": ""}),
    "application/json",
    {},
)
GOOD_ARTIFACTS: Answer = (
    200,
    _json(
        {"items": [{"id": "1", "name": "a", "artifactType": "model-artifact", "uri": "s3://b/k"}], "nextPageToken": ""}
    ),
    "application/json",
    {},
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(versioned=st.booleans(), data=st.data())
def test_any_registry_answer_ends_in_a_resolution_or_a_clean_error(
    fake_registry: str, versioned: bool, data: st.DataObject
) -> None:
    # A good conversation with one answer replaced, so every step of resolution meets bad input.
    script = [GOOD_MODEL, GOOD_VERSION if versioned else GOOD_VERSIONS, GOOD_ARTIFACTS]
    script[data.draw(st.integers(0, 2), label="step")] = data.draw(answers, label="bad answer")
    script += data.draw(st.lists(answers, max_size=2), label="follow-ups")
    _Fake.answers = script
    uri = "model-registry://m/v1" if versioned else "model-registry://m"
    settings_ = Settings(base_url=fake_registry, timeout=5, probe_timeout=0.5)
    try:
        result = resolve(parse_uri(uri), settings_)
    except InitializerError as exc:
        assert exc.exit_code in (3, 4), exc
        assert exc.message
        assert "\n" not in exc.message
    else:
        assert isinstance(result, Resolution)
        assert result.artifact.uri


# -- bounded parsing (issue #20, item 8) --------------------------------------------------------------------
DEEP = 100_000


@pytest.mark.parametrize(
    "body",
    [b"[" * DEEP + b"]" * DEEP, b'{"items": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}"],
    ids=["list", "object"],
)
@pytest.mark.parametrize("uri", ["model-registry://m/v1", "PROXY/m"], ids=["model-version", "probed-host-model"])
def test_json_nested_100000_deep_is_exit_4_with_one_line(
    fault_proxy: Any, tmp_path: Path, body: bytes, uri: str
) -> None:
    proxy = fault_proxy("http://127.0.0.1:9", [body] * 50)  # every answer, the HOST/MODEL probe's included
    dest, termination = tmp_path / "models", tmp_path / "termination"
    env = {"MODEL_REGISTRY_BASE_URL": proxy.host_port, "MODEL_REGISTRY_TERMINATION_LOG": str(termination)}
    result = run_cli(uri.replace("PROXY", f"model-registry://{proxy.host_port}"), dest, env=env)
    assert result.code == 4, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert "nested" in errors[0] and "deep" in errors[0]
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert termination.read_text() in errors[0]
    assert not dest.exists()
