"""The engine's pure parts: ranges, safe paths, KServe's patterns and S3 settings, engine choice, tunables."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.transfer import fast_scheme, select_engine
from mr_storage_initializer.transfer.fast_engine import Tunables
from mr_storage_initializer.transfer.plan import Patterns, RemoteFile, safe_relpath, split
from mr_storage_initializer.transfer.s3 import storage_spec_env, store_options
from mr_storage_initializer.transfer.source import Unsupported


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=20),
    chunk=st.integers(min_value=1, max_value=3_000),
)
def test_ranges_cover_every_byte_exactly_once(sizes: list[int], chunk: int) -> None:
    files = [RemoteFile(f"k{i}", f"f{i}", size) for i, size in enumerate(sizes)]
    parts = split(files, chunk)
    for remote in files:
        mine = sorted((p.start, p.end) for p in parts if p.file is remote)
        assert mine[0][0] == 0 and mine[-1][1] == remote.size
        assert all(a[1] == b[0] for a, b in itertools.pairwise(mine))
        assert all(0 < end - start <= chunk for start, end in mine) or remote.size == 0


def test_files_without_ranges_are_one_part() -> None:
    [part] = split([RemoteFile("u", "f", 10_000, ranges=False)], 100)
    assert (part.start, part.end) == (0, 10_000)


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "/etc/passwd", "", "./", "a/..", "\\..\\x"])
def test_unsafe_relative_paths_are_refused(rel: str) -> None:
    with pytest.raises(StorageError, match="outside the model directory"):
        safe_relpath(rel, "key")


@pytest.mark.parametrize(("rel", "safe"), [("a//b/./c", "a/b/c"), ("x.bin", "x.bin"), ("a b/c", "a b/c")])
def test_safe_relative_paths_are_normalized(rel: str, safe: str) -> None:
    assert safe_relpath(rel, "key") == safe


@pytest.mark.parametrize(
    "raw",
    ['["*.json", " *.bin "]', "*.json, *.bin", '"*.json"', "[]", "", "  ", "[1, 2]", "{bad json", "*.a,,*.b"],
)
def test_patterns_are_read_as_kserve_reads_them(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from kserve_storage.kserve_storage import _parse_patterns_from_env

    monkeypatch.setenv("STORAGE_ALLOW_PATTERNS", raw)
    theirs = tuple(_parse_patterns_from_env("STORAGE_ALLOW_PATTERNS") or ())
    assert Patterns.from_env({"STORAGE_ALLOW_PATTERNS": raw}).allow == theirs


@pytest.mark.parametrize(
    "uri",
    [
        "s3://b/k",
        "gs://b/k",
        "hf://org/model",
        "oci://registry/image:tag",
        "https://acct.blob.core.windows.net/c/model",
        "https://acct.file.core.windows.net/share/model",
        "https://github.com/org/repo.git",
        "https://example.com/models/model.bin",
        "http://10.0.0.1:8080/m.onnx",
        "/mnt/pvc/model",
        "pvc://claim/model",
    ],
)
def test_the_own_engine_takes_s3_gcs_azure_blob_and_plain_http(uri: str) -> None:
    expected = {
        "s3://b/k": "s3",
        "gs://b/k": "gcs",
        "https://acct.blob.core.windows.net/c/model": "azure",
        "hf://org/model": "hf",
        "oci://registry/image:tag": "oci",
        "https://example.com/models/model.bin": "http",
        "http://10.0.0.1:8080/m.onnx": "http",
    }
    assert fast_scheme(uri) == expected.get(uri)


def test_preference_kserve_always_picks_kserve() -> None:
    assert select_engine("s3://b/k", Settings(transfer="kserve")).name == "kserve"


def test_preference_fast_refuses_schemes_it_does_not_serve() -> None:
    with pytest.raises(UsageError, match="serves s3://, gs://, Azure Blob, hf://, oci:// and http"):
        select_engine("pvc://claim/model", Settings(transfer="fast"))


def test_s3_options_follow_kserve_variables() -> None:
    options = store_options(
        {
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_ENDPOINT_URL": "http://minio:9000",
            "S3_USER_VIRTUAL_BUCKET": "true",
            "S3_CONNECT_TIMEOUT": "7",
            "S3_READ_TIMEOUT": "9",
            "S3_VERIFY_SSL": "false",
        }
    )
    assert options["config"]["virtual_hosted_style_request"] is True
    assert options["config"]["endpoint"] == "http://minio:9000"
    assert options["config"]["region"] == "us-east-1"
    assert options["client_options"]["allow_http"] is True
    assert options["client_options"]["connect_timeout"] == "7s"
    assert options["client_options"]["read_timeout"] == "9s"
    assert options["client_options"]["allow_invalid_certificates"] is True
    assert options["retry_config"] == {"max_retries": 0}  # our own retries resume ranges


def test_s3_legacy_global_endpoint_outside_us_east_1_uses_virtual_addressing() -> None:
    env = {"AWS_ENDPOINT_URL": "https://s3.amazonaws.com", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a"}
    env["AWS_SECRET_ACCESS_KEY"] = "b"
    assert store_options(env)["config"]["virtual_hosted_style_request"] is True
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    assert store_options(env)["config"]["virtual_hosted_style_request"] is False


def test_s3_only_the_word_true_is_true_as_in_kserve() -> None:
    assert store_options({"awsAnonymousCredential": "True", "HOME": "/nonexistent"})["config"].get("skip_signature")
    assert not store_options({"awsAnonymousCredential": "1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})[
        "config"
    ].get("skip_signature")


def test_s3_accelerate_is_left_to_boto3() -> None:
    with pytest.raises(Unsupported, match="S3_USE_ACCELERATE"):
        store_options({"S3_USE_ACCELERATE": "true"})


def test_storage_spec_of_another_type_changes_nothing() -> None:
    env = {"STORAGE_CONFIG": '{"type": "gs", "endpoint_url": "x"}'}
    assert "AWS_ENDPOINT_URL" not in storage_spec_env(env)


def test_storage_spec_that_is_not_json_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        storage_spec_env({"STORAGE_CONFIG": "{nope"})


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "8MiB"}, "chunk_size", 8 << 20),
        ({"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "512k"}, "chunk_size", 512 << 10),
        ({"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "1G"}, "chunk_size", 1 << 30),
        ({"MODEL_REGISTRY_TRANSFER_CONCURRENCY": "32"}, "concurrency", 32),
        ({"MODEL_REGISTRY_TRANSFER_ATTEMPTS": "9"}, "attempts", 9),
        ({}, "attempts", 5),
    ],
)
def test_tunables(env: dict[str, str], field: str, value: int) -> None:
    assert getattr(Tunables.from_env(env), field) == value


def test_s3_max_attempts_applies_when_ours_is_unset() -> None:
    assert Tunables.from_env({"S3_MAX_ATTEMPTS": "3"}, attempts_var="S3_MAX_ATTEMPTS").attempts == 3
    both = {"S3_MAX_ATTEMPTS": "3", "MODEL_REGISTRY_TRANSFER_ATTEMPTS": "7"}
    assert Tunables.from_env(both, attempts_var="S3_MAX_ATTEMPTS").attempts == 7


@pytest.mark.parametrize(
    "env",
    [
        {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "1KiB"},
        {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "lots"},
        {"MODEL_REGISTRY_TRANSFER_CONCURRENCY": "0"},
        {"MODEL_REGISTRY_TRANSFER_CONCURRENCY": "many"},
    ],
)
def test_bad_tunables_are_usage_errors(env: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        Tunables.from_env(env)


@pytest.mark.parametrize(
    ("env", "sas", "expected"),
    [
        (
            {"AZ_TENANT_ID": "t", "AZ_CLIENT_ID": "c", "AZ_CLIENT_SECRET": "s", "AZURE_STORAGE_ACCESS_KEY": "k"},
            "",
            {"client_id": "c", "client_secret": "s", "tenant_id": "t"},  # KServe: the service principal first
        ),
        (
            {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"},
            "",
            {"client_id": "c", "tenant_id": "t", "federated_token_file": "/var/run/token"},
        ),
        ({"AZURE_STORAGE_ACCESS_KEY": "k"}, "sv=1&sig=x", {"access_key": "k"}),
        ({}, "sv=1&sig=x", {"sas_key": "sv=1&sig=x"}),
        ({}, "", {"skip_signature": True}),
    ],
)
def test_azure_credentials_in_kserve_order(env: dict[str, str], sas: str, expected: dict[str, object]) -> None:
    from mr_storage_initializer.transfer.azure import _credentials

    assert _credentials(env, sas) == expected


def test_azure_client_id_alone_is_left_to_azure_identity() -> None:
    from mr_storage_initializer.transfer.azure import store_options

    with pytest.raises(Unsupported, match="AZURE_CLIENT_ID"):
        store_options("https://acct.blob.core.windows.net/c/m", {"AZURE_CLIENT_ID": "managed-identity"})


def test_ranges_are_taken_from_the_files_in_turn_largest_first() -> None:
    big, mid, small = RemoteFile("b", "b", 300), RemoteFile("m", "m", 200), RemoteFile("s", "s", 50)
    order = [(p.file.rel, p.start) for p in split([small, big, mid], 100)]
    assert order == [("b", 0), ("m", 0), ("s", 0), ("b", 100), ("m", 100), ("b", 200)]
