"""Hugging Face Hub source for the fast engine: ``hf://ORG/REPO[:REVISION]`` pinned to one commit.

The Hub's own HTTP API, as ``huggingface_hub`` 2.4 speaks it (so results match ``snapshot_download``):

- ``GET {HF_ENDPOINT}/api/models/{repo}/revision/{revision}`` resolves the revision to a commit sha, once;
- ``GET …/api/models/{repo}/tree/{sha}?recursive=true`` lists every file at that commit (``Link: rel=next``
  pages), with sizes and, for LFS files, the SHA-256 (``lfs.oid``) every such file is checked against;
- ``GET {HF_ENDPOINT}/{repo}/resolve/{sha}/{path}`` serves the bytes: small files directly, LFS and Xet
  files by a redirect to a CDN host, which is followed WITHOUT the token (credentials go only to the Hub
  host) and remembered per file; a signed CDN URL that expired (403) is asked of the Hub afresh.

Xet-backed files take the plain-HTTP path ``huggingface_hub`` itself falls back to without ``hf_xet``
(the resolve URL's redirect); a file over 50 GB, which the Hub serves only over Xet, is :class:`Unsupported`
and the download goes to ``kserve_storage`` (see :mod:`.hf_kserve`). Errors name the repository and the
revision: repository not found, revision not found, gated, refused (401/403).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from mr_storage_initializer import USER_AGENT, json_body, proxy
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.redact import redact_url, register_secret
from mr_storage_initializer.tls import http_context
from mr_storage_initializer.transfer import wire
from mr_storage_initializer.transfer.plan import Patterns, RemoteFile, safe_relpath
from mr_storage_initializer.transfer.source import Sink, SourceError, Unsupported, transport_failure
from mr_storage_initializer.transport import Kind, classify

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_HTTP_DOWNLOAD_SIZE = 50 * 1000 * 1000 * 1000  # huggingface_hub's limit for plain-HTTP downloads
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_READ_CHUNK = 1 << 20
_TLS = "check REQUESTS_CA_BUNDLE or the CA bundle"
_MAX_REDIRECTS = 5
_VARIABLE = re.compile(r"\$(?:(\w+)|\{(\w+)\})")
# (endpoint, repo, revision) → commit: a revision is resolved once per run, though the fingerprint asks first.
_PINNED: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class HfRef:
    """``hf://ORG/REPO[:REVISION]``: the repository id and the revision (branch, tag, sha or ``refs/pr/N``)."""

    repo_id: str
    revision: str

    @property
    def pinned(self) -> bool:
        return bool(_SHA1.match(self.revision))


def parse_hf_uri(uri: str) -> HfRef:
    """kserve's grammar ``hf://ORG/REPO[:REVISION]``, plus revisions with ``/`` after ``:`` or percent-encoded."""
    body = uri.removeprefix("hf://")
    repo_id, _, revision = body.partition(":")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise UsageError(f"{uri!r} is not a Hugging Face URI; expected hf://ORG/REPO[:REVISION]")
    revision = unquote(revision)
    if any(c.isspace() for c in revision) or ".." in revision.split("/"):
        raise UsageError(f"{uri!r} names a malformed revision {revision!r}")
    return HfRef(repo_id, revision or "main")


def hf_token(env: Mapping[str, str]) -> str | None:
    """The token ``huggingface_hub`` would send: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, else the token file
    (HF_TOKEN_PATH, else $HF_HOME/token, else $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token).
    ``env`` is ``Settings.storage_env``: ``~`` and ``$NAME`` are expanded from it, never from the process."""
    token = (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip()
    if token:
        return token
    path = env.get("HF_TOKEN_PATH", "").strip()
    if not path:
        home = env.get("HF_HOME", "").strip()
        if not home:
            cache = env.get("XDG_CACHE_HOME", "").strip() or os.path.join("~", ".cache")
            home = os.path.join(cache, "huggingface")
        path = os.path.join(home, "token")
    path = _expand(path, env)
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read the Hugging Face token file {path}: {exc.strerror}") from None
    return token or None


def _expand(path: str, env: Mapping[str, str]) -> str:
    """``$NAME``/``${NAME}`` from ``env`` (left as they are when unset), then a leading ``~`` as ``env``'s HOME."""
    path = _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), path)
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME", "").strip()
        if not home:
            import pwd

            try:
                home = pwd.getpwuid(os.getuid()).pw_dir
            except KeyError:
                home = "/"
        path = home + path[1:]
    return path


