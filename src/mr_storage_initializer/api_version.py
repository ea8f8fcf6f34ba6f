"""Which Model Registry REST API a registry is spoken to in: ``/api/model_registry/v1`` or ``v1alpha3``.

``MODEL_REGISTRY_API_VERSION`` = ``auto`` (default), ``v1`` or ``v1alpha3``. In ``auto`` the first
registry call of a run is made in v1, unconfirmed, with no separate probe (a ``MODEL/VERSION`` install is
three requests: model, version, artifacts): an answer proves v1 is served; a 404, 405, 410 or 501 is
checked with ``GET /api/model_registry/v1/registered_models?pageSize=1``, and when that says v1 is not
served the same call is made in v1alpha3. The choice is remembered for the registry's URL for the rest
of the run. v1alpha3 chosen that way, and a pinned version, are confirmed by the first real answer; a 404
before that is checked with the same list call, so a registry that serves neither API (or not the pinned
one) ends in exit 4 with that sentence, never in "model not found".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mr_storage_initializer.redact import redact_url

if TYPE_CHECKING:
    from mr_storage_initializer.registry import RegistryClient

log = logging.getLogger("mr_storage_initializer.registry")

# The registry's REST APIs, preferred first: (version, base path).
VERSIONS: tuple[tuple[str, str], ...] = (
    ("v1", "/api/model_registry/v1"),
    ("v1alpha3", "/api/model_registry/v1alpha3"),
)
SETTINGS = ("auto", *(name for name, _ in VERSIONS))  # the values MODEL_REGISTRY_API_VERSION may take
PREFIXES = dict(VERSIONS)
API_V1, API_V1ALPHA3 = PREFIXES["v1"], PREFIXES["v1alpha3"]
_decided: dict[str, str] = {}  # registry URL -> the prefix auto chose there, for the rest of this run


def version_of(prefix: str) -> str:
    return prefix.rsplit("/", 1)[-1]


def probe_prefixes(setting: str) -> tuple[str, ...]:
    """The API prefixes the ``HOST/MODEL`` probe tries, in order."""
    return (PREFIXES[setting],) if setting in PREFIXES else (API_V1, API_V1ALPHA3)


def choose(client: RegistryClient, setting: str) -> str:
    """Point ``client`` at the API ``setting`` asks for (asking the registry in ``auto``); return the version."""
    base = client.base_url
    shown = redact_url(base)
    if setting in PREFIXES:
        prefix = PREFIXES[setting]
        client.api_prefix = prefix
        client.api_confirmed = False
        client.api_unserved = (
            f"the model registry at {shown} does not serve API {setting} ({prefix}), which "
            f"MODEL_REGISTRY_API_VERSION={setting} asks for; set MODEL_REGISTRY_API_VERSION=auto or the version "
            "the registry serves"
        )
        log.info("API %s (MODEL_REGISTRY_API_VERSION=%s)", setting, setting, extra={"step": "registry", "api": setting})
        return setting
    client.api_unserved = (
        f"the model registry at {shown} serves neither API v1 ({API_V1}) nor v1alpha3 ({API_V1ALPHA3}): a list of "
        "registered models was answered 'not here' (HTTP 404, 405, 410 or 501) on both; is MODEL_REGISTRY_BASE_URL "
        "(or the host in the URI) a Model Registry?"
    )
    known = _decided.get(base)
    if known is not None:
        client.api_prefix, client.api_confirmed = known, known == API_V1
        version = version_of(known)
        log.info("API %s at %s because it was decided earlier in this run", version, shown, extra=_extra(version))
        return version
    client.api_prefix, client.api_confirmed, client.api_fallback = API_V1, False, API_V1ALPHA3

    def decided(prefix: str, why: str) -> None:
        _decided[base] = prefix
        version = version_of(prefix)
        log.info("API %s at %s because %s", version, shown, why, extra=_extra(version))

    client.on_api_decided = decided
    return "auto"


def _extra(version: str) -> dict[str, str]:
    return {"step": "registry", "api": version}
