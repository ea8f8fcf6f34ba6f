"""Secrets never leave the process: registered values, URL userinfo and queries, auth headers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from mr_storage_initializer import logs
from mr_storage_initializer.redact import forget_secrets, redact_text, register_env_secrets, register_secret


@pytest.fixture(autouse=True)
def _clean_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


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
