"""The own engine honours KServe's storage variables, seen from the servers' side; the rest falls back, logged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.storage import HttpFileServer, S3Server
from fixtures.tls import TlsFiles
from helpers import fetch, register, run_cli, run_python, tree

PAYLOAD = b"model bytes " * 1000


@pytest.fixture
def s3_model(s3_server: S3Server) -> str:
    uri = s3_server.put("envs", "m/model.bin", PAYLOAD)
    s3_server.headers_seen.clear()  # only the engine's requests from here on
    return uri


def _auth_headers(s3: S3Server) -> list[str]:
    return [h.get("Authorization", "") for h in s3.headers_seen]


def _ok(result: Any, dest: Path) -> None:
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "fast", result.stderr
    assert tree(dest) == {"model.bin": PAYLOAD}


def test_static_keys_region_and_session_token(s3_server: S3Server, s3_model: str, tmp_path: Path) -> None:
    env = {**s3_server.env, "AWS_DEFAULT_REGION": "eu-west-3", "AWS_SESSION_TOKEN": "session-tok-123"}
    result = fetch(s3_model, tmp_path, "fast", env)
    _ok(result, tmp_path)
    auth = _auth_headers(s3_server)
    assert auth and all("Credential=testing-key-id/" in a and "/eu-west-3/s3/aws4_request" in a for a in auth)
    assert all(h.get("X-Amz-Security-Token") == "session-tok-123" for h in s3_server.headers_seen)
    assert "session-tok-123" not in result.stderr


def test_anonymous_credential_sends_unsigned_requests(s3_server: S3Server, s3_model: str, tmp_path: Path) -> None:
    client = s3_server.client()
    client.put_bucket_acl(Bucket="envs", ACL="public-read")
    client.put_object_acl(Bucket="envs", Key="m/model.bin", ACL="public-read")
    s3_server.headers_seen.clear()
    env = {"AWS_ENDPOINT_URL": s3_server.endpoint, "awsAnonymousCredential": "true"}
    _ok(fetch(s3_model, tmp_path, "fast", env), tmp_path)
    assert s3_server.headers_seen and not any(_auth_headers(s3_server))


def test_storage_config_json_and_override(s3_server: S3Server, s3_model: str, tmp_path: Path) -> None:
    spec = {
        "type": "s3",
        "endpoint_url": s3_server.endpoint,
        "access_key_id": "spec-key",
        "secret_access_key": "spec-secret",
        "region": "us-west-2",
    }
    env = {"STORAGE_CONFIG": json.dumps(spec), "STORAGE_OVERRIDE_CONFIG": json.dumps({"region": "ap-south-1"})}
    result = fetch(s3_model, tmp_path, "fast", env)
    _ok(result, tmp_path)
    assert all("Credential=spec-key/" in a and "/ap-south-1/" in a for a in _auth_headers(s3_server))
    assert "spec-secret" not in result.stderr


def test_tls_with_aws_ca_bundle(
    s3_tls_server: S3Server, s3_server: S3Server, tls_files: TlsFiles, tmp_path: Path
) -> None:
    s3_server.put("envs", "m/model.bin", PAYLOAD)
    env = {**s3_tls_server.env, "S3_VERIFY_SSL": "1", "AWS_CA_BUNDLE": str(tls_files.ca)}
    _ok(fetch("s3://envs/m/model.bin", tmp_path, "fast", env), tmp_path)


def test_tls_with_kserve_global_ca_bundle(
    s3_tls_server: S3Server, s3_server: S3Server, tls_files: TlsFiles, tmp_path: Path
) -> None:
    s3_server.put("envs", "m/model.bin", PAYLOAD)
    mount = tmp_path / "certs"
    mount.mkdir()
    (mount / "cabundle.crt").write_bytes(tls_files.ca.read_bytes())
    env = {
        **s3_tls_server.env,
        "S3_VERIFY_SSL": "true",
        "CA_BUNDLE_CONFIGMAP_NAME": "odh-ca-bundle",
        "CA_BUNDLE_VOLUME_MOUNT_POINT": str(mount),
    }
    _ok(fetch("s3://envs/m/model.bin", tmp_path / "out", "fast", env), tmp_path / "out")


def test_tls_unknown_ca_fails_fast_without_retries(
    s3_tls_server: S3Server, s3_server: S3Server, tmp_path: Path
) -> None:
    s3_server.put("envs", "m/model.bin", PAYLOAD)
    result = fetch("s3://envs/m/model.bin", tmp_path, "fast", {**s3_tls_server.env, "S3_VERIFY_SSL": "true"})
    assert result.code == 5
    assert "TLS failed" in result.stderr and "AWS_CA_BUNDLE" in result.stderr
    assert "retrying" not in result.stderr


def test_tls_verification_off(s3_tls_server: S3Server, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("envs", "m/model.bin", PAYLOAD)
    _ok(fetch("s3://envs/m/model.bin", tmp_path, "fast", {**s3_tls_server.env, "S3_VERIFY_SSL": "0"}), tmp_path)


def test_missing_ca_bundle_file_is_exit_5(s3_server: S3Server, s3_model: str, tmp_path: Path) -> None:
    env = {**s3_server.env, "S3_VERIFY_SSL": "true", "AWS_CA_BUNDLE": str(tmp_path / "nope.pem")}
    result = fetch(s3_model, tmp_path / "out", "fast", env)
    assert result.code == 5
    assert "nope.pem does not exist" in result.stderr


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"S3_USE_ACCELERATE": "true"}, "S3_USE_ACCELERATE"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "team"}, "AWS profile file"),
    ],
)
def test_what_only_boto3_does_falls_back_with_the_reason_logged(
    registry: Any, s3_server: S3Server, s3_model: str, tmp_path: Path, extra: dict[str, str], reason: str
) -> None:
    register(registry.url, "fallback", s3_model, "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env, **extra}
    result = run_cli("model-registry://fallback/v1", tmp_path / "models", env=env)
    assert f"handing {s3_model} to kserve_storage: " in result.stderr
    assert reason in result.stderr


def test_fast_refuses_what_it_cannot_honour(s3_server: S3Server, s3_model: str, tmp_path: Path) -> None:
    result = fetch(s3_model, tmp_path, "fast", {**s3_server.env, "S3_USE_ACCELERATE": "true"})
    assert result.code == 2
    assert "MODEL_REGISTRY_TRANSFER=fast cannot serve" in result.stderr


def test_http_host_headers_are_sent_and_never_logged(http_server: HttpFileServer, tmp_path: Path) -> None:
    url = http_server.add("m/model.bin", PAYLOAD)
    env = {"127.0.0.1-headers": json.dumps({"Authorization": "Bearer hdr-secret-42", "X-Team": "ml"})}
    result = fetch(url, tmp_path, "fast", env)
    _ok(result, tmp_path)
    seen = http_server.server.headers_seen
    assert seen and all(h.get("Authorization") == "Bearer hdr-secret-42" and h.get("X-Team") == "ml" for h in seen)
    assert "hdr-secret-42" not in result.stderr


def test_http_error_page_instead_of_a_model_is_refused(http_server: HttpFileServer, tmp_path: Path) -> None:
    url = http_server.add("m/model.html", b"<html>login</html>")
    result = fetch(url, tmp_path, "fast")
    assert result.code == 5
    assert "Content-Type 'text/html'" in result.stderr


def test_http_url_without_a_file_name_is_exit_5(http_server: HttpFileServer, tmp_path: Path) -> None:
    result = fetch(f"{http_server.url}/m/", tmp_path, "fast")
    assert result.code == 5
    assert "no file name in the URL" in result.stderr


def test_resolving_and_fetching_http_or_s3_imports_no_cloud_sdk(
    registry: Any, http_server: HttpFileServer, s3_server: S3Server, tmp_path: Path
) -> None:
    register(registry.url, "lazy-http", http_server.add("m/model.bin", PAYLOAD), "v1")
    register(registry.url, "lazy-s3", s3_server.put("envs", "m/model.bin", PAYLOAD), "v1")
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['mr-storage-initializer'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('mr_storage_initializer', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'google', 'azure', "
        "'kserve_storage', 'huggingface_hub', 'requests'})\n"
        "print(code, heavy)\n"
    )
    for name in ("lazy-http", "lazy-s3"):
        env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
        proc = run_python(probe, f"model-registry://{name}/v1", tmp_path / name, env=env)
        assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr


def test_long_transfers_log_progress(http_server: HttpFileServer, tmp_path: Path) -> None:
    http_server.server.throttle = 400_000  # bytes per second per connection: about 3 s for this file
    url = http_server.add("m/model.bin", bytes(1_200_000))
    env = {"MODEL_REGISTRY_PROGRESS_INTERVAL": "1", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}
    result = fetch(url, tmp_path, "fast", env)
    assert result.code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "progress:" in line]
    assert lines, result.stderr
    assert "of 1.1 MiB" in lines[0] and "MiB/s, ETA" in lines[0]
