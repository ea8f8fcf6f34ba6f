"""Request bodies decoded as upstream's Go server decodes them, with its error sentences.

Upstream decodes each body with ``encoding/json`` into the operation's Go struct, unknown fields
refused (``json: unknown field "bogusField"``), field names matched case-insensitively, the first error
in document order winning (``json: cannot unmarshal number into Go struct field
RegisteredModelCreate.name of type string``); enums check their value (``NOPE is not a valid
RegisteredModelState``); then the generated ``Assert*Required`` checks answer 422 for a missing or empty
required field (``required field 'name' is zero value.``). Artifacts are a ``oneOf`` keyed by
``artifactType``: an unknown type is one sentence, a decoding error of the chosen type is prefixed
``failed to unmarshal ArtifactCreate as MetricCreate:``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from model_registry_lite.kinds import ARTIFACT_FIELDS, ARTIFACT_GO, ARTIFACT_TYPES, CREATE_ONLY, FIELDS, KINDS

READ_ONLY = {"id": "str", "createTimeSinceEpoch": "str", "lastUpdateTimeSinceEpoch": "str"}
BAD_ARTIFACT_TYPE = (
    "invalid artifact type, must be either ModelArtifact, DocArtifact, DataSet, Metric, or Parameter: bad request"
)
METADATA_VALUE_FIELDS: Mapping[str, Mapping[str, str]] = {
    "MetadataStringValue": {"string_value": "str"},
    "MetadataIntValue": {"int_value": "str"},
    "MetadataDoubleValue": {"double_value": "float64"},
    "MetadataBoolValue": {"bool_value": "bool"},
    "MetadataStructValue": {"struct_value": "str"},
    "MetadataProtoValue": {"type": "str", "proto_value": "str"},
}
MAX_DEPTH = 10000  # encoding/json's nesting limit


class BadRequest(Exception):
    """The request is malformed (HTTP 400)."""


class Unprocessable(Exception):
    """A required field is missing or empty (HTTP 422, upstream's ``RequiredError``)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"required field '{field}' is zero value.")


class TooLong(Exception):
    """A value does not fit upstream's ``VARCHAR(255)`` column: upstream answers 500 (a database error)."""


def json_word(value: Any) -> str:
    """encoding/json's word for a JSON value's type, as in its UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_json(raw: bytes) -> Any:
    """A body as encoding/json reads it: its messages for empty, malformed and too deep documents."""
    if not raw.strip():
        raise BadRequest("EOF")
    depth = 0
    in_string = escaped = False
    deep_enough = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH  # else the scan cannot find anything
    for char in raw.decode("utf-8", errors="replace") if deep_enough else "":
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise BadRequest(f"invalid character '{char}' exceeded max depth")
        elif char in "]}":
            depth -= 1
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        at = text[exc.pos : exc.pos + 1]
        if exc.msg.startswith("Expecting property name"):
            raise BadRequest(f"invalid character '{at}' looking for beginning of object key string") from None
        if exc.pos >= len(text.rstrip()):
            raise BadRequest("unexpected EOF") from None
        raise BadRequest(f"invalid character '{at}' looking for beginning of value") from None
    except RecursionError:  # deeper than this process lets Python's parser go (cli raises the limit)
        if raw.lstrip()[:1] == b"[":
            return []  # only its outer type matters to the answer
        raise BadRequest("json: nesting too deep for this server") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid character looking for beginning of value") from None


def _type_error(struct: str, name: str, value: Any, go_type: str) -> BadRequest:
    word = json_word(value)
    if word == "number" and go_type == "int64":
        word = f"number {json.dumps(value)}"
    return BadRequest(f"json: cannot unmarshal {word} into Go struct field {struct}.{name} of type {go_type}")


def _check(struct: str, name: str, spec: str, value: Any, enum_type: str) -> Any:
    """One field's value, checked as its Go type decodes it; returns the value to store."""
    if value is None:
        return None
    if spec == "str":
        if not isinstance(value, str):
            raise _type_error(struct, name, value, "string")
    elif spec == "strlist":
        if not isinstance(value, list):
            raise _type_error(struct, name, value, "[]string")
        for item in value:
            if not isinstance(item, str):
                raise _type_error(struct, name, item, "string")
    elif spec == "int64":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or _has_infinity(value)
            or int(value) != value
            or not -(2**63) <= int(value) < 2**63
        ):
            raise _type_error(struct, name, value, "int64")
        return int(value)
    elif spec == "float64":
        if isinstance(value, bool) or not isinstance(value, int | float) or _has_infinity(value):
            raise _type_error(struct, name, value, "float64")
    elif spec == "bool":
        if not isinstance(value, bool):
            raise _type_error(struct, name, value, "bool")
    elif spec.startswith("enum:"):
        if not isinstance(value, str):
            raise _type_error(struct, name, value, f"openapi.{enum_type}")
        if value not in spec[5:].split(","):
            raise BadRequest(f"{value} is not a valid {enum_type}")
    elif spec == "props":
        if not isinstance(value, dict):
            raise _type_error(struct, name, value, "map[string]openapi.MetadataValue")
        return _props(value)
    return value


