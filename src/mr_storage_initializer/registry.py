"""A small synchronous client for the Model Registry REST API (v1 or v1alpha3), on urllib3.

urllib3 is already in the image (under ``requests`` and ``botocore``), so this adds no HTTP stack.
Only GETs are made. Transient failures (connection errors, timeouts, 429, 5xx) are retried; 4xx are final.
One deadline (``MODEL_REGISTRY_TIMEOUT``) bounds the whole conversation by the wall clock, reads included:
each exchange runs in a daemon thread the caller stops waiting for at the deadline, so a registry that
trickles its headers or body a byte at a time is given up in time. Redirects are not followed: a token must
never be sent to another host.
Which API version a client speaks is its ``api_prefix`` (chosen by :mod:`.api_version`); until a real
answer proves that prefix is served, a 404 is checked against ``GET …/registered_models`` before it may
mean "no such model".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3

from mr_storage_initializer import __version__, json_body, retry, tls
from mr_storage_initializer.api_version import API_V1, API_V1ALPHA3
from mr_storage_initializer.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryResponseError,
    RegistryUnreachableError,
    UsageError,
)
from mr_storage_initializer.options import DEFAULT_TIMEOUT
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.proxy_pool import pool_manager
from mr_storage_initializer.reachability import Unreachable
from mr_storage_initializer.redact import redact_text, redact_url
from mr_storage_initializer.tokens import header_token, read_token_file

API_PREFIX = API_V1ALPHA3  # the default of a client nobody chose a version for
NOT_SERVED = frozenset({404, 405, 410, 501})  # answers to a list call that mean "this API is not here"
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_PAGES = 200
PROBE_MAX_BYTES = 64 * 1024  # a registry's answer to ?pageSize=1 is small; more is not a registry
log = logging.getLogger("mr_storage_initializer.registry")

Json = dict[str, Any]
Answer = tuple[int, bytes, float | None]  # status, body, Retry-After in seconds
T = TypeVar("T")
_warned_deprecation: set[str] = set()


class _Unconfirmed(Exception):
    """A 404-like answer on a prefix nothing has shown to be served yet."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


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
        api_prefix: str = API_PREFIX,
        proxies: ProxyConfig | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_prefix = api_prefix
        self.api_confirmed = False  # True once an answer showed that api_prefix is served
        self.api_unserved = f"the model registry at {redact_url(self.base_url)} does not serve {api_prefix}"
        # auto (api_version.choose): the prefix to try when the first answer shows api_prefix is not served,
        # and who hears which one the registry's answers decided
        self.api_fallback: str | None = None
        self.on_api_decided: Callable[[str, str], None] | None = None
        self._token_path = token_path
        if token:
            self._token: str | None = header_token(token, "MODEL_REGISTRY_TOKEN")
        else:
            self._token = read_token_file(token_path) if token_path else None
        self._deadline = deadline
        self._end = time.monotonic() + deadline  # the whole conversation, every GET of it
        self._request_timeout = request_timeout
        self._unreachable = Unreachable(redact_url(self.base_url), self._end, deadline)
        self._pool = pool_manager(  # through HTTP(S)_PROXY unless NO_PROXY (or loopback) says otherwise
            proxies or ProxyConfig(),
            num_pools=2,
            maxsize=2,
            ssl_context=tls.registry_context(ca_bundle) if self.base_url.startswith("https://") else None,
            retries=False,
            headers={"Accept": "application/json", "User-Agent": f"mr-storage-initializer/{__version__}"},
        )

    # -- generic ---------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False) -> Json | None:
        """GET ``api_prefix + path``; a 404 gives ``None`` when ``missing_ok``, else :class:`RegistryError`.

        While the prefix is unconfirmed, a 404/410 is first checked with :meth:`serves`: an API the
        registry does not serve is a :class:`RegistryResponseError` (``api_unserved``), never "not found".
        """
        url = f"{self.base_url}{self.api_prefix}{path}"
        if params:
            url += "?" + urlencode(params)
        confirmed = self.api_confirmed

        def interpret(status: int, body: bytes) -> Json | None:
            if not confirmed and status in NOT_SERVED:
                raise _Unconfirmed(status, body)
            return self._interpret(url, status, body, missing_ok=missing_ok, sent_token=bool(self._token))

        try:
            data = self._call(url, interpret)
        except _Unconfirmed as answer:
            if not self.serves(self.api_prefix):
                if self.api_fallback is not None:  # auto: no v1 here; the same request in v1alpha3
                    self.api_prefix, self.api_fallback = self.api_fallback, None
                    self._decided("it does not serve v1")
                    return self.get(path, params, missing_ok=missing_ok)
                raise RegistryResponseError(self.api_unserved) from None
            data = self._interpret(url, answer.status, answer.body, missing_ok=missing_ok, sent_token=bool(self._token))
        if data is not None:
            self.api_confirmed = True
        if self.api_confirmed and self.api_fallback is not None:
            self.api_fallback = None
            self._decided("it serves v1")
        return data

    def _decided(self, why: str) -> None:
        if self.on_api_decided is not None:
            self.on_api_decided(self.api_prefix, why)

    def serves(self, prefix: str) -> bool:
        """Whether the registry serves ``prefix``: a real ``GET prefix/registered_models?pageSize=1``.

        404, 405, 410 and 501 mean "not served"; a list answer means served; anything else is an error.
        """
        url = f"{self.base_url}{prefix}/registered_models?pageSize=1"

        def interpret(status: int, body: bytes) -> bool:
            if status in NOT_SERVED:
                return False
            data = self._interpret(url, status, body, missing_ok=False, sent_token=bool(self._token))
            return data is not None and "items" in data and isinstance(data["items"], list | None)

        served = self._call(url, interpret)
        if served and prefix == self.api_prefix:
            self.api_confirmed = True
        return served

    def _call(self, url: str, interpret: Callable[[int, bytes], T]) -> T:
        """One GET of ``url`` with retries inside the deadline and one token re-read on 401."""
        refreshed = False

        def once() -> T:
            nonlocal refreshed
            status, body, after = self._request(url)
            if status == 401 and self._token_path is not None and not refreshed:
                refreshed = True  # a rotated service-account token: read the file again, once
                self._token = read_token_file(self._token_path)
                status, body, after = self._request(url)
            try:
                return interpret(status, body)
            except retry.TransientError as exc:  # a 429/503 with Retry-After: waited for (with jitter)
                exc.retry_after = after
                raise

        return retry.call(once, deadline=self._end - time.monotonic(), max_attempts=None)

    def _request(self, url: str) -> Answer:
        """One GET and its whole body, given up at the conversation's deadline however slowly it trickles."""
        remaining = self._end - time.monotonic()
        outcome: list[Answer | BaseException] = []
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
                f"the model registry at {redact_url(url)} did not answer within MODEL_REGISTRY_TIMEOUT="
                f"{self._deadline:g}s (the bound of the whole registry conversation, retries and slow answers "
                "included); check the registry, or raise MODEL_REGISTRY_TIMEOUT"
            )
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _exchange(self, url: str, timeout: float) -> Answer:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        where = redact_url(url)
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
        except urllib3.exceptions.NewConnectionError as exc:  # refused, no route, no such name: it may be starting
            raise self._unreachable.failed(exc) from None
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
        _warn_if_deprecated(self.base_url, url, response.headers)
        if len(body) > MAX_BODY_BYTES:
            raise RegistryResponseError(f"the model registry at {where} sent more than {MAX_BODY_BYTES} bytes")
        return response.status, body, retry.retry_after(response.headers.get("Retry-After"))

    @staticmethod
    def _interpret(url: str, status: int, body: bytes, *, missing_ok: bool, sent_token: bool = True) -> Json | None:
        where = redact_url(url)
        if retry.transient_status(status):
            final = RegistryError(f"the model registry answered HTTP {status} for {where}: {_error_message(body)}")
            raise retry.TransientError(f"the model registry answered HTTP {status} for {where}", final)
        if status == 407:
            raise RegistryUnreachableError(
                f"the proxy for {where} requires credentials (HTTP 407): put them in HTTP_PROXY / HTTPS_PROXY "
                "(http://user:password@proxy:port), or list the registry's host in NO_PROXY"
            )
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
            data = json_body.loads(body)
        except json_body.TooDeep:
            raise RegistryResponseError(
                f"the model registry answered {where} with JSON nested too deep to decode (about 1,000 levels "
                "or more; a Model Registry's answers nest a few levels)"
            ) from None
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


