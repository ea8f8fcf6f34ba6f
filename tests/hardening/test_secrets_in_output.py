"""Secrets in failing runs of the real CLI: every output line of every case is searched for them.

Signatures in a malformed artifact URI, passwords with ``@ # ?`` in its userinfo, tokens that cannot be an
HTTP header (exit 4 naming the variable, never the value), token files with comments; and the other side:
short moto-style credentials (``test``) must not make ``latest`` unreadable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.registry import RegistryProcess
from fixtures.serving import serve
from fixtures.storage import HttpFileServer, S3Server
from helpers import CliResult, client_for, register, run_cli, tree

SIGNATURE = "a1b2c3d4e5f6SIGNATUREd3adb33f"
CREDENTIAL = "AKIAEXAMPLECREDENTIAL77"
TOKEN = "tok-4e1b9c2d-live-registry"


def _lines(result: CliResult) -> list[str]:
    return (result.stdout + result.stderr).splitlines()


def _assert_nowhere(result: CliResult, *fragments: str) -> None:
    for number, line in enumerate(_lines(result), 1):
        for fragment in fragments:
            assert fragment not in line, f"line {number} shows {fragment!r}: {line}"


@pytest.mark.parametrize("engine", ["fast", "kserve"])
@pytest.mark.parametrize("path", ["/k", "k//x"])
def test_a_signature_in_a_malformed_s3_uri_is_never_printed(
    registry_session: Any, s3_server: S3Server, tmp_path: Path, engine: str, path: str
) -> None:
    s3_server.put("signed", "k/model.bin", b"m")
    uri = f"s3://signed/{path}?X-Amz-Signature={SIGNATURE}&X-Amz-Credential={CREDENTIAL}"
    name = f"malformed-{engine}-{len(path)}"
    register(registry_session.url, name, uri, "v1")
    env = {**s3_server.env, "MODEL_REGISTRY_BASE_URL": registry_session.host_port, "MODEL_REGISTRY_TRANSFER": engine}
    result = run_cli(f"model-registry://{name}/v1", tmp_path, "--debug", env=env)
    assert result.code in (0, 5), result.stderr  # the own engine refuses the key, kserve_storage strips it
    assert f"s3://signed/{path}?***" in result.stderr
    _assert_nowhere(result, SIGNATURE, CREDENTIAL, "X-Amz-Signature=a1", SIGNATURE[:12])


@pytest.mark.parametrize("password", ["p@ss#w?rd-9", "pa?ss@wo#rd-9", "s3cr#t@@x?y-9"])
def test_a_password_with_at_hash_or_question_mark_is_never_printed(
    registry_session: Any, http_server: HttpFileServer, tmp_path: Path, password: str
) -> None:
    host = http_server.url.removeprefix("http://")
    name = f"userinfo-{abs(hash(password)) % 10_000}"
    register(registry_session.url, name, f"http://alice:{password}@{host}/absent/model.bin", "v1")
    result = run_cli(
        f"model-registry://{name}/v1", tmp_path, "--debug", env={"MODEL_REGISTRY_BASE_URL": registry_session.host_port}
    )
    assert result.code == 3, result.stderr  # refused: '@', '#' or '?' in the user info reads two ways (#20)
    assert "refused artifact" in result.last_line
    pieces = {password, *(password[i : i + 4] for i in range(len(password) - 3))}
    _assert_nowhere(result, *pieces, "alice")
    assert list(tmp_path.iterdir()) == []


def test_short_moto_credentials_do_not_mask_ordinary_words(
    registry_session: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    register(registry_session.url, "latest-test", "s3://test-models/latest/missing", "latest")
    env = {
        **s3_server.env,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "MODEL_REGISTRY_BASE_URL": registry_session.host_port,
    }
    result = run_cli("model-registry://latest-test/latest", tmp_path, env=env)
    assert result.code == 5, result.stderr
    assert "s3://test-models/latest/missing" in result.last_line
    assert "la***" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


# -- tokens (case 6) ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import http.server

    root = tmp_path_factory.mktemp("tok-http")
    (root / "m.bin").write_bytes(b"secure")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))
    )
    serve(server)
    with RegistryProcess("--token", TOKEN) as registry:
        client_for(registry.url, user_token=TOKEN).register_model(
            "iris",
            f"http://127.0.0.1:{server.server_address[1]}/m.bin",
            model_format_name="x",
            model_format_version="1",
            version="v1",
        )
        yield registry
    server.shutdown()
    server.server_close()


def test_a_token_file_with_comment_lines_uses_the_first_token_line(secured: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"# service account token\n\n   # rotated daily\n{TOKEN}\nsecond-line-ignored\n")
    env = {"MODEL_REGISTRY_BASE_URL": secured.host_port, "MODEL_REGISTRY_TOKEN_PATH": str(token_file)}
    result = run_cli("model-registry://iris/v1", tmp_path / "models", "--debug", env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "models") == {"m.bin": b"secure"}
    _assert_nowhere(result, TOKEN)


@pytest.mark.parametrize(
    ("variable", "content", "fragment"),
    [
        ("MODEL_REGISTRY_TOKEN", f"{TOKEN}\nX-Injected: 1", "cannot be sent in an HTTP header"),
        ("MODEL_REGISTRY_TOKEN", f"{TOKEN}\u20ac", "cannot be sent in an HTTP header"),
        ("MODEL_REGISTRY_TOKEN_PATH", f"{TOKEN}\u20ac".encode(), "cannot be sent in an HTTP header"),
        ("MODEL_REGISTRY_TOKEN_PATH", TOKEN.encode() + b"\xff\xfe", "is not UTF-8 text"),
        ("MODEL_REGISTRY_TOKEN_PATH", f"{TOKEN}\x00".encode(), "cannot be sent in an HTTP header"),
    ],
    ids=["newline-env", "euro-env", "euro-file", "not-utf8-file", "nul-file"],
)
def test_a_token_that_cannot_be_a_header_is_exit_4_naming_the_variable(
    secured: Any, tmp_path: Path, variable: str, content: str | bytes, fragment: str
) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": secured.host_port}
    if isinstance(content, bytes):
        (tmp_path / "token").write_bytes(content)
        env[variable] = str(tmp_path / "token")
    else:
        env[variable] = content
    result = run_cli("model-registry://iris/v1", tmp_path / "models", "--debug", env=env)
    assert result.code == 4, result.stderr
    assert fragment in result.last_line
    assert f"({variable})" in result.last_line or f"{variable} holds" in result.last_line
    assert "unexpected" not in result.stderr
    _assert_nowhere(result, TOKEN, TOKEN[:10])
    assert not (tmp_path / "models").exists()
