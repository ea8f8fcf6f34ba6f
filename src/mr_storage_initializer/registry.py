"""A small synchronous client for the Model Registry REST API (v1alpha3), on urllib3.

urllib3 is already in the image (under ``requests`` and ``botocore``), so this adds no HTTP stack.
Only GETs are made. Transient failures (connection errors, timeouts, 429, 5xx) are retried; 4xx are final.
One deadline (``MODEL_REGISTRY_TIMEOUT``) bounds the whole conversation by the wall clock, reads included:
each exchange runs in a daemon thread the caller stops waiting for at the deadline, so a registry that
trickles its headers or body a byte at a time is given up in time. Redirects are not followed: a token must
never be sent to another host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
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
PROBE_MAX_BYTES = 64 * 1024  # a registry's answer to ?pageSize=1 is small; more is not a registry
log = logging.getLogger("mr_storage_initializer.registry")

Json = dict[str, Any]


def read_token_file(path: Path) -> str:
    """The token in ``path``: its first line that is neither empty nor a ``#`` comment, stripped."""
    where = f"the registry token file {path} (MODEL_REGISTRY_TOKEN_PATH)"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryAuthError(f"cannot read {where}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryAuthError(f"{where} is not UTF-8 text; write the token as plain text") from None
    lines = (line.strip() for line in text.splitlines())
    token = next((line for line in lines if line and not line.startswith("#")), "")
    if not token:
        raise RegistryAuthError(f"{where} is empty (or holds only # comments)")
    return header_token(token, where)


def header_token(token: str, where: str) -> str:
    """``token`` if it can go into an ``Authorization`` header; else a sentence naming ``where``, never the value."""
    register_secret(token)
    if any(ord(c) > 0xFF or (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in token):
        raise RegistryAuthError(
            f"{where} holds a token that cannot be sent in an HTTP header "
            "(a line break, a control character or a character outside Latin-1); check its content"
        )
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
        if token:
            self._token: str | None = header_token(token, "MODEL_REGISTRY_TOKEN")
        else:
            self._token = read_token_file(token_path) if token_path else None
        self._deadline = deadline
        self._end = time.monotonic() + deadline  # the whole conversation, every GET of it
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
        refreshed = False

        def once() -> Json | None:
            nonlocal refreshed
            status, body = self._request(url)
            if status == 401 and self._token_path is not None and not refreshed:
                refreshed = True  # a rotated service-account token: read the file again, once
                self._token = read_token_file(self._token_path)
                status, body = self._request(url)
            return self._interpret(url, status, body, missing_ok=missing_ok, sent_token=bool(self._token))

        return retry.call(once, deadline=self._end - time.monotonic(), max_attempts=None)

    def _request(self, url: str) -> tuple[int, bytes]:
        """One GET and its whole body, given up at the conversation's deadline however slowly it trickles."""
        remaining = self._end - time.monotonic()
        outcome: list[tuple[int, bytes] | BaseException] = []
        if remaining > 0:
            per_read = min(self._request_timeout, remaining)
            worker = threading.Thread(
                target=lambda: outcome.append(_catch(lambda: self._exchange(url, per_read))),
                name="registry-request",
                daemon=True,
            )
            worker.start()
            worker.join(remaining)
        if not outcome:
            raise RegistryUnreachableError(
                f"the model registry at {redact_text(url)} did not answer within MODEL_REGISTRY_TIMEOUT="
                f"{self._deadline:g}s (the bound of the whole registry conversation, retries and slow answers "
                "included); check the registry, or raise MODEL_REGISTRY_TIMEOUT"
            )
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _exchange(self, url: str, timeout: float) -> tuple[int, bytes]:
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
    def _interpret(url: str, status: int, body: bytes, *, missing_ok: bool, sent_token: bool = True) -> Json | None:
        where = redact_text(url)
        if retry.transient_status(status):
            final = RegistryError(f"the model registry answered HTTP {status} for {where}: {_error_message(body)}")
            raise retry.TransientError(f"the model registry answered HTTP {status} for {where}", final)
        if status == 401 and not sent_token:
            raise RegistryAuthError(
                f"the model registry requires credentials (HTTP 401) for {where}: {_error_message(body)}; "
                "none were sent: set MODEL_REGISTRY_TOKEN or MODEL_REGISTRY_TOKEN_PATH"
            )
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
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, UsageError):
            outcome.append(False)
            return
        if response.status in (401, 403):
            response.close()
            outcome.append(True)
            return
        try:
            body = response.read(PROBE_MAX_BYTES + 1)  # never a whole 100 MB answer in memory
            data = json.loads(body) if len(body) <= PROBE_MAX_BYTES else None
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            data = None
        finally:
            response.close()
        if data is None:
            outcome.append(False)
            return
        outcome.append(response.status == 200 and isinstance(data, dict) and "items" in data)

    thread = threading.Thread(target=attempt, name="registry-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def _catch(fn: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes] | BaseException:
    try:
        return fn()
    except Exception as exc:  # handed to the waiting caller, which raises it
        return exc


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
