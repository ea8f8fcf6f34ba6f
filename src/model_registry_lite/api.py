"""The registry's operations, independent of HTTP plumbing: routes, validation, upstream's rules and errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from model_registry_lite import versions
from model_registry_lite.schemas import (
    ARTIFACT_TYPES,
    ENTITY_LABELS,
    GENERATED_OWNER,
    BadRequest,
    TooLong,
    Unprocessable,
    check_columns,
    validate,
)
from model_registry_lite.store import MAX_PAGE_SIZE, ORDER_COLUMNS, Conflict, NotFound, Store, decode_token
from model_registry_lite.versions import ApiVersion

MAX_BODY = 1024 * 1024
DEFAULT_PAGE_SIZE = 100
_ID = r"(?P<id>[^/]+)"


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


CODES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def _id(raw: str) -> int:
    """An entity id from a path or query; anything but digits names nothing, hence 404 (as documented)."""
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 and int(raw) > 0):
        raise HttpError(404, f"no entity has id {raw!r}: ids are strings of digits")
    return int(raw)


def _same_type(current: Any, wanted: Any) -> None:
    """Upstream's rule and sentence (internal/converter/openapi_reconciler_util.go UpdateExistingArtifact)."""
    if wanted != current:
        raise HttpError(400, f"cannot change artifact type from '{current}' to '{wanted}': artifact type is immutable")


def _kind_words(artifact_type: Any) -> str:
    """``model-artifact`` -> ``model artifact``, ``metric`` -> ``metric artifact``: upstream's words."""
    return str(artifact_type).replace("-artifact", "").replace("-", " ") + " artifact"


