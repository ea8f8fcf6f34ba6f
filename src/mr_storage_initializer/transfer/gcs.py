"""Google Cloud Storage source for the fast engine: the JSON API over urllib3, credentials from google-auth.

KServe's rules, so results match ``kserve_storage``'s ``_download_gcs``:

- credentials: Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, workload identity,
  the metadata server), through ``google.auth.default`` itself; none found means anonymous requests, as
  KServe falls back to an anonymous client;
- ``STORAGE_EMULATOR_HOST`` points at an emulator (anonymous), as ``google-cloud-storage`` does;
- ``gs://bucket/path`` lists ``path/`` as a folder; when that is empty, ``path`` is one object, saved
  under its base name; folder placeholders (names ending in ``/``) are skipped, empty files are kept.

One deliberate difference: ``gs://bucket`` (no path) installs the whole bucket; KServe finds nothing there.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from mr_storage_initializer import json_body, proxy
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.tls import http_context
from mr_storage_initializer.transfer import own_engine, wire
from mr_storage_initializer.transfer.plan import RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import Sink, SourceError

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine, Hooks

log = logging.getLogger("mr_storage_initializer.transfer")

_READ_CHUNK = 1 << 20
_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
_DENIED = "check GOOGLE_APPLICATION_CREDENTIALS or the pod's workload identity"
_TLS = "check the CA bundle"


class GcsSource:
    label = "gcs"

    def __init__(self, uri: str, env: Mapping[str, str], *, connections: int = 8) -> None:
        bucket, _, path = uri.removeprefix("gs://").partition("/")
        if not bucket:
            raise StorageError(f"{uri!r} names no bucket")
        self.bucket = bucket
        self.path = path
        emulator = env.get("STORAGE_EMULATOR_HOST", "").strip().rstrip("/")
        self.emulated = bool(emulator)
        if emulator:
            self.base = emulator if "://" in emulator else f"http://{emulator}"
        else:
            self.base = "https://storage.googleapis.com"
        context = http_context(env) if self.base.startswith("https") else None
        self.pool = wire.new_pool(connections, context, proxies=proxy.of_env(env))
        self._env = env
        self._credentials: Any = None
        self._lock = threading.Lock()

    # -- credentials --------------------------------------------------------------------------------
    def _connect(self) -> None:
        if self.emulated:
            return
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            self._credentials, _ = google.auth.default(scopes=[_SCOPE])
        except DefaultCredentialsError:
            log.info("no Google credentials found; anonymous requests, as KServe does", extra={"step": "listing"})

    def _headers(self) -> dict[str, str]:
        if self._credentials is None:
            return {}
        with self._lock:
            if not self._credentials.valid:
                from google.auth.exceptions import GoogleAuthError
                from google.auth.transport.urllib3 import Request

                from mr_storage_initializer.proxy_pool import pool_manager

                # the token endpoint (or the metadata server) by the same proxy rules as every other request
                http = pool_manager(proxy.of_env(self._env), ssl_context=http_context(self._env))
                try:
                    self._credentials.refresh(Request(http))  # type: ignore[no-untyped-call]
                except GoogleAuthError as exc:
                    raise SourceError(f"getting a Google access token failed: {exc}", transient=False) from exc
            return {"Authorization": f"Bearer {self._credentials.token}"}

    def _json(self, url: str) -> Any:
        response = wire.get(self.pool, url, self._headers(), denied_hint=_DENIED, tls_hint=_TLS)
        try:
            body = response.read()
        finally:
            response.release_conn()
        try:
            return json_body.loads(body)
        except ValueError as exc:
            raise SourceError(f"GCS answered {url} with something that is not JSON", transient=False) from exc

    def _object_url(self, name: str) -> str:
        return f"{self.base}/storage/v1/b/{quote(self.bucket, safe='')}/o/{quote(name, safe='')}"

    # -- Source -------------------------------------------------------------------------------------
    def list(self) -> list[RemoteFile]:
        self._connect()
        prefix = self.path if not self.path or self.path.endswith("/") else self.path + "/"
        files: list[RemoteFile] = []
        token = ""
        while True:
            query = {"prefix": prefix, "maxResults": "1000", "fields": "items(name,size,generation),nextPageToken"}
            if token:
                query["pageToken"] = token
            page = self._json(f"{self.base}/storage/v1/b/{quote(self.bucket, safe='')}/o?{urlencode(query)}")
            for item in page.get("items", []):
                name = str(item["name"])
                rel = name[len(self.path) :].lstrip("/") if self.path else name
                if not rel.strip() or rel.endswith("/"):
                    continue
                size, generation = int(item.get("size", 0)), str(item.get("generation", ""))
                files.append(RemoteFile(name, safe_relpath(rel, "GCS object name"), size, version=generation))
            token = page.get("nextPageToken", "")
            if not token:
                break
        if files or not self.path or self.path.endswith("/"):
            return files
        meta = self._json(self._object_url(self.path))  # the URI names one object (404: it does not exist)
        name = posixpath.basename(self.path)
        size, generation = int(meta.get("size", 0)), str(meta.get("generation", ""))
        return [RemoteFile(self.path, safe_relpath(name, "GCS object name"), size, version=generation)]

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        url = self._object_url(remote.key) + "?alt=media"
        if remote.version.isdigit():  # pinned to the generation listed: a newer one answers 412
            url += f"&ifGenerationMatch={remote.version}"
        response = wire.get(self.pool, url, self._headers(), (start, end), denied_hint=_DENIED, tls_hint=_TLS)
        yield from wire.stream(response, start, _READ_CHUNK, _TLS, sink=sink)

    def close(self) -> None:
        self.pool.clear()


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for a ``gs://`` URI (the scheme row's builder)."""
    return own_engine.pooled(GcsSource, uri, settings, tunables, hooks)
