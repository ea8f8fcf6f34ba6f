"""The requests `scripts/record-upstream` sends to the real server (and the replay test to lite).

Every operation of both specs (v1 and v1alpha3), the loose list parameters, the filter language, and the
error cases of issue #25, from an empty registry. ``{name}`` in a path, query or body is the id of an
earlier answer saved as ``name``; ``{token}`` the previous answer's ``nextPageToken``.
"""

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


def _s(method: str, path: str, query: str = "", body: Any = None, save: str = "", **extra: Any) -> Step:
    step: Step = {"method": method, "path": path}
    if query:
        step["query"] = query
    if body is not None:
        step["body"] = body
    if save:
        step["save"] = save
    step.update(extra)
    return step


def _core(p: str, v: str) -> list[Step]:
    """The model-registry operations through prefix ``p``; ``v`` keeps names apart between the versions."""
    rm, mv, ma = f"rm_{v}", f"mv_{v}", f"ma_{v}"
    return [
        _s("GET", f"{p}/registered_models"),
        _s("POST", f"{p}/registered_models", body={"name": f"model-{v}"}, save=rm),
        _s("POST", f"{p}/registered_models", body={"name": f"model-{v}"}),  # 409
        _s(
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
        _s("POST", f"{p}/registered_models", body={"name": f"bad-{v}", "bogusField": 1}),
        _s("POST", f"{p}/registered_models", body={"name": 7}),
        _s("POST", f"{p}/registered_models", body={"description": "no name"}),
        _s("POST", f"{p}/registered_models", body={"name": f"x-{v}", "state": "NOPE"}),
        _s("POST", f"{p}/registered_models", raw="{not json"),
        _s("POST", f"{p}/registered_models", raw=""),
        _s("POST", f"{p}/registered_models", body=[1, 2]),
        _s(
            "POST",
            f"{p}/registered_models",
            body={
                "name": f"struct-{v}",
                "customProperties": {"j": {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="}},
            },
            save=f"st_{v}",
        ),
        _s(
            "POST",
            f"{p}/registered_models",
            body={"name": f"badprop-{v}", "customProperties": {"k": {"metadataType": "Nope", "x": 1}}},
        ),
        _s("GET", f"{p}/registered_models/{{{rm}}}"),
        _s("GET", f"{p}/registered_models/{{full_{v}}}"),
        _s("GET", f"{p}/registered_models/{{st_{v}}}"),
        _s("GET", f"{p}/registered_models/999"),
        _s("GET", f"{p}/registered_models/abc"),
        _s("GET", f"{p}/registered_models/99999999999"),
        _s("GET", f"{p}/registered_models/-1"),
        _s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"description": "new", "state": "ARCHIVED"}),
        _s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"bogusField": 1}),
        _s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"name": "renamed"}),
        _s("PATCH", f"{p}/registered_models/999", body={"description": "x"}),
        _s("PATCH", f"{p}/registered_models/{{{rm}}}", body={"state": "LIVE", "customProperties": {}}),
        _s("GET", f"{p}/registered_model", f"name=model-{v}"),
        _s("GET", f"{p}/registered_model", f"externalId=ext-{v}"),
        _s("GET", f"{p}/registered_model", "name=nope"),
        _s("GET", f"{p}/registered_model"),
        # versions
        _s(
            "POST", f"{p}/model_versions", body={"name": "v1", "registeredModelId": f"{{{rm}}}", "author": "a"}, save=mv
        ),
        _s("POST", f"{p}/model_versions", body={"name": "v1", "registeredModelId": f"{{{rm}}}"}),  # 409
        _s(
            "POST",
            f"{p}/registered_models/{{{rm}}}/versions",
            body={"name": "v2", "registeredModelId": f"{{{rm}}}"},
            save=f"mv2_{v}",
        ),
        _s("POST", f"{p}/registered_models/{{{rm}}}/versions", body={"name": "v3"}),
        _s("POST", f"{p}/model_versions", body={"name": "v9"}),
        _s("POST", f"{p}/model_versions", body={"name": f"orphan-{v}", "registeredModelId": "999"}),
        _s("POST", f"{p}/model_versions", body={"name": "v4", "registeredModelId": "abc"}),
        _s("GET", f"{p}/model_versions"),
        _s("GET", f"{p}/model_versions/{{{mv}}}"),
        _s("GET", f"{p}/model_versions/999"),
        _s("GET", f"{p}/model_versions/abc"),
        _s("PATCH", f"{p}/model_versions/{{{mv}}}", body={"state": "ARCHIVED", "description": "d"}),
        _s("PATCH", f"{p}/model_versions/{{{mv}}}", body={"registeredModelId": "1"}),
        _s("GET", f"{p}/registered_models/{{{rm}}}/versions"),
        _s("GET", f"{p}/registered_models/{{{rm}}}/versions", "orderBy=CREATE_TIME&sortOrder=DESC"),
        _s("GET", f"{p}/registered_models/999/versions"),
        _s("GET", f"{p}/registered_models/abc/versions"),
        _s("GET", f"{p}/model_version", f"name=v1&parentResourceId={{{rm}}}"),
        _s("GET", f"{p}/model_version", "name=v1"),
        _s("GET", f"{p}/model_version", f"name=nope&parentResourceId={{{rm}}}"),
        # artifacts
        _s(
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
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "model-artifact", "name": "iris", "uri": "s3://b/k"},
        ),  # 409
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "doc-artifact", "name": "doc", "uri": "u"},
            save=f"doc_{v}",
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "metric", "name": "acc", "value": 0.9, "step": 7},
            save=f"met_{v}",
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "metric", "name": "acc2", "value": 0.9, "step": "7"},
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "parameter", "name": "lr", "value": "0.1", "parameterType": "number"},
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{{mv}}}/artifacts",
            body={"artifactType": "dataset-artifact", "name": "ds", "uri": "s3://d", "digest": "x"},
        ),
        _s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"artifactType": "nope"}),
        _s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"id": f"{{{ma}}}", "uri": "s3://b/new"}),
        _s("POST", f"{p}/model_versions/{{{mv}}}/artifacts", body={"id": "99999", "uri": "x"}),
        _s("POST", f"{p}/model_versions/999/artifacts", body={"name": "x", "uri": "u"}),
        _s("GET", f"{p}/model_versions/{{{mv}}}/artifacts"),
        _s("GET", f"{p}/model_versions/{{{mv}}}/artifacts", "artifactType=metric"),
        _s("GET", f"{p}/model_versions/{{{mv}}}/artifacts", "artifactType=bogus"),
        _s("GET", f"{p}/model_versions/999/artifacts"),
        _s(
            "POST",
            f"{p}/model_artifacts",
            body={"name": f"standalone-{v}", "uri": "gs://b/o", "customProperties": PROPS},
            save=f"sa_{v}",
        ),
        _s(
            "POST",
            f"{p}/model_artifacts",
            body={"name": f"docish-{v}", "artifactType": "doc-artifact"},
            save=f"sadoc_{v}",
        ),
        _s("GET", f"{p}/model_artifacts"),
        _s("GET", f"{p}/model_artifacts/{{sa_{v}}}"),
        _s("GET", f"{p}/model_artifacts/{{doc_{v}}}"),
        _s("GET", f"{p}/model_artifacts/abc"),
        _s("PATCH", f"{p}/model_artifacts/{{sa_{v}}}", body={"uri": "s3://b/other", "state": "LIVE"}),
        _s("PATCH", f"{p}/model_artifacts/{{sa_{v}}}", body={"artifactType": "doc-artifact", "description": "t"}),
        _s("GET", f"{p}/model_artifact", f"name=iris&parentResourceId={{{mv}}}"),
        _s("GET", f"{p}/model_artifact", "name=iris"),
        _s("GET", f"{p}/model_artifact", f"externalId=none-{v}"),
        _s(
            "POST", f"{p}/artifacts", body={"artifactType": "doc-artifact", "name": f"d-{v}", "uri": "u"}, save=f"d_{v}"
        ),
        _s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m-{v}", "value": 1.5}),
        _s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m2-{v}", "value": 1, "step": 7}),
        _s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": f"m3-{v}", "value": 1, "step": "7"}),
        _s("POST", f"{p}/artifacts", body={"uri": "u"}),
        _s("GET", f"{p}/artifacts", "pageSize=2"),
        _s("GET", f"{p}/artifacts", "pageSize=2&nextPageToken={token}"),
        _s("GET", f"{p}/artifacts", "artifactType=doc-artifact"),
        _s("GET", f"{p}/artifacts/{{d_{v}}}"),
        _s("GET", f"{p}/artifacts/999999"),
        _s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"artifactType": "doc-artifact", "description": "x"}),
        _s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"artifactType": "model-artifact"}),
        _s("PATCH", f"{p}/artifacts/{{d_{v}}}", body={"description": "no type"}),
        _s("PATCH", f"{p}/artifacts/{{met_{v}}}", body={"artifactType": "metric", "step": 8}),
        _s("PATCH", f"{p}/artifacts/{{met_{v}}}", body={"artifactType": "metric", "step": "9"}),
        _s("GET", f"{p}/artifact", f"name=d-{v}"),
        _s("GET", f"{p}/artifact", f"name=doc&parentResourceId={{{mv}}}"),
        _s("GET", f"{p}/artifact"),
    ]


