"""A small synchronous client for the Model Registry REST API (v1 or v1alpha3): the calls resolution makes.

Only GETs are made. Transient failures (connection errors, timeouts, 429, 5xx) are retried; 4xx are final.
One deadline (``MODEL_REGISTRY_TIMEOUT``) bounds the whole conversation by the wall clock, reads included
(:mod:`.registry_exchange` makes each GET; :mod:`.registry_answers` says what an answer means).
The client owns which API it speaks (:mod:`.api_version`): ``api_prefix``, tried in order from the
setting's list, and ``api_confirmed``; until a real answer proves that prefix is served, a 404 is checked
against ``GET …/registered_models?pageSize=1`` before it may mean "no such model".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

from mr_storage_initializer import api_version, retry
from mr_storage_initializer.api_version import Learned, version_of
from mr_storage_initializer.errors import RegistryResponseError
from mr_storage_initializer.options import DEFAULT_TIMEOUT
from mr_storage_initializer.proxy import ProxyConfig
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.registry_answers import NOT_SERVED, Json, interpret
from mr_storage_initializer.registry_exchange import Exchange

MAX_PAGES = 200
log = logging.getLogger("mr_storage_initializer.registry")
T = TypeVar("T")


class _Unconfirmed(Exception):
    """A 404-like answer on a prefix nothing has shown to be served yet."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class RegistryClient:
    """GETs JSON from one registry, with auth, TLS verification, retries and strict answer checks.

    ``api_version`` is ``MODEL_REGISTRY_API_VERSION``; ``learned`` what the run knows of its registries
    already (a fresh one when not given)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        token_path: Path | None = None,
        ca_bundle: Path | None = None,
        deadline: float = DEFAULT_TIMEOUT,
        request_timeout: float = 30.0,
        api_version: str = "auto",
        learned: Learned | None = None,
        proxies: ProxyConfig | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._learned = learned if learned is not None else Learned()
        self._http = Exchange(
            self.base_url,
            token=token,
            token_path=token_path,
            ca_bundle=ca_bundle,
            deadline=deadline,
            request_timeout=request_timeout,
            proxies=proxies,
            learned=self._learned,
        )
        self._choose_api(api_version)

    # -- which API -------------------------------------------------------------------------------------
    def _choose_api(self, setting: str) -> None:
        """Point the client at the first API ``setting`` allows; in ``auto``, at one chosen earlier in the run."""
        shown = redact_url(self.base_url)
        candidates = api_version.prefixes(setting)
        self.api_prefix, self._untried = candidates[0], candidates[1:]
        self.api_confirmed = False  # True once an answer showed that api_prefix is served
        self._auto = self._settling = setting not in api_version.PREFIXES  # auto: the run learns what it serves
        if not self._auto:
            self._unserved = (
                f"the model registry at {shown} does not serve API {setting} ({self.api_prefix}), which "
                f"MODEL_REGISTRY_API_VERSION={setting} asks for; set MODEL_REGISTRY_API_VERSION=auto or the "
                "version the registry serves"
            )
            log.info("API %s (MODEL_REGISTRY_API_VERSION=%s)", setting, setting, extra=_extra(setting))
            return
        names = [f"{'API ' if i == 0 else ''}{version_of(p)} ({p})" for i, p in enumerate(candidates)]
        self._unserved = (
            f"the model registry at {shown} serves {api_version.listed(names)}: a list of registered models was "
            f"answered 'not here' (HTTP 404, 405, 410 or 501) on {'both' if len(names) == 2 else 'each'}; is "
            "MODEL_REGISTRY_BASE_URL (or the host in the URI) a Model Registry?"
        )
        known = self._learned.chosen(self.base_url)
        if known is not None:
            (self.api_prefix, self.api_confirmed), self._untried, self._settling = known, (), False
            version = version_of(self.api_prefix)
            log.info("API %s at %s because it was decided earlier in this run", version, shown, extra=_extra(version))

    def _settled(self, why: str) -> None:
        self._settling = False
        self._learned.choose(self.base_url, self.api_prefix, self.api_confirmed)
        version = version_of(self.api_prefix)
        log.info("API %s at %s because %s", version, redact_url(self.base_url), why, extra=_extra(version))

    # -- generic ---------------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False) -> Json | None:
        """GET ``api_prefix + path``; a 404 gives ``None`` when ``missing_ok``, else :class:`RegistryError`.

        While the prefix is unconfirmed, a 404/410 is first checked with :meth:`serves`: an API the
        registry does not serve moves the client to the next one it may try, or is a
        :class:`RegistryResponseError`, never "not found".
        """
        url = f"{self.base_url}{self.api_prefix}{path}"
        if params:
            url += "?" + urlencode(params)
        confirmed = self.api_confirmed

        def meaning(status: int, body: bytes) -> Json | None:
            if not confirmed and status in NOT_SERVED:
                raise _Unconfirmed(status, body)
            return interpret(url, status, body, missing_ok=missing_ok, sent_token=bool(self._http.token))

        try:
            data = self._call(url, meaning)
        except _Unconfirmed as answer:
            if not self.serves(self.api_prefix):
                if not self._untried:
                    raise RegistryResponseError(self._unserved) from None
                unserved = version_of(self.api_prefix)
                self.api_prefix, self._untried = self._untried[0], self._untried[1:]
                if self._settling and not self._untried:  # the last one left
                    self._settled(f"it does not serve {unserved}")
                return self.get(path, params, missing_ok=missing_ok)
            data = interpret(url, answer.status, answer.body, missing_ok=missing_ok, sent_token=bool(self._http.token))
        if data is not None:
            self.api_confirmed = True
        if self.api_confirmed and not confirmed and self._auto:
            if self._settling:
                self._settled(f"it serves {version_of(self.api_prefix)}")
            else:  # the last API left, settled on before, is now proven served too
                self._learned.choose(self.base_url, self.api_prefix, True)
        return data

    def serves(self, prefix: str) -> bool:
        """Whether the registry serves ``prefix``: a real ``GET prefix/registered_models?pageSize=1``.

        404, 405, 410 and 501 mean "not served"; a list answer means served; anything else is an error.
        """
        url = f"{self.base_url}{prefix}/registered_models?pageSize=1"

        def meaning(status: int, body: bytes) -> bool:
            if status in NOT_SERVED:
                return False
            data = interpret(url, status, body, missing_ok=False, sent_token=bool(self._http.token))
            return data is not None and "items" in data and isinstance(data["items"], list | None)

        served = self._call(url, meaning)
        if served and prefix == self.api_prefix:
            self.api_confirmed = True
        return served

    def _call(self, url: str, meaning: Callable[[int, bytes], T]) -> T:
        """One GET of ``url`` with retries inside the deadline and one token re-read on 401."""
        refreshed = False

        def once() -> T:
            nonlocal refreshed
            status, body, after = self._http.request(url)
            if status == 401 and self._http.token_path is not None and not refreshed:
                refreshed = True  # a rotated service-account token: read the file again, once
                self._http.reread_token()
                status, body, after = self._http.request(url)
            try:
                return meaning(status, body)
            except retry.TransientError as exc:  # a 429/503 with Retry-After: waited for (with jitter)
                exc.retry_after = after
                raise

        return retry.call(once, deadline=self._http.end - time.monotonic(), max_attempts=None)

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
        self._http.close()


def _extra(version: str) -> dict[str, str]:
    return {"step": "registry", "api": version}
