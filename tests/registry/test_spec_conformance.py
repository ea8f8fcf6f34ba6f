"""Every implemented operation's responses validate against its version's reference spec (v1 and v1alpha3).

Two ways: openapi-core validates each response of a scripted run through every implemented operation
(successes and documented errors) against a server serving only that version, and schemathesis generates
requests from each spec for all of them and checks that none ends in a 5xx or a response that violates it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_client import Rest
from spec_tools import write_spec

from fixtures.background import SchemathesisRun

VERSIONS = ("v1", "v1alpha3")


@pytest.fixture(scope="module", params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


GENERATOR_LIMIT = "does not support a `not` whose complement is not spelled out"


def _spec(specs_dir: Path, tmp_path: Path, version: str, *, bounded: bool = False) -> Path:
    return write_spec(specs_dir, tmp_path / f"model-registry-{version}.explicit.yaml", version, bounded=bounded)


def test_scripted_responses_validate_with_openapi_core(
    start_registry: Any, specs_dir: Path, tmp_path: Path, version: str
) -> None:
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    openapi = OpenAPI.from_file_path(str(_spec(specs_dir, tmp_path, version)))
    registry = start_registry("--api-versions", version)
    rest = Rest(registry.url, api=f"/api/model_registry/{version}")
    step: Any = "3" if version == "v1" else 3  # int64 as a string in v1, an integer in v1alpha3
    model_artifact = {"artifactType": "model-artifact", "name": "ma", "uri": "s3://b/k", "modelFormatName": "onnx"}
    props = {
        "s": {"metadataType": "MetadataStringValue", "string_value": "x"},
        "i": {"metadataType": "MetadataIntValue", "int_value": "3"},
        "d": {"metadataType": "MetadataDoubleValue", "double_value": 0.5},
        "b": {"metadataType": "MetadataBoolValue", "bool_value": True},
    }
    script: list[tuple[str, str, dict[str, str], Any]] = [
        ("POST", "/registered_models", {}, {"name": "m", "customProperties": props, "language": ["en"]}),
        ("POST", "/registered_models", {}, {"name": "m"}),  # 409
        ("GET", "/registered_models", {"pageSize": "1", "orderBy": "CREATE_TIME", "sortOrder": "DESC"}, None),
        ("GET", "/registered_models/1", {}, None),
        ("GET", "/registered_models/999", {}, None),  # 404
        ("PATCH", "/registered_models/1", {}, {"description": "d", "state": "ARCHIVED"}),
        ("GET", "/registered_model", {"name": "m"}, None),
        ("GET", "/registered_model", {"name": "nope"}, None),  # 404
        ("POST", "/registered_models/1/versions", {}, {"name": "v1", "registeredModelId": "1"}),
        ("POST", "/model_versions", {}, {"name": "v2", "registeredModelId": "1", "author": "me"}),
        ("POST", "/model_versions", {}, {"name": 7, "registeredModelId": "1"}),  # 400
        ("POST", "/model_versions", {}, {"name": "v3"}),  # 422
        ("GET", "/model_versions", {}, None),
        ("GET", "/model_versions/2", {}, None),
        ("PATCH", "/model_versions/2", {}, {"state": "ARCHIVED"}),
        ("GET", "/registered_models/1/versions", {"orderBy": "ID"}, None),
        ("GET", "/model_version", {"name": "v1", "parentResourceId": "1"}, None),
        ("POST", "/model_versions/2/artifacts", {}, model_artifact),
        ("POST", "/model_versions/2/artifacts", {}, {"artifactType": "doc-artifact", "name": "doc", "uri": "u"}),
        ("GET", "/model_versions/2/artifacts", {}, None),
        ("POST", "/model_artifacts", {}, {"name": "standalone", "uri": "gs://b/o", "customProperties": props}),
        ("GET", "/model_artifacts", {}, None),
        ("GET", "/model_artifacts/1", {}, None),
        ("PATCH", "/model_artifacts/1", {}, {"uri": "s3://b/other", "state": "LIVE"}),
        ("GET", "/model_artifact", {"name": "ma", "parentResourceId": "2"}, None),
        ("POST", "/artifacts", {}, {"artifactType": "doc-artifact", "name": "d2", "uri": "u"}),
        ("GET", "/artifacts", {"pageSize": "2"}, None),
        ("GET", "/artifacts/2", {}, None),
        ("PATCH", "/artifacts/2", {}, {"artifactType": "doc-artifact", "description": "x"}),
        ("PATCH", "/artifacts/2", {}, {"artifactType": "model-artifact"}),  # 400
        ("GET", "/artifact", {"name": "d2"}, None),
        (
            "POST",
            "/model_versions/2/artifacts",
            {},
            {"artifactType": "metric", "name": "acc", "value": 0.9, "step": step},
        ),
        ("POST", "/artifacts", {}, {"artifactType": "parameter", "value": "0.1", "parameterType": "number"}),
        ("POST", "/model_versions/2/artifacts", {}, {"artifactType": "dataset-artifact", "uri": "s3://d"}),
        ("PATCH", "/artifacts/5", {}, {"artifactType": "metric", "step": step}),
        ("GET", "/artifacts", {"artifactType": "metric"}, None),
    ]
    statuses = []
    for method, path, query, body in script:
        qs = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        status, payload = rest.call(method, path + qs, body)
        statuses.append(status)
        request = MockRequest("http://localhost:8080", method.lower(), rest.api + path, args=query)
        response = MockResponse(json.dumps(payload).encode(), status_code=status, content_type="application/json")
        openapi.validate_response(request, response)
    assert [statuses.count(s) for s in (409, 404, 400, 422)] == [1, 2, 2, 1]
    assert rest.call("GET", "/artifacts/5")[1]["step"] == step


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    schemathesis_runs: dict[str, SchemathesisRun], version: str
) -> None:
    run = schemathesis_runs[version]
    returncode = run.proc.wait(150)
    output, errors = (path.read_text(errors="replace") for path in (run.stdout, run.stderr))
    proc = subprocess.CompletedProcess(run.proc.args, returncode, output, errors)
    report = run.report
    assert "API Operations" in proc.stdout, proc.stdout[-8000:] + proc.stderr[-2000:]
    found = json.loads(report.read_text())
    assert found["failures"] == [], proc.stdout[-8000:]  # server errors, schema violations: findings about lite
    # An error is the tool's, not lite's: hypothesis-jsonschema cannot build some negative examples ("a `not`
    # whose complement is not spelled out"); how far the 75 s budget gets before meeting one depends on how
    # fast lite answers. Any other error fails.
    limits = proc.stdout.count(GENERATOR_LIMIT)
    assert all(e["title"] == "Schema Error" for e in found["errors"]), proc.stdout[-8000:]
    assert sum(e["count"] for e in found["errors"]) <= limits, proc.stdout[-8000:]
    assert proc.returncode == (0 if not found["errors"] else 1), proc.stdout[-8000:]
