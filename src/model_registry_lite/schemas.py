"""What each resource accepts and how it is checked: the fields of the spec (v1 and v1alpha3), by kind.

A body is validated against the kind's create or update fields: unknown fields, wrong types, bad enum
values and malformed ``customProperties`` are :class:`BadRequest` (HTTP 400), and nothing is stored.
A missing or empty required field (a registered model's or model version's ``name``, a version's
``registeredModelId``) is :class:`Unprocessable` (HTTP 422), as upstream's generated
``Assert*Required`` checks answer (``internal/server/openapi/v1/type_asserts.go``, ``error.go``);
artifacts need no name (the server generates one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# An absolute URI (RFC 3986: scheme ":" then only URI characters, "%" only as "%XX"), for the spec's
# ``format: uri`` fields. Upstream stores them unchecked and sends back whatever it got, "" included, which
# its own answer schema then rejects; lite refuses them with 400 instead (docs/registry-lite.md).
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
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
    "logo": "uri",
    "license": "str",
    "licenseLink": "uri",
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


class Unprocessable(Exception):
    """A required field is missing or empty (HTTP 422, upstream's ``RequiredError``)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"required field '{field}' is zero value.")


class TooLong(Exception):
    """A value does not fit upstream's ``VARCHAR(255)`` column: upstream answers 500 with MySQL's error."""


COLUMN_CHARS = 255
GENERATED_OWNER = "00000000-0000-0000-0000-000000000000"  # a standalone artifact's stored prefix: a UUID
ENTITY_LABELS = {
    "registered_model": "registered model",
    "model_version": "model version",
    "model-artifact": "model artifact",
    "doc-artifact": "doc artifact",
    "dataset-artifact": "dataset",
    "metric": "metric",
    "parameter": "parameter",
}


def check_columns(label: str, owner: str | None, body: dict[str, Any]) -> None:
    """Refuse what upstream's database refuses: its stored name is ``OWNER:NAME`` (the model's id for a
    version, the version's id for an artifact created under one, a fresh UUID for a standalone artifact;
    ``internal/converter/openapi_converter_util.go`` ``PrefixWhenOwned``), in a 255-character column, as is
    ``external_id``."""
    name = body.get("name")
    stored = {"name": f"{owner}:{name}" if owner and name else name, "external_id": body.get("externalId")}
    for column, value in stored.items():
        if isinstance(value, str) and len(value) > COLUMN_CHARS:
            raise TooLong(f"error saving {label}: Error 1406 (22001): Data too long for column '{column}' at row 1")


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
    elif kind == "uri":
        ok = isinstance(value, str) and _URI.fullmatch(value) is not None
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
        if value is None or (key == "registeredModelId" and value == ""):  # "" is a zero value: 422 below
            continue
        _check(key, fields[key], value)
    if create and kind != "artifact" and not body.get("name"):
        raise Unprocessable("name")
    if kind == "model_version" and create and not body.get("registeredModelId"):
        raise Unprocessable("registeredModelId")
    clean = {k: v for k, v in body.items() if v is not None}
    if kind == "artifact":
        clean["artifactType"] = artifact_type
    return clean
