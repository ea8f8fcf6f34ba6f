"""The model-registry part of the recorded scenario: models, versions, artifacts, list parameters, transport
errors and limits, through a prefix; and the helpers every part uses (see record_upstream_scenario.py)."""

from __future__ import annotations

from typing import Any

V1 = "/api/model_registry/v1"
ALPHA = "/api/model_registry/v1alpha3"
Step = dict[str, Any]

PROPS = {
    "s": {"metadataType": "MetadataStringValue", "string_value": "x"},
    "i": {"metadataType": "MetadataIntValue", "int_value": "3"},
    "d": {"metadataType": "MetadataDoubleValue", "double_value": 0.5},
    "b": {"metadataType": "MetadataBoolValue", "bool_value": True},
}


def s(method: str, path: str, query: str = "", body: Any = None, save: str = "", **extra: Any) -> Step:
    step: Step = {"method": method, "path": path}
    if query:
        step["query"] = query
    if body is not None:
        step["body"] = body
    if save:
        step["save"] = save
    step.update(extra)
    return step


def core(p: str, v: str) -> list[Step]:
    """The model-registry operations through prefix ``p``; ``v`` keeps names apart between the versions."""
    rm, mv, ma = f"rm_{v}", f"mv_{v}", f"ma_{v}"
    return [
        s("GET", f"{p}/registered_models"),
        s("POST", f"{p}/registered_models", body={"name": f"model-{v}"}, save=rm),
        s("POST", f"{p}/registered_models", body={"name": f"model-{v}"}),  # 409
        s(
            "POST",
            f"{p}/registered_models",
            body={
                "name": f"full-{v}",
                "description": "d",
                "owner": "me",
                "externalId": f"ext-{v}",
                "customProperties": PROPS,
                "language": ["en"],
                "tasks": ["t"],
                "provider": "p",
                "logo": "not a uri",
                "license": "mit",
                "licenseLink": "https://example.com/l",
                "readme": "r",
                "maturity": "m",
                "libraryName": "lib",
                "state": "LIVE",
            },
            save=f"full_{v}",
        ),
        s("POST", f"{p}/registered_models", body={"name": f"bad-{v}", "bogusField": 1}),
        s("POST", f"{p}/registered_models", body={"name": 7}),
        s("POST", f"{p}/registered_models", body={"description": "no name"}),
        s("POST", f"{p}/registered_models", body={"name": f"x-{v}", "state": "NOPE"}),
        s("POST", f"{p}/registered_models", raw="{not json"),
        s("POST", f"{p}/registered_models", raw=""),
        s("POST", f"{p}/registered_models", body=[1, 2]),
        s(
            "POST",
            f"{p}/registered_models",
            body={
                "name": f"struct-{v}",
                "customProperties": {"j": {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="}},
            },
            save=f"st_{v}",
        ),
        s(
            "POST",
            f"{p}/registered_models",
            body={"name": f"badprop-{v}", "customProperties": {"k": {"metadataType": "Nope", "x": 1}}},
        ),
        s("GET", f"{p}/registered_models/{{{rm}}}"),
        s("GET", f"{p}/registered_models/{{full_{v}}}"),
        s("GET", f"{p}/registered_models/{{st_{v}}}"),
        s("GET", f"{p}/registered_models/999"),
        s("GET", f"{p}/registered_models/abc"),
        s("GET", f"{p}/registered_models/99999999999"),
        s("GET", f"{p}/registered_models/-1"),
        s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"description": "new", "state": "ARCHIVED"}),
        s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"bogusField": 1}),
        s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"name": "renamed"}),
        s("PATCH", f"{p}/registered_models/999", body={"description": "x"}),
        s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"state": "LIVE", "customProperties": {}}),
        s("GET", f"{p}/registered_model", f"name=model-{v}"),
        s("GET", f"{p}/registered_model", f"externalId=ext-{v}"),
        s("GET", f"{p}/registered_model", "name=nope"),
        s("GET", f"{p}/registered_model"),
        # versions
        s("POST", f"{p}/model_versions", body={"name": "v1", "registeredModelId": f"{{{rm}}}", "author": "a"}, save=mv),
        s("POST", f"{p}/model_versions", body={"name": "v1", "registeredModelId": f"{{{rm}}}"}),  # 409
        s(
            "POST",
            f"{p}/registered_models/{{{rm}}}/versions",
            body={"name": "v2", "registeredModelId": f"{{{rm}}}"},
            save=f"mv2_{v}",
        ),
        s("POST", f"{p}/registered_models/{{{rm}}}/versions", body={"name": "v3"}),
        s("POST", f"{p}/model_versions", body={"name": "v9"}),
        s("POST", f"{p}/model_versions", body={"name": f"orphan-{v}", "registeredModelId": "999"}),
        s("POST", f"{p}/model_versions", body={"name": "v4", "registeredModelId": "abc"}),
        s("GET", f"{p}/model_versions"),
        s("GET", f"{p}/model_versions/{{{mv}}}"),
        s("GET", f"{p}/model_versions/999"),
        s("GET", f"{p}/model_versions/abc"),
        s("PATCH", f"{p}/model_versions/{{{mv}}}", body={"state": "ARCHIVED", "description": "d"}),
        s("PATCH", f"{p}/model_versions/{{{mv}}}", body={"registeredModelId": "1"}),
        s("GET", f"{p}/registered_models/{{{rm}}}/versions"),
        s("GET", f"{p}/registered_models/{{{rm}}}/versions", "orderBy=CREATE_TIME&sortOrder=DESC"),
        s("GET", f"{p}/registered_models/999/versions"),
        s("GET", f"{p}/registered_models/abc/versions"),
        s("GET", f"{p}/model_version", f"name=v1&parentResourceId={{{rm}}}"),
        s("GET", f"{p}/model_version", "name=v1"),
        s("GET", f"{p}/model_version", f"name=nope&parentResourceId={{{rm}}}"),
        # artifacts
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={
                "artifactType": "model-artifact",
                "name": "iris",
                "uri": "s3://b/k",
                "modelFormatName": "onnx",
                "modelFormatVersion": "1",
                "storageKey": "k",
                "storagePath": "p",
                "serviceAccountName": "sa",
            },
            save=ma,
        ),
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "model-artifact", "name": "iris", "uri": "s3://b/k"},
        ),  # 409
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "doc-artifact", "name": "doc", "uri": "u"},
            save=f"doc_{v}",
        ),
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "metric", "name": "acc", "value": 0.9, "step": 7},
            save=f"met_{v}",
        ),
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "metric", "name": "acc2", "value": 0.9, "step": "7"},
        ),
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "parameter", "name": "lr", "value": "0.1", "parameterType": "number"},
        ),
        s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "dataset-artifact", "name": "ds", "uri": "s3://d", "digest": "x"},
        ),
        s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"artifactType": "nope"}),
        s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"id": f"{{{ma}}}", "uri": "s3://b/new"}),
        s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"id": "99999", "uri": "x"}),
        s("POST", f"{p}/model_versions/999/artifacts", body={"name": "x", "uri": "u"}),
        s("GET", f"{p}/model_versions/{{{mv}}}/artifacts"),
        s("GET", f"{p}/model_versions/{{{mv}}}/artifacts", "artifactType=metric"),
        s("GET", f"{p}/model_versions/{{{mv}}}/artifacts", "artifactType=bogus"),
        s("GET", f"{p}/model_versions/999/artifacts"),
        s(
            "POST",
            f"{p}/model_artifacts",
            body={"name": f"standalone-{v}", "uri": "gs://b/o", "customProperties": PROPS},
            save=f"sa_{v}",
        ),
        s(
            "POST",
            f"{p}/model_artifacts",
            body={"name": f"docish-{v}", "artifactType": "doc-artifact"},
            save=f"sadoc_{v}",
        ),
        s("GET", f"{p}/model_artifacts"),
        s("GET", f"{p}/model_artifacts/{{sa_{v}}}"),
        s("GET", f"{p}/model_artifacts/{{doc_{v}}}"),
        s("GET", f"{p}/model_artifacts/abc"),
        s("PATCH", f"{p}/model_artifacts/{{sa_{v}}}", body={"uri": "s3://b/other", "state": "LIVE"}),
        s("PATCH", f"{p}/model_artifacts/{{sa_{v}}}", body={"artifactType": "doc-artifact", "description": "t"}),
        s("GET", f"{p}/model_artifact", f"name=iris&parentResourceId={{{mv}}}"),
        s("GET", f"{p}/model_artifact", "name=iris"),
        s("GET", f"{p}/model_artifact", f"externalId=none-{v}"),
        s("POST", f"{p}/artifacts", body={"artifactType": "doc-artifact", "name": f"d-{v}", "uri": "u"}, save=f"d_{v}"),
        s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m-{v}", "value": 1.5}),
        s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m2-{v}", "value": 1, "step": 7}),
        s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m3-{v}", "value": 1, "step": "7"}),
        s("POST", f"{p}/artifacts", body={"uri": "u"}),
        s("GET", f"{p}/artifacts", "pageSize=2"),
        s("GET", f"{p}/artifacts", "pageSize=2&nextPageToken={token}"),
        s("GET", f"{p}/artifacts", "artifactType=doc-artifact"),
        s("GET", f"{p}/artifacts/{{d_{v}}}"),
        s("GET", f"{p}/artifacts/999999"),
        s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"artifactType": "doc-artifact", "description": "x"}),
        s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"artifactType": "model-artifact"}),
        s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"description": "no type"}),
        s("PATCH", f"{p}/artifacts/{{met_{v}}}", body={"artifactType": "metric", "step": 8}),
        s("PATCH", f"{p}/artifacts/{{met_{v}}}", body={"artifactType": "metric", "step": "9"}),
        s("GET", f"{p}/artifact", f"name=d-{v}"),
        s("GET", f"{p}/artifact", f"name=doc&parentResourceId={{{mv}}}"),
        s("GET", f"{p}/artifact"),
    ]


