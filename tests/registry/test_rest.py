"""Plain REST behaviour: the upstream CSI end-to-end sequence, ids, paging, ordering, find, errors."""

from __future__ import annotations

import http.client
from typing import Any

import pytest
from rest_client import Rest


def test_upstream_csi_e2e_sequence(rest: Rest) -> None:
    status, model = rest.call("POST", "/registered_models", {"description": "Iris scikit-learn model", "name": "iris"})
    assert (status, model["id"]) == (201, "1")
    status, version = rest.call(
        "POST", "/model_versions", {"description": "Iris model version v1", "name": "v1", "registeredModelID": "1"}
    )
    assert (status, version["id"], version["registeredModelId"]) == (201, "2", "1")
    status, artifact = rest.call(
        "POST",
        "/model_versions/2/artifacts",
        {
            "description": "Model artifact for Iris v1",
            "uri": "gs://kfserving-examples/models/sklearn/1.0/model",
            "state": "UNKNOWN",
            "name": "sklearn-iris-v1",
            "modelFormatName": "sklearn",
            "modelFormatVersion": "1",
            "artifactType": "model-artifact",
        },
    )
    assert status == 201
    assert artifact["id"] == "1"

    assert rest.call("GET", "/registered_models/1")[1]["name"] == "iris"
    assert rest.call("GET", "/model_versions/2")[1]["name"] == "v1"
    status, listing = rest.call("GET", "/model_versions/2/artifacts")
    assert status == 200
    assert [a["uri"] for a in listing["items"]] == ["gs://kfserving-examples/models/sklearn/1.0/model"]
    assert listing["items"][0]["artifactType"] == "model-artifact"
    assert rest.call("GET", "/model_artifacts/1")[1]["modelFormatName"] == "sklearn"


def test_find_by_name_parent_and_external_id(rest: Rest) -> None:
    rest.call("POST", "/registered_models", {"name": "a", "externalId": "ext-a"})
    rest.call("POST", "/registered_models", {"name": "b"})
    rest.call("POST", "/model_versions", {"name": "v1", "registeredModelId": "1"})
    rest.call("POST", "/model_versions", {"name": "v1", "registeredModelId": "2"})
    assert rest.call("GET", "/registered_model?name=b")[1]["id"] == "2"
    assert rest.call("GET", "/registered_model?externalId=ext-a")[1]["name"] == "a"
    assert rest.call("GET", "/model_version?name=v1&parentResourceId=2")[1]["registeredModelId"] == "2"
    status, error = rest.call("GET", "/registered_model?name=zzz")
    assert status == 404
    assert set(error) == {"code", "message"}


def test_timestamps_and_ids_are_strings_of_digits(rest: Rest) -> None:
    _, model = rest.call("POST", "/registered_models", {"name": "m"})
    for key in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
        assert isinstance(model[key], str)
        assert model[key].isdigit()
    assert model["state"] == "LIVE"
    _, patched = rest.call("PATCH", "/registered_models/1", {"description": "d"})
    assert int(patched["lastUpdateTimeSinceEpoch"]) > int(model["lastUpdateTimeSinceEpoch"])
    assert patched["createTimeSinceEpoch"] == model["createTimeSinceEpoch"]


