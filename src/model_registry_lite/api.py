"""The registry's operations and routes, independent of HTTP plumbing, answering as upstream does.

Each handler takes (match, query, body) and returns (status, json). Registered models, versions,
serving environments, inference services (with their serve records), experiments and experiment runs
share one generic set of operations (:class:`Entities`); artifacts live in :mod:`artifacts`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from model_registry_lite import artifacts
from model_registry_lite.common import (
    HttpError,
    bad,
    conflict,
    get_or_404,
    list_answer,
    not_found,
    parse_int32,
    path_id,
)
from model_registry_lite.kinds import KINDS
from model_registry_lite.schemas import (
    BadRequest,
    TooLong,
    Unprocessable,
    check_columns,
    decode_entity,
    numeric_id,
)
from model_registry_lite.store import Conflict, NotFound, Store
from model_registry_lite.versions import ApiVersion

MAX_BODY = 1024 * 1024
_ID = r"(?P<id>[^/]+)"
Handler = Callable[[re.Match[str], dict[str, str], Any], tuple[int, Any]]

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
# (kind, plural route, singular route, how the singular lookup names its owner, alpha only)
ENTITY_ROUTES = (
    ("registered_model", "registered_models", "registered_model", None, False),
    ("model_version", "model_versions", "model_version", "name and parentResourceId", False),
    ("serving_environment", "serving_environments", "serving_environment", None, False),
    ("inference_service", "inference_services", "inference_service", "name and parentResourceId", False),
    ("experiment", "experiments", "experiment", None, True),
    ("experiment_run", "experiment_runs", "experiment_run", "name and experimentId", True),
)


# upstream's GET /inference_services ignores filterQuery (recorded), as its GET /model_artifacts does
UNFILTERED = ("inference_service",)


class NoRoute(Exception):
    """No route has this path (404, text) or none has this method there (405, empty)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Entities:
    """The operations every non-artifact kind has, as upstream's ``internal/core`` answers them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def items(self, kind: str, parent: int | None = None) -> list[dict[str, Any]]:
        return [data for data, _owner in self.store.rows(kind, parent=parent)]

    def lister(self, kind: str) -> Handler:
        def handler(_m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            if kind in UNFILTERED:
                query = {k: v for k, v in query.items() if k != "filterQuery"}
            return 200, list_answer(self.store, self.items(kind), query, words=KINDS[kind].words)

        return handler

    def child_lister(self, kind: str, parent_kind: str, *, must_exist: bool = False) -> Handler:
        def handler(m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            parent = path_id(m["id"], KINDS[parent_kind])
            if must_exist:
                get_or_404(self.store, parent_kind, parent)
            return 200, list_answer(self.store, self.items(kind, parent), query, words=KINDS[kind].words)

        return handler

    def getter(self, kind: str) -> Handler:
        def handler(m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
            return 200, get_or_404(self.store, kind, path_id(m["id"], KINDS[kind]))

        return handler

    def finder(self, kind: str, owner_words: str | None) -> Handler:
        spec = KINDS[kind]

        def handler(_m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            name, external_id = query.get("name"), query.get("externalId")
            parent_raw = query.get("parentResourceId")
            if owner_words is None:
                if not name and not external_id:
                    raise bad("invalid parameters call, supply either name or externalId")
                parent = None
                shown = f"name={name or ''}, externalId={external_id or ''}"
            else:
                if not external_id and not (name and parent_raw):
                    raise bad(f"invalid parameters call, supply either ({owner_words}), or externalId")
                parent = path_id(parent_raw, KINDS[spec.parent or kind]) if parent_raw else None
                shown = f"name={name or ''}, parentResourceId={parent_raw or ''}, externalId={external_id or ''}"
            found = self.store.find(kind, name=name or None, external_id=external_id or None, parent=parent)
            if found is None:
                raise HttpError(404, f"no {spec.words}s found for {shown}: not found")
            return 200, found

        return handler

    def create(self, kind: str, clean: dict[str, Any], parent: int) -> tuple[int, Any]:
        spec = KINDS[kind]
        for key, value in spec.defaults.items():
            clean.setdefault(key, value)
        clean.setdefault("name", str(uuid.uuid4()))
        check_columns(spec.words, str(parent) if spec.parent else None, clean)
        try:
            return 201, self.store.create(kind, parent, clean)
        except Conflict:
            raise conflict(spec.words, clean["name"]) from None

    def creator(self, kind: str, *, parent_from_path: str | None = None, variant: str = "Create") -> Handler:
        spec = KINDS[kind]

        def handler(m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            clean = decode_entity(kind, body, variant)
            if parent_from_path is not None:
                parent_kind = KINDS[parent_from_path]
                parent = path_id(m["id"], parent_kind)
                if spec.parent_field:
                    clean[spec.parent_field] = str(parent)
            elif spec.parent_field:
                parent = numeric_id(clean[spec.parent_field])
            else:
                parent = 0
            if kind == "inference_service":
                get_or_404(self.store, "serving_environment", parent)
            if kind == "experiment_run" and self.store.get("experiment", parent) is None:
                raise HttpError(404, f"experiment not found: no experiment found for id {parent}: not found")
            if kind == "serve_model":
                get_or_404(self.store, "inference_service", parent)
            return self.create(kind, clean, parent)

        return handler

    def patcher(self, kind: str) -> Handler:
        def handler(m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            ident = path_id(m["id"], KINDS[kind])
            current = get_or_404(self.store, kind, ident)
            clean = decode_entity(kind, body, "Update")
            check_columns(KINDS[kind].words, None, clean)
            try:
                return 200, self.store.update(kind, ident, clean)
            except Conflict:  # another entity's externalId: upstream names the patched one (recorded)
                raise conflict(KINDS[kind].words, current["name"]) from None

        return handler

    def service_model(self, m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        service = get_or_404(self.store, "inference_service", path_id(m["id"], KINDS["inference_service"]))
        return 200, get_or_404(self.store, "registered_model", int(service["registeredModelId"]))

    def service_version(self, m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        """The service's model version, or its registered model's latest one (upstream's fallback)."""
        service = get_or_404(self.store, "inference_service", path_id(m["id"], KINDS["inference_service"]))
        if service.get("modelVersionId"):
            return 200, get_or_404(self.store, "model_version", int(service["modelVersionId"]))
        versions = self.items("model_version", int(service["registeredModelId"]))
        if not versions:
            raise not_found(KINDS["model_version"], service["registeredModelId"])
        return 200, max(versions, key=lambda v: (int(v["createTimeSinceEpoch"]), int(v["id"])))


class Api:
    """Routes of both API versions; ``dispatch`` answers one request."""

    def __init__(self, store: Store) -> None:
        self.store = store
        entities = Entities(store)
        arts = artifacts.Artifacts(store)
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        for method, pattern, handler, alpha in arts.routes(_ID):  # first: /experiment_runs/metric_history
            self._add(method, pattern, handler, alpha)
        for kind, plural, single, owner_words, alpha in ENTITY_ROUTES:
            self._add("GET", rf"/{plural}", entities.lister(kind), alpha)
            self._add("POST", rf"/{plural}", entities.creator(kind), alpha)
            self._add("GET", rf"/{plural}/{_ID}", entities.getter(kind), alpha)
            self._add("PATCH", rf"/{plural}/{_ID}", entities.patcher(kind), alpha)
            self._add("GET", rf"/{single}", entities.finder(kind, owner_words), alpha)
        children = (
            ("registered_models", "versions", "model_version", "registered_model", False, ""),
            ("serving_environments", "inference_services", "inference_service", "serving_environment", False, "Create"),
            ("inference_services", "serves", "serve_model", "inference_service", False, "Create"),
            ("experiments", "experiment_runs", "experiment_run", "experiment", True, "Create"),
        )
        for plural, child, kind, parent_kind, alpha, variant in children:
            must_exist = kind == "experiment_run"
            self._add(
                "GET",
                rf"/{plural}/{_ID}/{child}",
                entities.child_lister(kind, parent_kind, must_exist=must_exist),
                alpha,
            )
            self._add(
                "POST",
                rf"/{plural}/{_ID}/{child}",
                entities.creator(kind, parent_from_path=parent_kind, variant=variant),
                alpha,
            )
        self._add("GET", rf"/inference_services/{_ID}/model", entities.service_model, False)
        self._add("GET", rf"/inference_services/{_ID}/version", entities.service_version, False)

    def _add(self, method: str, pattern: str, handler: Handler, alpha: bool) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, alpha))

    def dispatch(
        self, method: str, path: str, query: dict[str, str], read_body: Callable[[], Any], version: ApiVersion
    ) -> tuple[int, Any]:
        """Route first (404/405 before the body is read), then read the body and answer."""
        allowed = False
        for route_method, pattern, handler, alpha in self.routes:
            if alpha and version.name != "v1alpha3":
                continue
            match = pattern.match(path)
            if match is None:
                continue
            allowed = True
            if route_method != method:
                continue
            try:
                return handler(match, query, read_body())
            except BadRequest as exc:
                raise HttpError(400, str(exc)) from None
            except Unprocessable as exc:  # upstream's body says "Bad Request" with the status 422
                raise HttpError(422, str(exc), code=CODES[400]) from None
            except TooLong as exc:
                raise HttpError(500, str(exc)) from None
            except NotFound as exc:
                raise HttpError(404, str(exc)) from None
        raise NoRoute(405 if allowed else 404)


__all__ = ["CODES", "MAX_BODY", "Api", "HttpError", "NoRoute", "parse_int32"]
