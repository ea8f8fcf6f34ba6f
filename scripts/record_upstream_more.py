"""The filter language, serving and experiment parts of the recorded scenario (see record_upstream_scenario.py)."""

from __future__ import annotations

from record_upstream_steps import ALPHA, PROPS, V1, Step, s

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


def filters() -> list[Step]:
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
        steps.append(s("POST", f"{V1}/registered_models", body=body, save=f"f_{name}"))
    steps.append(
        s(
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
    steps.append(s("POST", f"{V1}/model_versions", body={"name": "iv2", "registeredModelId": "{f_iris}"}))
    steps.append(
        s(
            "POST",
            f"{V1}/model_versions/{{f_iv1}}/artifacts",
            body={"artifactType": "model-artifact", "name": "irisart", "uri": "s3://x/iris", "modelFormatName": "onnx"},
        )
    )
    from urllib.parse import quote

    for text in FILTERS:
        steps.append(s("GET", f"{V1}/registered_models", fq + quote(text)))
    for text in ("author = 'ann'", "stage = 'prod'", "name LIKE 'iv%'", "registeredModelId = {f_iris}"):
        steps.append(s("GET", f"{V1}/model_versions", fq + quote(text)))
    steps.append(s("GET", f"{V1}/registered_models/{{f_iris}}/versions", fq + quote("name = 'iv2'")))
    for text in (
        "modelFormatName = 'onnx'",
        "uri LIKE 's3://x/%'",
        "artifactType = 'model-artifact'",
        "name = 'irisart'",
    ):
        steps.append(s("GET", f"{V1}/artifacts", fq + quote(text)))
        steps.append(s("GET", f"{V1}/model_artifacts", fq + quote(text)))
    steps.append(s("GET", f"{ALPHA}/registered_models", fq + quote("name='iris'")))
    return steps


def serving(p: str, v: str) -> list[Step]:
    se, isv = f"se_{v}", f"is_{v}"
    return [
        s("GET", f"{p}/serving_environments"),
        s("POST", f"{p}/serving_environments", body={"name": f"env-{v}", "description": "d"}, save=se),
        s("POST", f"{p}/serving_environments", body={"name": f"env-{v}"}),
        s("POST", f"{p}/serving_environments", body={}),
        s("GET", f"{p}/serving_environments/{{{se}}}"),
        s("GET", f"{p}/serving_environments/999"),
        s("PATCH", f"{p}/serving_environments/{{{se}}}", body={"description": "e", "externalId": f"se-{v}"}),
        s("GET", f"{p}/serving_environment", f"name=env-{v}"),
        s("GET", f"{p}/serving_environment", f"externalId=se-{v}"),
        s("GET", f"{p}/serving_environments", "pageSize=1"),
        s(
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
        s(
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
        s("POST", f"{p}/inference_services", body={"name": f"isvc3-{v}", "servingEnvironmentId": f"{{{se}}}"}),
        s("POST", f"{p}/inference_services", body={"name": f"isvc5-{v}", "registeredModelId": f"{{rm_{v}}}"}),
        s(
            "POST",
            f"{p}/inference_services",
            body={"name": f"isvc4-{v}", "servingEnvironmentId": "999", "registeredModelId": f"{{rm_{v}}}"},
        ),
        s("GET", f"{p}/inference_services"),
        s("GET", f"{p}/inference_services/{{{isv}}}"),
        s("GET", f"{p}/inference_services/999"),
        s("PATCH", f"{p}/inference_services/{{{isv}}}", body={"desiredState": "UNDEPLOYED", "description": "x"}),
        s("GET", f"{p}/inference_service", f"name=isvc-{v}&parentResourceId={{{se}}}"),
        s("GET", f"{p}/inference_service", f"name=isvc-{v}"),
        s("GET", f"{p}/serving_environments/{{{se}}}/inference_services"),
        s("GET", f"{p}/serving_environments/999/inference_services"),
        s("GET", f"{p}/inference_services/{{{isv}}}/model"),
        s("GET", f"{p}/inference_services/{{{isv}}}/version"),
        s("GET", f"{p}/inference_services/{{is2_{v}}}/version"),
        s(
            "POST",
            f"{p}/inference_services/{{{isv}}}/serves",
            body={"name": f"serve-{v}", "modelVersionId": f"{{mv_{v}}}"},
            save=f"sv_{v}",
        ),
        s("POST", f"{p}/inference_services/{{{isv}}}/serves", body={"name": f"serve2-{v}"}),
        s("GET", f"{p}/inference_services/{{{isv}}}/serves"),
        s("GET", f"{p}/inference_services/999/serves"),
    ]


def experiments() -> list[Step]:
    p = ALPHA
    return [
        s("GET", f"{p}/experiments"),
        s("POST", f"{p}/experiments", body={"name": "exp", "owner": "o", "customProperties": PROPS}, save="ex"),
        s("POST", f"{p}/experiments", body={"name": "exp"}),
        s("POST", f"{p}/experiments", body={}),
        s("GET", f"{p}/experiments/{{ex}}"),
        s("GET", f"{p}/experiments/999"),
        s("PATCH", f"{p}/experiments/{{ex}}", body={"description": "d", "state": "ARCHIVED"}),
        s("GET", f"{p}/experiment", "name=exp"),
        s("POST", f"{p}/experiment_runs", body={"name": "run1", "experimentId": "{ex}"}, save="run"),
        s(
            "POST",
            f"{p}/experiments/{{ex}}/experiment_runs",
            body={"name": "run2", "experimentId": "{ex}"},
            save="run2",
        ),
        s("POST", f"{p}/experiment_runs", body={"name": "run3"}),
        s("POST", f"{p}/experiment_runs", body={"name": "run4", "experimentId": "999"}),
        s("GET", f"{p}/experiment_runs"),
        s("GET", f"{p}/experiments/{{ex}}/experiment_runs"),
        s("GET", f"{p}/experiments/999/experiment_runs"),
        s("GET", f"{p}/experiment_runs/{{run}}"),
        s("PATCH", f"{p}/experiment_runs/{{run}}", body={"status": "FINISHED", "endTimeSinceEpoch": "5"}),
        s("GET", f"{p}/experiment_run", "name=run1&parentResourceId={ex}"),
        s("GET", f"{p}/experiment_run", "name=run1"),
        s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "metric", "name": "loss", "value": 0.5, "step": 1},
        ),
        s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "metric", "name": "loss", "value": 0.4, "step": 2},
        ),
        s(
            "POST",
            f"{p}/experiment_runs/{{run}}/artifacts",
            body={"artifactType": "parameter", "name": "lr", "value": "0.1", "parameterType": "number"},
        ),
        s("GET", f"{p}/experiment_runs/{{run}}/artifacts"),
        s("GET", f"{p}/experiment_runs/{{run}}/metric_history"),
        s("GET", f"{p}/experiment_runs/{{run}}/metric_history", "name=loss"),
        s("GET", f"{p}/experiment_runs/metric_history"),
        s("GET", f"{p}/experiment_runs/999/artifacts"),
        s("GET", f"{V1}/experiments"),
        s("GET", f"{V1}/experiment_runs"),
    ]