def _lists(p: str) -> list[Step]:
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
        out.append(_s("GET", f"{p}/registered_models", query))
    out.append(_s("GET", f"{p}/registered_models", "pageSize=1"))
    out.append(_s("GET", f"{p}/registered_models", "pageSize=1&nextPageToken={token}"))
    out.append(_s("GET", f"{p}/registered_models", "pageSize=1&nextPageToken={token}"))
    return out


FILTERS = (
    "name='iris'",
    "name = 'iris'",
    "name != 'iris'",
    "name <> 'iris'",
    "name LIKE 'ir%'",
    "name ILIKE 'IR%'",
    "name IN ('iris', 'rose')",
    "name='iris' OR name='rose'",
    "(name='iris' OR name='rose') AND state='LIVE'",
    "state = 'ARCHIVED'",
    "id > 0",
    "id >= 1 AND id < 100000",
    "owner = 'alice'",
    "description = 'flowers'",
    "`name` = 'iris'",
    "name='iris' -- a comment",
    "color = 'red'",
    "color.string_value = 'red'",
    "petals.int_value > 4",
    "petals > 4",
    "ratio.double_value < 0.5",
    "ratio < 0.5",
    "fresh.bool_value = true",
    "fresh = true",
    "externalId = 'e-iris'",
    "createTimeSinceEpoch > 0",
    "name = ",
    "name == 'iris'",
    "bogus ~ 1",
    "name = 'unterminated",
    "(name = 'iris'",
    "name IN ()",
    "name LIKE 5",
    "NAME = 'iris'",
    'name = "iris"',
    "petals.int_value = 'x'",
)