def hub_endpoint(env: Mapping[str, str]) -> str:
    """``HF_ENDPOINT`` (else huggingface.co), refused (exit 3) when the artifact policy blocks its host."""
    from mr_storage_initializer.policy import check_endpoint

    endpoint = (env.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip("/")
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
        raise UsageError(f"HF_ENDPOINT={endpoint!r} must be an http(s):// URL such as {DEFAULT_ENDPOINT}")
    check_endpoint(endpoint, "the Hugging Face endpoint (HF_ENDPOINT)")
    return endpoint


def hub_patterns(patterns: Patterns) -> Patterns:
    """The patterns as ``snapshot_download`` reads them: a pattern ending in ``/`` takes that folder."""

    def folder(pattern: str) -> str:
        return pattern + "*" if pattern.endswith("/") else pattern

    return Patterns(tuple(map(folder, patterns.allow)), tuple(map(folder, patterns.ignore)))


def pinned_commit(endpoint: str, ref: HfRef) -> str | None:
    """The commit this run already resolved ``ref`` to, if it did."""
    return _PINNED.get((endpoint, ref.repo_id, ref.revision))


class HfSource:
    label = "hf"

    def __init__(
        self,
        uri: str,
        env: Mapping[str, str],
        *,
        connections: int = 8,
        timeout: float = wire.TIMEOUT,
        patterns: Patterns | None = None,
    ) -> None:
        self.ref = parse_hf_uri(uri)
        self.endpoint = hub_endpoint(env)
        self.token = hf_token(env)
        register_secret(self.token)
        self.patterns = patterns or Patterns()
        self.commit: str | None = None
        self.lfs: dict[str, str] = {}  # path in the repo → SHA-256 the tree listing gives
        self._listed: list[RemoteFile] | None = None
        self._cdn: dict[str, str] = {}  # path → the CDN URL the Hub redirected to
        self._lock = threading.Lock()
        bound = max(1.0, min(wire.TIMEOUT, timeout / 3))  # a stall leaves time to retry within the deadline
        # wire's pool: the artifact policy checks every host it connects to (the Hub, each CDN host); the
        # redirects are followed here, one by one, so that a CDN URL can be remembered and re-asked.
        self.pool = wire.new_pool(connections, http_context(env), proxies=proxy.of_env(env))
        self.timeout = bound
        self._timeout = wire.timeout(bound)
        self._hub_origin = wire.origin(self.endpoint)
        self._hub_prefix = self.endpoint + "/"
        self._hub_headers = self._headers(self._hub_prefix)
        self._other_headers = self._headers("")

    # -- naming -------------------------------------------------------------------------------------
    @property
    def what(self) -> str:
        return f"Hugging Face repository {self.ref.repo_id} (revision {self.ref.revision})"

    def _hub_error(self, response: Any, subject: str) -> SourceError:
        """The Hub's answer sorted by its ``X-Error-Code``, in a sentence naming repository and revision."""
        status = response.status
        code = response.headers.get("X-Error-Code", "")
        message = response.headers.get("X-Error-Message", "")
        if code == "RepoNotFound" or (
            status == 401 and not code and message != "Invalid credentials in Authorization header"
        ):
            hint = "HF_TOKEN may lack access to it" if self.token else "if it is private, set HF_TOKEN"
            return SourceError(
                f"{self.what} was not found at {self.endpoint} (HTTP {status}); check the artifact's uri, or {hint}",
                transient=False,
            )
        if code == "RevisionNotFound":
            return SourceError(
                f"revision {self.ref.revision!r} of Hugging Face repository {self.ref.repo_id} does not exist "
                f"(HTTP {status}); check the branch, tag or commit after ':' in the artifact's uri",
                transient=False,
            )
        if code == "GatedRepo":
            return SourceError(
                f"{self.what} is gated (HTTP {status}): accept its conditions on the Hub and set HF_TOKEN "
                "to a token of that account",
                transient=False,
            )
        if code == "EntryNotFound":
            return SourceError(
                f"{subject} is listed at commit {self.commit} of {self.what} but the Hub says it does not exist "
                f"(HTTP {status})",
                transient=False,
            )
        if status in (401, 403):
            hint = "HF_TOKEN was refused or lacks access" if self.token else "set HF_TOKEN to a token with access"
            return SourceError(f"access to {self.what} was refused (HTTP {status}); {hint}", transient=False)
        transient = status in (408, 429) or status >= 500
        return SourceError(f"the Hub answered HTTP {status} for {subject} of {self.what}", transient=transient)

    # -- HTTP ---------------------------------------------------------------------------------------
    def _to_hub(self, url: str) -> bool:
        """Whether ``url`` is on the Hub's origin (the one a token may go to)."""
        return url.startswith(self._hub_prefix) or wire.origin(url) == self._hub_origin

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if self.token and self._to_hub(url):  # never to a CDN or any other host
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, url: str, byte_range: tuple[int, int] | None = None) -> Any:
        import urllib3

        # the two header sets are built once; a request copies one only to add its Range
        headers = self._hub_headers if self._to_hub(url) else self._other_headers
        if byte_range is not None:
            headers = {**headers, "Range": f"bytes={byte_range[0]}-{byte_range[1] - 1}"}
        try:
            return self.pool.request(
                "GET",
                url,
                headers=headers,
                preload_content=False,
                decode_content=False,
                redirect=False,
                timeout=self._timeout,
            )
        except urllib3.exceptions.HTTPError as exc:
            error = transport_failure(exc, self.timeout, _TLS)
            if classify(exc).kind is Kind.TIMEOUT:
                host = "the Hub" if self._to_hub(url) else "the CDN"
                error = SourceError(f"{host} did not answer within {self.timeout:g}s", transient=True)
            raise SourceError(f"{error.message} ({redact_url(url)})", transient=error.transient) from exc

    def _api(self, url: str, subject: str) -> tuple[Any, Any]:
        """A JSON answer of the Hub's API (redirects followed on the Hub) and the response's headers."""
        for _ in range(_MAX_REDIRECTS):
            response = self._send(url)
            if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                wire.discard(response)
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status >= 400:
                wire.discard(response)
                raise self._hub_error(response, subject)
            try:
                body = response.read()
            finally:
                response.release_conn()
            try:
                return json_body.loads(body), response.headers
            except ValueError as exc:
                raise SourceError(
                    f"the Hub answered {subject} of {self.what} with something that is not JSON", transient=False
                ) from exc
        raise SourceError(f"too many redirects for {subject} of {self.what}", transient=False)

    # -- Source -------------------------------------------------------------------------------------
    def resolve(self) -> str:
        """The commit sha the revision names (asked once)."""
        key = (self.endpoint, self.ref.repo_id, self.ref.revision)
        if self.commit is None and key in _PINNED:
            self.commit = _PINNED[key]
        if self.commit is None:
            ref = self.ref
            url = f"{self.endpoint}/api/models/{ref.repo_id}/revision/{quote(ref.revision, safe='')}"
            info, _ = self._api(url, "the revision")
            sha = str(info.get("sha", "")) if isinstance(info, dict) else ""
            if not _SHA1.match(sha):
                raise SourceError(f"the Hub gave no commit sha for {self.what}", transient=False)
            self.commit = _PINNED[key] = sha
        return self.commit

    def list(self) -> list[RemoteFile]:
        if self._listed is not None:
            return self._listed
        sha = self.resolve()
        url: str | None = f"{self.endpoint}/api/models/{self.ref.repo_id}/tree/{sha}?recursive=true&expand=false"
        files: list[RemoteFile] = []
        while url:
            page, headers = self._api(url, "the file listing")
            if not isinstance(page, list):
                raise SourceError(f"the Hub's file listing of {self.what} is not a list", transient=False)
            for entry in page:
                if isinstance(entry, dict) and entry.get("type") == "file":
                    files.append(self._remote(entry))
            match = _LINK_NEXT.search(headers.get("Link", ""))
            url = urljoin(url, match.group(1)) if match else None
        for remote in files:
            if remote.size > MAX_HTTP_DOWNLOAD_SIZE and self.patterns.wants(remote.rel):
                raise Unsupported(
                    f"{remote.rel} is {remote.size} bytes, over the 50 GB the Hub serves by plain HTTP; "
                    "only Xet (hf_xet, through kserve_storage) can fetch it"
                )
        self._listed = files
        return files

    def _remote(self, entry: dict[str, Any]) -> RemoteFile:
        path = str(entry.get("path", ""))
        lfs = entry.get("lfs") if isinstance(entry.get("lfs"), dict) else None
        size = int((lfs or {}).get("size", entry.get("size", 0)))
        if lfs and re.match(r"^[0-9a-f]{64}$", str(lfs.get("oid", ""))):
            self.lfs[path] = str(lfs["oid"])
        big = lfs is not None or bool(entry.get("xetHash"))
        # the content's id (git blob, LFS SHA-256): a resumed download keeps a file's ranges only when it matches
        version = str((lfs or {}).get("oid") or entry.get("oid") or self.commit or "")
        return RemoteFile(path, safe_relpath(path, "Hub file path"), size, ranges=big, version=version)

    def _resolve_url(self, path: str) -> str:
        return f"{self.endpoint}/{self.ref.repo_id}/resolve/{self.commit}/{quote(path, safe='/')}"

    def read(
        self, remote: RemoteFile, start: int, end: int, sink: Sink | None = None
    ) -> Iterator[bytes | memoryview | int]:
        byte_range = (start, end) if remote.ranges else None
        with self._lock:
            url = self._cdn.get(remote.key) or self._resolve_url(remote.key)
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send(url, byte_range)
            location = response.headers.get("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                wire.discard(response)
                url = urljoin(url, location)
                if not self._to_hub(url):
                    with self._lock:
                        self._cdn[remote.key] = url
                continue
            if response.status >= 400:
                wire.discard(response)
                raise self._file_error(response, remote, url)
            at = start if remote.ranges else None
            yield from wire.stream(response, at, _READ_CHUNK, _TLS, timeout=self.timeout, sink=sink)
            return
        raise SourceError(f"too many redirects for {remote.rel} of {self.what}", transient=False)

    def _file_error(self, response: Any, remote: RemoteFile, url: str) -> SourceError:
        if self._to_hub(url):
            return self._hub_error(response, remote.rel)
        with self._lock:  # the CDN refused its URL (expired signature?): ask the Hub for a new one
            self._cdn.pop(remote.key, None)
        status = response.status
        if status in (401, 403, 404, 410):
            return SourceError(
                f"the CDN refused the signed URL of {remote.rel} (HTTP {status}; expired?); "
                "each new attempt asks the Hub for a fresh one",
                transient=True,
            )
        return SourceError(
            f"the CDN answered HTTP {status} for {remote.rel}", transient=status in (408, 429) or status >= 500
        )

    def close(self) -> None:
        self.pool.clear()