def more_filters() -> list[Step]:
    """Typed id properties, properties that are not well-known, related-entity names, odd literals."""
    from urllib.parse import quote

    def fq(text: str) -> str:
        return "filterQuery=" + quote(text, safe="{}_")

    mv, rm, art, isv = f"{V1}/model_versions", f"{V1}/registered_models", f"{V1}/artifacts", f"{V1}/inference_services"
    return [
        s("GET", mv, fq("registeredModelId = {f_iris}")),
        s("GET", mv, fq("author = 'ann' AND registeredModelId = {f_iris}")),
        s("GET", mv, fq("registeredModelId = '{f_iris}'")),
        s("GET", mv, fq("artifacts.uri = 's3://x/iris'")),
        s("GET", mv, fq("state = 'LIVE' AND name LIKE 'iv_'")),
        s("GET", rm, fq("readme = 'r'")),
        s("GET", rm, fq("language = 'en'")),
        s("GET", rm, fq("name = 'iris' AND (owner = 'alice' OR owner = 'bob')")),
        s("GET", rm, fq("name NOT LIKE 'x'")),
        s("GET", rm, fq("id = '1'")),
        s("GET", rm, fq("fresh = 'true'")),
        s("GET", rm, fq("petals >= 4.5")),
        s("GET", rm, fq("ratio = 0")),
        s("GET", rm, fq("name in ('iris')")),
        s("GET", rm, fq("name = 'iris' and owner = 'alice'")),
        s("GET", rm, fq("name = 'ir''is'")),
        s("GET", rm, fq("")),
        s("GET", rm, fq("   ")),
        s("GET", rm, fq("name")),
        s("GET", rm, fq("name = 'iris' AND")),
        s("GET", rm, fq("color.string_value LIKE '%e%'")),
        s("GET", rm, fq("petals.double_value > 1")),
        s("GET", rm, fq("name = 'iris'") + "&pageSize=1&orderBy=CREATE_TIME&sortOrder=DESC"),
        s("GET", art, fq("step = 7")),
        s("GET", art, fq("value > 0.95")),
        s("GET", art, fq("state = 'LIVE'")),
        s("GET", art, fq("state = 1")),
        s("GET", art, fq("experimentRunId > 0")),
        s("GET", art, fq("parameterType = 'number'")),
        s("GET", isv, fq("desiredState = 'DEPLOYED'")),
        s("GET", isv, fq("runtime = 'kserve'")),
        s("GET", f"{V1}/serving_environments", fq("name LIKE 'env-%'")),
        s("GET", f"{ALPHA}/experiments", fq("owner = 'o'")),
        s("GET", f"{ALPHA}/experiment_runs", fq("status = 'FINISHED'")),
        s("GET", f"{V1}/model_versions/{{f_iv1}}/artifacts", fq("name = 'irisart'")),
        s("GET", f"{V1}/inference_services/{{is_v1}}/serves", fq("name = 'serve-v1'")),
    ]
