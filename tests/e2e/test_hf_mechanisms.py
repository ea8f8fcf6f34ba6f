"""hf:// under the mechanisms every own-engine download has: the artifact policy on the Hub host and on the CDN
redirect targets, resume of the ranges a SIGKILLed run wrote, and DEST's name clashes found before a byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.hub import Hub
from helpers import cli_env, ranges_written, register, run_cli, tree

BIG = os.urandom(1024 * 1024 + 99)  # an LFS file: 5 ranges of 256 KiB
MODEL = {"model.safetensors": BIG, "config.json": b'{"a": 1}'}
ONE_WORKER = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "256KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}


def _env(registry: Any, hub: Hub, **extra: str) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **hub.env, **ONE_WORKER, **extra}


def test_a_hub_endpoint_on_a_metadata_address_is_refused_before_any_download(
    registry: Any, hub: Hub, tmp_path: Path
) -> None:
    register(registry.url, "llm", "hf://org/model", "v1")
    dest = tmp_path / "dest"
    result = run_cli("model-registry://llm/v1", dest, env=_env(registry, hub, HF_ENDPOINT="http://169.254.169.254"))
    assert result.code == 3, result.stderr
    assert "refused the Hugging Face endpoint (HF_ENDPOINT) http://169.254.169.254" in result.last_line
    assert not dest.exists() or list(dest.iterdir()) == []


def test_a_cdn_redirect_to_a_link_local_host_is_refused(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    cdn, hub.cdn_base = hub.cdn_base, "http://169.254.169.254"
    try:
        result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=_env(registry, hub))
    finally:
        hub.cdn_base = cdn
    assert result.code == 5, result.stderr
    assert "refused to follow the download to http://169.254.169.254/: 169.254.169.254 is" in result.last_line
    assert "Signature" not in result.stderr  # the signed URL's query is never logged
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_name_taken_in_dest_is_exit_6_before_a_byte_is_fetched(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "config.json").write_text("mine")
    result = run_cli("model-registry://llm/v1", dest, env=_env(registry, hub))
    assert result.code == 6, result.stderr
    assert "already has 'config.json', which is not from a previous install" in result.last_line
    assert hub.count("cdn") == 0 and hub.count("resolve") == 0
    assert tree(dest) == {"config.json": b"mine"}


def test_a_rerun_after_sigkill_keeps_the_ranges_written(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    dest = tmp_path / "dest"
    hub.fault("cdn", ("cut", 10**9), ("stall", 20))  # the first range arrives whole, the second never
    proc = subprocess.Popen(
        [sys.executable, "-m", "mr_storage_initializer", "model-registry://llm/v1", str(dest)],
        env=cli_env(_env(registry, hub)),
        stderr=subprocess.DEVNULL,
    )
    try:
        done = ranges_written(dest, "model.safetensors")
        assert len(done) == 1 and done[0][0] == 0, done  # the first range, as [start, end]
    finally:
        proc.kill()
        proc.wait(10)
    hub.faults.clear()
    hub.requests.clear()
    result = run_cli("model-registry://llm/v1", dest, env=_env(registry, hub))
    assert result.code == 0, result.stderr
    assert "resuming: 1 files keep ranges" in result.stderr
    assert tree(dest) == MODEL  # and the LFS SHA-256 of the stitched file matched
    assert hub.count("cdn") == 4  # ranges 2 to 5 only
    assert not list(dest.glob(".mr-*"))


def test_the_kserve_path_refuses_a_cdn_redirect_to_a_link_local_host(registry: Any, hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    register(registry.url, "llm", "hf://org/model", "v1")
    env = _env(registry, hub, MODEL_REGISTRY_TRANSFER="kserve", HF_HUB_DISABLE_XET="1", HOME=str(tmp_path / "h"))
    cdn, hub.cdn_base = hub.cdn_base, "http://169.254.169.254"
    try:
        result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=env)
    finally:
        hub.cdn_base = cdn
    assert result.code == 5, result.stderr
    assert "with kserve_storage failed: refused to follow the download to http://169.254.169.254/" in result.last_line
    assert "Signature" not in result.stderr
    assert list((tmp_path / "dest").iterdir()) == []
