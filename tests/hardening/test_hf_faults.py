"""hf:// against a misbehaving Hub and CDN: 500s, 429s, stalls and cut connections are retried and resumed;
what cannot pass fails with exit 5 and a sentence, within bounds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.hub import Hub
from helpers import cli_env, fetch, tree

# The transfer step alone with a 3 s deadline (MODEL_REGISTRY_TIMEOUT's role): argv = uri, dest, engine.
_BOUNDED = """
import sys
from pathlib import Path
from mr_storage_initializer import logs
from mr_storage_initializer.errors import InitializerError
from mr_storage_initializer.settings import Settings, environment
from mr_storage_initializer.transfer import download
logs.configure("text")
try:
    env = {**environment(), "MODEL_REGISTRY_TRANSFER": sys.argv[3], "MODEL_REGISTRY_TIMEOUT": "3"}
    download(sys.argv[1], Path(sys.argv[2]), Settings.from_env(env))
except InitializerError as exc:
    print(exc.message, file=sys.stderr)
    sys.exit(exc.exit_code)
"""
BIG = os.urandom(2 * 1024 * 1024 + 77)
MODEL = {"model.safetensors": BIG, "config.json": b'{"a": 1}', "tok/vocab.txt": b"v" * 300}
FAST = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "256KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "4"}


@pytest.mark.parametrize(
    ("route", "faults"),
    [
        pytest.param("revision", [("status", 500), ("status", 503)], id="revision-5xx"),
        pytest.param("tree", [("status", 500), ("status", 429)], id="tree-5xx-429"),
        pytest.param("resolve", [("status", 502), ("status", 408)], id="resolve-502-408"),
        pytest.param("cdn", [("status", 500), ("status", 503), ("status", 500)], id="cdn-5xx"),
        pytest.param("cdn", [("cut", 1000), ("cut", 70_000)], id="cdn-cut-mid-range"),
        pytest.param("resolve", [("cut", 5)], id="small-file-cut"),
    ],
)
def test_transient_failures_are_retried(hub: Hub, tmp_path: Path, route: str, faults: list[tuple[str, float]]) -> None:
    hub.add("org/model", MODEL)
    hub.fault(route, *faults)
    result = fetch("hf://org/model", tmp_path / "d", "fast", {**hub.env, **FAST})
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "d") == MODEL
    assert "retrying in" in result.stderr or "resuming there" in result.stderr


@pytest.mark.parametrize("route", ["revision", "tree", "cdn"])
def test_a_stall_is_timed_out_and_retried(hub: Hub, tmp_path: Path, route: str) -> None:
    hub.add("org/model", MODEL)
    hub.fault(route, ("stall", 30))
    env = cli_env({**hub.env, **FAST, "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"})
    (tmp_path / "d").mkdir()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _BOUNDED, "hf://org/model", str(tmp_path / "d"), "fast"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 25  # a 1 s read timeout (a third of the deadline), not the 30 s stall
    assert "did not answer within 1s" in proc.stderr
    assert tree(tmp_path / "d") == MODEL


def test_a_hub_failing_for_good_is_exit_5_naming_the_repo(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    hub.fault("revision", *[("status", 500)] * 50)
    env = {**hub.env, "MODEL_REGISTRY_TRANSFER_ATTEMPTS": "3"}
    result = fetch("hf://org/model", tmp_path / "d", "fast", env)
    assert result.code == 5
    assert result.last_line == (
        "the Hub answered HTTP 500 for the revision of Hugging Face repository org/model (revision main)"
    )


def test_a_hub_answering_json_nested_100000_deep_is_exit_5_with_one_line(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL)
    hub.fault("revision", ("deep", 100_000))
    result = fetch("hf://org/model", tmp_path / "d", "fast", hub.env)
    assert result.code == 5, result.stderr
    assert result.last_line == (
        "the Hub answered the revision of Hugging Face repository org/model (revision main) with something that "
        "is not JSON"
    )
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert list((tmp_path / "d").iterdir()) == []


def test_a_file_over_50_gb_goes_to_kserve_storage_with_the_reason(hub: Hub, tmp_path: Path) -> None:
    hub.add("org/model", MODEL, sizes={"model.safetensors": 60 * 10**9})
    result = fetch("hf://org/model", tmp_path / "d", "fast", {**hub.env, "MODEL_REGISTRY_TRANSFER": "fast"})
    assert result.code == 2  # MODEL_REGISTRY_TRANSFER=fast: no fallback
    assert "over the 50 GB the Hub serves by plain HTTP" in result.last_line
    auto = fetch(
        "hf://org/model",
        tmp_path / "a",
        "auto",
        {**hub.env, "HF_HUB_DISABLE_XET": "1", "HOME": str(tmp_path / "home")},
    )
    assert "handing hf://org/model to kserve_storage: model.safetensors is 60000000000 bytes" in auto.stderr
    # HF_HUB_DISABLE_XET: the test Hub has no Xet server; huggingface_hub takes the resolve redirect instead
    assert auto.code == 0, auto.stderr
    assert auto.stdout.strip() == "kserve"
    assert tree(tmp_path / "a") == MODEL  # no .cache/huggingface among them
    assert not (tmp_path / "home").exists()


def test_the_kserve_path_is_bounded_when_the_hub_never_answers(tmp_path: Path) -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        env = cli_env({"HF_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}", "HOME": str(tmp_path / "home")})
        (tmp_path / "d").mkdir()
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _BOUNDED, "hf://org/model", str(tmp_path / "d"), "kserve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert proc.returncode == 5, proc.stderr
    assert time.monotonic() - started < 30
    assert list((tmp_path / "d").iterdir()) == []
    assert not (tmp_path / "home").exists()