def probe(
    base_url: str,
    *,
    timeout: float,
    ca_bundle: Path | None = None,
    prefixes: Sequence[str] = (API_V1, API_V1ALPHA3),
    proxies: ProxyConfig | None = None,
) -> str | None:
    """The first of ``prefixes`` at which a Model Registry answers at ``base_url`` (200 list or 401/403), or None.

    At most one bounded GET per prefix, all within ``timeout``. Name resolution is not covered by socket
    timeouts, so the GETs run in a daemon thread joined with ``timeout``.
    """
    outcome: list[str] = []
    started = time.monotonic()

    def attempt() -> None:
        try:
            pool = pool_manager(
                proxies or ProxyConfig(),
                retries=False,
                ssl_context=tls.registry_context(ca_bundle) if base_url.startswith("https://") else None,
            )
            for prefix in prefixes:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    return
                response = pool.request(
                    "GET",
                    f"{base_url}{prefix}/registered_models?pageSize=1",
                    timeout=urllib3.Timeout(total=remaining),
                    redirect=False,
                    preload_content=False,
                )
                if response.status in (401, 403):
                    response.close()
                    outcome.append(prefix)
                    return
                try:
                    body = response.read(PROBE_MAX_BYTES + 1)  # never a whole 100 MB answer in memory
                    data = json_body.loads(body) if len(body) <= PROBE_MAX_BYTES else None
                except (urllib3.exceptions.HTTPError, OSError, ValueError):
                    data = None
                finally:
                    response.close()
                if response.status == 200 and isinstance(data, dict) and "items" in data:
                    outcome.append(prefix)
                    return
        except (urllib3.exceptions.HTTPError, OSError, UsageError):
            return

    thread = threading.Thread(target=attempt, name="registry-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else None


def _warn_if_deprecated(base_url: str, url: str, headers: Mapping[str, str]) -> None:
    """One warning per registry and API for a ``Deprecation`` or ``Sunset`` answer header (RFC 9745, 8594)."""
    marks = {name: headers.get(name) for name in ("Deprecation", "Sunset") if headers.get(name)}
    if not marks:
        return
    api = next((p for p in (API_V1ALPHA3, API_V1) if url.startswith(f"{base_url}{p}/")), "")
    key = f"{base_url}{api}"
    if key in _warned_deprecation:
        return
    _warned_deprecation.add(key)
    shown = ", ".join(f"{name}: {_printable(value)}" for name, value in marks.items())
    version = api.rsplit("/", 1)[-1] or "(unknown)"
    advice = (
        "; upgrade the registry to one that serves v1, which the initializer prefers" if api == API_V1ALPHA3 else ""
    )
    log.warning(
        "the model registry at %s marks API %s as deprecated (%s)%s",
        redact_url(base_url),
        version,
        shown,
        advice,
        extra={"step": "registry", "api": version},
    )


def _printable(value: str | None) -> str:
    text = "".join(ch for ch in (value or "") if ch.isprintable())[:80]
    return redact_text(text)


def _catch(fn: Callable[[], Answer]) -> Answer | BaseException:
    try:
        return fn()
    except Exception as exc:  # handed to the waiting caller, which raises it
        return exc


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return redact_text(str(reason)) or type(exc).__name__


def _error_message(body: bytes) -> str:
    try:
        data = json_body.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return redact_text(data["message"][:300])
    return _snippet(body)


def _is_error_body(body: bytes) -> bool:
    try:
        data = json_body.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("message"), str)


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
    return redact_text(text) if text else "(empty body)"
