"""The reference spec, with its discriminators made explicit for validators that ignore them.

The spec's polymorphic schemas (``Artifact``, ``ArtifactCreate``, ``MetadataValue``, …) are ``oneOf`` lists
whose members do not exclude each other (``artifactType`` is a free string in each, and no member forbids
extra properties), so a strict ``oneOf`` check fails on *every* artifact, whatever the server sends. The
spec names a ``discriminator`` with a ``mapping`` for each; OpenAPI says the discriminator picks the one
schema to validate against. This module states that rule in plain OpenAPI 3.0: each ``oneOf`` member
becomes "the mapped schema, and the discriminator property equals its key", so exactly one member can
match. Nothing else in the spec is changed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

IMPLEMENTED_PATH_REGEX = (
    r"^/api/model_registry/v1alpha3/"
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


def load_spec(specs_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((specs_dir / "model-registry.yaml").read_text(encoding="utf-8"))
    return _explicit(copy.deepcopy(data))  # type: ignore[no-any-return]


def write_spec(specs_dir: Path, target: Path) -> Path:
    target.write_text(yaml.safe_dump(load_spec(specs_dir), sort_keys=False), encoding="utf-8")
    return target
