"""From a parsed URI to a :class:`Resolution`: which registry, model, version and model artifact.

Rules (upstream's, made stricter):
- the registry is the URI's host, else ``SERVICE.NAMESPACE.DOMAIN:PORT`` for ``?namespace=``, else
  ``MODEL_REGISTRY_BASE_URL``; ``A/B`` is ``HOST/MODEL`` only if a registry answers at ``A`` (bounded probe);
- without a version, the newest LIVE version (by creation time);
- the model artifact is the newest artifact of type ``model-artifact`` that is not DELETED,
  MARKED_FOR_DELETION or ABANDONED, and has a ``uri``;
- ARCHIVED models and versions are refused unless ``MODEL_REGISTRY_ALLOW_ARCHIVED=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mr_storage_initializer import api_version, registry, registry_exchange, storage_config
from mr_storage_initializer.errors import NotFoundError, RefusedError, RegistryResponseError
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.uri import ModelRef, ParsedUri
from mr_storage_initializer.values import as_dict, dataclass, field

log = logging.getLogger("mr_storage_initializer.resolve")
UNUSABLE_ARTIFACT_STATES = frozenset({"DELETED", "MARKED_FOR_DELETION", "ABANDONED"})


@dataclass(frozen=True)
class Entity:
    """The fields of a registry entity the initializer relies on; ``raw`` keeps the rest."""

    id: str
    name: str
    state: str | None
    create_time: str | None = None
    last_update_time: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Artifact(Entity):
    uri: str = ""
    model_format_name: str | None = None
    model_format_version: str | None = None
    storage_key: str | None = None
    storage_path: str | None = None

    @property
    def custom_properties(self) -> Mapping[str, Any]:
        props = self.raw.get("customProperties")
        return props if isinstance(props, Mapping) else {}


@dataclass(frozen=True)
class Resolution:
    """Everything the download and install steps need to know about what the URI names."""

    source_uri: str
    registry_url: str
    model: Entity
    version: Entity
    artifact: Artifact
    download: storage_config.DownloadPlan = field(
        default_factory=lambda: storage_config.DownloadPlan(""), repr=False, compare=False
    )

    def to_json(self) -> dict[str, Any]:
        """The JSON printed by ``--resolve-only`` and kept in the provenance (no raw fields; every URL through
        :func:`~mr_storage_initializer.redact.redact_url`: no userinfo, no signed query string)."""

        def plain(entity: Entity) -> dict[str, Any]:
            data = {k: v for k, v in as_dict(entity).items() if k != "raw" and v is not None}
            if "uri" in data:
                data["uri"] = redact_url(data["uri"])
            return data

        return {
            "source_uri": redact_url(self.source_uri),
            "registry_url": redact_url(self.registry_url) if self.registry_url else "",
            "registered_model": plain(self.model),
            "model_version": plain(self.version),
            "model_artifact": plain(self.artifact),
        }


def registry_url_for(ref: ModelRef, settings: Settings) -> str:
    if ref.host:
        return f"{settings.scheme}://{ref.host}"
    if ref.namespace:
        host = f"{settings.service_name}.{ref.namespace}.{settings.cluster_domain}:{settings.base_port()}"
        return f"{settings.scheme}://{host}"
    return f"{settings.scheme}://{settings.base_url}"


def registry_label(ref: ModelRef, settings: Settings) -> str:
    """The registry's URL for the log, saying so when it is the default because nothing named one."""
    url = registry_url_for(ref, settings)
    if ref.host or ref.namespace or settings.base_url_set:
        return url
    return f"{url} (the default: MODEL_REGISTRY_BASE_URL is not set)"


def choose_reading(parsed: ParsedUri, settings: Settings) -> ModelRef:
    """The one reading to use; for ``A/B``, ``HOST/MODEL`` only if a registry answers at ``A`` in time."""
    if not parsed.ambiguous:
        return parsed.readings[0]
    as_host_model, as_model_version = parsed.readings
    url = registry_url_for(as_host_model, settings)
    prefixes = api_version.prefixes(settings.api_version)
    found = registry_exchange.probe(
        url, timeout=settings.probe_timeout, ca_bundle=settings.ca_bundle, prefixes=prefixes, proxies=settings.proxy
    )
    if found:
        chosen, why = as_host_model, f"a model registry answered at {redact_url(url)}"
    else:
        chosen, why = (
            as_model_version,
            f"no model registry answered at {redact_url(url)} within {settings.probe_timeout:g}s",
        )
    log.info(
        "read %s as %s because %s",
        parsed.raw,
        chosen.describe(),
        why,
        extra={"step": "parsed", "reading": "host/model" if chosen is as_host_model else "model/version"},
    )
    return chosen


def _text(data: Mapping[str, Any], key: str, what: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("Epoch", "id")):
        value = str(value)
    if not isinstance(value, str) or (required and not value):
        raise RegistryResponseError(f"the model registry's {what} has no valid {key!r} field")
    return value


def _entity(data: Mapping[str, Any], what: str) -> Entity:
    return Entity(
        id=_text(data, "id", what) or "",
        name=_text(data, "name", what) or "",
        state=_text(data, "state", what, required=False),
        create_time=_text(data, "createTimeSinceEpoch", what, required=False),
        last_update_time=_text(data, "lastUpdateTimeSinceEpoch", what, required=False),
        raw=data,
    )