def lists(p: str) -> list[Step]:
    out = []
    for query in (
        "",
        "pageSize=100000",
        "pageSize=0",
        "pageSize=-1",
        "pageSize=abc",
        "pageSize=1",
        "orderBy=NAME",
        "orderBy=name",
        "orderBy=BOGUS",
        "sortOrder=desc",
        "sortOrder=BOGUS",
        "orderBy=LAST_UPDATE_TIME&sortOrder=DESC",
        "nextPageToken=bogus",
    ):
        out.append(s("GET", f"{p}/registered_models", query))
    out.append(s("GET", f"{p}/registered_models", "pageSize=1"))
    out.append(s("GET", f"{p}/registered_models", "pageSize=1&nextPageToken={token}"))
    out.append(s("GET", f"{p}/registered_models", "pageSize=1&nextPageToken={token}"))
    return out


def transport() -> list[Step]:
    return [
        s("GET", "/api/model_registry/v1/nothing_here"),
        s("GET", "/nothing"),
        s("GET", "/api/model_registry/v2/registered_models"),
        s("DELETE", f"{V1}/registered_models/1"),
        s("PUT", f"{V1}/registered_models", body={"name": "put"}),
        s("POST", f"{V1}/registered_models/1", body={"name": "post"}),
        s("DELETE", f"{ALPHA}/registered_models"),
        s("GET", f"{V1}/registered_models/"),
        s("POST", f"{V1}/registered_models", deep=100_000, note="issue #20: a body nested 100,000 deep"),
        s("POST", f"{V1}/registered_models", deep=5000),
    ]


