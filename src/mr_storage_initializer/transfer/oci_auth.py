"""Credentials for ``oci://``: a docker ``config.json`` entry for a registry host, and the registry's
``WWW-Authenticate`` challenge (``Bearer realm=…,service=…,scope=…`` or ``Basic``).

Where the config is looked up, first file with an entry for the host wins: ``KSERVE_OCI_DOCKER_CONFIG``
(the file KServe's webhook mounts; default ``/mnt/oci-fetch-auth/config.json``), then
``$DOCKER_CONFIG/config.json``, then ``REGISTRY_AUTH_FILE`` (podman, skopeo), then the variable
``.dockerconfigjson`` (a ``kubernetes.io/dockerconfigjson`` secret passed with ``envFrom``: a
ClusterStorageContainer cannot mount volumes). An entry gives ``auth``
(base64 ``user:password``) or ``username``/``password``, or an ``identitytoken`` (an OAuth2 refresh token,
exchanged at the token realm). Credential helpers (``credsStore``, ``credHelpers``) are not run.
Nothing here logs a secret: every credential and token is registered with the redaction filter.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.redact import register_secret
from mr_storage_initializer.transfer.oci_ref import DOCKER_HUB

log = logging.getLogger("mr_storage_initializer.transfer")
KSERVE_CONFIG = "/mnt/oci-fetch-auth/config.json"  # kserve_storage's default for KSERVE_OCI_DOCKER_CONFIG
# A kubernetes.io/dockerconfigjson secret's key: a variable of that name (envFrom) holds the config itself;
# the official client's save_to_oci_registry reads it too
INLINE = ".dockerconfigjson"
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    """What a config entry gives: a user and password, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    origin: str = ""  # the file it came from (for messages)

    def basic(self) -> str | None:
        if not (self.username or self.password):
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    """A ``WWW-Authenticate`` answer: ``scheme`` (``bearer`` or ``basic``) and its parameters."""

    scheme: str
    params: Mapping[str, str]


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def config_paths(env: Mapping[str, str]) -> list[str]:
    """The docker config files to read, in order (those that do not exist are skipped when read)."""
    paths = [env.get("KSERVE_OCI_DOCKER_CONFIG", "").strip() or KSERVE_CONFIG]
    if env.get("DOCKER_CONFIG", "").strip():
        paths.append(os.path.join(env["DOCKER_CONFIG"].strip(), "config.json"))
    if env.get("REGISTRY_AUTH_FILE", "").strip():
        paths.append(env["REGISTRY_AUTH_FILE"].strip())
    return list(dict.fromkeys(paths))


def _key_host(key: str) -> str:
    """A config's ``auths`` key as a host[:port]: ``https://host/v1/`` → ``host``."""
    bare = key.strip().lower()
    bare = bare.split("://", 1)[1] if "://" in bare else bare
    return bare.split("/", 1)[0]


def _same_registry(key: str, host: str) -> bool:
    found, wanted = _key_host(key), host.lower()
    return found == wanted or (found in DOCKER_HUB and wanted in DOCKER_HUB)


def _configs(env: Mapping[str, str]) -> Iterator[tuple[str, object]]:
    """(where, parsed config) of each config file that exists, then of ``.dockerconfigjson``."""
    for path in config_paths(env):
        try:
            with open(path, encoding="utf-8") as handle:
                config = json.load(handle)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read the docker config {path}: {exc}") from None
        yield path, config
    inline = env.get(INLINE, "").strip()
    if inline:
        register_secret(inline)
        try:
            config = json.loads(inline)
        except ValueError:
            raise StorageError(f"the variable {INLINE} is not a docker config.json") from None
        yield f"the variable {INLINE}", config


def lookup(env: Mapping[str, str], host: str) -> Credentials | None:
    """The credentials for registry ``host`` (``HOST[:PORT]``), or None (anonymous)."""
    for path, config in _configs(env):
        auths = config.get("auths") if isinstance(config, dict) else None
        if not isinstance(auths, dict):
            continue
        for key, entry in auths.items():
            if isinstance(entry, dict) and _same_registry(str(key), host):
                found = _entry(entry, path, str(key))
                if found is not None:
                    return found
        if isinstance(config, dict) and (config.get("credsStore") or config.get("credHelpers")):
            log.info("%s names a credential helper; helpers are not run, only auths entries are read", path)
    return None


def _entry(entry: Mapping[str, object], path: str, key: str) -> Credentials | None:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    raw = entry.get("auth")
    if isinstance(raw, str) and raw.strip():
        try:
            decoded = base64.b64decode(raw.strip(), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise StorageError(f"the 'auth' of {key!r} in {path} is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise StorageError(f"the 'auth' of {key!r} in {path} is not base64 of user:password")
    identity = str(entry.get("identitytoken") or "")
    for secret in (password, identity, raw if isinstance(raw, str) else ""):
        register_secret(secret or None)
    if not (username or password or identity):
        return None
    return Credentials(username, password, identity, path)