def _artifact(data: Mapping[str, Any]) -> Artifact:
    base = _entity(data, "model artifact")
    return Artifact(
        **{k: getattr(base, k) for k in ("id", "name", "state", "create_time", "last_update_time", "raw")},
        uri=_text(data, "uri", "model artifact", required=False) or "",
        model_format_name=_text(data, "modelFormatName", "model artifact", required=False),
        model_format_version=_text(data, "modelFormatVersion", "model artifact", required=False),
        storage_key=_text(data, "storageKey", "model artifact", required=False) or None,
        storage_path=_text(data, "storagePath", "model artifact", required=False) or None,
    )


def _refuse_archived(entity: Entity, what: str, settings: Settings) -> None:
    if entity.state == "ARCHIVED" and not settings.allow_archived:
        raise RefusedError(
            f"{what} is ARCHIVED in the model registry; restore it, pick another version, "
            "or set MODEL_REGISTRY_ALLOW_ARCHIVED=true"
        )


def resolve(parsed: ParsedUri, settings: Settings, learned: api_version.Learned | None = None) -> Resolution:
    """What ``parsed`` names; ``learned``: what the run knows of its registries' APIs already (pairs share it)."""
    ref = choose_reading(parsed, settings)
    url = registry_url_for(ref, settings)
    auth = "token" if settings.token else "token file" if settings.token_path else "none"
    log.info(
        "%s for %s",
        redact_url(registry_label(ref, settings)),
        ref.describe(),
        extra={"step": "registry", "auth": auth, **settings.proxy.route(url)},
    )
    client = registry.RegistryClient(
        url,
        token=settings.token,
        token_path=settings.token_path,
        ca_bundle=settings.ca_bundle,
        deadline=settings.timeout,
        api_version=settings.api_version,
        learned=learned,
        proxies=settings.proxy,
    )
    try:
        return _resolve_with(client, parsed.raw, ref, settings)
    finally:
        client.close()


def _resolve_with(client: registry.RegistryClient, raw: str, ref: ModelRef, settings: Settings) -> Resolution:
    where = redact_url(client.base_url)  # for messages; the Resolution keeps the URL itself
    model_data = client.find_registered_model(ref.model)
    if model_data is None:
        raise NotFoundError(f"registered model {ref.model!r} was not found in the model registry at {where}")
    model = _entity(model_data, "registered model")
    if model.name != ref.model:
        raise RegistryResponseError(f"the model registry answered a search for {ref.model!r} with {model.name!r}")
    _refuse_archived(model, f"registered model {model.name!r}", settings)

    if ref.version is not None:
        version_data = client.find_model_version(ref.version, model.id)
        if version_data is None:
            raise NotFoundError(
                f"model version {ref.version!r} of registered model {model.name!r} was not found at {where}"
            )
        version = _entity(version_data, "model version")
        if version.name != ref.version:
            raise RegistryResponseError(
                f"the model registry answered a search for version {ref.version!r} with {version.name!r}"
            )
        _refuse_archived(version, f"model version {version.name!r} of {model.name!r}", settings)
    else:
        version = _latest_version(client, model, settings)

    artifact = _model_artifact(client, model, version)
    download = storage_config.plan(
        artifact.uri,
        storage_key=artifact.storage_key,
        storage_path=artifact.storage_path,
        entries=settings.storage_entries,
        looked=storage_config.where_looked(settings.storage_config_prefix, settings.storage_config_dir),
        env=settings.storage_env,
        require_entry=settings.require_storage_entry,
    )
    return Resolution(
        source_uri=raw, registry_url=client.base_url, model=model, version=version, artifact=artifact, download=download
    )


def _latest_version(client: registry.RegistryClient, model: Entity, settings: Settings) -> Entity:
    newest_archived: Entity | None = None
    for item in client.iter_model_versions(model.id):
        version = _entity(item, "model version")
        if version.state != "ARCHIVED":
            return version
        newest_archived = newest_archived or version
    if newest_archived is None:
        raise NotFoundError(f"registered model {model.name!r} has no model versions")
    if settings.allow_archived:
        return newest_archived
    raise RefusedError(
        f"every version of registered model {model.name!r} is ARCHIVED; name one explicitly "
        "with MODEL_REGISTRY_ALLOW_ARCHIVED=true to install it anyway"
    )


def _model_artifact(client: registry.RegistryClient, model: Entity, version: Entity) -> Artifact:
    label = f"model version {version.name!r} of {model.name!r}"
    skipped: list[str] = []
    for item in client.iter_artifacts(version.id):
        if item.get("artifactType") != "model-artifact":
            continue
        artifact = _artifact(item)
        if artifact.state in UNUSABLE_ARTIFACT_STATES:
            skipped.append(f"{artifact.name!r} is {artifact.state}")
            continue
        if not artifact.uri.strip() and not (artifact.storage_key and artifact.storage_path):
            raise NotFoundError(f"model artifact {artifact.name!r} of {label} has no uri")
        return artifact
    detail = f" ({'; '.join(skipped)})" if skipped else ""
    raise NotFoundError(f"{label} has no usable model artifact{detail}")
