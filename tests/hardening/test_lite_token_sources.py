"""``mr-registry-lite`` takes its token from a file or the environment, so that it does not show in ``ps``."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fixtures.registry import RegistryProcess

TOKEN = "lite-7c2e9f41-not-in-ps"


def _status(url: str, token: str | None) -> int:
    request = urllib.request.Request(f"{url}/api/model_registry/v1alpha3/registered_models")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _command_line(process: RegistryProcess) -> str:
    assert process.proc is not None
    return Path(f"/proc/{process.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_token_file_is_required_and_not_on_the_command_line(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"# the registry's token\n\n{TOKEN}\n")
    with RegistryProcess("--token-file", token_file) as registry:
        assert _status(registry.url, None) == 401
        assert _status(registry.url, "wrong") == 401
        assert _status(registry.url, TOKEN) == 200
        assert TOKEN not in _command_line(registry)


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_LITE_TOKEN", TOKEN)
    with RegistryProcess() as registry:
        assert _status(registry.url, None) == 401
        assert _status(registry.url, TOKEN) == 200
        assert TOKEN not in _command_line(registry)


def test_token_on_the_command_line_still_works() -> None:
    with RegistryProcess("--token", TOKEN) as registry:
        assert _status(registry.url, TOKEN) == 200
        assert _status(registry.url, None) == 401


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("# nothing here\n")
    with pytest.raises(RuntimeError, match="did not start"):
        RegistryProcess("--token-file", tmp_path / "token").start()
