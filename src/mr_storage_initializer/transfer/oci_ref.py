"""``oci://`` references and platforms: ``oci://HOST[:PORT]/REPO[:TAG|@DIGEST]`` parsed (no I/O), and the
entry of an image index for a platform."""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.redact import redact_url

DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
_TAG = re.compile(r"^\w[\w.-]{0,127}$")


@dataclass(frozen=True)
class OciRef:
    host: str  # HOST[:PORT] as written
    repository: str
    tag: str = "latest"
    digest: str = ""

    @property
    def reference(self) -> str:
        return self.digest or self.tag

    def __str__(self) -> str:
        return f"oci://{self.host}/{self.repository}" + (f"@{self.digest}" if self.digest else f":{self.tag}")


def parse_oci_uri(uri: str) -> OciRef:
    """``oci://HOST[:PORT]/REPO[:TAG|@DIGEST]``; no tag means ``latest``; no host is a usage error."""
    body = uri.removeprefix("oci://")
    host, slash, rest = body.partition("/")
    usage = f"{redact_url(uri)!r} is not an OCI reference; expected oci://HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST]"
    if not slash or not rest or not ("." in host or ":" in host or host == "localhost") or "@" in host:
        raise UsageError(usage + " (with the registry's host first)")
    repository, at, digest = rest.partition("@")
    tag = ""
    name, colon, maybe_tag = repository.rpartition(":")
    if colon and "/" not in maybe_tag:
        repository, tag = name, maybe_tag
    if not _REPO.match(repository) or (tag and not _TAG.match(tag)) or (at and not DIGEST.match(digest)):
        raise UsageError(usage)
    host = host.lower()
    if host in DOCKER_HUB and "/" not in repository:  # docker.io/ubuntu is docker.io/library/ubuntu
        repository = f"library/{repository}"
    return OciRef(host, repository, tag or "latest", digest if at else "")


def api_host(host: str) -> str:
    """Where a registry's API answers: Docker Hub's names are served by ``registry-1.docker.io``."""
    return "registry-1.docker.io" if host in DOCKER_HUB else host


def goarch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _platform(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    found = entry.get("platform")
    return found if isinstance(found, dict) else {}


def pick(manifests: object, wanted: str) -> Mapping[str, Any] | None:
    """The index entry for ``wanted`` (``os/arch[/variant]``); the only entry when there is one."""
    entries = [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []
    os_name, arch, *variant = wanted.split("/")
    for entry in entries:
        plat = _platform(entry)
        if (
            plat.get("os") == os_name
            and plat.get("architecture") == arch
            and (not variant or plat.get("variant") == variant[0])
        ):
            return entry
    real = [e for e in entries if _platform(e).get("architecture") != "unknown"]
    return real[0] if len(real) == 1 else None
