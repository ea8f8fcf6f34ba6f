"""``oci://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]`` on the own engine: the OCI distribution API v2.

- The reference is resolved once: a tag to the digest of its manifest (pinned: every later request names
  the digest), an image index to the manifest of ``linux/<this machine's architecture>`` (as kserve_storage
  picks it; ``MODEL_REGISTRY_OCI_PLATFORM`` picks another; an index with one manifest gives that one). The
  manifest's bytes are checked against its digest. OCI and Docker v2 schema 2 media types.
- Blobs are :class:`~.plan.RemoteFile` s under ``.mr-oci-blobs/`` in staging, fetched by the fast engine
  in ranges (``Range`` on ``GET /v2/REPO/blobs/DIGEST``), the digest as their version (so an interrupted run
  resumes them); :mod:`.oci_engine` checks each digest and applies the layers (:mod:`.oci_layers`).
- Auth (:mod:`.oci_auth`): anonymous, Basic, or the Bearer token flow of the registry's challenge. The
  ``Authorization`` header goes only to the registry's own origin (scheme, host, port): redirects (blob GETs
  to object storage with a signed URL) are followed here, without it.
- ``KSERVE_OCI_INSECURE_REGISTRY`` (``1``/``true``/``yes``): plain HTTP, as kserve_storage; else HTTPS with
  the CA bundles of every other scheme. Mirrors (``MODEL_REGISTRY_OCI_MIRRORS``) are asked first, in order;
  the upstream registry when a mirror fails or lacks the content.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from mr_storage_initializer import USER_AGENT, json_body, proxy
from mr_storage_initializer.options import OciOptions
from mr_storage_initializer.redact import redact_url, register_secret
from mr_storage_initializer.tls import http_context
from mr_storage_initializer.transfer import oci_auth, wire
from mr_storage_initializer.transfer.oci_ref import DIGEST, api_host, goarch, parse_oci_uri, pick
from mr_storage_initializer.transfer.plan import RemoteFile
from mr_storage_initializer.transfer.source import Sink, SourceError, transport_failure

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_MAX_MANIFEST = 4 << 20
_WHERE = "KSERVE_OCI_DOCKER_CONFIG (a docker config.json), DOCKER_CONFIG, REGISTRY_AUTH_FILE or .dockerconfigjson"
_READ_CHUNK = 1 << 20
_MAX_REDIRECTS = 5
_TLS = "check REQUESTS_CA_BUNDLE or the CA bundle, or KSERVE_OCI_INSECURE_REGISTRY for a plain-HTTP registry"
_PINNED: dict[tuple[str, str, str, str], Pinned] = {}  # resolved once per run (the fingerprint asks first)
# (endpoint, repository) → the Authorization value that answered its challenge (a token or Basic), for the run
_AUTH: dict[tuple[str, str], str] = {}
_AUTH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Pinned:
    """The image manifest the reference resolved to: its digest and parsed body (and the index's digest)."""

    digest: str
    manifest: Mapping[str, Any] = field(repr=False)
    index_digest: str = ""


class OciSource:
    """The fast engine's :class:`~.source.Source` for one OCI reference (set ``blobs`` before ``list``)."""

    label = "oci"

    def __init__(
        self, uri: str, env: Mapping[str, str], options: OciOptions, *, connections: int = 8, timeout: float = 60.0
    ) -> None:
        from mr_storage_initializer.policy import check_endpoint

        self.ref = parse_oci_uri(uri)
        self.options = options
        self.env = env
        scheme = "http" if options.insecure else "https"
        mirrors = options.mirrors.get(self.ref.host, options.mirrors.get("*", ()))
        for mirror in mirrors:
            check_endpoint(mirror, "the OCI registry mirror (MODEL_REGISTRY_OCI_MIRRORS)")
        self.endpoints = [*mirrors, f"{scheme}://{api_host(self.ref.host)}"]
        self._dead: set[str] = set()  # mirrors that failed at the transport level: not asked again this run
        self._where: dict[str, str] = {}  # blob digest → the endpoint that served it first
        self._lock = threading.Lock()
        self.blobs: list[RemoteFile] = []
        self.timeout = max(1.0, min(wire.TIMEOUT, timeout / 3))
        self._timeout = wire.timeout(self.timeout)
        self.pool = wire.new_pool(
            connections,
            http_context(env) if any(e.startswith("https:") for e in self.endpoints) else None,
            proxies=proxy.of_env(env),  # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as every other scheme
        )

    @property
    def what(self) -> str:
        return str(self.ref)

    # -- HTTP with auth -------------------------------------------------------------------------------
    def _send(self, url: str, headers: Mapping[str, str]) -> Any:
        import urllib3

        try:
            return self.pool.request(
                "GET",
                url,
                headers=dict(headers),
                preload_content=False,
                decode_content=False,
                redirect=False,
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            error = transport_failure(exc, self.timeout, _TLS)
            raise SourceError(f"{error.message} ({redact_url(url)})", transient=error.transient) from exc

    def _get(self, endpoint: str, path: str, headers: Mapping[str, str]) -> Any:
        """GET ``endpoint + path``: the registry's credentials on its own origin only, a 401 answered once
        (token or Basic), redirects followed without them. Statuses >= 400 are returned to the caller."""
        url = endpoint + path
        for attempt in range(2):
            sent = {"User-Agent": USER_AGENT, **headers}
            with _AUTH_LOCK:
                auth = _AUTH.get((endpoint, self.ref.repository))
            if auth:
                sent["Authorization"] = auth
            response = self._follow(url, sent)
            if response.status != 401 or attempt:
                return response
            challenge = oci_auth.parse_challenge(response.headers.get("WWW-Authenticate", ""))
            wire.discard(response)
            value = self._answer(endpoint, challenge)
            if value is None:
                return self._follow(url, sent)  # nothing to offer: the caller sees the 401
            with _AUTH_LOCK:
                _AUTH[(endpoint, self.ref.repository)] = value
        raise AssertionError("unreachable")  # pragma: no cover

    def _follow(self, url: str, headers: dict[str, str]) -> Any:
        first = wire.origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send(url, headers)
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            wire.discard(response)
            url = urljoin(url, location)
            if wire.origin(url) != first:  # a signed URL on object storage: never the registry's credentials
                headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
        raise SourceError(f"too many redirects for {self.what}", transient=False)

    def _answer(self, endpoint: str, challenge: oci_auth.Challenge | None) -> str | None:
        """The ``Authorization`` value answering ``challenge`` at ``endpoint``, or None."""
        credentials = oci_auth.lookup(self.env, urlsplit(endpoint).netloc)
        if challenge is None or challenge.scheme == "basic":
            return credentials.basic() if credentials else None
        if challenge.scheme != "bearer" or not challenge.params.get("realm"):
            return None
        realm = challenge.params["realm"]
        if urlsplit(realm).scheme not in ("http", "https"):
            raise SourceError(f"the registry's token realm {redact_url(realm)} is not an http(s) URL", transient=False)
        query = {"service": challenge.params.get("service", "")}
        query["scope"] = challenge.params.get("scope") or f"repository:{self.ref.repository}:pull"
        headers = {"User-Agent": USER_AGENT}
        if credentials is not None and credentials.identity_token:
            body = urlencode(
                {
                    **query,
                    "grant_type": "refresh_token",
                    "client_id": "mr-storage-initializer",
                    "refresh_token": credentials.identity_token,
                }
            )
            response = self._post_form(realm, body, headers)
        else:
            basic = credentials.basic() if credentials else None
            if basic:
                headers["Authorization"] = basic
            response = self._send(f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}", headers)
        try:
            body_bytes = response.read(_MAX_MANIFEST)
        finally:
            _done(response)
        if response.status in (401, 403):
            hint = (
                f"the credentials in {credentials.origin} were refused"
                if credentials
                else f"no credentials for it in {_WHERE}"
            )
            raise SourceError(
                f"the registry's token service refused a token for {self.what} (HTTP {response.status}); {hint}",
                transient=False,
            )
        if response.status >= 400:
            raise SourceError(
                f"the registry's token service answered HTTP {response.status}",
                transient=response.status >= 500 or response.status == 429,
            )
        try:
            answer = json_body.loads(body_bytes)
            token = str(answer.get("token") or answer.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise SourceError("the registry's token service gave no token", transient=False)
        register_secret(token)
        return f"Bearer {token}"

    def _post_form(self, url: str, body: str, headers: dict[str, str]) -> Any:
        import urllib3

        try:
            return self.pool.request(
                "POST",
                url,
                body=body,
                redirect=False,
                preload_content=False,
                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise transport_failure(exc, self.timeout, _TLS) from exc

    def _each_endpoint(
        self, path: str, headers: Mapping[str, str], subject: str, prefer: str | None = None
    ) -> tuple[str, Any]:
        """The first endpoint (mirrors, then upstream) that answers ``path`` without an error."""
        endpoints = [e for e in self.endpoints if e not in self._dead]
        if prefer in endpoints:
            endpoints.remove(prefer)
            endpoints.insert(0, prefer)
        last: SourceError | None = None
        for endpoint in endpoints:
            upstream = endpoint == self.endpoints[-1]
            try:
                response = self._get(endpoint, path, headers)
            except SourceError as exc:
                if upstream:
                    raise
                with self._lock:
                    self._dead.add(endpoint)
                last = exc
                continue
            if response.status < 400 or upstream:
                return endpoint, response
            wire.discard(response)
            last = SourceError(f"mirror {endpoint} answered HTTP {response.status}", transient=True)
        raise last or SourceError(f"no registry to ask for {subject}", transient=False)

    def _error(self, status: int, subject: str) -> SourceError:
        if status in (401, 403):
            return SourceError(
                f"the registry refused access to {subject} of {self.what} (HTTP {status}); check the credentials "
                f"for it in {_WHERE}",
                transient=False,
            )
        if status == 404:
            return SourceError(
                f"{subject} of {self.what} does not exist (HTTP 404); check the artifact's uri", transient=False
            )
        return SourceError(
            f"the registry answered HTTP {status} for {subject} of {self.what}",
            transient=status in (408, 429) or status >= 500,
        )

    # -- manifests --------------------------------------------------------------------------------------
    def _manifest(self, reference: str, subject: str) -> tuple[str, Mapping[str, Any], str]:
        """(digest, body, media type) of the manifest ``reference``; a digest reference is checked."""
        accept = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
        path = f"/v2/{self.ref.repository}/manifests/{reference}"
        _, response = self._each_endpoint(path, {"Accept": accept}, subject)
        if response.status >= 400:
            wire.discard(response)
            raise self._error(response.status, subject)
        try:
            body = response.read(_MAX_MANIFEST + 1)
        finally:
            _done(response)
        if len(body) > _MAX_MANIFEST:
            raise SourceError(f"the {subject} of {self.what} is over {_MAX_MANIFEST} bytes", transient=False)
        algorithm = reference.split(":", 1)[0] if DIGEST.match(reference) else "sha256"
        digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
        if DIGEST.match(reference) and digest != reference:
            raise SourceError(
                f"the {subject} of {self.what} has digest {digest}, not the {reference} asked for; refusing it",
                transient=False,
            )
        announced = response.headers.get("Docker-Content-Digest", "")
        if announced and announced.startswith(algorithm + ":") and announced != digest:
            raise SourceError(f"the {subject} of {self.what} does not match its Docker-Content-Digest", transient=False)
        try:
            parsed = json_body.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SourceError(f"the {subject} of {self.what} is not a JSON object", transient=False)
        media = str(parsed.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0].strip())
        if not media and "manifests" in parsed:
            media = INDEX_TYPES[0]
        return digest, parsed, media

    def resolve(self) -> Pinned:
        """The image manifest the reference names now (asked once per run)."""
        wanted = self.options.platform or f"linux/{goarch()}"
        key = (self.ref.host, self.ref.repository, self.ref.reference, wanted)
        if key in _PINNED:
            return _PINNED[key]
        digest, manifest, media = self._manifest(self.ref.reference, "the manifest")
        index_digest = ""
        if media in INDEX_TYPES:
            index_digest = digest
            entry = pick(manifest.get("manifests"), wanted)
            if entry is None:
                raise SourceError(
                    f"the image index of {self.what} has no manifest for {wanted}; set "
                    "MODEL_REGISTRY_OCI_PLATFORM to one it lists",
                    transient=False,
                )
            digest, manifest, media = self._manifest(str(entry.get("digest", "")), f"the {wanted} manifest")
        if media not in MANIFEST_TYPES:
            raise SourceError(
                f"the manifest of {self.what} has media type {media or 'none'!r}, not an image manifest",
                transient=False,
            )
        pinned = _PINNED[key] = Pinned(digest, manifest, index_digest)
        return pinned

    # -- Source ---------------------------------------------------------------------------------------
    def list(self) -> list[RemoteFile]:
        return list(self.blobs)

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        path = f"/v2/{self.ref.repository}/blobs/{remote.key}"
        with self._lock:
            prefer = self._where.get(remote.key)
        endpoint, response = self._each_endpoint(path, headers, f"blob {remote.key}", prefer)
        with self._lock:
            self._where.setdefault(remote.key, endpoint)
        if response.status >= 400:
            wire.discard(response)
            raise self._error(response.status, f"blob {remote.key}")
        whole = response.status == 200 and start == 0 and response.headers.get("Content-Length") == str(end)
        yield from wire.stream(response, None if whole else start, _READ_CHUNK, _TLS, timeout=self.timeout, sink=sink)

    def close(self) -> None:
        self.pool.clear()


def _done(response: Any) -> None:
    """A body read as far as wanted: the connection is reused only when nothing of it is left unread."""
    if response.length_remaining == 0:
        response.release_conn()
    else:
        response.close()
