"""S3 (and S3-compatible) source for the fast engine, on ``obstore``, configured from KServe's variables.

Each variable keeps the meaning ``kserve_storage`` gives it (``Storage.get_S3_config`` and
``_get_s3_client_kwargs``), so a user can switch engines without touching credentials:

==============================  =========================================================================
AWS_ACCESS_KEY_ID, …SECRET…,    static credentials (``AWS_SESSION_TOKEN`` for temporary ones); without
AWS_SESSION_TOKEN               them, web identity (IRSA), container credentials or instance metadata
AWS_EC2_METADATA_DISABLED       ``true``: never ask the instance metadata service (as botocore); with no
                                other credential source that is a clear error, not a request
AWS_ENDPOINT_URL                S3-compatible endpoint (MinIO, Ceph, …); ``http://`` allowed
AWS_DEFAULT_REGION              signing region (default ``us-east-1``)
S3_VERIFY_SSL                   ``0``/``false`` turns certificate checks off
AWS_CA_BUNDLE                   extra trusted CA (PEM file); missing file is an error, as in KServe
CA_BUNDLE_CONFIGMAP_NAME +      KServe's global CA bundle: ``$CA_BUNDLE_VOLUME_MOUNT_POINT/cabundle.crt``
CA_BUNDLE_VOLUME_MOUNT_POINT
S3_USER_VIRTUAL_BUCKET          ``true``: virtual-hosted-style addressing
S3_CONNECT_TIMEOUT /            seconds (defaults 15 / 30)
S3_READ_TIMEOUT
S3_MAX_ATTEMPTS                 attempts per request (default 3 in KServe; ours 5 unless set)
awsAnonymousCredential          ``true``: unsigned requests
STORAGE_CONFIG,                 KServe's storage-spec JSON (``type: s3``) mapped onto the variables above
STORAGE_OVERRIDE_CONFIG
==============================  =========================================================================

Not honoured here, so those downloads go to ``kserve_storage`` (the reason is logged):
``S3_USE_ACCELERATE=true`` and credentials from AWS profile files (``AWS_PROFILE``, ``~/.aws``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mr_storage_initializer import env_values, proxy
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.tls import s3_ca_bundle
from mr_storage_initializer.transfer.objectstore import ObstoreSource
from mr_storage_initializer.transfer.source import Unsupported

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine, Hooks

_STORAGE_SPEC_KEYS = (
    ("AWS_ENDPOINT_URL", "endpoint_url"),
    ("AWS_ACCESS_KEY_ID", "access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
    ("AWS_DEFAULT_REGION", "region"),
    ("AWS_CA_BUNDLE", "ca_bundle"),
    ("S3_VERIFY_SSL", "verify_ssl"),
    ("awsAnonymousCredential", "anonymous"),
)
_PROFILE_VARS = ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


def storage_spec_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with KServe's ``STORAGE_CONFIG``/``STORAGE_OVERRIDE_CONFIG`` (type s3) applied, as KServe does."""
    merged = dict(env)
    try:
        spec = json.loads(env.get("STORAGE_CONFIG") or "{}")
        spec.update(json.loads(env.get("STORAGE_OVERRIDE_CONFIG") or "{}"))
    except (json.JSONDecodeError, AttributeError, TypeError):
        raise UsageError("STORAGE_CONFIG / STORAGE_OVERRIDE_CONFIG must be JSON objects") from None
    if isinstance(spec, dict) and spec.get("type", "") == "s3":
        for var, key in _STORAGE_SPEC_KEYS:
            if key in spec:
                value = spec[key]
                merged[var] = value if isinstance(value, str) else json.dumps(value)
    return merged


def _true(env: Mapping[str, str], name: str) -> bool:
    return env_values.is_one_of(env, name, ("true",), strip=False)  # KServe's reading: only "true" is true


def _metadata_disabled(env: Mapping[str, str]) -> bool:
    """botocore's reading of ``AWS_EC2_METADATA_DISABLED``: only ``true`` (any case) turns it off."""
    return env_values.is_one_of(env, "AWS_EC2_METADATA_DISABLED", ("true",))