def _filters() -> list[Step]:
    fq = "filterQuery="
    colors = {"iris": "red", "rose": "red", "tulip": "blue", "lily": "white", "daisy": "white"}
    steps: list[Step] = []
    for n, (name, color) in enumerate(colors.items()):
        props = {
            "color": {"metadataType": "MetadataStringValue", "string_value": color},
            "petals": {"metadataType": "MetadataIntValue", "int_value": str(3 + n)},
            "ratio": {"metadataType": "MetadataDoubleValue", "double_value": n / 4},
            "fresh": {"metadataType": "MetadataBoolValue", "bool_value": n % 2 == 0},
        }
        body = {
            "name": name,
            "owner": "alice" if n < 2 else "bob",
            "description": "flowers",
            "externalId": f"e-{name}",
            "customProperties": props,
        }
        if name == "tulip":
            body["state"] = "ARCHIVED"
        steps.append(_s("POST", f"{V1}/registered_models", body=body, save=f"f_{name}"))
    steps.append(
        _s(
            "POST",
            f"{V1}/model_versions",
            body={
                "name": "iv1",
                "registeredModelId": "{f_iris}",
                "author": "ann",
                "customProperties": {"stage": {"metadataType": "MetadataStringValue", "string_value": "prod"}},
            },
            save="f_iv1",
        )
    )
    steps.append(_s("POST", f"{V1}/model_versions", body={"name": "iv2", "registeredModelId": "{f_iris}"}))
    steps.append(
        _s(
            "POST",
            f"{V1}/model_versions/{{f_iv1}}/artifacts",
            body={"artifactType": "model-artifact", "name": "irisart", "uri": "s3://x/iris", "modelFormatName": "onnx"},
        )
    )
    from urllib.parse import quote

    for text in FILTERS:
        steps.append(_s("GET", f"{V1}/registered_models", fq + quote(text)))
    for text in ("author = 'ann'", "stage = 'prod'", "name LIKE 'iv%'", "registeredModelId = {f_iris}"):
        steps.append(_s("GET", f"{V1}/model_versions", fq + quote(text)))
    steps.append(_s("GET", f"{V1}/registered_models/{{f_iris}}/versions", fq + quote("name = 'iv2'")))
    for text in (
        "modelFormatName = 'onnx'",
        "uri LIKE 's3://x/%'",
        "artifactType = 'model-artifact'",
        "name = 'irisart'",
    ):
        steps.append(_s("GET", f"{V1}/artifacts", fq + quote(text)))
        steps.append(_s("GET", f"{V1}/model_artifacts", fq + quote(text)))
    steps.append(_s("GET", f"{ALPHA}/registered_models", fq + quote("name='iris'")))
    return steps


