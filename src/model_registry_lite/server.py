"""HTTP front of the embedded registry: routing, auth, body limits, and the spec's error bodies.

Routes live under ``/api/model_registry/v1alpha3`` (the spec) and, as an alias, ``/api/model_registry/v1``
(the path newer releases of the official Python client call).
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from model_registry_lite.schemas import ARTIFACT_TYPES, BadRequest, validate
from model_registry_lite.store import MAX_PAGE_SIZE, ORDER_COLUMNS, Conflict, NotFound, Store, decode_token

PREFIXES = ("/api/model_registry/v1alpha3", "/api/model_registry/v1")
MAX_BODY = 1024 * 1024
DEFAULT_PAGE_SIZE = 100
_ID = r"(?P<id>[^/]+)"
# Resources of the spec this registry does not implement: 501, never 404 or a crash.
UNIMPLEMENTED = re.compile(r"^/(serving_environments?|inference_services?|experiments?|experiment_runs?)(/.*)?$")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_CODES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    501: "Not Implemented",
}


def _id(raw: str) -> int:
    """An entity id from a path or query; anything but digits names nothing, hence 404 (as documented)."""
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 and int(raw) > 0):
        raise HttpError(404, f"no entity has id {raw!r}: ids are strings of digits")
    return int(raw)


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
            if table == "artifact":
                clean.setdefault("state", "UNKNOWN")
            return 201, self.store.create(table, 0, clean)

        return handler

    def _child_creator(self, kind: str) -> Callable[..., tuple[int, Any]]:
        del kind

        def handler(m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
            parent = _id(m["id"])
            if isinstance(body, dict) and "registeredModelId" not in body:
                body = {**body, "registeredModelId": str(parent)}
            clean = validate("model_version", body, create=True)
            if clean["registeredModelId"] != str(parent):
                raise HttpError(400, "registeredModelId does not match the path")
            return self._create_version(parent, clean)

        return handler

    def _create_version(self, parent: int, clean: dict[str, Any]) -> tuple[int, Any]:
        if self.store.get("registered_model", parent) is None:
            raise HttpError(404, f"registered model {parent} not found")
        clean.setdefault("state", "LIVE")
        return 201, self.store.create("model_version", parent, clean)

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
            if (
                table == "artifact"
                and isinstance(body, dict)
                and body.get("artifactType", current_type) != current_type
            ):
                raise HttpError(400, "artifactType cannot change")
            clean = validate(table, body, create=False, artifact_type=current_type)
            return 200, self.store.update(table, ident, clean)

        return handler

    def _upsert_version_artifact(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        version = _id(m["id"])
        if self.store.get("model_version", version) is None:
            raise HttpError(404, f"model version {version} not found")
        if isinstance(body, dict) and body.get("id") is not None:
            ident = _id(str(body["id"]))
            current = self.store.get("artifact", ident)
            if current is None:
                raise HttpError(404, f"artifact {ident} not found")
            patch = {
                k: v
                for k, v in body.items()
                if k not in ("id", "name", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
            }
            clean = validate("artifact", patch, create=False, artifact_type=current.get("artifactType"))
            return 200, self.store.update("artifact", ident, clean, parent=version)
        clean = validate("artifact", body, create=True)
        clean.setdefault("state", "UNKNOWN")
        return 201, self.store.create("artifact", version, clean)

    # -- dispatch ----------------------------------------------------------------------------------------
    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
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
                except Conflict as exc:
                    raise HttpError(409, str(exc)) from None
                except NotFound as exc:
                    raise HttpError(404, str(exc)) from None
        if UNIMPLEMENTED.match(path):
            raise HttpError(501, f"{method} {path} is not implemented by mr-registry-lite")
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path}")
        raise HttpError(404, f"no such resource: {path}")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mr-registry-lite"
    server: RegistryServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"code": _CODES.get(status, str(status)), "message": message})

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        length_header = self.headers.get("Content-Length", "0") or "0"
        if not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            raise HttpError(400, "invalid Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            self.close_connection = True
            raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            raise HttpError(400, "a JSON request body is required")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "the request body is not valid JSON") from None

    def _handle(self, method: str) -> None:
        try:
            split = urlsplit(self.path)
            path = next((split.path[len(p) :] for p in PREFIXES if split.path.startswith(p + "/")), None)
            if path is None:
                raise HttpError(404, f"no such resource: {split.path}")
            token = self.server.token
            if token is not None:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    raise HttpError(401, "missing or invalid bearer token")
            try:
                query = {
                    k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True, strict_parsing=False).items()
                }
            except ValueError:
                raise HttpError(400, "invalid query string") from None
            body = self._read_body() if method in ("POST", "PATCH") else None
            status, payload = self.server.api.dispatch(method, path.rstrip("/") or "/", query, body)
            self._send(status, payload)
        except HttpError as exc:
            self._error(exc.status, exc.message)
        except Exception as exc:  # a bug: answer 500 with the error body rather than dropping the connection
            self._error(500, f"internal error: {type(exc).__name__}")

    def __getattr__(self, name: str) -> Any:
        # Any other method (HEAD, OPTIONS, TRACE, …): 405 on a known path, 404 elsewhere, as JSON.
        if name.startswith("do_") and name[3:].isalpha():
            return lambda: self._handle(name[3:])
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, headers too long) also get the spec's error body."""
        del explain
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._error(code, message or _CODES.get(code, "error"))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class RegistryServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], store: Store, *, token: str | None = None, verbose: bool = False
    ) -> None:
        super().__init__(address, Handler)
        self.api = Api(store)
        self.token = token
        self.verbose = verbose