def _other_provider(env: Mapping[str, str]) -> bool:
    """Whether obstore has a credential source other than the instance metadata service (which it asks
    last, when nothing else is set, and which no setting of obstore 0.12 turns off)."""
    web_identity = env.get("AWS_WEB_IDENTITY_TOKEN_FILE", "").strip() and env.get("AWS_ROLE_ARN", "").strip()
    container = any(
        env.get(name, "").strip()
        for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    )
    return bool(web_identity or container)


def store_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The obstore ``S3Store`` keyword arguments for KServe's variables, or :class:`Unsupported`."""
    if _true(env, "S3_USE_ACCELERATE"):
        raise Unsupported("S3_USE_ACCELERATE=true (transfer acceleration) is only implemented by boto3")
    anonymous = _true(env, "awsAnonymousCredential")
    has_keys = bool(env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"))
    if not anonymous and not has_keys:
        profile = [v for v in _PROFILE_VARS if env.get(v)]
        home = Path(env.get("HOME") or "/nonexistent")
        if profile or (home / ".aws" / "credentials").exists() or (home / ".aws" / "config").exists():
            raise Unsupported("credentials come from an AWS profile file, which only boto3 reads")

    if not anonymous and not has_keys and _metadata_disabled(env) and not _other_provider(env):
        raise StorageError(
            "no S3 credentials: AWS_EC2_METADATA_DISABLED=true turns the instance metadata service off, and "
            "no other source is set; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, web identity "
            "(AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN), container credentials "
            "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI), or awsAnonymousCredential=true"
        )

    endpoint = env.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        from mr_storage_initializer.urls import endpoint_problem

        problem = endpoint_problem(endpoint)  # checked at start too; obstore panics on some of these
        if problem is not None:
            raise UsageError(f"the S3 endpoint cannot be used: {problem}; write it as http(s)://HOST[:PORT]")
    region = env.get("AWS_DEFAULT_REGION", "").strip() or "us-east-1"
    config: dict[str, Any] = {"region": region}
    if endpoint:
        config["endpoint"] = endpoint
    if has_keys:
        config["access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        config["secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            config["session_token"] = env["AWS_SESSION_TOKEN"]
    if anonymous:
        config["skip_signature"] = True
    virtual = _true(env, "S3_USER_VIRTUAL_BUCKET") or (
        endpoint == "https://s3.amazonaws.com" and region != "us-east-1"  # KServe's legacy-endpoint rule
    )
    config["virtual_hosted_style_request"] = virtual

    client: dict[str, Any] = {
        "connect_timeout": f"{env_values.whole(env, 'S3_CONNECT_TIMEOUT', 15, 0, 86_400)}s",
        "read_timeout": f"{env_values.whole(env, 'S3_READ_TIMEOUT', 30, 0, 86_400)}s",
        "timeout": "3600s",  # a whole range may take long on a slow link; stalls are caught by read_timeout
        "allow_http": endpoint.startswith("http://"),
        "pool_idle_timeout": "30s",
    }
    # the proxy for the endpoint, by Go's rules (reqwest's own would proxy loopback and read NO_PROXY its way)
    client.update(proxy.of_env(env).obstore_options(endpoint or f"https://s3.{region}.amazonaws.com"))
    if env_values.is_one_of(env, "S3_VERIFY_SSL", ("0", "false"), strip=False):  # KServe's reading
        client["allow_invalid_certificates"] = True
    else:
        bundle = s3_ca_bundle(env)
        if bundle is not None:
            client["root_certificate"] = bundle.read_bytes()
    return {"config": config, "client_options": client, "retry_config": {"max_retries": 0}}


class S3Source(ObstoreSource):
    label = "s3"
    credentials_hint = "check the S3 credentials"
    tls_hint = "check AWS_CA_BUNDLE or S3_VERIFY_SSL"

    def __init__(self, uri: str, env: Mapping[str, str]) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(f"{uri!r} names no bucket")
        from obstore.store import S3Store

        super().__init__(S3Store(bucket, **store_options(env)), prefix)


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for an ``s3://`` URI, with KServe's ``STORAGE_CONFIG`` applied (the scheme row's builder)."""
    from mr_storage_initializer.transfer import own_engine

    return own_engine.on(S3Source(uri, storage_spec_env(settings.storage_env)), settings, tunables, hooks)