class Api:
    """The operations, independent of HTTP plumbing: each takes (match, query, body) and returns (status, json)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = []
        for kind, plural, single in (
            ("registered_model", "registered_models", "registered_model"),
            ("model_version", "model_versions", "model_version"),
            ("artifact", "artifacts", "artifact"),
            ("model-artifact", "model_artifacts", "model_artifact"),
        ):
            self._add("GET", rf"/{plural}", self._lister(kind))
            self._add("POST", rf"/{plural}", self._creator(kind))
            self._add("GET", rf"/{plural}/{_ID}", self._getter(kind))
            self._add("PATCH", rf"/{plural}/{_ID}", self._patcher(kind))
            self._add("GET", rf"/{single}", self._finder(kind))
        self._add("GET", rf"/registered_models/{_ID}/versions", self._child_lister("model_version", "registered_model"))
        self._add("POST", rf"/registered_models/{_ID}/versions", self._child_creator("model_version"))
        self._add("GET", rf"/model_versions/{_ID}/artifacts", self._child_lister("artifact", "model_version"))
        self._add("POST", rf"/model_versions/{_ID}/artifacts", self._upsert_version_artifact)

    def _add(self, method: str, pattern: str, handler: Callable[..., tuple[int, Any]]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    @staticmethod
    def _table(kind: str) -> tuple[str, str | None]:
        """(store kind, artifact type filter) for a route kind."""
        return ("artifact", "model-artifact") if kind == "model-artifact" else (kind, None)

    # -- handlers --------------------------------------------------------------------------------------
    def _lister(self, kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(_m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            table, artifact_type = self._table(kind)
            return 200, self._list(table, query, parent=None, artifact_type=artifact_type or query.get("artifactType"))

        return handler

    def _child_lister(self, kind: str, parent_kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            parent = _id(m["id"])
            if self.store.get(parent_kind, parent) is None:
                raise HttpError(404, f"{parent_kind.replace('_', ' ')} {parent} not found")
            artifact_type = query.get("artifactType") if kind == "artifact" else None
            return 200, self._list(kind, query, parent=parent, artifact_type=artifact_type)

        return handler

    def _list(self, kind: str, query: dict[str, str], *, parent: int | None, artifact_type: str | None) -> Any:
        raw_size = query.get("pageSize", str(DEFAULT_PAGE_SIZE))
        if not (raw_size.isascii() and raw_size.isdigit()) or not 0 < int(raw_size) < 10**9:
            raise HttpError(400, f"invalid pageSize {raw_size!r}")
        page_size = min(int(raw_size), MAX_PAGE_SIZE)
        order_by = query.get("orderBy", "ID")
        if order_by not in ORDER_COLUMNS:
            raise HttpError(400, f"invalid orderBy {order_by!r}: use one of {', '.join(ORDER_COLUMNS)}")
        sort_order = query.get("sortOrder", "ASC")
        if sort_order not in ("ASC", "DESC"):
            raise HttpError(400, f"invalid sortOrder {sort_order!r}: use ASC or DESC")
        if artifact_type is not None and artifact_type not in ARTIFACT_TYPES:
            raise HttpError(400, f"invalid artifactType {artifact_type!r}")
        try:
            offset = decode_token(query["nextPageToken"]) if query.get("nextPageToken") else 0
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        items, token = self.store.list(
            kind,
            parent=parent,
            artifact_type=artifact_type,
            order_by=order_by,
            descending=sort_order == "DESC",
            page_size=page_size,
            offset=offset,
        )
        return {"items": items, "size": len(items), "pageSize": page_size, "nextPageToken": token}

    def _getter(self, kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
            table, artifact_type = self._table(kind)
            found = self.store.get(table, _id(m["id"]))
            if found is None or (artifact_type and found.get("artifactType") != artifact_type):
                raise HttpError(404, f"{kind.replace('_', ' ')} {m['id']} not found")
            return 200, found

        return handler

    def _finder(self, kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(_m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            table, artifact_type = self._table(kind)
            name, external_id = query.get("name"), query.get("externalId")
            parent = _id(query["parentResourceId"]) if "parentResourceId" in query else None
            if name is None and external_id is None:
                raise HttpError(400, "give name or externalId to search")
            if kind == "model_version" and name is not None and parent is None and external_id is None:
                raise HttpError(400, "searching a model version by name needs parentResourceId")
            found = self.store.find(
                table, name=name, external_id=external_id, parent=parent, artifact_type=artifact_type
            )
            if found is None:
                raise HttpError(404, f"no {kind.replace('_', ' ').replace('-', ' ')} found for that search")
            return 200, found

        return handler

    def _creator(self, kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(_m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            if kind == "model_version":
                clean = validate("model_version", body, create=True)
                return self._create_version(_id(clean["registeredModelId"]), clean)
            table, artifact_type = self._table(kind)
            if artifact_type and isinstance(body, dict) and body.get("artifactType", artifact_type) != artifact_type:
                raise HttpError(400, f"artifactType must be {artifact_type!r} here")
            clean = validate(table, body, create=True, artifact_type=artifact_type)
            if table == "registered_model":
                clean.setdefault("state", "LIVE")
                check_columns(ENTITY_LABELS[table], None, clean)
            if table == "artifact":
                return 201, self._create_artifact(0, clean)
            return 201, self.store.create(table, 0, clean)

        return handler

    def _child_creator(self, kind: str) -> Callable[..., tuple[int, Any]]:
        del kind

        def handler(m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            # Upstream's body here is a whole ModelVersion: registeredModelId is required (422 without it)
            # and the path's id then wins (internal/core/model_version.go UpsertModelVersion).
            parent = _id(m["id"])
            clean = validate("model_version", body, create=True)
            clean["registeredModelId"] = str(parent)
            return self._create_version(parent, clean)

        return handler

    def _create_version(self, parent: int, clean: dict[str, Any]) -> tuple[int, Any]:
        if self.store.get("registered_model", parent) is None:
            raise HttpError(404, f"registered model {parent} not found")
        clean.setdefault("state", "LIVE")
        check_columns(ENTITY_LABELS["model_version"], str(parent), clean)
        return 201, self.store.create("model_version", parent, clean)

    def _create_artifact(self, version: int, clean: dict[str, Any]) -> Any:
        """Upstream gives a nameless artifact a fresh UUID on every create path (internal/core/artifact.go
        ``ensureArtifactName``). An empty name is stored as the bare owner prefix, which reads back as the
        version's id (or, standalone, a UUID: converter ``PrefixWhenOwned``/``MapNameFromOwned``)."""
        clean.setdefault("name", str(uuid.uuid4()))
        if clean["name"] == "":
            clean["name"] = str(version) if version else str(uuid.uuid4())
        clean.setdefault("state", "UNKNOWN")
        check_columns(ENTITY_LABELS[clean["artifactType"]], str(version) if version else GENERATED_OWNER, clean)
        return self.store.create("artifact", version, clean)

    def _patcher(self, kind: str) -> Callable[..., tuple[int, Any]]:
        def handler(m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            table, artifact_type = self._table(kind)
            ident = _id(m["id"])
            current = self.store.get(table, ident)
            if current is None or (artifact_type and current.get("artifactType") != artifact_type):
                raise HttpError(404, f"{kind.replace('_', ' ')} {ident} not found")
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k != "id" or v == m["id"]}
            current_type = current.get("artifactType")
            if table == "artifact" and isinstance(body, dict):
                _same_type(current_type, body.get("artifactType", current_type))
            clean = validate(table, body, create=False, artifact_type=current_type)
            check_columns(ENTITY_LABELS[current_type or table], None, clean)
            return 200, self.store.update(table, ident, clean)

        return handler

    def _upsert_version_artifact(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        version = _id(m["id"])
        if self.store.get("model_version", version) is None:
            raise HttpError(404, f"model version {version} not found")
        if isinstance(body, dict) and body.get("id") is not None:
            # Upstream (internal/core/artifact.go upsertArtifact): an unknown id or another type is 400.
            wanted = body.get("artifactType", "model-artifact")
            words = _kind_words(wanted)
            ident = _id(str(body["id"]))
            current = self.store.get("artifact", ident)
            if current is None:
                raise HttpError(400, f"mismatched types, artifact with id {ident} is not a {words}: bad request")
            if current.get("artifactType") != wanted:
                raise HttpError(400, f"artifact with id {ident} is not a {words}: bad request")
            patch = {
                k: v
                for k, v in body.items()
                if k not in ("id", "name", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
            }
            clean = validate("artifact", patch, create=False, artifact_type=current.get("artifactType"))
            check_columns(ENTITY_LABELS[current["artifactType"]], None, clean)
            return 200, self.store.update("artifact", ident, clean, parent=version)
        clean = validate("artifact", body, create=True)
        return 201, self._create_artifact(version, clean)

    # -- dispatch ----------------------------------------------------------------------------------------
    def dispatch(
        self, method: str, path: str, query: dict[str, str], body: Any, version: ApiVersion
    ) -> tuple[int, Any]:
        try:
            status, payload = self._route(method, path, query, versions.step_in(body, version), version)
        except BadRequest as exc:
            raise HttpError(400, str(exc)) from None
        return status, versions.step_out(payload, version)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, version: ApiVersion) -> tuple[int, Any]:
        allowed = False
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                try:
                    return handler(match, query, body)
                except BadRequest as exc:
                    raise HttpError(400, str(exc)) from None
                except Unprocessable as exc:  # upstream's body says "Bad Request" with the status 422
                    raise HttpError(422, str(exc), code=CODES[400]) from None
                except TooLong as exc:
                    raise HttpError(500, str(exc)) from None
                except Conflict as exc:
                    raise HttpError(409, str(exc)) from None
                except NotFound as exc:
                    raise HttpError(404, str(exc)) from None
        if version.unimplemented.match(path):
            raise HttpError(501, f"{method} {path} is not implemented by mr-registry-lite")
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path}")
        raise HttpError(404, f"no such resource: {path}")
