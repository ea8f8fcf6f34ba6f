"""The registry's entity kinds as upstream stores and names them: id spaces, owners, words, Go type names.

Upstream (kubeflow/model-registry, ``internal/core``, ``internal/converter``) keeps registered models,
model versions, serving environments, inference services, experiments and experiment runs as MLMD
*contexts* (one id sequence), artifacts as *artifacts*, and serve-model records as *executions*. Its
messages name each kind in words (``no registered model found for id 9``) and its JSON decoding errors
name the Go structs (``RegisteredModelCreate.name``); both are copied here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ARTIFACT_TYPES = ("model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter")
# Go struct base names of the artifact types (``ModelArtifactCreate``, ``DataSetUpdate``, …)
ARTIFACT_GO = {
    "model-artifact": "ModelArtifact",
    "doc-artifact": "DocArtifact",
    "dataset-artifact": "DataSet",
    "metric": "Metric",
    "parameter": "Parameter",
}
ARTIFACT_WORDS = {
    "model-artifact": "model artifact",
    "doc-artifact": "doc artifact",
    "dataset-artifact": "dataset",
    "metric": "metric",
    "parameter": "parameter",
}


@dataclass(frozen=True)
class Kind:
    name: str  # store kind
    space: str  # id sequence: context, artifact or execution
    words: str  # "registered model"
    go: str  # Go struct base name: RegisteredModel
    states: str | None = None  # Go enum type of ``state`` when it has one
    parent: str | None = None  # store kind of the owner
    parent_field: str | None = None  # JSON field naming the owner
    required: tuple[str, ...] = ("name",)  # create: missing or empty is 422
    defaults: Mapping[str, str] = field(default_factory=dict)
    not_found: str = ""  # words in "no X found for id N"
    id_words: str = ""  # words in "invalid X ID"


_STR = "str"
_ENTITY = {"customProperties": "props", "description": _STR, "externalId": _STR}
FIELDS: Mapping[str, Mapping[str, str]] = {
    "registered_model": {
        **_ENTITY,
        "readme": _STR,
        "maturity": _STR,
        "language": "strlist",
        "tasks": "strlist",
        "provider": _STR,
        "logo": _STR,
        "license": _STR,
        "licenseLink": _STR,
        "libraryName": _STR,
        "owner": _STR,
        "state": "enum:LIVE,ARCHIVED",
    },
    "model_version": {**_ENTITY, "state": "enum:LIVE,ARCHIVED", "author": _STR},
    "serving_environment": dict(_ENTITY),
    "inference_service": {
        **_ENTITY,
        "modelVersionId": _STR,
        "runtime": _STR,
        "desiredState": "enum:DEPLOYED,UNDEPLOYED",
    },
    "serve_model": {**_ENTITY, "lastKnownState": "enum:UNKNOWN,NEW,RUNNING,COMPLETE,FAILED,CACHED,CANCELED"},
    "experiment": {**_ENTITY, "owner": _STR, "state": "enum:LIVE,ARCHIVED"},
    "experiment_run": {
        **_ENTITY,
        "endTimeSinceEpoch": _STR,
        "status": "enum:RUNNING,SCHEDULED,FINISHED,FAILED,KILLED",
        "state": "enum:LIVE,ARCHIVED",
        "owner": _STR,
    },
}
CREATE_ONLY: Mapping[str, Mapping[str, str]] = {
    "model_version": {"registeredModelId": _STR},
    "inference_service": {"registeredModelId": _STR, "servingEnvironmentId": _STR},
    "serve_model": {"modelVersionId": _STR},
    "experiment_run": {"experimentId": _STR, "startTimeSinceEpoch": _STR},
}
_ART = {
    **_ENTITY,
    "artifactType": _STR,
    "state": "enum:UNKNOWN,PENDING,LIVE,MARKED_FOR_DELETION,DELETED,ABANDONED,REFERENCE",
}
ARTIFACT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "model-artifact": {
        **_ART,
        "uri": _STR,
        "modelFormatName": _STR,
        "modelFormatVersion": _STR,
        "storageKey": _STR,
        "storagePath": _STR,
        "serviceAccountName": _STR,
        "modelSourceKind": _STR,
        "modelSourceClass": _STR,
        "modelSourceGroup": _STR,
        "modelSourceId": _STR,
        "modelSourceName": _STR,
    },
    "doc-artifact": {**_ART, "uri": _STR},
    "dataset-artifact": {
        **_ART,
        "uri": _STR,
        "digest": _STR,
        "sourceType": _STR,
        "source": _STR,
        "schema": _STR,
        "profile": _STR,
    },
    "metric": {**_ART, "value": "float64", "timestamp": _STR, "step": "int64"},
    "parameter": {**_ART, "value": _STR, "parameterType": "enum:string,number,boolean,object"},
}

KINDS: Mapping[str, Kind] = {
    "registered_model": Kind(
        "registered_model",
        "context",
        "registered model",
        "RegisteredModel",
        "RegisteredModelState",
        defaults={"state": "LIVE"},
    ),
    "model_version": Kind(
        "model_version",
        "context",
        "model version",
        "ModelVersion",
        "ModelVersionState",
        parent="registered_model",
        parent_field="registeredModelId",
        required=("name", "registeredModelId"),
        defaults={"state": "LIVE"},
    ),
    "serving_environment": Kind("serving_environment", "context", "serving environment", "ServingEnvironment"),
    "inference_service": Kind(
        "inference_service",
        "context",
        "inference service",
        "InferenceService",
        None,
        parent="serving_environment",
        parent_field="servingEnvironmentId",
        required=("registeredModelId", "servingEnvironmentId"),
        defaults={"desiredState": "DEPLOYED"},
        not_found="InferenceService",
    ),
    "serve_model": Kind(
        "serve_model",
        "execution",
        "serve model",
        "ServeModel",
        None,
        parent="inference_service",
        required=("modelVersionId",),
        defaults={"lastKnownState": "UNKNOWN"},
        not_found="ServeModel",
    ),
    "experiment": Kind(
        "experiment", "context", "experiment", "Experiment", "ExperimentState", defaults={"state": "LIVE"}
    ),
    "experiment_run": Kind(
        "experiment_run",
        "context",
        "experiment run",
        "ExperimentRun",
        "ExperimentRunState",
        parent="experiment",
        parent_field="experimentId",
        required=("experimentId",),
        defaults={"state": "LIVE", "status": "RUNNING"},
    ),
    "artifact": Kind("artifact", "artifact", "artifact", "Artifact", required=()),
}


def not_found_words(kind: Kind) -> str:
    return kind.not_found or kind.words


def id_words(kind: Kind) -> str:
    return kind.id_words or kind.words
