"""The two REST API versions, each as its own spec has it, and the alpha API's deprecation states.

``v1`` (``model-registry-v1.yaml``) and ``v1alpha3`` (``model-registry.yaml``) share every operation a
model registry needs. v1 has no experiment and experiment-run routes (there they are unknown paths);
v1alpha3 has them. A metric's ``step`` is a JSON integer in both, as the upstream server reads and
writes it (its v1 spec says a string; the server shares its Go models with v1alpha3).

Upstream (red-hat-data-services/model-registry ``cmd/proxy.go``, ``internal/server/middleware/
deprecation.go``) serves both from one datastore and, given ``--alpha-sunset-date``, adds RFC 8594
``Deprecation``/``Sunset``/``Link`` headers to every alpha answer; KEP-0004 then removes the alpha paths
(``410 Gone``).
"""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

ROOT = "/api/model_registry"


@dataclass(frozen=True)
class ApiVersion:
    name: str

    @property
    def prefix(self) -> str:
        return f"{ROOT}/{self.name}"


VERSIONS: Mapping[str, ApiVersion] = {"v1": ApiVersion("v1"), "v1alpha3": ApiVersion("v1alpha3")}
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
