"""Where the official client and users meet the real server's rules, lite answers as upstream does
(red-hat-data-services/model-registry, the kubeflow/hub code that serves v1 beside v1alpha3):

- a nameless artifact gets a fresh UUID on every create path (internal/core/artifact.go ensureArtifactName);
- a missing or empty required field is 422 with upstream's body (internal/server/openapi/v1/error.go,
  type_asserts.go);
- an artifact's type cannot change (internal/converter/openapi_reconciler_util.go);
- names and external ids live in 255-character columns, a version's and an artifact's name prefixed with
  its owner's id (or a UUID) and a colon (internal/converter/openapi_converter_util.go PrefixWhenOwned);
  beyond, upstream's database refuses the row and the server answers 500 with PostgreSQL's error.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_client import Rest


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@pytest.fixture
def version_2(rest: Rest) -> Rest:
    """Registered model 1 with its version 2."""
    assert rest.call("POST", "/registered_models", {"name": "m"})[0] == 201
    assert rest.call("POST", "/model_versions", {"name": "v1", "registeredModelId": "1"})[0] == 201
    return rest


NAMELESS = [
    ("/model_versions/2/artifacts", {"artifactType": "model-artifact", "uri": "s3://b/k"}),
    ("/model_versions/2/artifacts", {"artifactType": "doc-artifact", "uri": "u"}),
    ("/artifacts", {"artifactType": "metric", "value": 1.5}),
    ("/artifacts", {"artifactType": "dataset-artifact", "uri": "s3://d"}),
    ("/model_artifacts", {"uri": "s3://b/k"}),
    ("/model_artifacts", {}),
]


def test_nameless_artifacts_get_a_unique_uuid_name_on_every_create_path(version_2: Rest) -> None:
    names = []
    for path, body in NAMELESS + NAMELESS:
        status, created = version_2.call("POST", path, body)
        assert status == 201, (path, body, created)
        assert _is_uuid(created["name"])
        assert version_2.call("GET", f"/artifacts/{created['id']}")[1]["name"] == created["name"]
        names.append(created["name"])
    assert len(set(names)) == len(names)


def test_an_empty_artifact_name_reads_back_as_upstream_stores_it(version_2: Rest) -> None:
    """Upstream stores ``OWNER:NAME``, and ``OWNER`` alone when the name is empty: it reads back as the
    version's id under a version, and as a UUID for a standalone artifact."""
    status, created = version_2.call(
        "POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "name": "", "uri": "u"}
    )
    assert (status, created["name"]) == (201, "2")
    status, standalone = version_2.call("POST", "/artifacts", {"artifactType": "doc-artifact", "name": ""})
    assert status == 201
    assert _is_uuid(standalone["name"])


def test_missing_required_field_is_422_with_upstreams_body(version_2: Rest) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/registered_models", {"description": "no name"}, "name"),
        ("/registered_models", {"name": ""}, "name"),
        ("/model_versions", {"registeredModelId": "1"}, "name"),
        ("/model_versions", {"name": "", "registeredModelId": "1"}, "name"),
        ("/model_versions", {"name": "v2"}, "registeredModelId"),
        ("/model_versions", {"name": "v2", "registeredModelId": ""}, "registeredModelId"),
        ("/registered_models/1/versions", {"name": "v2"}, "registeredModelId"),
        ("/registered_models/1/versions", {"registeredModelId": "1"}, "name"),
    ]
    before = [version_2.call("GET", p)[1]["items"] for p in ("/registered_models", "/model_versions")]
    for path, body, field in cases:
        status, error = version_2.call("POST", path, body)
        assert status == 422, (path, body)
        assert error == {"code": "Bad Request", "message": f"required field '{field}' is zero value."}
    assert [version_2.call("GET", p)[1]["items"] for p in ("/registered_models", "/model_versions")] == before


def test_the_path_names_the_model_of_a_version_created_under_it(version_2: Rest) -> None:
    assert version_2.call("POST", "/registered_models", {"name": "other"})[1]["id"] == "3"
    status, created = version_2.call("POST", "/registered_models/1/versions", {"name": "v2", "registeredModelId": "3"})
    assert (status, created["registeredModelId"]) == (201, "1")


def test_changing_the_artifact_type_is_refused_with_upstreams_sentence(version_2: Rest) -> None:
    _, model = version_2.call(
        "POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "name": "a", "uri": "u"}
    )
    status, error = version_2.call("PATCH", f"/artifacts/{model['id']}", {"artifactType": "doc-artifact"})
    assert status == 400
    assert error == {
        "code": "Bad Request",
        "message": "cannot change artifact type from 'model-artifact' to 'doc-artifact': artifact type is immutable",
    }
    upsert = {"id": model["id"], "artifactType": "doc-artifact", "uri": "x"}
    status, error = version_2.call("POST", "/model_versions/2/artifacts", upsert)
    assert (status, error["message"]) == (400, f"artifact with id {model['id']} is not a doc artifact: bad request")
    unknown = {"id": "99", "artifactType": "model-artifact", "uri": "x"}
    status, error = version_2.call("POST", "/model_versions/2/artifacts", unknown)
    assert (status, error["message"]) == (
        400,
        "mismatched types, artifact with id 99 is not a model artifact: bad request",
    )
    assert version_2.call("GET", f"/artifacts/{model['id']}")[1]["uri"] == "u"


def _too_long(entity: str) -> dict[str, str]:
    message = f"error saving {entity}: ERROR: value too long for type character varying(255) (SQLSTATE 22001)"
    return {"code": "Internal Server Error", "message": message}


def test_name_length_limits_are_upstreams(version_2: Rest) -> None:
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/registered_models", {}, 255, "registered model"),
        ("/model_versions", {"registeredModelId": "1"}, 253, "model version"),  # "1:" + name
        ("/registered_models/1/versions", {"registeredModelId": "1"}, 253, "model version"),
        (
            "/model_versions/2/artifacts",
            {"artifactType": "model-artifact", "uri": "u"},
            253,
            "model artifact",
        ),  # "2:" + name
        ("/model_versions/2/artifacts", {"artifactType": "parameter", "value": "1"}, 253, "parameter"),
        ("/artifacts", {"artifactType": "doc-artifact"}, 218, "doc artifact"),  # a UUID, ":" + name
        ("/model_artifacts", {}, 218, "model artifact"),
    ]
    for n, (path, body, longest, entity) in enumerate(cases):
        status, error = version_2.call("POST", path, {**body, "name": "n" * (longest + 1)})
        assert (status, error) == (500, _too_long(entity)), path
        name = f"{n}{'é' * (longest - 1)}"  # characters, not bytes
        status, created = version_2.call("POST", path, {**body, "name": name})
        created_status = 200 if body.get("artifactType") == "parameter" else 201  # upstream's (recorded)
        assert (status, created["name"]) == (created_status, name), path


def test_external_id_length_limit_on_create_and_update(version_2: Rest) -> None:
    status, error = version_2.call("POST", "/registered_models", {"name": "x", "externalId": "e" * 256})
    assert (status, error) == (500, _too_long("registered model"))
    status, error = version_2.call("PATCH", "/model_versions/2", {"externalId": "e" * 256})
    assert (status, error) == (500, _too_long("model version"))
    assert version_2.call("PATCH", "/model_versions/2", {"externalId": "e" * 255})[0] == 200
    assert [m["name"] for m in version_2.call("GET", "/registered_models")[1]["items"]] == ["m"]
