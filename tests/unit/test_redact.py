"""Secrets never leave the process: registered values, URL userinfo and queries, auth headers."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mr_storage_initializer import logs, redact
from mr_storage_initializer.redact import (
    redact_text,
    redact_url,
    register_env_secrets,
    register_secret,
)


@pytest.fixture(autouse=True)
def _clean_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_secrets", set())  # this test's secrets only, gone after it


def test_signed_url_query_string_is_masked() -> None:
    text = redact_text("GET https://bucket.example/model.bin?X-Amz-Signature=abc123&X-Amz-Credential=k failed")
    assert text == "GET https://bucket.example/model.bin?*** failed"


def test_userinfo_is_masked() -> None:
    assert redact_text("s3://user:pa55word@host/b") == "s3://***@host/b"


def test_model_registry_namespace_query_is_kept() -> None:
    assert redact_text("model-registry://iris?namespace=team") == "model-registry://iris?namespace=team"


def test_bearer_and_authorization_values_are_masked() -> None:
    assert "tok-en" not in redact_text("Authorization: Bearer tok-en")
    assert "xyz" not in redact_text("headers={'authorization': 'xyz'}")


def test_registered_secret_is_masked_anywhere() -> None:
    register_secret("s3cr3t-value")
    assert redact_text("the key s3cr3t-value leaked") == "the key *** leaked"


def test_environment_and_storage_config_secrets_are_registered() -> None:
    register_env_secrets(
        {
            "AWS_SECRET_ACCESS_KEY": "aws-secret-1",
            "MODEL_REGISTRY_TOKEN": "mr-token-1",
            "STORAGE_CONFIG": json.dumps({"type": "s3", "secret_access_key": "cfg-secret-1", "bucket": "public"}),
        }
    )
    text = redact_text("aws-secret-1 mr-token-1 cfg-secret-1 public")
    assert text == "*** *** *** public"


def test_log_lines_of_any_logger_are_redacted_in_text_and_json() -> None:
    register_secret("hunter2-token")
    for fmt in ("text", "json"):
        stream = io.StringIO()
        logs.configure(fmt, stream=stream)
        logging.getLogger("storage.initializer").info("using hunter2-token at %s", "https://h/p?sig=1")
        logging.getLogger("mr_storage_initializer").info("x", extra={"step": "resolved", "uri": "https://h/p?sig=2"})
        out = stream.getvalue()
        assert "hunter2-token" not in out and "sig=1" not in out and "sig=2" not in out
        assert out.count("***") >= 3
    logs.configure("text")


def test_json_log_lines_are_one_object_each() -> None:
    stream = io.StringIO()
    logs.configure("json", stream=stream)
    logging.getLogger("mr_storage_initializer").info("hello", extra={"step": "parsed", "readings": 1})
    logs.configure("text")
    record = json.loads(stream.getvalue().strip())
    assert record["step"] == "parsed" and record["readings"] == 1 and record["message"] == "hello"


def test_per_host_header_values_are_secrets() -> None:
    register_env_secrets({"models.example.com-headers": '{"X-Api-Key": "k-777-secret", "Accept": "*/*"}'})
    assert "k-777-secret" not in redact_text("sent X-Api-Key k-777-secret")


# -- hardening round 2 (issue #11, case 8) -------------------------------------------------------------------
def test_short_secrets_are_not_masked_as_free_text() -> None:
    register_env_secrets({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    text = "model iris version latest from s3://test-models/latest/m.bin: contest"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "AWS_SECRET_ACCESS_KEY=test",
        "aws_secret_access_key = 'test'",
        '{"secret_access_key": "test", "bucket": "b"}',
        "endpoint=https://h key=test",
        "Authorization: Bearer test",
        "bearer test",
    ],
)
def test_short_secrets_are_masked_where_they_stand_as_a_whole_value(text: str) -> None:
    register_env_secrets({"AWS_SECRET_ACCESS_KEY": "test"})
    assert "test" not in redact_text(text).replace("https", "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:p@ss#w?rd@host:8080/m.bin", "http://***@host:8080/m.bin"),
        ("https://u:a?b@c#d@h/x?sig=1", "https://***@h/x?***"),
        ("s3://b//k?X-Amz-Signature=abc123&X-Amz-Credential=k", "s3://b//k?***"),
        ("https://h/p%3FX-Amz-Signature%3Dabc123", "https://h/p%3F***"),
        ("gs://b/k#frag-secret", "gs://b/k#***"),
        ("s3://bucket/models/v1@2x/m.bin", "s3://bucket/models/v1@2x/m.bin"),
    ],
)
def test_url_userinfo_query_and_fragment_are_masked_without_a_valid_url(url: str, shown: str) -> None:
    assert redact_text(f"failed: {url} (x)") == f"failed: {shown} (x)"


def test_signature_parameters_are_masked_without_a_scheme() -> None:
    text = 'Path "k//x?X-Amz-Signature=abc123def&X-Amz-Credential=AKIA7/x" contained empty path segment'
    out = redact_text(text)
    assert "abc123def" not in out and "AKIA7" not in out
    assert "contained empty path segment" in out
    encoded = redact_text("HEAD http-less b/k%3FX-Amz-Signature%3Dabc123def%26X-Amz-Date%3D1 failed")
    assert "abc123def" not in encoded


def test_the_english_word_after_bearer_is_kept() -> None:
    register_secret("tok-3f9c1d2e-registry")
    assert redact_text("missing or invalid bearer token") == "missing or invalid bearer token"
    assert redact_text("Authorization: Bearer tok-3f9c1d2e-registry") == "Authorization: Bearer ***"
    assert redact_text("sent Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig") == "sent Bearer ***"


# -- one redaction for every URL that leaves the process (issue #20, item 5) ------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:pw-1@registry:8080", "http://***@registry:8080"),
        ("admin:pw-1@registry:8080", "***@registry:8080"),
        ("registry:8080", "registry:8080"),
        ("https://h/m.bin?X-Amz-Signature=abc&X-Amz-Credential=AKIA1", "https://h/m.bin?***"),
        ("model-registry://iris/v1?namespace=team", "model-registry://iris/v1?namespace=team"),
        ("model-registry://admin:pw-1@h/iris/v1", "model-registry://***@h/iris/v1"),
        ("s3://bucket/models/v1@2x/m.bin", "s3://bucket/models/v1@2x/m.bin"),
        ("", ""),
    ],
)
def test_redact_url_masks_userinfo_and_query_with_or_without_a_scheme(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_user_password_at_host_without_a_scheme_is_masked_in_free_text() -> None:
    text = redact_text("'admin:p@ss-w0rd@registry.example:8443' is not a valid registry HOST[:PORT]")
    assert text == "'***@registry.example:8443' is not a valid registry HOST[:PORT]"
    kept = "2026-11-24T10:00:00.123Z INFO step: s3://b/v1@2x/k user@host ok"
    assert redact_text(kept) == kept
