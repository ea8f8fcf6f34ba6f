"""API v1 and v1alpha3, each per its own spec; --api-versions serves one or both; the alpha API's
deprecation (--alpha-sunset-date: Deprecation/Sunset/Link headers) and removal (--gone-v1alpha3: 410)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from rest_client import API_V1, API_V1ALPHA3, Rest


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


@pytest.mark.parametrize(
    ("args", "served"),
    [
        ((), {API_V1, API_V1ALPHA3}),
        (("--api-versions", "v1"), {API_V1}),
        (("--api-versions", "v1alpha3"), {API_V1ALPHA3}),
    ],
    ids=["both", "v1-only", "v1alpha3-only"],
)
def test_each_kind_of_server_serves_its_versions_and_404s_the_other(
    start_registry: Any, args: tuple[str, ...], served: set[str]
) -> None:
    registry = start_registry(*args)
    for api in (API_V1, API_V1ALPHA3):
        rest = Rest(registry.url, api=api)
        status, body = rest.call("GET", "/registered_models?pageSize=1")
        if api in served:
            assert status == 200
            assert body["items"] == []
        else:  # an unserved version is an unknown path: Go's text 404, like the real server
            assert (status, body) == (404, "404 page not found\n")
            assert rest.call("POST", "/registered_models", {"name": "m"})[0] == 404


def test_both_versions_share_one_store(rest: Rest, registry: Any) -> None:
    other = Rest(registry.url, api=API_V1ALPHA3 if rest.api == API_V1 else API_V1)
    assert rest.call("POST", "/registered_models", {"name": "m"})[0] == 201
    assert [m["name"] for m in other.call("GET", "/registered_models")[1]["items"]] == ["m"]


def test_experiments_are_served_in_v1alpha3_and_unknown_in_v1(registry: Any) -> None:
    alpha, v1 = Rest(registry.url, api=API_V1ALPHA3), Rest(registry.url, api=API_V1)
    status, experiment = alpha.call("POST", "/experiments", {"name": "exp"})
    assert (status, experiment["state"]) == (201, "LIVE")
    status, run = alpha.call("POST", f"/experiments/{experiment['id']}/experiment_runs", {"experimentId": "1"})
    assert (status, run["experimentId"], run["status"]) == (201, experiment["id"], "RUNNING")
    for step in (1, 2):
        metric = {"artifactType": "metric", "name": "loss", "value": 1 / step, "step": step}
        assert alpha.call("POST", f"/experiment_runs/{run['id']}/artifacts", metric)[0] == 200
    assert alpha.call("GET", f"/experiment_runs/{run['id']}/artifacts")[1]["size"] == 1  # one metric, updated
    history = alpha.call("GET", f"/experiment_runs/{run['id']}/metric_history")[1]["items"]
    assert [m["step"] for m in history] == [1, 2]
    for path in ("/experiments", "/experiment_runs/1", "/experiment_runs/metric_history"):
        assert v1.call("GET", path) == (404, "404 page not found\n")


def test_metric_step_is_an_integer_in_both_versions_as_upstream_serves_it(registry: Any) -> None:
    """Issue #25 item 13: upstream's v1 server shares v1alpha3's Go models (``Step *int64``), against its
    v1 spec: 7 is accepted, "7" is 400; lite does what the server does (recorded)."""
    v1, alpha = Rest(registry.url, api=API_V1), Rest(registry.url, api=API_V1ALPHA3)
    status, created = v1.call("POST", "/artifacts", {"artifactType": "metric", "name": "loss", "value": 0.1, "step": 7})
    assert (status, created["step"]) == (201, 7)
    assert alpha.call("GET", f"/artifacts/{created['id']}")[1]["step"] == 7
    status, error = v1.call("POST", "/artifacts", {"artifactType": "metric", "name": "a", "value": 1, "step": "3"})
    assert (status, error["message"]) == (
        400,
        "failed to unmarshal ArtifactCreate as MetricCreate: json: cannot unmarshal string into Go struct field "
        "MetricCreate.step of type int64",
    )


def test_alpha_sunset_date_adds_upstreams_deprecation_headers_to_alpha_answers_only(start_registry: Any) -> None:
    registry = start_registry("--alpha-sunset-date", "2027-03-31")
    for path in ("/registered_models", "/registered_models/99"):  # successes and errors alike
        status, headers = _get(f"{registry.url}{API_V1ALPHA3}{path}")
        assert status in (200, 404)
        assert headers["Deprecation"] == "true"
        assert headers["Sunset"] == "Wed, 31 Mar 2027 00:00:00 GMT"
        assert headers["Link"] == '</api/model_registry/v1/>; rel="successor-version"'
    status, headers = _get(f"{registry.url}{API_V1}/registered_models")
    assert status == 200
    assert headers["Deprecation"] is None
    assert headers["Sunset"] is None


def test_gone_v1alpha3_answers_410_on_every_alpha_path(start_registry: Any) -> None:
    registry = start_registry("--gone-v1alpha3", "--deprecate-v1alpha3", "2027-03-31")
    alpha = Rest(registry.url, api=API_V1ALPHA3)
    for method, path in (("GET", "/registered_models?pageSize=1"), ("POST", "/registered_models"), ("GET", "/x")):
        status, body = alpha.call(method, path, {"name": "m"} if method == "POST" else None)
        assert status == 410
        assert body == {"code": "Gone", "message": "API v1alpha3 is gone: use /api/model_registry/v1"}
    assert _get(f"{registry.url}{API_V1ALPHA3}/registered_models")[1]["Sunset"] == "Wed, 31 Mar 2027 00:00:00 GMT"
    assert Rest(registry.url, api=API_V1).call("GET", "/registered_models")[0] == 200
    assert Rest(registry.url, api=API_V1).call("POST", "/registered_models", {"name": "m"})[0] == 201


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--api-versions", "v2"), "--api-versions takes a comma-separated list of v1, v1alpha3; got 'v2'"),
        (("--api-versions", ","), "--api-versions takes a comma-separated list of v1, v1alpha3; got ','"),
        (("--alpha-sunset-date", "next year"), "--alpha-sunset-date takes a date as YYYY-MM-DD; got 'next year'"),
    ],
)
def test_bad_version_flags_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "model_registry_lite", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"mr-registry-lite: {message}"
    assert proc.stdout == ""


def test_an_answer_before_the_body_is_read_closes_the_connection(start_registry: Any) -> None:
    """A refused POST's body (here: 410 before anything is read) is never taken for the next request."""
    registry = start_registry("--gone-v1alpha3", "--token", "t")
    host, port = registry.host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    for path, status in ((f"{API_V1ALPHA3}/registered_models", 410), (f"{API_V1}/registered_models", 401)):
        body = json.dumps({"name": "GET / HTTP/1.1"}).encode()
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert (response.status, response.getheader("Connection")) == (status, "close")
        assert set(json.loads(response.read())) == {"code", "message"}
    connection.close()