def _props(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        kind = item.get("metadataType") if isinstance(item, dict) else None
        expected = METADATA_VALUE_FIELDS.get(kind) if isinstance(kind, str) else None
        if not isinstance(kind, str) or expected is None or any(n not in item for n in expected):
            raise BadRequest(
                f"error setting field CustomProperties: bad request: metadataType not found for {key}: "
                "{<nil> <nil> <nil> <nil> <nil> <nil>}: bad request"
            )
        clean: dict[str, Any] = {"metadataType": kind}
        for name, spec in expected.items():
            try:
                clean[name] = _check(kind, name, spec, item[name], "")
            except BadRequest as exc:
                raise BadRequest(f"failed to unmarshal MetadataValue as {kind}: {exc}") from None
        if kind == "MetadataStructValue" and isinstance(clean["struct_value"], str):
            clean["struct_value"] = _struct_text(clean["struct_value"])
        out[key] = clean
    return out


def _struct_text(encoded: str) -> str:
    """A struct value arrives base64-encoded JSON; upstream stores and answers the JSON itself."""
    try:
        decoded = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return encoded
    return json.dumps(decoded, separators=(",", ":"), sort_keys=True)


def decode(struct: str, fields: Mapping[str, str], body: Any, *, states: str | None) -> dict[str, Any]:
    """``body`` decoded into the Go struct ``struct`` with these fields; nulls dropped."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal {json_word(body)} into Go value of type openapi.{struct}")
    by_lower = {name.lower(): name for name in fields}
    clean: dict[str, Any] = {}
    for key, value in body.items():
        name = key if key in fields else by_lower.get(key.lower())
        if name is None:
            raise BadRequest(f'json: unknown field "{key}"')
        enum_type = (states or "") if name == "state" else _enum_name(name)
        checked = _check(struct, name, fields[name], value, enum_type)
        if checked is not None:
            clean[name] = checked
    return clean


def _enum_name(name: str) -> str:
    return {
        "desiredState": "InferenceServiceState",
        "lastKnownState": "ExecutionState",
        "status": "ExperimentRunStatus",
        "parameterType": "ParameterType",
    }.get(name, "ArtifactState")


def require(body: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if not body.get(name):
            raise Unprocessable(name)


def entity_fields(kind: str, variant: str) -> dict[str, str]:
    """Fields of ``Create``, ``Update`` or the full type (``""``) of an entity kind."""
    fields = dict(FIELDS[kind])
    if variant != "Update":
        fields["name"] = "str"
        fields.update(CREATE_ONLY.get(kind, {}))
    if variant == "":
        fields.update(READ_ONLY)
    return fields


def decode_entity(kind: str, body: Any, variant: str) -> dict[str, Any]:
    """A registered model, version, environment, … body of ``variant`` (``Create``, ``Update``, ``""``)."""
    spec = KINDS[kind]
    clean = decode(spec.go + variant, entity_fields(kind, variant), body, states=spec.states)
    if variant != "Update":
        require(clean, spec.required)
    return clean


def artifact_fields(artifact_type: str, variant: str) -> dict[str, str]:
    fields = dict(ARTIFACT_FIELDS[artifact_type])
    if variant != "Update":
        fields["name"] = "str"
    if variant == "":
        fields.update(READ_ONLY)
        fields.update({"experimentId": "str", "experimentRunId": "str"})
    return fields


def decode_artifact(body: Any, variant: str, *, only: str | None = None) -> dict[str, Any]:
    """An artifact body: the ``oneOf`` of ``Artifact{variant}``, or ``only`` that type (``/model_artifacts``)."""
    if only is not None:
        go = ARTIFACT_GO[only] + variant
        fields = artifact_fields(only, variant)
        clean = decode(go, fields, body, states="ArtifactState")
        clean["artifactType"] = only
        return clean
    if _has_infinity(body):  # Go's first pass (into a map, to read the discriminator) fails on 1e999
        raise BadRequest("failed to unmarshal JSON into map for the discriminator lookup")
    artifact_type = body.get("artifactType") if isinstance(body, dict) else None
    if artifact_type not in ARTIFACT_TYPES:
        raise BadRequest(BAD_ARTIFACT_TYPE)
    assert isinstance(artifact_type, str)
    go = ARTIFACT_GO[artifact_type] + variant
    try:
        clean = decode(go, artifact_fields(artifact_type, variant), body, states="ArtifactState")
    except BadRequest as exc:
        raise BadRequest(f"failed to unmarshal Artifact{variant} as {go}: {exc}") from None
    clean["artifactType"] = artifact_type
    return clean


def _has_infinity(value: Any) -> bool:
    if isinstance(value, float):
        return value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_has_infinity(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_infinity(v) for v in value)
    return False


def numeric_id(value: str) -> int:
    """An id given in a body: upstream parses it with ``strconv.ParseInt(…, 10, 32)``."""
    try:
        number = int(value, 10) if value.strip() == value and value.lstrip("+-").isdigit() else None
    except ValueError:
        number = None
    if number is None:
        raise BadRequest(
            f'error setting field Properties: invalid numeric string: strconv.ParseInt: parsing "{value}": '
            "invalid syntax: bad request"
        )
    if not -(2**31) <= number < 2**31:
        raise BadRequest(
            f'error setting field Properties: invalid numeric string: strconv.ParseInt: parsing "{value}": '
            "value out of range: bad request"
        )
    return number


COLUMN_CHARS = 255
GENERATED_OWNER = "00000000-0000-0000-0000-000000000000"  # a standalone artifact's stored prefix: a UUID


def check_columns(words: str, owner: str | None, body: Mapping[str, Any]) -> None:
    """Refuse what upstream's database refuses: its stored name is ``OWNER:NAME`` (the model's id for a
    version, the version's id for an artifact created under one, a fresh UUID for a standalone artifact;
    ``internal/converter`` ``PrefixWhenOwned``), in a 255-character column, as is ``external_id``."""
    name = body.get("name")
    stored = (f"{owner}:{name}" if owner and name else name, body.get("externalId"))
    if any(isinstance(value, str) and len(value) > COLUMN_CHARS for value in stored):
        raise TooLong(f"error saving {words}: ERROR: value too long for type character varying(255) (SQLSTATE 22001)")
