"""The hf:// grammar, the token conventions and the fingerprint's optional inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mr_storage_initializer.errors import ArtifactRefusedError, UsageError
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.transfer import fingerprint_inputs
from mr_storage_initializer.transfer.hf import HfRef, hf_token, hub_endpoint, parse_hf_uri


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("hf://org/model", HfRef("org/model", "main")),
        ("hf://org/model:", HfRef("org/model", "main")),
        ("hf://org/model:v1.0", HfRef("org/model", "v1.0")),
        ("hf://org/model:" + "a" * 40, HfRef("org/model", "a" * 40)),
        ("hf://org/model:refs/pr/1", HfRef("org/model", "refs/pr/1")),
        ("hf://org/model:refs%2Fpr%2F1", HfRef("org/model", "refs/pr/1")),
    ],
)
def test_grammar(uri: str, ref: HfRef) -> None:
    assert parse_hf_uri(uri) == ref


@pytest.mark.parametrize(
    "uri", ["hf://model", "hf://org/model/extra", "hf:///model", "hf://org/", "hf://datasets/org/x", "hf://o/m:a b"]
)
def test_malformed_uris_are_usage_errors(uri: str) -> None:
    with pytest.raises(UsageError):
        parse_hf_uri(uri)


def test_only_a_full_sha_is_pinned() -> None:
    assert parse_hf_uri("hf://o/m:" + "0" * 40).pinned
    assert not parse_hf_uri("hf://o/m:main").pinned
    assert not parse_hf_uri("hf://o/m:abc123").pinned


def test_token_order(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(" from-home \n")
    (tmp_path / "other").write_text("from-path")
    assert hf_token({"HF_TOKEN": "a", "HUGGING_FACE_HUB_TOKEN": "b", "HF_HOME": str(tmp_path)}) == "a"
    assert hf_token({"HUGGING_FACE_HUB_TOKEN": "b", "HF_HOME": str(tmp_path)}) == "b"
    assert hf_token({"HF_TOKEN_PATH": str(tmp_path / "other"), "HF_HOME": str(tmp_path)}) == "from-path"
    assert hf_token({"HF_HOME": str(tmp_path)}) == "from-home"
    assert hf_token({"XDG_CACHE_HOME": str(tmp_path / "none")}) is None


def test_token_file_paths_expand_from_the_settings_snapshot_not_the_process(tmp_path: Path) -> None:
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "token").write_text("from-home-dir")
    (tmp_path / "alt").mkdir()
    (tmp_path / "alt" / "token").write_text("from-var")
    assert hf_token({"HOME": str(tmp_path)}) == "from-home-dir"  # ~/.cache/huggingface/token, HOME from env
    assert hf_token({"HOME": str(tmp_path), "HF_HOME": "~/alt"}) == "from-var"
    assert hf_token({"HF_BASE": str(tmp_path), "HF_TOKEN_PATH": "${HF_BASE}/alt/token"}) == "from-var"
    assert hf_token({"HOME": str(tmp_path / "nowhere")}) is None


def test_old_token_name_and_cache_folder_reach_the_settings_snapshot() -> None:
    env = Settings.from_env({"HUGGING_FACE_HUB_TOKEN": "t", "XDG_CACHE_HOME": "/c", "HF_HOME": "/h"}).storage_env
    assert dict(env) == {"HUGGING_FACE_HUB_TOKEN": "t", "XDG_CACHE_HOME": "/c", "HF_HOME": "/h"}


def test_endpoint_must_be_http() -> None:
    assert hub_endpoint({}) == "https://huggingface.co"
    assert hub_endpoint({"HF_ENDPOINT": "http://hub.local:8080/"}) == "http://hub.local:8080"
    with pytest.raises(UsageError):
        hub_endpoint({"HF_ENDPOINT": "hub.local"})


@pytest.mark.parametrize(
    "endpoint", ["http://169.254.169.254", "http://metadata.google.internal", "http://[fe80::1]:80"]
)
def test_endpoint_on_a_metadata_or_link_local_host_is_refused(endpoint: str) -> None:
    with pytest.raises(ArtifactRefusedError, match="HF_ENDPOINT"):
        hub_endpoint({"HF_ENDPOINT": endpoint})


def test_fingerprint_inputs_only_when_set() -> None:
    assert fingerprint_inputs("s3://b/m", Settings.from_env({})) == {}
    allowed = Settings.from_env({"STORAGE_ALLOW_PATTERNS": '["*.json", "*.bin"]'})
    assert fingerprint_inputs("s3://b/m", allowed) == {"allow_patterns": "*.json\n*.bin"}
    sha = "c" * 40
    assert fingerprint_inputs(f"hf://o/m:{sha}", Settings.from_env({"STORAGE_IGNORE_PATTERNS": "*.md"})) == {
        "ignore_patterns": "*.md",
        "revision": sha,
    }


def test_fingerprint_without_inputs_is_the_old_one() -> None:
    from mr_storage_initializer.provenance import fingerprint

    class _Artifact:
        id = "7"
        uri = "s3://b/m"
        storage_key = None
        storage_path = None

    class _Resolution:
        registry_url = "http://r:8080"
        artifact = _Artifact()

    old = hashlib.sha256(b"http://r:8080\x007\x00s3://b/m").hexdigest()
    assert fingerprint(_Resolution(), {}) == old  # type: ignore[arg-type]
    assert fingerprint(_Resolution()) == old  # type: ignore[arg-type]
    assert fingerprint(_Resolution(), {"revision": "x"}) != old  # type: ignore[arg-type]
