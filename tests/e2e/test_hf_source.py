"""hf:// on the own engine against the tests' own Hub: the files at a pinned commit, byte for byte the same as
kserve_storage's snapshot_download, credentials only to the Hub host, LFS digests checked, errors in sentences."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.hub import Hub
from helpers import fetch, tree

BIG = os.urandom(3 * 1024 * 1024 + 123)  # an LFS file, 13 ranges at 256 KiB
FAST = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "256KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "4"}
MODEL = {
    "model.safetensors": BIG,
    "config.json": b'{"a": 1}',
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "tokenizer/deeper/merges.txt": os.urandom(70_000),
    "name with spaces.txt": b"spaces",
    ".gitattributes": b"*.safetensors filter=lfs\n",
}


def _env(hub: Hub, **extra: str) -> dict[str, str]:
    return {**hub.env, **FAST, **extra}


def test_installs_every_file_of_the_repo(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    result = fetch("hf://org/model", tmp_path / "d", "auto", _env(hub))
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "fast"
    assert tree(tmp_path / "d") == MODEL
    assert hub.count("tree") == 4  # 9 entries, 2 per page: the listing was paged through
    assert hub.count("revision") == 1


def test_same_files_as_snapshot_download(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    env = _env(hub, HF_HUB_DISABLE_XET="1", HOME=str(tmp_path / "home"))
    kserve = fetch("hf://org/model", tmp_path / "kserve", "kserve", env)
    assert kserve.code == 0, kserve.stderr
    fast = fetch("hf://org/model", tmp_path / "fast", "fast", env)
    assert fast.code == 0, fast.stderr
    assert tree(tmp_path / "fast") == tree(tmp_path / "kserve") == MODEL
    assert not (tmp_path / "home").exists()  # nothing below $HOME on either path


def test_a_revision_with_a_slash_after_the_colon_or_percent_encoded(hub: Hub, tmp_path: Path) -> None:
    repo = hub.add("org/model", {"a.bin": b"x" * 2000})
    repo.revisions["refs/pr/1"] = "f" * 40
    for index, uri in enumerate(("hf://org/model:refs/pr/1", "hf://org/model:refs%2Fpr%2F1")):
        result = fetch(uri, tmp_path / str(index), "fast", _env(hub))
        assert result.code == 0, result.stderr
        assert tree(tmp_path / str(index)) == {"a.bin": b"x" * 2000}
    assert any("/resolve/" + "f" * 40 + "/a.bin" in path for _, _, path in hub.requests)


def test_token_goes_to_the_hub_but_never_to_the_cdn(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/private", MODEL, private=True)
    result = fetch("hf://org/private", tmp_path / "d", "fast", _env(hub, HF_TOKEN="hf_good_token"))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "d") == MODEL
    assert hub.count("cdn") > 0
    assert hub.cdn_authorizations == []


def test_token_file_conventions(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/private", {"a.txt": b"a"}, private=True)
    home = tmp_path / "hfhome"
    home.mkdir()
    (home / "token").write_text("hf_good_token\n")
    result = fetch("hf://org/private", tmp_path / "d", "fast", _env(hub, HF_HOME=str(home)))
    assert result.code == 0, result.stderr
    (tmp_path / "elsewhere").write_text("hf_good_token")
    result = fetch("hf://org/private", tmp_path / "e", "fast", _env(hub, HF_TOKEN_PATH=str(tmp_path / "elsewhere")))
    assert result.code == 0, result.stderr


def test_patterns_select_files(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    env = _env(hub, STORAGE_ALLOW_PATTERNS='["*.json", "tokenizer/*"]', STORAGE_IGNORE_PATTERNS="*merges.txt")
    result = fetch("hf://org/model", tmp_path / "d", "fast", env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "d") == {"config.json": b'{"a": 1}', "tokenizer/vocab.txt": b"a\nb\nc\n"}


def test_a_pattern_ending_in_a_slash_takes_the_folder_as_snapshot_download_does(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    env = _env(hub, STORAGE_ALLOW_PATTERNS="tokenizer/", HF_HUB_DISABLE_XET="1", HOME=str(tmp_path / "home"))
    kserve = fetch("hf://org/model", tmp_path / "kserve", "kserve", env)
    assert kserve.code == 0, kserve.stderr
    fast = fetch("hf://org/model", tmp_path / "fast", "fast", env)
    assert fast.code == 0, fast.stderr
    assert tree(tmp_path / "fast") == tree(tmp_path / "kserve") == {k: v for k, v in MODEL.items() if "/" in k}


def test_an_expired_cdn_url_is_asked_of_the_hub_again(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    hub.fault("cdn", ("expired", 0), ("expired", 0))
    result = fetch("hf://org/model", tmp_path / "d", "fast", _env(hub))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "d") == MODEL
    assert "X-Amz-Signature=" not in result.stderr


def test_corrupt_lfs_bytes_fail_the_sha256_check(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", {"model.safetensors": BIG})
    hub.fault("cdn", *[("corrupt", 0)] * 20)
    result = fetch("hf://org/model", tmp_path / "d", "fast", _env(hub))
    assert result.code == 5
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("model.safetensors: SHA-256 ") and "the Hub lists for commit" in last


@pytest.mark.parametrize(
    ("uri", "extra", "sentence"),
    [
        pytest.param(
            "hf://org/missing",
            {},
            "Hugging Face repository org/missing (revision main) was not found at",
            id="repo-not-found",
        ),
        pytest.param(
            "hf://org/model:nope",
            {},
            "revision 'nope' of Hugging Face repository org/model does not exist",
            id="revision-not-found",
        ),
        pytest.param(
            "hf://org/gated",
            {},
            "Hugging Face repository org/gated (revision main) is gated",
            id="gated",
        ),
        pytest.param(
            "hf://org/model",
            {"HF_TOKEN": "hf_bad_token"},
            "access to Hugging Face repository org/model (revision main) was refused (HTTP 401)",
            id="bad-token",
        ),
    ],
)
def test_errors_name_repo_and_revision(
    hub: Hub, tmp_path: Path, uri: str, extra: dict[str, str], sentence: str
) -> None:
    hub.add("org/model", {"a.txt": b"a"})
    hub.add("org/gated", {"a.txt": b"a"}, gated=True)
    result = fetch(uri, tmp_path / "d", "auto", _env(hub, **extra))
    assert result.code == 5, result.stderr
    assert sentence in result.stderr.strip().splitlines()[-1]


def test_a_connection_is_reused_after_a_redirect_without_a_retry(hub: Hub, tmp_path: Path) -> None:
    # each LFS file's 302 must be read off its connection before the connection asks for another file
    files = {f"shard-{i:02d}.bin": os.urandom(20_000 + i) for i in range(16)}
    hub.add("org/shards", files)
    result = fetch("hf://org/shards", tmp_path / "d", "fast", _env(hub, MODEL_REGISTRY_TRANSFER_CONCURRENCY="2"))
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "d") == files
    assert "retrying" not in result.stderr
    assert hub.count("cdn") == len(files)


def test_the_engine_lists_over_the_connection_the_commit_lookup_opened(hub: Hub) -> None:
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer import hf_engine
    from mr_storage_initializer.transfer.engine import NO_HOOKS

    hub.add("org/warm", {"config.json": b"{}"})
    settings = Settings.from_env(hub.env)
    tunables = settings.tunables_for("hf")
    commit = hf_engine.current_revision("hf://org/warm", settings, tunables)
    built = hf_engine.engine("hf://org/warm", settings, tunables, NO_HOOKS)
    assert isinstance(built, hf_engine.HfEngine)
    source = built.source
    try:
        assert source.commit == commit  # not asked again
        assert [f.rel for f in source.list()] == ["config.json"]
        pool = source.pool.connection_from_url(source.endpoint)
        assert pool.num_requests == 2  # the commit and the listing, from one pool
        assert pool.num_connections == 1  # over the connection the commit lookup opened
        assert hub.count("tree") == 1
    finally:
        source.close()
    again = hf_engine.engine("hf://org/warm", settings, tunables, NO_HOOKS)  # a source is taken once
    assert isinstance(again, hf_engine.HfEngine) and again.source is not source
    again.source.close()
