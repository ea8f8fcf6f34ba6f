"""No secret of a URL in any output channel, for every kind of SOURCE_URI (issue #20, item 5).

The channels: stderr (text and JSON logs, ``--debug``), stdout (``--resolve-only``), the termination message
and the provenance ``.model-registry.json``. The secrets: a password in the userinfo of a plain SRC, of
``MODEL_REGISTRY_BASE_URL`` and of a ``model-registry://`` URI, and a presigned query string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer
from helpers import CliResult, register, run_cli, tree

PASSWORD = "pw-7f3c1e9a-hunter2"
SIGNATURE = "c0ffee5ignatured00d1234"
CREDENTIAL = "AKIACREDENTIALEXAMPLE9"
USER = "alice-the-admin"
SECRETS = (PASSWORD, SIGNATURE, CREDENTIAL, USER, PASSWORD[:8], SIGNATURE[:10])


def _channels(result: CliResult, *files: Path) -> dict[str, str]:
    found = {"stdout": result.stdout, "stderr": result.stderr}
    found.update({path.name: path.read_text() for path in files if path.is_file()})
    return found


def _assert_no_secret(channels: dict[str, str]) -> None:
    for name, text in channels.items():
        for secret in SECRETS:
            assert secret not in text, f"{name} shows {secret!r}:\n{text}"


def _error_lines(result: CliResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if '"level": "error"' in line or " ERROR " in line]


def _signed(http_server: HttpFileServer, path: str) -> str:
    host = http_server.url.removeprefix("http://")
    return f"http://{USER}:{PASSWORD}@{host}/{path}?X-Amz-Signature={SIGNATURE}&X-Amz-Credential={CREDENTIAL}"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_plain_src_with_userinfo_and_a_signed_query_is_shown_nowhere(
    http_server: HttpFileServer, tmp_path: Path, log_format: str
) -> None:
    http_server.add("m.bin", b"model")
    dest, termination = tmp_path / "models", tmp_path / "termination"
    env = {"MODEL_REGISTRY_TERMINATION_LOG": str(termination)}
    src = _signed(http_server, "m.bin")
    result = run_cli(src, dest, "--debug", "--log-format", log_format, env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"m.bin": b"model"}
    provenance = dest / ".model-registry.json"
    assert f"{http_server.url.removeprefix('http://')}/m.bin" in provenance.read_text()
    _assert_no_secret(_channels(result, termination, provenance))

    resolved = run_cli(src, "--resolve-only", env=env)
    assert resolved.code == 0, resolved.stderr
    assert '"source_uri": "http://***@' in resolved.stdout
    _assert_no_secret(_channels(resolved))


def test_a_failing_plain_src_shows_its_secrets_nowhere(http_server: HttpFileServer, tmp_path: Path) -> None:
    dest, termination = tmp_path / "models", tmp_path / "termination"
    env = {"MODEL_REGISTRY_TERMINATION_LOG": str(termination)}
    result = run_cli(_signed(http_server, "absent.bin"), dest, "--debug", env=env)
    assert result.code == 5, result.stderr
    (error,) = _error_lines(result)  # --debug: the traceback follows it
    assert "http://***@" in error
    assert termination.read_text().strip() in error
    assert not dest.exists() or list(dest.iterdir()) == []
    _assert_no_secret(_channels(result, termination))


def test_a_registry_base_url_with_userinfo_is_shown_nowhere(
    registry_session: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry_session.url, "base-userinfo", http_server.add("b.bin", b"base"), "v1")
    dest, termination = tmp_path / "models", tmp_path / "termination"
    env = {
        "MODEL_REGISTRY_BASE_URL": f"http://{USER}:{PASSWORD}@{registry_session.host_port}",
        "MODEL_REGISTRY_TERMINATION_LOG": str(termination),
    }
    result = run_cli("model-registry://base-userinfo/v1", dest, "--debug", "--log-format", "json", env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"b.bin": b"base"}
    provenance = dest / ".model-registry.json"
    assert f'"registry_url": "http://***@{registry_session.host_port}"' in provenance.read_text()
    _assert_no_secret(_channels(result, termination, provenance))

    resolved = run_cli("model-registry://base-userinfo/v1", "--resolve-only", env=env)
    assert resolved.code == 0, resolved.stderr
    assert f'"registry_url": "http://***@{registry_session.host_port}"' in resolved.stdout
    _assert_no_secret(_channels(resolved))

    missing = run_cli("model-registry://base-userinfo/v9", tmp_path / "other", "--debug", env=env)
    assert missing.code == 3, missing.stderr
    assert len(_error_lines(missing)) == 1, missing.stderr
    assert not (tmp_path / "other").exists()
    _assert_no_secret(_channels(missing, termination))


@pytest.mark.parametrize(
    "uri",
    [
        f"model-registry://{USER}:{PASSWORD}@127.0.0.1:9/m/v1",
        f"model-registry://{USER}:{PASSWORD}@127.0.0.1:9/m",
        f"model-registry://{USER}:{PASSWORD}@registry.example",
        f"model-registry://{USER}@127.0.0.1:9/m/v1",
    ],
    ids=["host-model-version", "host-model", "host-only", "user-only"],
)
def test_userinfo_in_a_model_registry_uri_is_a_usage_error_that_shows_it_nowhere(tmp_path: Path, uri: str) -> None:
    dest, termination = tmp_path / "models", tmp_path / "termination"
    env = {"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TERMINATION_LOG": str(termination)}
    result = run_cli(uri, dest, "--debug", env=env)
    assert result.code == 2, result.stderr
    (error,) = _error_lines(result)
    assert "user information" in error
    assert "MODEL_REGISTRY_TOKEN" in error
    assert not dest.exists()
    assert termination.read_text().strip() in error
    _assert_no_secret(_channels(result, termination))

    resolved = run_cli(uri, "--resolve-only", env=env)
    assert resolved.code == 2
    _assert_no_secret(_channels(resolved))
