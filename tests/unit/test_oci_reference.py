"""oci:// references, index platforms, docker config entries and the OCI settings (no network)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.options import OciOptions
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.transfer.oci_auth import lookup, parse_challenge
from mr_storage_initializer.transfer.oci_layers import plan
from mr_storage_initializer.transfer.oci_ref import OciRef, api_host, parse_oci_uri, pick

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("oci://quay.io/org/model", OciRef("quay.io", "org/model", "latest")),
        ("oci://quay.io/org/model:v1.2", OciRef("quay.io", "org/model", "v1.2")),
        ("oci://localhost:5000/a/b/c:tag", OciRef("localhost:5000", "a/b/c", "tag")),
        (f"oci://127.0.0.1:5000/m@{DIGEST}", OciRef("127.0.0.1:5000", "m", "latest", DIGEST)),
        (f"oci://[::1]:5000/m:t@{DIGEST}", OciRef("[::1]:5000", "m", "t", DIGEST)),
        ("oci://docker.io/ubuntu:24.04", OciRef("docker.io", "library/ubuntu", "24.04")),
        ("oci://docker.io/org/model", OciRef("docker.io", "org/model", "latest")),
    ],
)
def test_references(uri: str, ref: OciRef) -> None:
    assert parse_oci_uri(uri) == ref


@pytest.mark.parametrize(
    "uri",
    [
        "oci://model:v1",
        "oci://org/model:v1",
        "oci://quay.io",
        "oci://quay.io/",
        "oci://quay.io/UPPER:v1",
        "oci://quay.io/m@sha256:short",
        "oci://quay.io/m:bad tag",
    ],
)
def test_malformed_references_are_usage_errors(uri: str) -> None:
    with pytest.raises(UsageError):
        parse_oci_uri(uri)


def test_docker_hub_is_asked_at_its_api_host() -> None:
    assert api_host("docker.io") == api_host("index.docker.io") == "registry-1.docker.io"
    assert api_host("quay.io") == "quay.io"


def test_the_platform_entry_or_the_only_one() -> None:
    amd = {"digest": "a", "platform": {"os": "linux", "architecture": "amd64"}}
    arm = {"digest": "b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    attestation = {"digest": "c", "platform": {"os": "unknown", "architecture": "unknown"}}
    assert pick([amd, arm, attestation], "linux/arm64") == arm
    assert pick([amd, arm], "linux/arm64/v8") == arm
    assert pick([amd, attestation], "linux/s390x") == amd
    assert pick([amd, arm], "linux/s390x") is None


def test_docker_config_entries_in_kserves_order(tmp_path: Path) -> None:
    kserve = tmp_path / "kserve.json"
    kserve.write_text(
        json.dumps(
            {"auths": {"https://reg.example:5000/v1/": {"auth": base64.b64encode(b"alice:pw:with:colons").decode()}}}
        )
    )
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {"other.example": {"identitytoken": "refresh-me"}}}))
    env = {"KSERVE_OCI_DOCKER_CONFIG": str(kserve), "DOCKER_CONFIG": str(docker)}
    found = lookup(env, "reg.example:5000")
    assert found is not None and (found.username, found.password) == ("alice", "pw:with:colons")
    other = lookup(env, "other.example")
    assert other is not None and other.identity_token == "refresh-me" and other.basic() is None
    assert lookup(env, "nowhere.example") is None


def test_a_dockerconfigjson_variable_comes_last(tmp_path: Path) -> None:
    inline = json.dumps({"auths": {"reg.example": {"username": "bob", "password": "inline-pw"}}})
    found = lookup(
        {"KSERVE_OCI_DOCKER_CONFIG": str(tmp_path / "absent.json"), ".dockerconfigjson": inline}, "reg.example"
    )
    assert found is not None and (found.username, found.password) == ("bob", "inline-pw")
    assert found.origin == "the variable .dockerconfigjson"
    assert Settings.from_env({".dockerconfigjson": inline}).storage_env[".dockerconfigjson"] == inline


def test_a_malformed_auth_entry_is_a_storage_error(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"auths": {"reg.example": {"auth": base64.b64encode(b"no-colon").decode()}}}))
    with pytest.raises(StorageError, match="not base64 of user:password"):
        lookup({"KSERVE_OCI_DOCKER_CONFIG": str(config)}, "reg.example")


def test_challenges() -> None:
    found = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')
    assert found is not None and found.scheme == "bearer"
    assert found.params == {
        "realm": "https://auth.example/token",
        "service": "reg",
        "scope": "repository:a/b:pull,push",
    }
    basic = parse_challenge('Basic realm="registry"')
    assert basic is not None and basic.scheme == "basic"


def test_oci_settings() -> None:
    options = OciOptions.from_env(
        {
            "MODEL_REGISTRY_OCI_PLATFORM": "linux/arm64/v8",
            "MODEL_REGISTRY_OCI_MIRRORS": '{"Quay.io": "https://m1:5000", "*": ["http://m2"]}',
            "KSERVE_OCI_INSECURE_REGISTRY": "Yes",
        }
    )
    assert options.platform == "linux/arm64/v8"
    assert dict(options.mirrors) == {"quay.io": ("https://m1:5000",), "*": ("http://m2",)}
    assert options.insecure
    assert not OciOptions.from_env({"KSERVE_OCI_INSECURE_REGISTRY": "on"}).insecure  # KServe's reading
    assert Settings.from_env({"KSERVE_OCI_INSECURE_REGISTRY": "1"}).oci.insecure


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_REGISTRY_OCI_PLATFORM", "arm64"),
        ("MODEL_REGISTRY_OCI_MIRRORS", "mirror:5000"),
        ("MODEL_REGISTRY_OCI_MIRRORS", '{"quay.io": ["mirror:5000"]}'),
        ("MODEL_REGISTRY_OCI_MIRRORS", '{"quay.io": ["https://mirror/path"]}'),
    ],
)
def test_malformed_oci_settings_are_usage_errors(name: str, value: str) -> None:
    with pytest.raises(UsageError, match=name):
        Settings.from_env({name: value})


def test_layouts() -> None:
    manifest = {
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": "sha256:1", "size": 1},
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": "sha256:2",
                "size": 2,
                "annotations": {"org.cncf.model.filepath": "w/model.safetensors"},
            },
            {"mediaType": "application/vnd.cnai.model.doc.v1.tar+gzip", "digest": "sha256:3", "size": 3},
            {
                "mediaType": "application/x-anything",
                "digest": "sha256:4",
                "size": 4,
                "annotations": {"org.opencontainers.image.title": "m.gguf"},
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": "sha256:5",
                "size": 5,
                "annotations": {"org.opencontainers.image.title": "dir", "io.deis.oras.content.unpack": "true"},
            },
            {"mediaType": "application/vnd.in-toto+json", "digest": "sha256:6", "size": 6},
        ]
    }
    got = [(layer.kind, layer.compression, layer.path, layer.modelcar) for layer in plan(manifest, "x")]
    assert got == [
        ("tar", "zstd", "", True),
        ("raw", "", "w/model.safetensors", False),
        ("tar", "gzip", "", False),
        ("raw", "", "m.gguf", False),
        ("tar", "gzip", "", False),
    ]


def test_a_raw_layer_path_cannot_leave_dest() -> None:
    manifest = {
        "layers": [
            {
                "mediaType": "application/octet-stream",
                "digest": "sha256:1",
                "size": 1,
                "annotations": {"org.opencontainers.image.title": "../etc/passwd"},
            }
        ]
    }
    with pytest.raises(StorageError, match="outside the model directory"):
        plan(manifest, "x")
