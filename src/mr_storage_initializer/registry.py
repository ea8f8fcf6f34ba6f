"""A small synchronous client for the Model Registry REST API (v1alpha3), on urllib3.

urllib3 is already in the image (under ``requests`` and ``botocore``), so this adds no HTTP stack.
Only GETs are made. Transient failures (connection errors, timeouts, 429, 5xx) are retried inside one
deadline; 4xx are final. Redirects are not followed: a token must never be sent to another host.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3

from mr_storage_initializer import __version__, retry, tls
from mr_storage_initializer.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryResponseError,
    RegistryUnreachableError,
    UsageError,
)
from mr_storage_initializer.redact import redact_text, register_secret
from mr_storage_initializer.settings import DEFAULT_TIMEOUT

API_PREFIX = "/api/model_registry/v1alpha3"
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_PAGES = 200
log = logging.getLogger("mr_storage_initializer.registry")

Json = dict[str, Any]


def read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RegistryAuthError(
            f"cannot read the registry token file {path} (MODEL_REGISTRY_TOKEN_PATH): {exc.strerror}"
        ) from None
    if not token:
        raise RegistryAuthError(f"the registry token file {path} (MODEL_REGISTRY_TOKEN_PATH) is empty")
    register_secret(token)
    return token


class RegistryClient:
    """GETs JSON from one registry, with auth, TLS verification, retries and strict answer checks."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_path: Path | None = None,
        ca_bundle: Path | None = None,
        deadline: float = DEFAULT_TIMEOUT,
        request_timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token_path = token_path
        self._token = token or (read_token_file(token_path) if token_path else None)
        register_secret(self._token)
        self._deadline = deadline
        self._request_timeout = request_timeout
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=2,
            ssl_context=tls.registry_context(ca_bundle) if self.base_url.startswith("https://") else None,
            retries=False,
            headers={"Accept": "application/json", "User-Agent": f"mr-storage-initializer/{__version__}"},
        )

    # -- generic ---------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False) -> Json | None:
        """GET ``API_PREFIX + path``; a 404 gives ``None`` when ``missing_ok``, else :class:`RegistryError`."""
        url = f"{self.base_url}{API_PREFIX}{path}"
        if params:
            url += "?" + urlencode(params)
        started = time.monotonic()
        refreshed = False

        def once() -> Json | None:
            nonlocal refreshed
            remaining = self._deadline - (time.monotonic() - started)
            status, body = self._request(url, timeout=max(0.5, min(self._request_timeout, remaining)))
            if status == 401 and self._token_path is not None and not refreshed:
                refreshed = True  # a rotated service-account token: read the file again, once
                self._token = read_token_file(self._token_path)
                status, body = self._request(url, timeout=max(0.5, min(self._request_timeout, remaining)))
            return self._interpret(url, status, body, missing_ok=missing_ok)

        return retry.call(once, deadline=self._deadline)

    def _request(self, url: str, *, timeout: float) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        where = redact_text(url)
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.SSLError as exc:
            raise RegistryUnreachableError(
                f"TLS verification failed for the model registry at {where}: {_reason(exc)}; "
                "set MODEL_REGISTRY_CA_BUNDLE to the CA that signed its certificate"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            final = RegistryUnreachableError(
                f"cannot reach the model registry at {where}: {_reason(exc)}; check MODEL_REGISTRY_BASE_URL, "
                "the host in the URI, and that the registry is running"
            )
            raise retry.TransientError(f"registry request to {where} failed: {_reason(exc)}", final) from None
        try:
            body = response.read(MAX_BODY_BYTES + 1, decode_content=True)
        except urllib3.exceptions.HTTPError as exc:
            final = RegistryUnreachableError(f"the model registry at {where} broke off its answer: {_reason(exc)}")
            raise retry.TransientError(f"reading the answer of {where} failed: {_reason(exc)}", final) from None
        finally:
            response.release_conn()
        if len(body) > MAX_BODY_BYTES:
            raise RegistryResponseError(f"the model registry at {where} sent more than {MAX_BODY_BYTES} bytes")
        return response.status, body

    @staticmethod
    def _interpret(url: str, status: int, body: bytes, *, missing_ok: bool) -> Json | None:
        where = redact_text(url)
        if retry.transient_status(status):
            final = RegistryError(f"the model registry answered HTTP {status} for {where}: {_error_message(body)}")
            raise retry.TransientError(f"the model registry answered HTTP {status} for {where}", final)
        if status in (401, 403):
            what = "rejected the credentials" if status == 401 else "denied access"
            raise RegistryAuthError(
                f"the model registry {what} (HTTP {status}) for {where}: {_error_message(body)}; "
                "check MODEL_REGISTRY_TOKEN or MODEL_REGISTRY_TOKEN_PATH and the account's permissions"
            )
        if status == 404 and missing_ok:
            if not _is_error_body(body):
                raise RegistryResponseError(
                    f"{where} answered HTTP 404 without the Model Registry's error body; "
                    "is MODEL_REGISTRY_BASE_URL (or the host in the URI) a Model Registry?"
                )
            return None
        if 300 <= status < 400:
            raise RegistryResponseError(
                f"the model registry redirected {where} (HTTP {status}); redirects are not followed, "
                "point MODEL_REGISTRY_BASE_URL / MODEL_REGISTRY_SCHEME at the final address"
            )
        if status != 200:
            raise RegistryResponseError(
                f"the model registry answered HTTP {status} for {where}: {_error_message(body)}"
            )
        try:
            data = json.loads(body)
        except ValueError:
            raise RegistryResponseError(
                f"the model registry answered {where} with something that is not JSON "
                f"(is MODEL_REGISTRY_BASE_URL a Model Registry?): {_snippet(body)}"
            ) from None
        if not isinstance(data, dict):
            raise RegistryResponseError(f"the model registry answered {where} with JSON that is not an object")
        return data

    def iter_items(self, path: str, params: Mapping[str, str]) -> Iterator[Json]:
        """Every item of a list endpoint, following ``nextPageToken`` (at most :data:`MAX_PAGES` pages)."""
        query = dict(params)
        seen_tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.get(path, query)
            assert page is not None
            items = page.get("items", [])
            if items is None:
                items = []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise RegistryResponseError(f"the model registry's list of {path} has no valid 'items'")
            yield from items
            token = page.get("nextPageToken")
            if not token or not items:
                return
            if not isinstance(token, str) or token in seen_tokens:
                raise RegistryResponseError(f"the model registry's paging of {path} loops or is malformed")
            seen_tokens.add(token)
            query["nextPageToken"] = token
        raise RegistryResponseError(f"the model registry's list of {path} has more than {MAX_PAGES} pages")

    # -- the calls resolution makes ------------------------------------------------------------------
    def find_registered_model(self, name: str) -> Json | None:
        return self.get("/registered_model", {"name": name}, missing_ok=True)

    def find_model_version(self, name: str, registered_model_id: str) -> Json | None:
        return self.get("/model_version", {"name": name, "parentResourceId": registered_model_id}, missing_ok=True)

    def iter_model_versions(self, registered_model_id: str) -> Iterator[Json]:
        """Versions of a model, newest first."""
        params = {"orderBy": "CREATE_TIME", "sortOrder": "DESC", "pageSize": "100"}
        return self.iter_items(f"/registered_models/{registered_model_id}/versions", params)

    def iter_artifacts(self, model_version_id: str) -> Iterator[Json]:
        """Artifacts of a version (every type), newest first."""
        params = {"orderBy": "CREATE_TIME", "sortOrder": "DESC", "pageSize": "100"}
        return self.iter_items(f"/model_versions/{model_version_id}/artifacts", params)

    def close(self) -> None:
        self._pool.clear()


def probe(base_url: str, *, timeout: float, ca_bundle: Path | None = None) -> bool:
    """Whether a Model Registry answers at ``base_url`` (one bounded GET; 200 JSON or 401/403 count).

    Name resolution is not covered by socket timeouts, so the GET runs in a daemon thread joined with
    ``timeout``.
    """
    import threading

    outcome: list[bool] = []

    def attempt() -> None:
        try:
            pool = urllib3.PoolManager(
                retries=False,
                ssl_context=tls.registry_context(ca_bundle) if base_url.startswith("https://") else None,
            )
            response = pool.request(
                "GET",
                f"{base_url}{API_PREFIX}/registered_models?pageSize=1",
                timeout=urllib3.Timeout(total=timeout),
                redirect=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, UsageError):
            outcome.append(False)
            return
        if response.status in (401, 403):
            outcome.append(True)
            return
        try:
            data = json.loads(response.data)
        except ValueError:
            outcome.append(False)
            return
        outcome.append(response.status == 200 and isinstance(data, dict) and "items" in data)

    thread = threading.Thread(target=attempt, name="registry-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return redact_text(str(reason)) or type(exc).__name__


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return redact_text(data["message"][:300])
    return _snippet(body)


def _is_error_body(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("message"), str)


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
    return redact_text(text) if text else "(empty body)"
