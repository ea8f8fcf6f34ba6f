"""Every exit code is reached, with its one-line message, and DEST_PATH is left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer, S3Server
from helpers import client_for, register, run_cli


def _env(registry: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **(extra or {})}


def _snapshot(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """A destination that already holds an unrelated file, to show failures leave it untouched."""
    root = tmp_path / "models"
    root.mkdir()
    (root / "unrelated.txt").write_text("keep me")
    return root


def _assert_failed(result: Any, code: int, *fragments: str) -> None:
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.last_line, result.last_line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("model-registry://iris", "DEST", "model-registry://x"), "are not SOURCE_URI DEST_PATH pairs"),
        (("model-registry://a/b/c/d", "DEST"), "at most 3 are allowed"),
        (("model-registry://iris",), "DEST_PATH is missing"),
        ((), "SOURCE_URI"),
        (("model-registry://iris", "DEST", "--bogus"), "unrecognized arguments"),
    ],
)
def test_exit_2_usage(dest: Path, args: tuple[str, ...], fragment: str) -> None:
    before = _snapshot(dest)
    result = run_cli(*[str(dest) if a == "DEST" else a for a in args], env={"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9"})
    _assert_failed(result, 2, fragment)
    assert _snapshot(dest) == before


def test_exit_2_bad_setting(dest: Path) -> None:
    result = run_cli("model-registry://iris", dest, env={"MODEL_REGISTRY_SCHEME": "gopher"})
    _assert_failed(result, 2, "MODEL_REGISTRY_SCHEME='gopher' must be http or https")


def test_exit_3_unknown_model(registry: Any, dest: Path) -> None:
    result = run_cli("model-registry://nope/v1", dest, env=_env(registry))
    _assert_failed(result, 3, "registered model 'nope' was not found")
    assert _snapshot(dest) == ["unrelated.txt"]


def test_exit_3_unknown_version(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    result = run_cli("model-registry://iris/v9", dest, env=_env(registry))
    _assert_failed(result, 3, "model version 'v9' of registered model 'iris' was not found")
    assert _snapshot(dest) == ["unrelated.txt"]


def test_exit_3_archived_version_unless_allowed(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    from model_registry.types import ModelVersionState

    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    client = client_for(registry.url)
    version = client.get_model_version("iris", "v1")
    version.state = ModelVersionState.ARCHIVED
    client.update(version)

    refused = run_cli("model-registry://iris/v1", dest, env=_env(registry))
    _assert_failed(refused, 3, "is ARCHIVED", "MODEL_REGISTRY_ALLOW_ARCHIVED=true")
    assert _snapshot(dest) == ["unrelated.txt"]
    latest = run_cli("model-registry://iris", dest, env=_env(registry))
    _assert_failed(latest, 3, "every version of registered model 'iris' is ARCHIVED")

    allowed = run_cli("model-registry://iris/v1", dest, env=_env(registry, {"MODEL_REGISTRY_ALLOW_ARCHIVED": "true"}))
    assert allowed.code == 0, allowed.stderr


def test_exit_3_archived_model(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    from model_registry.types import RegisteredModelState

    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    client = client_for(registry.url)
    model = client.get_registered_model("iris")
    model.state = RegisteredModelState.ARCHIVED
    client.update(model)
    result = run_cli("model-registry://iris/v1", dest, env=_env(registry))
    _assert_failed(result, 3, "registered model 'iris' is ARCHIVED")


def test_exit_3_version_without_model_artifact(registry: Any, dest: Path) -> None:
    import json
    import urllib.request

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{registry.url}/api/model_registry/v1alpha3/{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    model = post("registered_models", {"name": "bare"})
    post("model_versions", {"name": "v1", "registeredModelId": model["id"]})
    result = run_cli("model-registry://bare/v1", dest, env=_env(registry))
    _assert_failed(result, 3, "has no usable model artifact")


def test_exit_4_registry_down(dest: Path) -> None:
    result = run_cli(
        "model-registry://iris/v1", dest, env={"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TIMEOUT": "2"}
    )
    _assert_failed(result, 4, "cannot reach the model registry at http://127.0.0.1:9")
    assert "retrying" in result.stderr
    assert _snapshot(dest) == ["unrelated.txt"]


def test_exit_4_not_a_registry(http_server: HttpFileServer, dest: Path) -> None:
    host_port = http_server.url.removeprefix("http://")
    result = run_cli("model-registry://iris/v1", dest, env={"MODEL_REGISTRY_BASE_URL": host_port})
    _assert_failed(result, 4, "is MODEL_REGISTRY_BASE_URL (or the host in the URI) a Model Registry?")


def test_exit_4_namespace_registry_unresolvable(registry: Any, dest: Path) -> None:
    result = run_cli(
        "model-registry://iris/v1?namespace=team-a",
        dest,
        env={"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TIMEOUT": "2"},
    )
    port = registry.host_port.rsplit(":", 1)[1]
    _assert_failed(result, 4, f"model-registry-service.team-a.svc.cluster.local:{port}")


def test_exit_5_http_object_missing(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    register(registry.url, "iris", f"{http_server.url}/missing/model.bin", "v1")
    result = run_cli("model-registry://iris/v1", dest, env=_env(registry))
    _assert_failed(result, 5, "downloading", "missing/model.bin")
    assert _snapshot(dest) == ["unrelated.txt"]


def test_exit_5_s3_object_missing(registry: Any, s3_server: S3Server, dest: Path) -> None:
    s3_server.put("models", "other/file", b"x")
    register(registry.url, "iris", "s3://models/iris/model.bin", "v1")
    result = run_cli("model-registry://iris/v1", dest, env=_env(registry, s3_server.env))
    _assert_failed(result, 5, "downloading s3://models/iris/model.bin failed")
    assert _snapshot(dest) == ["unrelated.txt"]


def test_exit_5_never_leaks_a_signed_query_string(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    register(registry.url, "iris", f"{http_server.url}/missing.bin?X-Amz-Signature=topsecret123", "v1")
    result = run_cli("model-registry://iris/v1", dest, env=_env(registry))
    assert result.code == 5
    assert "topsecret123" not in result.stderr


def test_exit_6_destination_is_a_file(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    target = tmp_path / "models"
    target.write_text("a file")
    result = run_cli("model-registry://iris/v1", target, env=_env(registry))
    _assert_failed(result, 6, "exists and is not a directory")
    assert target.read_text() == "a file"


def test_exit_6_clash_with_unrelated_file(registry: Any, http_server: HttpFileServer, dest: Path) -> None:
    register(registry.url, "iris", http_server.add("unrelated.txt", b"theirs"), "v1")
    result = run_cli("model-registry://iris/v1", dest, env=_env(registry))
    _assert_failed(result, 6, "already has 'unrelated.txt'")
    assert (dest / "unrelated.txt").read_text() == "keep me"
    assert _snapshot(dest) == ["unrelated.txt"]


@pytest.mark.skipif(
    shutil.which("setpriv") is None or os.getuid() != 0, reason="needs root and setpriv to drop to nobody"
)
def test_exit_6_destination_not_writable(registry: Any, http_server: HttpFileServer) -> None:
    register(registry.url, "iris", http_server.add("m.bin", b"x"), "v1")
    base = Path(tempfile.mkdtemp(prefix="mr-ro-"))  # world-traversable, unlike pytest's tmp_path
    try:
        base.chmod(0o755)
        dest = base / "ro"
        dest.mkdir(mode=0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_REGISTRY_", "AWS_"))}
        env.update({"MODEL_REGISTRY_BASE_URL": registry.host_port, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"})
        command = [sys.executable, "-m", "mr_storage_initializer", "model-registry://iris/v1", str(dest)]

        def as_nobody() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        proc = as_nobody()
        assert proc.returncode == 6, proc.stderr
        assert "is not writable by uid 65534" in proc.stderr.strip().splitlines()[-1]
        assert list(dest.iterdir()) == []
        # A destination whose parent cannot even be entered is a destination error too, not a crash.
        base.chmod(0o700)
        proc = as_nobody()
        assert proc.returncode == 6, proc.stderr
        assert "cannot create or open destination directory" in proc.stderr.strip().splitlines()[-1]
    finally:
        shutil.rmtree(base)


def test_exit_1_unexpected_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mr_storage_initializer import cli, resolve

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(resolve, "resolve", boom)
    code = cli.main(["model-registry://iris/v1", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "unexpected KeyError" in err and "run with --debug" in err
    assert "Traceback" not in err
    code = cli.main(["model-registry://iris/v1", str(tmp_path), "--debug"])
    assert "Traceback" in capsys.readouterr().err


def test_a_bug_in_one_of_several_pairs_is_said_as_for_one_pair_and_the_others_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], http_server: HttpFileServer, tmp_path: Path
) -> None:
    from mr_storage_initializer import cli, resolve

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(resolve, "resolve", boom)
    plain = http_server.add("plain/m.bin", b"weights")
    code = cli.main(["model-registry://iris/v1", str(tmp_path / "a"), plain, str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1
    assert "pair 1 (model-registry://iris/v1 -> " in err
    assert "unexpected KeyError: 'surprise' (run with --debug for the traceback)" in err
    assert "Traceback" not in err
    assert (tmp_path / "b" / "m.bin").read_bytes() == b"weights"


def _file_size_limit() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.parametrize("source", ["http", "s3"])
def test_exit_6_disk_full_leaves_nothing(
    registry: Any, http_server: HttpFileServer, s3_server: S3Server, dest: Path, source: str
) -> None:
    payload = b"w" * (512 * 1024)
    if source == "http":
        uri, extra = http_server.add("big.bin", payload), {}
    else:
        uri, extra = s3_server.put("models", "big/big.bin", payload), s3_server.env
    register(registry.url, "big", uri, "v1")
    from helpers import cli_env

    proc = subprocess.run(
        [sys.executable, "-m", "mr_storage_initializer", "model-registry://big/v1", str(dest)],
        env=cli_env({"MODEL_REGISTRY_BASE_URL": registry.host_port, **extra}),
        preexec_fn=_file_size_limit,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 6, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot write the model into" in last
    assert "free space" in last
    assert _snapshot(dest) == ["unrelated.txt"]