def _serving(p: str, v: str) -> list[Step]:
    se, isv = f"se_{v}", f"is_{v}"
    return [
        _s("GET", f"{p}/serving_environments"),
        _s("POST", f"{p}/serving_environments", body={"name": f"env-{v}", "description": "d"}, save=se),
        _s("POST", f"{p}/serving_environments", body={"name": f"env-{v}"}),
        _s("POST", f"{p}/serving_environments", body={}),
        _s("GET", f"{p}/serving_environments/{{{se}}}"),
        _s("GET", f"{p}/serving_environments/999"),
        _s("PATCH", f"{p}/serving_environments/{{{se}}}", body={"description": "e", "externalId": f"se-{v}"}),
        _s("GET", f"{p}/serving_environment", f"name=env-{v}"),
        _s("GET", f"{p}/serving_environment", f"externalId=se-{v}"),
        _s("GET", f"{p}/serving_environments", "pageSize=1"),
        _s(
            "POST",
            f"{p}/inference_services",
            body={
                "name": f"isvc-{v}",
                "servingEnvironmentId": f"{{{se}}}",
                "registeredModelId": f"{{rm_{v}}}",
                "runtime": "kserve",
                "desiredState": "DEPLOYED",
            },
            save=isv,
        ),
        _s(
            "POST",
            f"{p}/serving_environments/{{{se}}}/inference_services",
            body={
                "name": f"isvc2-{v}",
                "servingEnvironmentId": f"{{{se}}}",
                "registeredModelId": f"{{rm_{v}}}",
                "modelVersionId": f"{{mv_{v}}}",
            },
            save=f"is2_{v}",
        ),
        # one required field missing at a time: with both missing upstream names one at random (a Go map)
        _s("POST", f"{p}/inference_services", body={"name": f"isvc3-{v}", "servingEnvironmentId": f"{{{se}}}"}),
        _s("POST", f"{p}/inference_services", body={"name": f"isvc5-{v}", "registeredModelId": f"{{rm_{v}}}"}),
        _s(
            "POST",
            f"{p}/inference_services",
            body={"name": f"isvc4-{v}", "servingEnvironmentId": "999", "registeredModelId": f"{{rm_{v}}}"},
        ),
        _s("GET", f"{p}/inference_services"),
        _s("GET", f"{p}/inference_services/{{{isv}}}"),
        _s("GET", f"{p}/inference_services/999"),
        _s("PATCH", f"{p}/inference_services/{{{isv}}}", body={"desiredState": "UNDEPLOYED", "description": "x"}),
        _s("GET", f"{p}/inference_service", f"name=isvc-{v}&parentResourceId={{{se}}}"),
        _s("GET", f"{p}/inference_service", f"name=isvc-{v}"),
        _s("GET", f"{p}/serving_environments/{{{se}}}/inference_services"),
        _s("GET", f"{p}/serving_environments/999/inference_services"),
        _s("GET", f"{p}/inference_services/{{{isv}}}/model"),
        _s("GET", f"{p}/inference_services/{{{isv}}}/version"),
        _s("GET", f"{p}/inference_services/{{is2_{v}}}/version"),
        _s(
            "POST",
            f"{p}/inference_services/{{{isv}}}/serves",
            body={"name": f"serve-{v}", "modelVersionId": f"{{mv_{v}}}"},
            save=f"sv_{v}",
        ),
        _s("POST", f"{p}/inference_services/{{{isv}}}/serves", body={"name": f"serve2-{v}"}),
        _s("GET", f"{p}/inference_services/{{{isv}}}/serves"),
        _s("GET", f"{p}/inference_services/999/serves"),
    ]


