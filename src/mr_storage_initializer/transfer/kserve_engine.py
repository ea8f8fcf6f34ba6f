"""The engine that hands the URI to KServe's own storage library (``kserve_storage.Storage.download``).

It serves every scheme KServe's storage initializer serves (s3, gs, azure blob and file shares, http(s),
hf, ms, oci, git, hdfs, local paths) with KServe's credential environment variables, unchanged.

``kserve_storage`` joins object keys onto its output directory as they are (an S3 key
``trav/../../escape.txt`` lands two levels above it). So it never gets the staging directory itself: it
writes into the bottom of a chain of :data:`JAIL_DEPTH` nested directories inside staging, deeper than any
object key can climb (S3, GCS and Azure keys are at most 1024 bytes, so at most 342 ``..`` segments).
Afterwards every level of the chain must hold only the next level; anything else was written by a key that
climbed out of the model directory, and the download is refused (exit 5) — the stray file is still inside
staging, which is removed. The model is then moved up from the bottom of the chain.

``kserve_storage`` reads its credentials from ``os.environ``. The engine is given KServe's storage variables
as settings read them, with one download's own applied (a ``storageKey`` entry, an ``s3://…?endpoint=``
URI: :func:`mr_storage_initializer.pipeline.with_plan`); around ``Storage.download`` the process
environment's storage variables are made exactly those, and restored afterwards. This is the one writer of
those variables; such downloads run one at a time (``pipeline.PROCESS_STATE``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mr_storage_initializer import schemes
from mr_storage_initializer.errors import StorageError

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine

JAIL_ROOT = ".mr-kserve-jail"
JAIL_DEPTH = 350  # > 1024 bytes of key / 3 bytes per "../"
_LEVEL = "d"


def engine(settings: Settings) -> Engine:
    """kserve_storage for any URI (a scheme row's ``kserve`` engine, and the engine of URIs no row names)."""
    return KServeEngine(settings.storage_env)


class KServeEngine:
    """``env``: KServe's storage variables as settings read them (for the checks made before handing over)."""

    name = "kserve"
    revision: str | None = None  # kserve_storage reports none

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def download(self, uri: str, dest: Path) -> str:
        from kserve_storage import Storage

        from mr_storage_initializer.logs import adopt_library_loggers
        from mr_storage_initializer.policy import requests_redirect_guard

        adopt_library_loggers()  # importing kserve_storage may have configured its own handlers
        _refuse_headers_across_hosts(uri, self.env)
        for leftover in os.scandir(dest):  # what an interrupted own-engine run kept to resume: not for us
            if leftover.is_dir(follow_symlinks=False):
                shutil.rmtree(leftover.path)
            else:
                os.unlink(leftover.path)
        inner = _make_jail(dest)
        try:
            with _storage_variables(self.env), requests_redirect_guard():  # the policy, after every redirect
                Storage.download(uri, out_dir=str(inner))
            _check_jail(dest, uri)
            _release(dest, inner)
        finally:
            shutil.rmtree(dest / JAIL_ROOT, ignore_errors=True)
        return self.name


@contextmanager
def _storage_variables(env: Mapping[str, str]) -> Iterator[None]:
    """The process's storage variables (settings' selection rule) made exactly ``env``; restored afterwards."""
    from mr_storage_initializer.settings import is_storage_variable

    stale = [name for name in os.environ if is_storage_variable(name) and name not in env]
    changed = {name: value for name, value in env.items() if os.environ.get(name) != value}
    saved = {name: os.environ.get(name) for name in [*stale, *changed]}
    for name in stale:
        del os.environ[name]
    os.environ.update(changed)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _refuse_headers_across_hosts(uri: str, env: Mapping[str, str]) -> None:
    """``kserve_storage`` fetches an http(s) file with ``requests``, which keeps custom headers (the user's
    ``<host>-headers``, an API key) on a redirect to another host. So when such headers are set, the redirects
    are followed here first, without a body; one that leads to another host (scheme, name or port) is
    refused with exit 5 before ``kserve_storage`` runs. (The own engine drops those headers instead.)"""
    from urllib.parse import urljoin, urlsplit

    from mr_storage_initializer.policy import check_redirect
    from mr_storage_initializer.redact import redact_url

    parts = urlsplit(uri)
    if schemes.row_for(uri) is not schemes.HTTP or not env.get(f"{parts.hostname}-headers", "").strip():
        return
    import requests

    from mr_storage_initializer.transfer.http import host_headers

    headers = host_headers(env, parts.hostname or "")
    origin = (parts.scheme, parts.hostname, parts.port)
    url = uri
    for _ in range(10):
        try:
            with requests.get(url, headers=headers, stream=True, allow_redirects=False, timeout=30) as response:
                location = response.headers.get("Location") if response.is_redirect else None
        except requests.RequestException:
            return  # kserve_storage meets the same trouble and reports it
        if location is None:
            return
        url = urljoin(url, location)
        check_redirect(url)  # read strictly: urlsplit and requests must see the same host below
        target = urlsplit(url)
        if (target.scheme, target.hostname, target.port) != origin:
            raise StorageError(
                f"downloading {redact_url(uri)} failed: it redirects to another host ({redact_url(url)}), and "
                f"kserve_storage would send the {parts.hostname}-headers there; refusing. Use the final URL, "
                "or MODEL_REGISTRY_TRANSFER=auto, which drops those headers on such a redirect"
            )


def _make_jail(dest: Path) -> Path:
    inner = dest.joinpath(JAIL_ROOT, *([_LEVEL] * JAIL_DEPTH))
    inner.mkdir(parents=True)
    return inner


def _check_jail(dest: Path, uri: str) -> None:
    """Every level of the chain holds only the next one (and ``dest`` only the chain); else refuse."""
    from mr_storage_initializer.redact import redact_url

    level = dest
    expected = JAIL_ROOT
    for depth in range(JAIL_DEPTH + 1):
        strays = sorted(entry.name for entry in os.scandir(level) if entry.name != expected)
        if strays:
            raise StorageError(
                f"downloading {redact_url(uri)} failed: an object key with '..' segments made kserve_storage "
                f"write {strays[0]!r} {JAIL_DEPTH + 1 - depth} levels above the model directory; refusing the model"
            )
        level = level / expected
        expected = _LEVEL


def _release(dest: Path, inner: Path) -> None:
    """Move the model from the bottom of the chain into ``dest``."""
    for entry in os.scandir(inner):
        os.rename(entry.path, dest / entry.name)
