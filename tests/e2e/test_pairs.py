"""KServe's ``storageUris``: ``SRC0 DEST0 SRC1 DEST1 …`` in one call, each pair installed on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer, S3Server
from helpers import register, run_cli, tree


def _env(registry: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **(extra or {})}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def test_four_pairs_one_failing_one_plain_s3_install_three_and_a_rerun_fetches_only_the_missing_one(
    registry: Any, http_server: HttpFileServer, s3_server: S3Server, tmp_path: Path
) -> None:
    register(registry.url, "base", http_server.add("base/model.bin", b"base-weights"), "v1")
    register(registry.url, "lora", s3_server.put("adapters", "lora/adapter.bin", b"adapter"), "v1")
    plain = s3_server.put("plain", "tok/vocab.txt", b"a\nb\n")
    dests = [tmp_path / "mnt" / name for name in ("base", "plain", "missing", "lora")]
    termination = tmp_path / "termination-log"
    env = _env(registry, {**s3_server.env, "MODEL_REGISTRY_TERMINATION_LOG": str(termination)})
    args = [
        "model-registry://base/v1",
        dests[0],
        plain,
        dests[1],
        "model-registry://missing/v1",
        dests[2],
        "model-registry://lora/v1",
        dests[3],
    ]

    result = run_cli(*args, env=env)

    assert result.code == 3, result.stderr
    errors = _errors(result.stderr)
    assert len(errors) == 2, result.stderr
    assert "pair 3 (model-registry://missing/v1" in errors[0]
    assert "registered model 'missing' was not found" in errors[0]
    assert "3 of 4 pairs installed, 1 failed; first failure: pair 3, exit 3" in result.last_line
    assert tree(dests[0]) == {"model.bin": b"base-weights"}
    assert tree(dests[1]) == {"vocab.txt": b"a\nb\n"}
    assert tree(dests[3]) == {"adapter.bin": b"adapter"}
    assert not dests[2].exists() or tree(dests[2]) == {}
    plain_provenance = json.loads((dests[1] / ".model-registry.json").read_text())
    assert plain_provenance["model_artifact"]["uri"] == plain
    assert plain_provenance["registry_url"] == ""
    message = termination.read_text().splitlines()
    assert message[-1].startswith("3 of 4 pairs installed, 1 failed")
    assert message[-1] in result.last_line
    assert message[0].startswith("pair 3 (model-registry://missing/v1")

    # The restart (Kubernetes restarts a failed init container) after the model was registered.
    register(registry.url, "missing", http_server.add("missing/model.bin", b"late"), "v1")
    http_before, s3_before = len(http_server.requests), len(s3_server.requests)
    again = run_cli(*args, env=env)

    assert again.code == 0, again.stderr
    assert again.stderr.count("already installed in") == 3
    assert tree(dests[2]) == {"model.bin": b"late"}
    assert [r for r in http_server.requests[http_before:] if "missing" not in r] == []
    assert not [r for r in s3_server.requests[s3_before:] if "GET" in r or "HEAD" in r]
    status = json.loads(termination.read_text())
    assert status["status"] == "installed"
    assert [(p["model"], p["downloaded"]) for p in status["pairs"]] == [
        ("base", False),
        (plain, False),
        ("missing", True),
        ("lora", False),
    ]


def test_first_failure_sets_the_exit_code_in_argument_order(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "ok", http_server.add("ok.bin", b"ok"), "v1")
    result = run_cli(
        "model-registry://ok/v1",
        tmp_path / "a",
        f"{http_server.url}/nothing-here.bin",
        tmp_path / "b",
        "model-registry://nope/v1",
        tmp_path / "c",
        env=_env(registry),
    )
    assert result.code == 5, result.stderr
    assert len(_errors(result.stderr)) == 3
    assert "1 of 3 pairs installed, 2 failed; first failure: pair 2, exit 5" in result.last_line
    assert tree(tmp_path / "a") == {"ok.bin": b"ok"}


@pytest.mark.parametrize(
    ("second", "fragment"),
    [("same", "is named twice"), ("same/adapter", "are nested"), ("", "are nested")],
)
def test_dest_named_twice_or_nested_is_a_usage_error(tmp_path: Path, second: str, fragment: str) -> None:
    first = tmp_path / "same"
    other = tmp_path / second if second else tmp_path
    result = run_cli("s3://a/b", first, "s3://c/d", other)
    assert result.code == 2, result.stderr
    assert fragment in result.last_line
    assert len(_errors(result.stderr)) == 1
    assert not first.exists()


def test_resolve_only_prints_a_list_for_several_pairs(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "iris", http_server.add("iris.bin", b"x"), "v1")
    result = run_cli(
        "model-registry://iris/v1", tmp_path / "a", "https://example.com/m/adapter.bin", tmp_path / "b",
        "--resolve-only", env=_env(registry),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    found = json.loads(result.stdout)
    assert [entry["model_artifact"]["uri"] for entry in found] == [
        f"{http_server.url}/iris.bin",
        "https://example.com/m/adapter.bin",
    ]
    assert not (tmp_path / "a").exists()


def test_one_pair_keeps_exactly_one_error_line(tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TIMEOUT": "2"}  # nothing listens: no 10 s wait
    result = run_cli("model-registry://nope/v1", tmp_path / "m", env=env)
    assert result.code == 4
    assert len(_errors(result.stderr)) == 1
    assert "pairs installed" not in result.stderr


def test_the_command_line_kserve_builds_from_the_storage_uris_example(
    registry: Any, http_server: HttpFileServer, s3_server: S3Server, tmp_path: Path
) -> None:
    import yaml

    example = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "multi-model.yaml"
    entries = yaml.safe_load(example.read_text())["spec"]["predictor"]["storageUris"]
    register(registry.url, "llama-base", http_server.add("base/config.json", b"{}"), "v1")
    register(registry.url, "llama-support-lora", s3_server.put("lora", "v3/adapter.bin", b"lora"), "v3")
    # The injector passes SRC0 DEST0 SRC1 DEST1 …; the mount paths are re-rooted under tmp_path here.
    args = [part for e in entries for part in (e["uri"], tmp_path / e["mountPath"].lstrip("/"))]

    result = run_cli(*args, env=_env(registry, s3_server.env))

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "mnt/models/base") == {"config.json": b"{}"}
    assert tree(tmp_path / "mnt/models/adapter") == {"adapter.bin": b"lora"}


def test_sigterm_with_several_pairs_exits_143_at_once(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from helpers import cli_env
    from mr_storage_initializer import lock

    register(registry.url, "a", http_server.add("a.bin", b"a"), "v1")
    register(registry.url, "b", http_server.add("b.bin", b"b"), "v1")
    held = tmp_path / "b"
    held.mkdir()
    with lock.locked(held / ".model-registry.lock", timeout=5):  # pair 2 waits for this lock
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "mr_storage_initializer"),
                *("model-registry://a/v1", str(tmp_path / "a")),
                *("model-registry://b/v1", str(held)),
            ],
            env=cli_env(_env(registry, {"MODEL_REGISTRY_LOCK_TIMEOUT": "60"})),
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen = ""
        while "another initializer is installing" not in seen:
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        elapsed = time.monotonic() - started
        rest = proc.stderr.read()
    assert code == 143
    assert elapsed < 2
    assert "stopped by SIGTERM" in rest.strip().splitlines()[-1]
    assert tree(held) == {}