def _experiments() -> list[Step]:
    p = ALPHA
    return [
        _s("GET", f"{p}/experiments"),
        _s("POST", f"{p}/experiments", body={"name": "exp", "owner": "o", "customProperties": PROPS}, save="ex"),
        _s("POST", f"{p}/experiments", body={"name": "exp"}),
        _s("POST", f"{p}/experiments", body={}),
        _s("GET", f"{p}/experiments/{{ex}}"),
        _s("GET", f"{p}/experiments/999"),
        _s("PATCH", f"{p}/experiments/{{ex}}", body={"description": "d", "state": "ARCHIVED"}),
        _s("GET", f"{p}/experiment", "name=exp"),
        _s("POST", f"{p}/experiment_runs", body={"name": "run1", "experimentId": "{ex}"}, save="run"),
        _s(
            "POST",
            f"{p}/experiments/{{ex}}/experiment_runs",
            body={"name": "run2", "experimentId": "{ex}"},
            save="run2",
        ),
        _s("POST", f"{p}/experiment_runs", body={"name": "run3"}),
        _s("POST", f"{p}/experiment_runs", body={"name": "run4", "experimentId": "999"}),
        _s("GET", f"{p}/experiment_runs"),
        _s("GET", f"{p}/experiments/{{ex}}/experiment_runs"),
        _s("GET", f"{p}/experiments/999/experiment_runs"),
        _s("GET", f"{p}/experiment_runs/{{run}}"),
        _s("PATCH", f"{p}/experiment_runs/{{run}}", body={"status": "FINISHED", "endTimeSinceEpoch": "5"}),
        _s("GET", f"{p}/experiment_run", "name=run1&parentResourceId={ex}"),
        _s("GET", f"{p}/experiment_run", "name=run1"),
        _s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "metric", "name": "loss", "value": 0.5, "step": 1},
        ),
        _s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "metric", "name": "loss", "value": 0.4, "step": 2},
        ),
        _s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "parameter", "name": "lr", "value": "0.1", "parameterType": "number"},
        ),
        _s("GET", f"{p}/experiment_runs/{{run}}/artifacts"),
        _s("GET", f"{p}/experiment_runs/{{run}}/metric_history"),
        _s("GET", f"{p}/experiment_runs/{{run}}/metric_history", "name=loss"),
        _s("GET", f"{p}/experiment_runs/metric_history"),
        _s("GET", f"{p}/experiment_runs/999/artifacts"),
        _s("GET", f"{V1}/experiments"),
        _s("GET", f"{V1}/experiment_runs"),
    ]


def _transport() -> list[Step]:
    return [
        _s("GET", "/api/model_registry/v1/nothing_here"),
        _s("GET", "/nothing"),
        _s("GET", "/api/model_registry/v2/registered_models"),
        _s("DELETE", f"{V1}/registered_models/1"),
        _s("PUT", f"{V1}/registered_models", body={"name": "put"}),
        _s("POST", f"{V1}/registered_models/1", body={"name": "post"}),
        _s("DELETE", f"{ALPHA}/registered_models"),
        _s("GET", f"{V1}/registered_models/"),
        _s("POST", f"{V1}/registered_models", deep=100_000, note="issue #20: a body nested 100,000 deep"),
        _s("POST", f"{V1}/registered_models", deep=5000),
    ]