def edges() -> list[Step]:
    """Names and ids at upstream's limits: 255-character columns, empty and missing artifact names."""
    p = V1
    long = "n" * 256
    return [
        s("POST", f"{p}/registered_models", body={"name": "edge"}, save="em"),
        s("POST", f"{p}/model_versions", body={"name": "ev", "registeredModelId": "{em}"}, save="ev"),
        s("POST", f"{p}/registered_models", body={"name": long}),
        s("POST", f"{p}/registered_models", body={"name": "n" * 255}),
        s("POST", f"{p}/registered_models", body={"name": "x-ext", "externalId": "e" * 256}),
        s("PATCH", f"{p}/model_versions/{{ev}}", body={"externalId": "e" * 256}),
        s("POST", f"{p}/model_versions", body={"name": "n" * 254, "registeredModelId": "{em}"}),
        s("POST", f"{p}/model_versions", body={"name": "é" * 250, "registeredModelId": "{em}"}),
        s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "model-artifact", "name": long}),
        s("POST", f"{p}/model_artifacts", body={"name": "n" * 219}),
        s("POST", f"{p}/model_artifacts", body={"name": "n" * 218}),
        s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "model-artifact", "name": ""}),
        s("POST", f"{p}/artifacts", body={"artifactType": "doc-artifact", "name": ""}),
        s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "doc-artifact", "uri": "u"}),
        s("POST", f"{p}/model_artifacts", body={}),
        s("POST", f"{p}/model_versions", body={"name": "v5", "registeredModelId": ""}),
        s("POST", f"{p}/registered_models", body={"name": ""}),
        s("POST", f"{p}/registered_models", body={"name": "   "}),
        s("POST", f"{p}/registered_models", body={"name": "logo-ok", "logo": "", "licenseLink": "nope"}),
        s("PATCH", f"{p}/model_versions/{{ev}}", body={"id": "{ev}", "description": "same id"}),
        s("PATCH", f"{p}/model_versions/{{ev}}", body={"id": "1", "description": "other id"}),
        s("POST", f"{p}/registered_models", body={"name": "CaseName", "DESCRIPTION": "upper"}),
        s("POST", f"{p}/model_versions", body={"name": "idcase", "registeredModelID": "{em}"}),
        s("POST", f"{p}/registered_models", body={"name": "nul", "description": None}),
        s("POST", f"{p}/registered_models", body={"name": "lang", "language": "en"}),
        s("POST", f"{p}/registered_models", body={"name": "lang2", "language": [1]}),
        s("POST", f"{p}/registered_models", body={"name": "props", "customProperties": []}),
        s(
            "POST",
            f"{p}/registered_models",
            body={"name": "intprop", "customProperties": {"n": {"metadataType": "MetadataIntValue", "int_value": 5}}},
        ),
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "fstep", "value": 1, "step": 1.5},
        ),
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "parameter", "name": "pt", "value": "x", "parameterType": "nope"},
        ),
        s("GET", f"{p}/registered_models", "filterQuery=" + "name%3D%27edge%27&pageSize=1&orderBy=CREATE_TIME"),
        s("PATCH", f"{p}/registered_models/{{em}}", body={"externalId": "e-iris"}),  # another model's
        s("PATCH", f"{p}/model_versions/{{ev}}", body={"externalId": "e-iris"}),  # a model's, not a version's
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "doc-artifact", "name": "dup-ext", "externalId": "x-1"},
            save="dx",
        ),
        s("PATCH", f"{p}/artifacts/{{dx}}", body={"artifactType": "doc-artifact", "externalId": "x-1"}),
        s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": "ext2", "externalId": "x-1"}),
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "big", "value": 1e308, "step": 9007199254740993},
        ),
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "huge", "value": 1, "step": 2**70},
        ),
        s("POST", f"{p}/registered_models", raw='{"name": "inf", "description": 1e999}'),
        s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            raw='{"artifactType": "metric", "name": "inf", "value": 1e999}',
        ),
        s("HEAD", f"{p}/registered_models"),
        s("OPTIONS", f"{p}/registered_models"),
    ]
