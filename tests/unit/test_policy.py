"""The artifact policy: upstream's ALLOWED_ARTIFACT_URI_PREFIXES cases, and the metadata/link-local block."""

from __future__ import annotations

import pytest

from mr_storage_initializer.errors import ArtifactRefusedError, RedirectRefusedError
from mr_storage_initializer.policy import blocked_host, check_artifact, check_endpoint, check_redirect
from mr_storage_initializer.settings import Settings

# (allowed prefixes, artifact URI, refused by) — the cases of upstream's TestURIValidatorValidate.
UPSTREAM_CASES = [
    ((), "http://169.254.169.254/latest/meta-data/", "blocked"),
    ((), "https://169.254.169.254/latest/api/token", "blocked"),
    ((), "http://[fd00:ec2::254]/latest/meta-data/", "blocked"),
    ((), "http://metadata.google.internal/computeMetadata/v1/", "blocked"),
    ((), "http://169.254.169.254:8080/something", "blocked"),
    ((), "s3://169.254.169.254/bucket/key", "blocked"),
    ((), "http://[fd00:ec2::254]:8080/latest/meta-data/", "blocked"),
    ((), "http://169.254.42.42/exfiltrate", "blocked"),
    ((), "http://metadata.goog/computeMetadata/v1/", "blocked"),
    ((), "http://metadata.google.internal./computeMetadata/v1/", "blocked"),
    ((), "http://metadata.goog./computeMetadata/v1/", "blocked"),
    ((), "http://METADATA.GOOGLE.INTERNAL/computeMetadata/v1/", "blocked"),
    (("http://169.254.169.254/",), "http://169.254.169.254/latest/", "blocked"),
    ((), "s3://any-bucket/model.tar.gz", None),
    ((), "gs://any-bucket/model.tar.gz", None),
    ((), "https://example.com/models/model.tar.gz", None),
    ((), "http://example.com/models/model.tar.gz", None),
    ((), "s3://any-bucket/any-path", None),
    (("s3://my-bucket/",), "s3://my-bucket/models/v1/model.tar.gz", None),
    (("s3://my-bucket/",), "s3://my-bucket/", None),
    (("s3://my-bucket/",), "s3://evil-bucket/payload", "not-allowed"),
    (("s3://my-bucket/",), "https://example.com/model.tar.gz", "not-allowed"),
    (("s3://my-bucket/", "gs://trusted/"), "gs://trusted/model.bin", None),
    (("s3://my-bucket/", "gs://trusted/"), "gs://other-bucket/model.bin", "not-allowed"),
    (("s3://",), "s3://any-bucket/any-path", None),
    (("s3://",), "gs://any-bucket/any-path", "not-allowed"),
    (("", "s3://my-bucket/"), "gs://evil-bucket/payload", "not-allowed"),
    (("s3://my-bucket",), "s3://my-bucket-evil/payload", None),
    (("s3://my-bucket/",), "s3://my-bucket-evil/payload", "not-allowed"),
]


@pytest.mark.parametrize(("prefixes", "uri", "refused"), UPSTREAM_CASES)
def test_upstream_allow_list_and_block_cases(prefixes: tuple[str, ...], uri: str, refused: str | None) -> None:
    if refused is None:
        check_artifact(uri, prefixes)
        return
    with pytest.raises(ArtifactRefusedError) as caught:
        check_artifact(uri, prefixes)
    assert caught.value.exit_code == 3
    expected = "never fetched" if refused == "blocked" else "ALLOWED_ARTIFACT_URI_PREFIXES"
    assert expected in caught.value.message


@pytest.mark.parametrize(
    ("host", "blocked"),
    [
        ("169.254.169.254", True),
        ("169.254.169.254:8080", True),
        ("[fd00:ec2::254]", True),
        ("fd00:ec2::254", True),
        ("[fd00:ec2::254]:8080", True),
        ("metadata.google.internal", True),
        ("metadata.goog", True),
        ("metadata.google.internal.", True),
        ("metadata.goog.", True),
        ("METADATA.GOOGLE.INTERNAL", True),
        ("Metadata.Google.Internal", True),
        ("169.254.1.1", True),
        ("fe80::1", True),
        ("::ffff:169.254.169.254", True),
        ("my-bucket", False),
        ("example.com", False),
        ("10.0.0.1", False),
        ("127.0.0.1", False),
        ("", False),
    ],
)
def test_blocked_host_as_upstream(host: str, blocked: bool) -> None:
    assert (blocked_host(host) is not None) is blocked


def test_allow_list_is_parsed_as_upstream() -> None:
    settings = Settings.from_env({"ALLOWED_ARTIFACT_URI_PREFIXES": " s3://a/ ,, gs://b/ ,"})
    assert settings.allowed_artifact_uri_prefixes == ("s3://a/", "gs://b/")
    assert Settings.from_env({}).allowed_artifact_uri_prefixes == ()


def test_configured_s3_endpoints_are_checked() -> None:
    env = {"STORAGE_CONFIG": '{"type": "s3", "endpoint_url": "http://169.254.169.254"}'}
    endpoints = Settings.from_env(env).storage_endpoints
    assert endpoints == ("http://169.254.169.254",)
    with pytest.raises(ArtifactRefusedError, match="S3 endpoint"):
        check_artifact("s3://bucket/key", (), endpoints)
    check_artifact("gs://bucket/key", (), endpoints)  # the S3 endpoint is not used for gs://
    with pytest.raises(ArtifactRefusedError, match="the endpoint= of the URI"):
        check_endpoint("metadata.goog:80", "the endpoint= of the URI")
    check_endpoint("http://127.0.0.1:9000", "AWS_ENDPOINT_URL")


def test_a_redirect_to_a_blocked_host_is_a_storage_error() -> None:
    with pytest.raises(RedirectRefusedError) as caught:
        check_redirect("http://[fd00:ec2::254]/latest?X-Amz-Signature=secret")
    assert caught.value.exit_code == 5
    assert "secret" not in caught.value.message
    check_redirect("http://127.0.0.1:1/ok")


@pytest.mark.parametrize(
    "uri",
    [
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one number: the resolver reads it so
        "http://0xa9.0xfe.0xa9.0xfe/latest/",
        "http://[::ffff:a9fe:a9fe]/latest/",
        "https://user:pw@169.254.169.254/x",
    ],
)
def test_other_spellings_of_the_metadata_address_are_refused(uri: str) -> None:
    with pytest.raises(ArtifactRefusedError):
        check_artifact(uri, ())
