"""The two REST API versions, each as its own spec has it, and the alpha API's deprecation states.

``v1`` (``model-registry-v1.yaml``) and ``v1alpha3`` (``model-registry.yaml``) share every operation a
model registry needs; they differ in what lite must care about in three ways:

- v1 has no experiment and experiment-run routes: there they are unknown paths (404), while v1alpha3 has
  them in its spec and lite answers 501 (implemented nowhere here);
- a metric's ``step`` is a JSON integer in v1alpha3 and a string of digits (``format: int64``) in v1, on
  the way in and out (the official client 0.3.18 declares it ``StrictStr``);
- v1 names path parameters in snake_case (``{registered_model_id}``): nothing on the wire changes.

Upstream (red-hat-data-services/model-registry ``cmd/proxy.go``, ``internal/server/middleware/
deprecation.go``) serves both from one datastore and, given ``--alpha-sunset-date``, adds RFC 8594
``Deprecation``/``Sunset``/``Link`` headers to every alpha answer; KEP-0004 then removes the alpha paths
(``410 Gone``).
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model_registry_lite.schemas import BadRequest

ROOT = "/api/model_registry"


@dataclass(frozen=True)
class ApiVersion:
    name: str
    unimplemented: re.Pattern[str]
    step_as_string: bool

    @property
    def prefix(self) -> str:
        return f"{ROOT}/{self.name}"


VERSIONS: Mapping[str, ApiVersion] = {
    "v1": ApiVersion("v1", re.compile(r"^/(serving_environments?|inference_services?)(/.*)?$"), True),
    "v1alpha3": ApiVersion(
        "v1alpha3",
        re.compile(r"^/(serving_environments?|inference_services?|experiments?|experiment_runs?)(/.*)?$"),
        False,
    ),
}
ALPHA = "v1alpha3"


def parse_versions(text: str) -> tuple[str, ...]:
    """``"v1,v1alpha3"`` -> the versions to serve; ValueError on an unknown or empty list."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [n for n in names if n not in VERSIONS]
    if unknown or not names:
        raise ValueError(f"--api-versions takes a comma-separated list of {', '.join(VERSIONS)}; got {text!r}")
    return names


def version_of(path: str, served: tuple[str, ...]) -> tuple[ApiVersion, str] | None:
    """(version, path below its prefix) for a request path under a served version, else None."""
    for name in served:
        prefix = VERSIONS[name].prefix + "/"
        if path.startswith(prefix):
            return VERSIONS[name], path[len(prefix) - 1 :]
    return None


def sunset_headers(date: str) -> tuple[tuple[str, str], ...]:
    """Upstream's deprecation headers for alpha answers, for a ``YYYY-MM-DD`` sunset date."""
    try:
        day = datetime.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise ValueError(f"--alpha-sunset-date takes a date as YYYY-MM-DD; got {date!r}") from None
    return (
        ("Deprecation", "true"),
        ("Sunset", email.utils.format_datetime(day, usegmt=True)),
        ("Link", f'<{ROOT}/v1/>; rel="successor-version"'),
    )


def _digits(value: Any) -> bool:
    return isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit() and len(value) < 20


def step_in(body: Any, version: ApiVersion) -> Any:
    """A v1 body's string ``step`` as the integer lite stores; a v1 integer step stays (and is refused)."""
    if not (version.step_as_string and isinstance(body, dict)):
        return body
    key = next((k for k in body if isinstance(k, str) and k.lower() == "step"), None)
    if key is None or body[key] is None:
        return body
    if not _digits(body[key]):
        raise BadRequest("invalid value for field 'step': a string of digits (int64) in API v1")
    return {**body, key: int(body[key])}


def step_out(payload: Any, version: ApiVersion) -> Any:
    """Integer ``step`` values of metrics as v1's strings; v1alpha3 answers unchanged."""
    if not version.step_as_string or not isinstance(payload, dict):
        return payload
    if isinstance(payload.get("items"), list):
        return {**payload, "items": [step_out(item, version) for item in payload["items"]]}
    if isinstance(payload.get("step"), int):
        return {**payload, "step": str(payload["step"])}
    return payload
