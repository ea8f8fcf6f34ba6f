"""The own engine and kserve_storage fetch the same artifacts from the same servers into identical trees.

Each case runs the transfer step twice in subprocesses (``MODEL_REGISTRY_TRANSFER=kserve`` and ``fast``)
and compares every file byte for byte. Small chunks make the own engine split the larger files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.azure import ACCOUNT, HOST, KEY, AzureServer
from fixtures.storage import GcsServer, HttpFileServer, S3Server, make_tar_gz, make_zip
from helpers import fetch, tree

BIG = os.urandom(3 * 1024 * 1024 + 123)  # splits into 13 ranges at 256 KiB
FAST = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "256KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "4"}

NESTED = {
    "model.safetensors": BIG,
    "config.json": b'{"a": 1}',
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "tokenizer/deeper/merges.txt": os.urandom(70_000),
    "name with spaces.txt": b"spaces",
}


def _both(uri: str, tmp_path: Path, env: dict[str, str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    kserve = fetch(uri, tmp_path / "kserve", "kserve", env)
    assert kserve.code == 0, kserve.stderr
    assert kserve.stdout.strip() == "kserve"
    fast = fetch(uri, tmp_path / "fast", "fast", {**env, **FAST})
    assert fast.code == 0, fast.stderr
    assert fast.stdout.strip() == "fast"
    return tree(tmp_path / "kserve"), tree(tmp_path / "fast")


def _put_all(s3: S3Server, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        s3.put(bucket, f"{prefix}{name}", data)


@pytest.mark.parametrize(
    ("uri_tail", "expected"),
    [
        pytest.param("models/bert", NESTED, id="prefix"),
        pytest.param("models/bert/", NESTED, id="prefix-with-slash"),
        pytest.param("models/bert/model.safetensors", {"model.safetensors": BIG}, id="single-object"),
        pytest.param("", {f"models/bert/{k}": v for k, v in NESTED.items()}, id="whole-bucket"),
    ],
)
def test_s3_trees_match(s3_server: S3Server, tmp_path: Path, uri_tail: str, expected: dict[str, bytes]) -> None:
    _put_all(s3_server, "diff", "models/bert/", NESTED)
    s3_server.put("diff", "models/bert/empty.txt", b"")  # both skip empty objects
    s3_server.put("diff", "models/bert/folder/", b"")  # and folder markers
    kserve, fast = _both(f"s3://diff/{uri_tail}", tmp_path, s3_server.env)
    assert fast == kserve
    assert fast == expected


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("model.tar.gz", make_tar_gz(NESTED)),
        ("model.tgz", make_tar_gz({"m.bin": b"tgz"})),
        ("model.zip", make_zip(NESTED)),
    ],
)
def test_s3_archives_unpack_alike(s3_server: S3Server, tmp_path: Path, name: str, payload: bytes) -> None:
    s3_server.put("diff", f"archives/{name}", payload)
    kserve, fast = _both(f"s3://diff/archives/{name}", tmp_path, s3_server.env)
    assert fast == kserve
    assert name not in fast  # the archive itself is gone


def test_s3_allow_and_ignore_patterns_alike(s3_server: S3Server, tmp_path: Path) -> None:
    _put_all(s3_server, "diff", "models/bert/", NESTED)
    env = {
        **s3_server.env,
        "STORAGE_ALLOW_PATTERNS": '["*.txt", "*.json"]',
        "STORAGE_IGNORE_PATTERNS": "tokenizer/deeper/*",
    }
    kserve, fast = _both("s3://diff/models/bert", tmp_path, env)
    assert fast == kserve
    assert sorted(fast) == ["config.json", "name with spaces.txt", "tokenizer/vocab.txt"]


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("model.bin", BIG),
        ("tiny.onnx", b"x"),
        ("model.tar.gz", make_tar_gz(NESTED)),
        ("model.zip", make_zip(NESTED)),
    ],
)
@pytest.mark.parametrize("ranges", [True, False], ids=["ranges", "no-ranges"])
def test_http_trees_match(http_server: HttpFileServer, tmp_path: Path, name: str, payload: bytes, ranges: bool) -> None:
    http_server.server.ranges = ranges
    url = http_server.add(f"files/{name}", payload)
    kserve, fast = _both(url, tmp_path, {})
    assert fast == kserve
    assert fast == ({name: payload} if name.endswith((".bin", ".onnx")) else NESTED)


def test_s3_prefix_takes_only_its_folder(s3_server: S3Server, tmp_path: Path) -> None:
    """A deliberate difference: kserve_storage matches keys by string prefix, so ``s3://b/bert`` also takes
    ``bert-large/…``; the own engine takes the folder ``bert/`` only (or the one object ``bert``)."""
    s3_server.put("diff", "bert/model.bin", b"mine")
    s3_server.put("diff", "bert-large/model.bin", b"not mine")
    result = fetch("s3://diff/bert", tmp_path / "fast", "fast", s3_server.env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "fast") == {"model.bin": b"mine"}


# -- Google Cloud Storage --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri_tail", "expected"),
    [
        pytest.param("models/bert", {**NESTED, "empty.txt": b""}, id="prefix"),
        pytest.param("models/bert/", {**NESTED, "empty.txt": b""}, id="prefix-with-slash"),
        pytest.param("models/bert/model.safetensors", {"model.safetensors": BIG}, id="single-object"),
    ],
)
def test_gcs_trees_match(gcs_server: GcsServer, tmp_path: Path, uri_tail: str, expected: dict[str, bytes]) -> None:
    for name, data in {**NESTED, "empty.txt": b""}.items():  # KServe keeps empty files on GCS
        gcs_server.put("gdiff", f"models/bert/{name}", data)
    gcs_server.put("gdiff", "models/bert/folder/", b"")  # a folder placeholder: skipped by both
    kserve, fast = _both(f"gs://gdiff/{uri_tail}", tmp_path, gcs_server.env)
    assert fast == kserve
    assert fast == expected


@pytest.mark.parametrize(("name", "payload"), [("model.tar.gz", make_tar_gz(NESTED)), ("model.zip", make_zip(NESTED))])
def test_gcs_archives_unpack_alike(gcs_server: GcsServer, tmp_path: Path, name: str, payload: bytes) -> None:
    gcs_server.put("gdiff", f"archives/{name}", payload)
    kserve, fast = _both(f"gs://gdiff/archives/{name}", tmp_path, gcs_server.env)
    assert fast == kserve == NESTED


def test_gcs_patterns_alike(gcs_server: GcsServer, tmp_path: Path) -> None:
    for name, data in NESTED.items():
        gcs_server.put("gdiff", f"models/bert/{name}", data)
    env = {**gcs_server.env, "STORAGE_IGNORE_PATTERNS": '["*.safetensors"]'}
    kserve, fast = _both("gs://gdiff/models/bert", tmp_path, env)
    assert fast == kserve
    assert "model.safetensors" not in fast and "config.json" in fast


def test_gcs_missing_object_is_exit_5_on_both(gcs_server: GcsServer, tmp_path: Path) -> None:
    gcs_server.put("gdiff", "models/other.bin", b"x")
    for engine in ("kserve", "fast"):
        result = fetch("gs://gdiff/models/bert/model.bin", tmp_path / engine, engine, gcs_server.env)
        assert result.code == 5, (engine, result.stderr)
    assert "does not exist" in result.stderr


# -- Azure Blob ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("models/bert", NESTED, id="prefix"),
        pytest.param("models/bert/", NESTED, id="prefix-with-slash"),
        pytest.param("models/bert/model.safetensors", {"model.safetensors": BIG}, id="single-blob"),
    ],
)
def test_azure_trees_match(azure_server: AzureServer, tmp_path: Path, path: str, expected: dict[str, bytes]) -> None:
    for name, data in NESTED.items():
        azure_server.put("models", f"models/bert/{name}", data)
    azure_server.put("models", "models/bert/empty.txt", b"")  # both skip empty blobs
    kserve, fast = _both(azure_server.uri("models", path), tmp_path, azure_server.env)
    assert fast == kserve
    assert fast == expected
    assert all(line.startswith(f"CONNECT {HOST}:443") for line in azure_server.proxy.connects)


@pytest.mark.parametrize(("name", "payload"), [("model.tar.gz", make_tar_gz(NESTED)), ("model.zip", make_zip(NESTED))])
def test_azure_archives_unpack_alike(azure_server: AzureServer, tmp_path: Path, name: str, payload: bytes) -> None:
    uri = azure_server.put("models", f"archives/{name}", payload)
    kserve, fast = _both(uri, tmp_path, azure_server.env)
    assert fast == kserve == NESTED


def test_azure_sas_in_the_uri_alike(azure_server: AzureServer, tmp_path: Path) -> None:
    import datetime

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    azure_server.put("models", "models/bert/config.json", b'{"a": 1}')
    sas = generate_container_sas(
        ACCOUNT,
        "models",
        account_key=KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    uri = azure_server.uri("models", "models/bert") + "?" + sas
    kserve, fast = _both(uri, tmp_path, azure_server.anonymous_env)
    assert fast == kserve == {"config.json": b'{"a": 1}'}


def test_azure_private_container_without_credentials_is_exit_5_on_both(
    azure_server: AzureServer, tmp_path: Path
) -> None:
    uri = azure_server.put("models", "models/bert/config.json", b"{}")
    for engine in ("kserve", "fast"):
        result = fetch(uri, tmp_path / engine, engine, azure_server.anonymous_env)
        assert result.code == 5, (engine, result.stderr)
