"""What each resource accepts and how it is checked: the fields of the v1alpha3 spec, by kind.

A body is validated against the kind's create or update fields: unknown fields, wrong types, bad enum
values and malformed ``customProperties`` are :class:`BadRequest` (HTTP 400), and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENTITY_STATES = ("LIVE", "ARCHIVED")
ARTIFACT_STATES = ("UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED", "ABANDONED", "REFERENCE")
ARTIFACT_TYPES = ("model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter")
PARAMETER_TYPES = ("string", "number", "boolean", "object")
METADATA_VALUE_FIELDS: Mapping[str, Mapping[str, str]] = {
    "MetadataStringValue": {"string_value": "str"},
    "MetadataIntValue": {"int_value": "intstr"},
    "MetadataDoubleValue": {"double_value": "number"},
    "MetadataBoolValue": {"bool_value": "bool"},
    "MetadataStructValue": {"struct_value": "str"},
    "MetadataProtoValue": {"type": "str", "proto_value": "str"},
}

_COMMON = {"customProperties": "props", "description": "str", "externalId": "str"}
_RM = {
    **_COMMON,
    "readme": "str",
    "maturity": "str",
    "language": "strlist",
    "tasks": "strlist",
    "provider": "str",
    "logo": "str",
    "license": "str",
    "licenseLink": "str",
    "libraryName": "str",
    "owner": "str",
    "state": "entity_state",
}
_MV = {**_COMMON, "state": "entity_state", "author": "str"}
_ART = {**_COMMON, "artifactType": "str", "state": "artifact_state"}
_ARTIFACT_FIELDS: Mapping[str, Mapping[str, str]] = {
    "model-artifact": {
        **_ART,
        "uri": "str",
        "modelFormatName": "str",
        "modelFormatVersion": "str",
        "storageKey": "str",
        "storagePath": "str",
        "serviceAccountName": "str",
        "modelSourceKind": "str",
        "modelSourceClass": "str",
        "modelSourceGroup": "str",
        "modelSourceId": "str",
        "modelSourceName": "str",
    },
    "doc-artifact": {**_ART, "uri": "str"},
    "dataset-artifact": {
        **_ART,
        "uri": "str",
        "digest": "str",
        "sourceType": "str",
        "source": "str",
        "schema": "str",
        "profile": "str",
    },
    "metric": {**_ART, "value": "number", "timestamp": "intstr", "step": "int"},
    "parameter": {**_ART, "value": "str", "parameterType": "parameter_type"},
}


class BadRequest(Exception):
    """The request is malformed (HTTP 400)."""


def fields_for(kind: str, artifact_type: str | None, *, create: bool) -> dict[str, str]:
    if kind == "registered_model":
        fields = dict(_RM)
    elif kind == "model_version":
        fields = dict(_MV)
        if create:
            fields["registeredModelId"] = "id"
    else:
        fields = dict(_ARTIFACT_FIELDS[artifact_type or "model-artifact"])
    if create:
        fields["name"] = "str"
    return fields


def _check(field: str, kind: str, value: Any) -> None:
    ok: bool
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "id":
        ok = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 and int(value) > 0
    elif kind == "intstr":
        ok = isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit() and len(value) < 20
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "strlist":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "entity_state":
        ok = value in ENTITY_STATES
    elif kind == "artifact_state":
        ok = value in ARTIFACT_STATES
    elif kind == "parameter_type":
        ok = value in PARAMETER_TYPES
    elif kind == "props":
        _check_props(value)
        return
    else:  # pragma: no cover - a typo in the tables above
        raise AssertionError(kind)
    if not ok:
        raise BadRequest(f"invalid value for field {field!r}")


def _check_props(value: Any) -> None:
    if not isinstance(value, dict):
        raise BadRequest("customProperties must be an object")
    for key, item in value.items():
        kind = item.get("metadataType") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in METADATA_VALUE_FIELDS:
            raise BadRequest(f"customProperties[{key!r}] needs a known metadataType")
        expected = METADATA_VALUE_FIELDS[kind]
        extra = set(item) - set(expected) - {"metadataType"}
        if extra:
            raise BadRequest(f"customProperties[{key!r}] has unknown field {sorted(extra)[0]!r}")
        for name, kind in expected.items():
            if name not in item:
                raise BadRequest(f"customProperties[{key!r}] lacks {name!r}")
            _check(f"customProperties[{key!r}].{name}", kind, item[name])


def _canonical_keys(body: dict[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """Field names matched case-insensitively, as the real (Go) server's JSON decoding does.

    The upstream CSI end-to-end script posts ``registeredModelID``; the field is ``registeredModelId``.
    """
    by_lower = {name.lower(): name for name in fields}
    by_lower.update({name.lower(): name for name in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")})
    clean: dict[str, Any] = {}
    for key, value in body.items():
        name = by_lower.get(key.lower()) if isinstance(key, str) else None
        if name is None or name not in fields:
            raise BadRequest(f"unknown field {key!r}")
        clean[name] = value
    return clean


def validate(kind: str, body: Any, *, create: bool, artifact_type: str | None = None) -> dict[str, Any]:
    """Check ``body`` for ``kind`` (``registered_model``, ``model_version``, ``artifact``); return it."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if kind == "artifact":
        artifact_type = body.get("artifactType", artifact_type or "model-artifact")
        if not isinstance(artifact_type, str) or artifact_type not in ARTIFACT_TYPES:
            raise BadRequest(f"unknown artifactType {artifact_type!r}")
    fields = fields_for(kind, artifact_type, create=create)
    body = _canonical_keys(body, fields)
    for key, value in body.items():
        if value is None:
            continue
        _check(key, fields[key], value)
    if create and not (isinstance(body.get("name"), str) and body["name"].strip()):
        raise BadRequest("field 'name' is required and must not be empty")
    if kind == "model_version" and create and body.get("registeredModelId") is None:
        raise BadRequest("field 'registeredModelId' is required")
    clean = {k: v for k, v in body.items() if v is not None}
    if kind == "artifact":
        clean["artifactType"] = artifact_type
    return clean
