"""The reference spec, with its discriminators made explicit for validators that ignore them.

The spec's polymorphic schemas (``Artifact``, ``ArtifactCreate``, ``MetadataValue``, …) are ``oneOf`` lists
whose members do not exclude each other (``artifactType`` is a free string in each, and no member forbids
extra properties), so a strict ``oneOf`` check fails on *every* artifact, whatever the server sends. The
spec names a ``discriminator`` with a ``mapping`` for each; OpenAPI says the discriminator picks the one
schema to validate against. This module states that rule in plain OpenAPI 3.0: each ``oneOf`` member
becomes "the mapped schema, and the discriminator property equals its key", so exactly one member can
match.

For generating requests (schemathesis) ``bounded=True`` also caps ``name`` and ``externalId`` in request
bodies (not in answers) at 200 characters: the real server stores them in 255-character columns (a
version's and an artifact's name with their owner's id or a UUID as prefix) and answers 500 beyond, as
lite does (``test_upstream_fidelity.py``), so an unbounded generator would only rediscover that 500.
Nothing else in the spec is changed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SPEC_FILES = {"v1": "model-registry-v1.yaml", "v1alpha3": "model-registry.yaml"}
NAME_CAP = 200


def implemented_path_regex(version: str) -> str:
    return (
        rf"^/api/model_registry/{version}/"
        r"(registered_models?|registered_models/[^/]+(/versions)?|model_versions?|model_versions/[^/]+(/artifacts)?"
        r"|model_artifacts?|model_artifacts/[^/]+|artifacts?|artifacts/[^/]+)$"
    )


def _explicit(node: Any) -> Any:
    if isinstance(node, list):
        return [_explicit(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _explicit(v) for k, v in node.items()}
    discriminator = node.get("discriminator")
    if "oneOf" in node and isinstance(discriminator, dict) and discriminator.get("mapping"):
        prop = discriminator["propertyName"]
        mapping: dict[str, str] = discriminator["mapping"]
        node["oneOf"] = [
            {"allOf": [{"$ref": ref}, {"type": "object", "properties": {prop: {"enum": [key]}}, "required": [prop]}]}
            for key, ref in mapping.items()
        ]
        del node["discriminator"]
    return node


def _capped(node: Any) -> Any:
    if isinstance(node, list):
        return [_capped(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _capped(v) for k, v in node.items()}
    props = node.get("properties")
    for key in ("name", "externalId"):
        prop = props.get(key) if isinstance(props, dict) else None
        if isinstance(prop, dict) and prop.get("type") == "string":
            prop["maxLength"] = min(prop.get("maxLength", NAME_CAP), NAME_CAP)
    if isinstance(node.get("$ref"), str) and node["$ref"].startswith(_SCHEMAS):
        node["$ref"] += _REQUEST
    return node


_SCHEMAS = "#/components/schemas/"
_REQUEST = "__request"


def _bounded(spec: dict[str, Any]) -> dict[str, Any]:
    """Request bodies get capped copies of the schemas they use; responses keep the spec's own."""
    schemas = spec["components"]["schemas"]
    schemas.update({name + _REQUEST: _capped(schema) for name, schema in list(schemas.items())})
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"] = _capped(operation["requestBody"])
    return spec


def load_spec(specs_dir: Path, version: str = "v1alpha3", *, bounded: bool = False) -> dict[str, Any]:
    data = yaml.safe_load((specs_dir / SPEC_FILES[version]).read_text(encoding="utf-8"))
    explicit = _explicit(copy.deepcopy(data))
    return _bounded(explicit) if bounded else explicit  # type: ignore[no-any-return]


def write_spec(specs_dir: Path, target: Path, version: str = "v1alpha3", *, bounded: bool = False) -> Path:
    spec = load_spec(specs_dir, version, bounded=bounded)
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return target
