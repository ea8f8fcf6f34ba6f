"""What DEST already holds is checked before a byte is downloaded: a user's file inside a directory the previous
install put there refuses the replacement (exit 6; kept, not deleted), and so does a name clash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.storage import HttpFileServer, S3Server
from helpers import register, run_cli, tree


def _run(registry: Any, uri: str, dest: Path, s3: S3Server) -> Any:
    return run_cli(uri, dest, env={**s3.env, "MODEL_REGISTRY_BASE_URL": registry.host_port})


def _object_gets(s3: S3Server, prefix: str) -> list[str]:
    return [r for r in s3.requests if r.startswith(f"GET /guards/{prefix}")]


def test_a_users_file_inside_an_installed_directory_refuses_the_upgrade_before_downloading(
    registry_session: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    for version in ("v1", "v2"):
        s3_server.put("guards", f"u/{version}/tok/vocab.txt", version.encode())
        s3_server.put("guards", f"u/{version}/model.bin", version.encode())
        register(registry_session.url, "guard-user", f"s3://guards/u/{version}", version)
    assert _run(registry_session, "model-registry://guard-user/v1", tmp_path, s3_server).code == 0
    (tmp_path / "tok" / "my-notes.txt").write_bytes(b"mine")
    s3_server.requests.clear()

    result = _run(registry_session, "model-registry://guard-user/v2", tmp_path, s3_server)

    assert result.code == 6
    assert "'tok/my-notes.txt' inside 'tok'" in result.last_line
    assert "did not list" in result.last_line
    assert _object_gets(s3_server, "u/v2") == []
    assert s3_server.requests == []  # not even a listing
    assert tree(tmp_path) == {"model.bin": b"v1", "tok/vocab.txt": b"v1", "tok/my-notes.txt": b"mine"}


def test_a_name_clash_in_dest_is_found_before_the_download(
    registry_session: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    s3_server.put("guards", "c/model/weights.bin", b"w" * 100_000)
    register(registry_session.url, "guard-clash", s3_server.put("guards", "c/model/config.json", b"{}"), "v1")
    register(registry_session.url, "guard-clash", "s3://guards/c/model", "v2")
    (tmp_path / "weights.bin").write_bytes(b"the user's")

    result = _run(registry_session, "model-registry://guard-clash/v2", tmp_path, s3_server)

    assert result.code == 6
    assert "already has 'weights.bin', which is not from a previous install" in result.last_line
    assert _object_gets(s3_server, "c/model/") == []  # listed, but nothing fetched
    assert tree(tmp_path) == {"weights.bin": b"the user's"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]


def test_a_name_clash_with_an_http_file_is_found_before_its_body_is_read(
    registry_session: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry_session.url, "guard-http", http_server.add("m/model.bin", b"x" * 50_000), "v1")
    (tmp_path / "model.bin").write_bytes(b"mine")
    result = run_cli(
        "model-registry://guard-http/v1", tmp_path, env={"MODEL_REGISTRY_BASE_URL": registry_session.host_port}
    )
    assert result.code == 6
    assert "already has 'model.bin'" in result.last_line
    assert http_server.server.ranges_seen == ["bytes=0-0"]  # the size probe only
    assert tree(tmp_path) == {"model.bin": b"mine"}