def test_paging_with_next_page_token(rest: Rest) -> None:
    for i in range(5):
        rest.call("POST", "/registered_models", {"name": f"m{i}"})
    seen: list[str] = []
    token = ""
    for _ in range(5):
        _, page = rest.call("GET", f"/registered_models?pageSize=2&nextPageToken={token}")
        assert page["pageSize"] == 2
        assert page["size"] == len(page["items"])
        seen += [m["name"] for m in page["items"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == ["m0", "m1", "m2", "m3", "m4"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orderBy=ID&sortOrder=DESC", ["c", "b", "a"]),
        ("orderBy=CREATE_TIME&sortOrder=ASC", ["a", "b", "c"]),
        ("orderBy=LAST_UPDATE_TIME&sortOrder=DESC", ["a", "c", "b"]),
    ],
)
def test_ordering(rest: Rest, query: str, expected: list[str]) -> None:
    for name in ("a", "b", "c"):
        rest.call("POST", "/registered_models", {"name": name})
    rest.call("PATCH", "/registered_models/1", {"description": "touched last"})
    _, page = rest.call("GET", f"/registered_models?{query}")
    assert [m["name"] for m in page["items"]] == expected


def test_versions_under_their_model_and_artifacts_of_every_type(rest: Rest) -> None:
    rest.call("POST", "/registered_models", {"name": "m"})
    status, version = rest.call("POST", "/registered_models/1/versions", {"name": "v1", "registeredModelId": "1"})
    assert status == 201
    assert version["registeredModelId"] == "1"
    rest.call("POST", "/model_versions/2/artifacts", {"artifactType": "doc-artifact", "name": "readme", "uri": "x"})
    rest.call("POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "name": "m", "uri": "y"})
    _, listing = rest.call("GET", "/model_versions/2/artifacts")
    assert sorted(a["artifactType"] for a in listing["items"]) == ["doc-artifact", "model-artifact"]
    _, models_only = rest.call("GET", "/model_artifacts")
    assert [a["name"] for a in models_only["items"]] == ["m"]
    assert rest.call("GET", "/registered_models/1/versions")[1]["items"][0]["name"] == "v1"


def test_upsert_version_artifact_with_id_updates_it(rest: Rest) -> None:
    rest.call("POST", "/registered_models", {"name": "m"})
    rest.call("POST", "/model_versions", {"name": "v1", "registeredModelId": "1"})
    _, created = rest.call(
        "POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "name": "a", "uri": "u1"}
    )
    status, updated = rest.call(
        "POST", "/model_versions/2/artifacts", {"artifactType": "model-artifact", "id": created["id"], "uri": "u2"}
    )
    assert status == 200
    assert (updated["id"], updated["uri"]) == (created["id"], "u2")


def test_duplicate_names_are_409_within_their_scope(rest: Rest) -> None:
    rest.call("POST", "/registered_models", {"name": "m"})
    assert rest.call("POST", "/registered_models", {"name": "m"})[0] == 409
    rest.call("POST", "/registered_models", {"name": "n"})
    assert rest.call("POST", "/model_versions", {"name": "v", "registeredModelId": "1"})[0] == 201
    assert rest.call("POST", "/model_versions", {"name": "v", "registeredModelId": "1"})[0] == 409
    assert rest.call("POST", "/model_versions", {"name": "v", "registeredModelId": "2"})[0] == 201


def test_serving_resources_are_served_in_both_versions(rest: Rest) -> None:
    """Issue #25 item 12: serving environments, inference services and their serve records (501 before)."""
    assert rest.call("POST", "/registered_models", {"name": "m"})[0] == 201
    assert rest.call("POST", "/model_versions", {"name": "v", "registeredModelId": "1"})[0] == 201
    status, env = rest.call("POST", "/serving_environments", {"name": "env"})
    assert (status, env["id"]) == (201, "3")
    service = {"name": "isvc", "servingEnvironmentId": "3", "registeredModelId": "1"}
    status, isvc = rest.call("POST", "/inference_services", service)
    assert (status, isvc["desiredState"], isvc["customProperties"]) == (201, "DEPLOYED", {})
    assert rest.call("GET", f"/inference_services/{isvc['id']}/model")[1]["name"] == "m"
    assert rest.call("GET", f"/inference_services/{isvc['id']}/version")[1]["name"] == "v"  # the latest
    status, serve = rest.call("POST", f"/inference_services/{isvc['id']}/serves", {"modelVersionId": "2"})
    assert (status, serve["lastKnownState"]) == (201, "UNKNOWN")
    assert rest.call("GET", "/serving_environments/3/inference_services")[1]["size"] == 1
    assert rest.call("GET", "/serving_environments/99/inference_services")[1]["items"] == []


def test_unknown_paths_are_404_text_and_wrong_methods_405_empty_as_gos_mux(rest: Rest, registry: Any) -> None:
    host, port = registry.host_port.rsplit(":", 1)
    for method, path, status, content_type, body in (
        ("GET", "/nothing_here", 404, "text/plain; charset=utf-8", b"404 page not found\n"),
        ("GET", "/registered_models/", 404, "text/plain; charset=utf-8", b"404 page not found\n"),
        ("DELETE", "/registered_models", 405, None, b""),
        ("POST", "/registered_models/1", 405, None, b""),
    ):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request(method, rest.api + path)
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type"), response.read()) == (
            status,
            content_type,
            body,
        ), path
        connection.close()


def test_model_artifacts_endpoint_makes_model_artifacts_whatever_the_type_says(rest: Rest) -> None:
    """Upstream (recorded) makes a model artifact of ``artifactType: doc-artifact`` here, and a PATCH
    there ignores the type: lite does the same (docs/registry-lite.md says why)."""
    status, created = rest.call("POST", "/model_artifacts", {"name": "d", "artifactType": "doc-artifact"})
    assert (status, created["artifactType"], created["state"]) == (201, "model-artifact", "UNKNOWN")
    status, patched = rest.call("PATCH", f"/model_artifacts/{created['id']}", {"artifactType": "doc-artifact"})
    assert (status, patched["artifactType"]) == (200, "model-artifact")
