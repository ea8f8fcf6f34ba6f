"""No traffic beyond the endpoints a user configured (issue #20 item 10).

Without S3 credentials obstore asks the instance metadata service (``PUT /latest/api/token``) and has no
switch for it; botocore honours ``AWS_EC2_METADATA_DISABLED``. Here the metadata endpoint of both SDKs is
a loopback :class:`RecordingServer`, so any lookup is seen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fixtures.metadata import METADATA_OFF, RecordingServer
from fixtures.storage import S3Server
from helpers import cli_env, register, run_cli


def _no_credentials(s3_server: S3Server, metadata: RecordingServer, disabled: str | None) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_METADATA_ENDPOINT": metadata.url,  # obstore
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata.url,  # botocore
        "AWS_EC2_METADATA_DISABLED": disabled or "",
    }


@pytest.mark.parametrize("engine", ["fast", "kserve", "auto"])
@pytest.mark.parametrize("disabled", ["true", "TRUE"])
def test_with_metadata_disabled_an_s3_install_without_credentials_asks_no_metadata_service(
    registry: Any, s3_server: S3Server, metadata_service: RecordingServer, tmp_path: Path, engine: str, disabled: str
) -> None:
    register(registry.url, "nocreds", s3_server.put("models", "nc/model.bin", b"w"), "v1")
    dest = tmp_path / "models"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": engine,
        **_no_credentials(s3_server, metadata_service, disabled),
    }

    result = run_cli(f"model-registry://{registry.host_port}/nocreds/v1", dest, env=env)

    assert result.code == 5, result.stderr
    assert [line for line in result.stderr.splitlines() if " ERROR " in line] == [result.last_line]
    if engine != "kserve":
        assert "no S3 credentials: AWS_EC2_METADATA_DISABLED=true" in result.last_line
    else:
        assert "S3 authentication failed" in result.last_line  # kserve_storage on botocore's NoCredentialsError
    assert metadata_service.hits == []
    assert not dest.exists() or [p.name for p in dest.iterdir() if not p.name.startswith(".")] == []


def test_without_the_switch_the_own_engine_would_ask_the_metadata_service(
    registry: Any, s3_server: S3Server, metadata_service: RecordingServer, tmp_path: Path
) -> None:
    """The recording server sees a lookup when one is made: the test above can fail."""
    register(registry.url, "nocreds-on", s3_server.put("models", "on/model.bin", b"w"), "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_TRANSFER": "fast",
        **_no_credentials(s3_server, metadata_service, None),
    }

    result = run_cli(f"model-registry://{registry.host_port}/nocreds-on/v1", tmp_path / "models", env=env)

    assert result.code == 5, result.stderr
    assert ("PUT", "/latest/api/token") in metadata_service.hits


def test_tests_run_with_every_metadata_lookup_off() -> None:
    """The suite's own environment and every CLI run's: off, or at a closed loopback port."""
    for environ in (os.environ, cli_env()):
        for name, value in METADATA_OFF.items():
            assert environ.get(name) == value, name
    loopback = ("http://127.", "127.")
    assert all(v == "true" or v.startswith(loopback) for v in METADATA_OFF.values())
