"""Hostile storage, round 2 (issue #11): nothing outside DEST, pinned versions, stalls, redirects, userinfo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import S3Server
from helpers import register, run_cli


def _aws_profile_home(tmp_path: Path, s3_server: S3Server) -> dict[str, str]:
    """S3 credentials only in ~/.aws/credentials: obstore cannot read them, so `auto` falls back to kserve."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    env = s3_server.env
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    return {
        "HOME": str(home),
        "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
        "AWS_DEFAULT_REGION": env["AWS_DEFAULT_REGION"],
        "S3_VERIFY_SSL": "0",
    }


@pytest.mark.parametrize("engine", ["kserve", "auto"])
@pytest.mark.parametrize("key", ["m/trav/../../escape.txt", "m/a/sub/../../../../escape.txt"])
def test_kserve_path_never_writes_outside_dest(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str, key: str
) -> None:
    s3_server.put("hostile", "m/ok.bin", b"ok")
    s3_server.put("hostile", key, b"evil")  # moto stores the key as written
    register(registry.url, "escape", "s3://hostile/m", "v1")
    parent = tmp_path / "vol"
    dest = parent / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine}
    env.update(s3_server.env if engine == "kserve" else _aws_profile_home(tmp_path, s3_server))
    result = run_cli("model-registry://escape/v1", dest, env=env)
    assert result.code == 5, result.stderr
    if engine == "auto":
        assert "AWS profile file" in result.stderr  # it really took the fallback
    assert "ERROR" in result.last_line
    assert "'escape.txt'" in result.last_line and "above the model directory" in result.last_line
    assert sorted(p.name for p in parent.iterdir()) == ["models"]  # nothing beside DEST
    assert not list(tmp_path.rglob("escape.txt"))
    assert [p.name for p in dest.iterdir() if not p.name.startswith(".")] == []