def _edges() -> list[Step]:
    """Names and ids at upstream's limits: 255-character columns, empty and missing artifact names."""
    p = V1
    long = "n" * 256
    return [
        _s("POST", f"{p}/registered_models", body={"name": "edge"}, save="em"),
        _s("POST", f"{p}/model_versions", body={"name": "ev", "registeredModelId": "{em}"}, save="ev"),
        _s("POST", f"{p}/registered_models", body={"name": long}),
        _s("POST", f"{p}/registered_models", body={"name": "n" * 255}),
        _s("POST", f"{p}/registered_models", body={"name": "x-ext", "externalId": "e" * 256}),
        _s("PATCH", f"{p}/model_versions/{{ev}}", body={"externalId": "e" * 256}),
        _s("POST", f"{p}/model_versions", body={"name": "n" * 254, "registeredModelId": "{em}"}),
        _s("POST", f"{p}/model_versions", body={"name": "é" * 250, "registeredModelId": "{em}"}),
        _s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "model-artifact", "name": long}),
        _s("POST", f"{p}/model_artifacts", body={"name": "n" * 219}),
        _s("POST", f"{p}/model_artifacts", body={"name": "n" * 218}),
        _s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "model-artifact", "name": ""}),
        _s("POST", f"{p}/artifacts", body={"artifactType": "doc-artifact", "name": ""}),
        _s("POST", f"{p}/model_versions/{{ev}}/artifacts", body={"artifactType": "doc-artifact", "uri": "u"}),
        _s("POST", f"{p}/model_artifacts", body={}),
        _s("POST", f"{p}/model_versions", body={"name": "v5", "registeredModelId": ""}),
        _s("POST", f"{p}/registered_models", body={"name": ""}),
        _s("POST", f"{p}/registered_models", body={"name": "   "}),
        _s("POST", f"{p}/registered_models", body={"name": "logo-ok", "logo": "", "licenseLink": "nope"}),
        _s("PATCH", f"{p}/model_versions/{{ev}}", body={"id": "{ev}", "description": "same id"}),
        _s("PATCH", f"{p}/model_versions/{{ev}}", body={"id": "1", "description": "other id"}),
        _s("POST", f"{p}/registered_models", body={"name": "CaseName", "DESCRIPTION": "upper"}),
        _s("POST", f"{p}/model_versions", body={"name": "idcase", "registeredModelID": "{em}"}),
        _s("POST", f"{p}/registered_models", body={"name": "nul", "description": None}),
        _s("POST", f"{p}/registered_models", body={"name": "lang", "language": "en"}),
        _s("POST", f"{p}/registered_models", body={"name": "lang2", "language": [1]}),
        _s("POST", f"{p}/registered_models", body={"name": "props", "customProperties": []}),
        _s(
            "POST",
            f"{p}/registered_models",
            body={"name": "intprop", "customProperties": {"n": {"metadataType": "MetadataIntValue", "int_value": 5}}},
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "fstep", "value": 1, "step": 1.5},
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "parameter", "name": "pt", "value": "x", "parameterType": "nope"},
        ),
        _s("GET", f"{p}/registered_models", "filterQuery=" + "name%3D%27edge%27&pageSize=1&orderBy=CREATE_TIME"),
        _s("PATCH", f"{p}/registered_models/{{em}}", body={"externalId": "e-iris"}),  # another model's
        _s("PATCH", f"{p}/model_versions/{{ev}}", body={"externalId": "e-iris"}),  # a model's, not a version's
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "doc-artifact", "name": "dup-ext", "externalId": "x-1"},
            save="dx",
        ),
        _s("PATCH", f"{p}/artifacts/{{dx}}", body={"artifactType": "doc-artifact", "externalId": "x-1"}),
        _s("POST", f"{p}/artifacts", body={"artifactType": "metric", "name": "ext2", "externalId": "x-1"}),
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "big", "value": 1e308, "step": 9007199254740993},
        ),
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            body={"artifactType": "metric", "name": "huge", "value": 1, "step": 2**70},
        ),
        _s("POST", f"{p}/registered_models", raw='{"name": "inf", "description": 1e999}'),
        _s(
            "POST",
            f"{p}/model_versions/{{ev}}/artifacts",
            raw='{"artifactType": "metric", "name": "inf", "value": 1e999}',
        ),
        _s("HEAD", f"{p}/registered_models"),
        _s("OPTIONS", f"{p}/registered_models"),
    ]


