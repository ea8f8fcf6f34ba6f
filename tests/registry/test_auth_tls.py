"""--token requires a bearer token; --tls-cert/--tls-key serve HTTPS; the official client handles both."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from rest_client import Rest

from fixtures.registry import RegistryProcess
from fixtures.tls import TlsFiles
from helpers import client_for

TOKEN = "s3cr3t-registry-token"


def test_token_is_required_on_every_call() -> None:
    with RegistryProcess("--token", TOKEN) as registry:
        for token in (None, "wrong"):
            status, body = Rest(registry.url, token=token).call("GET", "/registered_models")
            assert status == 401
            assert set(body) == {"code", "message"}
        status, _ = Rest(registry.url, token=token).call("POST", "/registered_models", {"name": "x"})
        assert status == 401
        assert Rest(registry.url, token=TOKEN).call("GET", "/registered_models")[0] == 200
        assert Rest(registry.url, token=TOKEN).call("GET", "/registered_models")[1]["items"] == []


def test_tls_with_a_private_ca(tls_files: TlsFiles) -> None:
    ca_pem, chain, key = tls_files.ca, tls_files.chain, tls_files.key
    with RegistryProcess("--tls-cert", chain, "--tls-key", key) as registry:
        assert registry.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(ca_pem))
        assert Rest(registry.url, context=trusted).call("GET", "/registered_models")[0] == 200
        untrusted = ssl.create_default_context()
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            Rest(registry.url, context=untrusted).call("GET", "/registered_models")


def test_official_client_with_user_token_and_custom_ca(tls_files: TlsFiles) -> None:
    ca_pem, chain, key = tls_files.ca, tls_files.chain, tls_files.key
    with RegistryProcess("--tls-cert", chain, "--tls-key", key, "--token", TOKEN) as registry:
        client: Any = client_for(registry.url, user_token=TOKEN, custom_ca=str(ca_pem))
        client.register_model("iris", "s3://b/k", model_format_name="sklearn", model_format_version="1", version="v1")
        assert client.get_model_artifact("iris", "v1").uri == "s3://b/k"
