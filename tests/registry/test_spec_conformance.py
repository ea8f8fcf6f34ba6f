"""Every implemented operation's responses validate against the reference spec.

Two ways: openapi-core validates each response of a scripted run through every implemented operation
(successes and documented errors), and schemathesis generates requests from the spec for all of them and
checks that none ends in a 5xx or a response that violates the spec.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_client import API, Rest
from spec_tools import IMPLEMENTED_PATH_REGEX, write_spec


@pytest.fixture(scope="module")
def explicit_spec(specs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spec(specs_dir, tmp_path_factory.mktemp("spec") / "model-registry.explicit.yaml")


def test_scripted_responses_validate_with_openapi_core(registry: Any, explicit_spec: Path) -> None:
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    openapi = OpenAPI.from_file_path(str(explicit_spec))
    rest = Rest(registry.url)
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
        ("GET", "/artifact", {"name": "d2"}, None),
    ]
    statuses = []
    for method, path, query, body in script:
        qs = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        status, payload = rest.call(method, path + qs, body)
        statuses.append(status)
        request = MockRequest("http://localhost:8080", method.lower(), API + path, args=query)
        response = MockResponse(json.dumps(payload).encode(), status_code=status, content_type="application/json")
        openapi.validate_response(request, response)
    assert statuses.count(409) == 1
    assert statuses.count(404) == 2
    assert statuses.count(400) == 1


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    registry: Any, explicit_spec: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(explicit_spec),
            "--url",
            registry.url,
            "--include-path-regex",
            IMPLEMENTED_PATH_REGEX,
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "12",
            "--seed",
            "20261124",
            "--generation-database",
            "none",
            "--max-time",
            "75",
            "--request-timeout",
            "10",
            "--report-json-path",
            str(report),
            "--report",
            "json",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "API Operations" in proc.stdout