def _more_filters() -> list[Step]:
    """Typed id properties, properties that are not well-known, related-entity names, odd literals."""
    from urllib.parse import quote

    def fq(text: str) -> str:
        return "filterQuery=" + quote(text, safe="{}_")

    mv, rm, art, isv = f"{V1}/model_versions", f"{V1}/registered_models", f"{V1}/artifacts", f"{V1}/inference_services"
    return [
        _s("GET", mv, fq("registeredModelId = {f_iris}")),
        _s("GET", mv, fq("author = 'ann' AND registeredModelId = {f_iris}")),
        _s("GET", mv, fq("registeredModelId = '{f_iris}'")),
        _s("GET", mv, fq("artifacts.uri = 's3://x/iris'")),
        _s("GET", mv, fq("state = 'LIVE' AND name LIKE 'iv_'")),
        _s("GET", rm, fq("readme = 'r'")),
        _s("GET", rm, fq("language = 'en'")),
        _s("GET", rm, fq("name = 'iris' AND (owner = 'alice' OR owner = 'bob')")),
        _s("GET", rm, fq("name NOT LIKE 'x'")),
        _s("GET", rm, fq("id = '1'")),
        _s("GET", rm, fq("fresh = 'true'")),
        _s("GET", rm, fq("petals >= 4.5")),
        _s("GET", rm, fq("ratio = 0")),
        _s("GET", rm, fq("name in ('iris')")),
        _s("GET", rm, fq("name = 'iris' and owner = 'alice'")),
        _s("GET", rm, fq("name = 'ir''is'")),
        _s("GET", rm, fq("")),
        _s("GET", rm, fq("   ")),
        _s("GET", rm, fq("name")),
        _s("GET", rm, fq("name = 'iris' AND")),
        _s("GET", rm, fq("color.string_value LIKE '%e%'")),
        _s("GET", rm, fq("petals.double_value > 1")),
        _s("GET", rm, fq("name = 'iris'") + "&pageSize=1&orderBy=CREATE_TIME&sortOrder=DESC"),
        _s("GET", art, fq("step = 7")),
        _s("GET", art, fq("value > 0.95")),
        _s("GET", art, fq("state = 'LIVE'")),
        _s("GET", art, fq("state = 1")),
        _s("GET", art, fq("experimentRunId > 0")),
        _s("GET", art, fq("parameterType = 'number'")),
        _s("GET", isv, fq("desiredState = 'DEPLOYED'")),
        _s("GET", isv, fq("runtime = 'kserve'")),
        _s("GET", f"{V1}/serving_environments", fq("name LIKE 'env-%'")),
        _s("GET", f"{ALPHA}/experiments", fq("owner = 'o'")),
        _s("GET", f"{ALPHA}/experiment_runs", fq("status = 'FINISHED'")),
        _s("GET", f"{V1}/model_versions/{{f_iv1}}/artifacts", fq("name = 'irisart'")),
        _s("GET", f"{V1}/inference_services/{{is_v1}}/serves", fq("name = 'serve-v1'")),
    ]


def steps() -> list[Step]:
    return [
        *_core(V1, "v1"),
        *_core(ALPHA, "a3"),
        *_lists(V1),
        *_lists(ALPHA),
        *_filters(),
        *_serving(V1, "v1"),
        *_serving(ALPHA, "a3"),
        *_experiments(),
        *_transport(),
        *_edges(),
        *_more_filters(),
    ]
