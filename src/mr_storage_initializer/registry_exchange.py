"""One GET of the Model Registry and its whole answer, within the conversation's deadline; and the probe.

urllib3 is already in the image (under ``requests`` and ``botocore``), so this adds no HTTP stack; a
plain-HTTP registry reached directly is asked through :mod:`.plain_http`, without importing it. Each
exchange runs in a daemon thread the caller stops waiting for at the deadline, so a registry that trickles
its headers or body a byte at a time is given up in time. Redirects are not followed: a token must never be
sent to another host. What a failed exchange means is :func:`mr_storage_initializer.transport.classify`'s
table: TLS is final (exit 4, pointing at ``MODEL_REGISTRY_CA_BUNDLE``), a refused connection is waited for
quietly until the deadline (:mod:`.reachability`), anything else is tried again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer import USER_AGENT, json_body, retry, tls
from mr_storage_initializer.api_version import PREFERRED, VERSIONS, Learned, prefixes, version_of
from mr_storage_initializer.errors import RegistryResponseError, RegistryUnreachableError, UsageError
from mr_storage_initializer.plain_http import DirectPool
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.reachability import Unreachable
from mr_storage_initializer.redact import redact_text, redact_url
from mr_storage_initializer.tokens import header_token, read_token_file

if TYPE_CHECKING:
    import urllib3
else:  # read only when an exchange failed: a plain-HTTP registry is asked without it
    from mr_storage_initializer.plain_http import urllib3

MAX_BODY_BYTES = 16 * 1024 * 1024
PROBE_MAX_BYTES = 64 * 1024  # a registry's answer to ?pageSize=1 is small; more is not a registry
log = logging.getLogger("mr_storage_initializer.registry")

Answer = tuple[int, bytes, float | None]  # status, body, Retry-After in seconds


class Exchange:
    """The connection side of one registry conversation: pool, bearer token, TLS trust and the deadline."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        token_path: Path | None,
        ca_bundle: Path | None,
        deadline: float,
        request_timeout: float,
        proxies: ProxyConfig | None,
        learned: Learned,
    ) -> None:
        self.base_url = base_url
        self.token_path = token_path
        if token:
            self.token: str | None = header_token(token, "MODEL_REGISTRY_TOKEN")
        else:
            self.token = read_token_file(token_path) if token_path else None
        self._deadline = deadline
        self.end = time.monotonic() + deadline  # the whole conversation, every GET of it
        self._request_timeout = request_timeout
        self._learned = learned
        self._unreachable = Unreachable(redact_url(base_url), self.end, deadline)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self._pool = registry_pool(base_url, ca_bundle, proxies, headers=headers, num_pools=2, maxsize=2)

    def reread_token(self) -> None:
        """Read ``MODEL_REGISTRY_TOKEN_PATH`` again (a rotated service-account token)."""
        assert self.token_path is not None
        self.token = read_token_file(self.token_path)

    def request(self, url: str) -> Answer:
        """One GET and its whole body, given up at the conversation's deadline however slowly it trickles."""
        remaining = self.end - time.monotonic()
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
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        where = redact_url(url)
        try:
            response = self._pool.request(
                "GET",
                url,
                headers=headers,
                timeout=(min(timeout, 10.0), timeout),
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            from mr_storage_initializer.transport import Kind, classify  # here: only a failure needs it

            failure = classify(exc)
            if failure.kind is Kind.TLS:
                raise RegistryUnreachableError(
                    f"TLS verification failed for the model registry at {where}: {failure.text}; "
                    "set MODEL_REGISTRY_CA_BUNDLE to the CA that signed its certificate"
                ) from None
            if failure.kind is Kind.CONNECT:  # refused, no route, no such name: it may be starting
                raise self._unreachable.failed(failure) from None
            check = (
                "check HTTPS_PROXY / HTTP_PROXY, or list the registry's host in NO_PROXY"
                if failure.kind is Kind.PROXY
                else "check MODEL_REGISTRY_BASE_URL, the host in the URI, and that the registry is running"
            )
            via = " through the proxy" if failure.kind is Kind.PROXY else ""
            final = RegistryUnreachableError(
                f"cannot reach the model registry at {where}{via}: {failure.text}; {check}"
            )
            raise retry.TransientError(f"registry request to {where} failed: {failure.text}", final) from None
        try:
            body = response.read(MAX_BODY_BYTES + 1, decode_content=True)
        except urllib3.exceptions.HTTPError as exc:
            from mr_storage_initializer.transport import classify

            failure = classify(exc)
            final = RegistryUnreachableError(f"the model registry at {where} broke off its answer: {failure.text}")
            if not failure.transient:  # TLS failed mid-answer
                raise final from None
            raise retry.TransientError(f"reading the answer of {where} failed: {failure.text}", final) from None
        finally:
            response.release_conn()
        self._warn_if_deprecated(url, response.headers)
        if len(body) > MAX_BODY_BYTES:
            raise RegistryResponseError(f"the model registry at {where} sent more than {MAX_BODY_BYTES} bytes")
        return response.status, body, retry.retry_after(response.headers.get("Retry-After"))

    def _warn_if_deprecated(self, url: str, headers: Mapping[str, str]) -> None:
        """One warning per registry and API for a ``Deprecation`` or ``Sunset`` header (RFC 9745, 8594)."""
        marks = {name: headers.get(name) for name in ("Deprecation", "Sunset") if headers.get(name)}
        if not marks:
            return
        api = next((p for _, p in VERSIONS if url.startswith(f"{self.base_url}{p}/")), "")
        if not self._learned.first_warning(f"{self.base_url}{api}"):
            return
        shown = ", ".join(f"{name}: {_printable(value)}" for name, value in marks.items())
        version = version_of(api) or "(unknown)"
        advice = f"; upgrade the registry to one that serves {PREFERRED}, which the initializer prefers"
        log.warning(
            "the model registry at %s marks API %s as deprecated (%s)%s",
            redact_url(self.base_url),
            version,
            shown,
            advice if api and version != PREFERRED else "",
            extra={"step": "registry", "api": version},
        )

    def close(self) -> None:
        self._pool.clear()


def registry_pool(
    base_url: str,
    ca_bundle: Path | None,
    proxies: ProxyConfig | None,
    *,
    headers: Mapping[str, str] | None = None,
    raw_errors: bool = False,
    **pool_kw: Any,
) -> DirectPool:
    """The registry's pool: plain sockets where :mod:`.plain_http` serves, else urllib3's (through
    HTTP(S)_PROXY unless NO_PROXY or loopback says otherwise; the registry's CA bundle for https), no retries."""
    proxies = proxies or ProxyConfig()
    if headers is not None:
        pool_kw["headers"] = headers

    def fallback() -> Any:
        from mr_storage_initializer.proxy_pool import pool_manager

        context = tls.registry_context(ca_bundle) if base_url.startswith("https://") else None
        return pool_manager(proxies, ssl_context=context, retries=False, **pool_kw)

    return DirectPool(fallback, proxies, headers=headers, raw_errors=raw_errors)


def probe(
    base_url: str,
    *,
    timeout: float,
    ca_bundle: Path | None = None,
    prefixes: Sequence[str] = prefixes("auto"),
    proxies: ProxyConfig | None = None,
) -> str | None:
    """The first of ``prefixes`` at which a Model Registry answers at ``base_url`` (200 list or 401/403), or None.

    At most one bounded GET per prefix, all within ``timeout``. Name resolution is not covered by socket
    timeouts, so the GETs run in a daemon thread joined with ``timeout``. Any failure means "no registry".
    """
    outcome: list[str] = []
    started = time.monotonic()

    def attempt() -> None:
        try:
            pool = registry_pool(base_url, ca_bundle, proxies, raw_errors=True)  # any failure: "no registry here"
            for prefix in prefixes:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    return
                response = pool.request(
                    "GET",
                    f"{base_url}{prefix}/registered_models?pageSize=1",
                    timeout=remaining,
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
                except (OSError, ValueError):  # first: a failure of the plain pool never loads urllib3
                    data = None
                except urllib3.exceptions.HTTPError:
                    data = None
                finally:
                    response.close()
                if response.status == 200 and isinstance(data, dict) and "items" in data:
                    outcome.append(prefix)
                    return
        except (OSError, UsageError):
            return
        except urllib3.exceptions.HTTPError:
            return

    thread = threading.Thread(target=attempt, name="registry-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else None


def _printable(value: str | None) -> str:
    text = "".join(ch for ch in (value or "") if ch.isprintable())[:80]
    return redact_text(text)


def _catch(fn: Callable[[], Answer]) -> Answer | BaseException:
    try:
        return fn()
    except Exception as exc:  # handed to the waiting caller, which raises it
        return exc
