"""Artifact URIs as the official client writes them (``s3_uri_from``: ``?endpoint=&defaultRegion=``) and
per-model storage credentials from the artifact's ``storageKey`` (KServe's storage-config secret entries).

Every S3 request is checked from moto's side: the access key id in its SigV4 ``Authorization`` header.
No test sets ``AWS_ENDPOINT_URL`` for the initializer unless it checks that something else wins over it.
"""

from __future__ import annotations

import http.server
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures import serving
from fixtures.storage import S3Server
from helpers import client_for, register, run_cli, tree

ENGINES = ["fast", "kserve"]
MINIO = {"id": "AKIAMINIOEXAMPLE0001", "secret": "minio-secret-0001-do-not-print"}
OTHER = {"id": "AKIAOTHEREXAMPLE0002", "secret": "other-secret-0002-do-not-print"}
DEAD = "http://127.0.0.1:9"  # nothing listens there


def _s3_uri_from(path: str, bucket: str, endpoint: str, region: str = "us-east-1") -> str:
    from model_registry.utils import s3_uri_from

    uri: str = s3_uri_from(path, bucket, endpoint=endpoint, region=region)
    return uri


def _entry(keys: dict[str, str], endpoint: str, bucket: str = "", **more: str) -> str:
    spec = {"type": "s3", "access_key_id": keys["id"], "secret_access_key": keys["secret"], "endpoint_url": endpoint}
    spec.update({"bucket": bucket} if bucket else {})
    spec.update(more)
    return json.dumps(spec)


def _env(registry: Any, engine: str, **extra: str) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": engine, **extra}


def _nothing_in(dest: Path) -> bool:
    return not dest.exists() or not any(dest.iterdir())


def _fresh(s3: S3Server) -> None:
    s3.requests.clear()
    s3.headers_seen.clear()


# -- s3_uri_from URIs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_s3_uri_from_artifact_installs_from_its_endpoint(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str
) -> None:
    s3_server.put("models", "ep/model.bin", b"weights")
    uri = _s3_uri_from("ep/model.bin", "models", s3_server.endpoint)
    assert uri.startswith("s3://models/ep/model.bin?endpoint=http://127.0.0.1:")
    register(registry.url, "ep", uri, "v1")
    _fresh(s3_server)
    keys = {"AWS_ACCESS_KEY_ID": MINIO["id"], "AWS_SECRET_ACCESS_KEY": MINIO["secret"]}

    result = run_cli("model-registry://ep/v1", tmp_path, env=_env(registry, engine, **keys))

    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"model.bin": b"weights"}
    assert s3_server.requests and set(s3_server.access_key_ids()) == {MINIO["id"]}
    assert not any("?" in r or "endpoint" in r for r in s3_server.requests)  # the query is never part of the key


@pytest.mark.parametrize("engine", ENGINES)
def test_uri_endpoint_and_region_win_over_storage_config_and_aws_variables(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str
) -> None:
    s3_server.put("models", "ep/model.bin", b"weights")
    register(registry.url, "ep", _s3_uri_from("ep/model.bin", "models", s3_server.endpoint, "eu-west-3"), "v1")
    _fresh(s3_server)
    env = _env(
        registry,
        engine,
        AWS_ENDPOINT_URL=DEAD,
        AWS_DEFAULT_REGION="us-west-2",
        STORAGE_CONFIG=_entry(MINIO, DEAD, region="ap-south-1"),
    )
    result = run_cli("model-registry://ep/v1", tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path) == {"model.bin": b"weights"}
    scopes = {
        h.get("Authorization", "").split("/")[2]
        for h in s3_server.headers_seen
        if "Credential=" in h.get("Authorization", "")
    }
    assert scopes == {"eu-west-3"}  # signed for the URI's defaultRegion


@pytest.mark.parametrize("engine", ENGINES)
def test_unknown_query_parameter_on_an_s3_uri_is_exit_5(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str
) -> None:
    s3_server.put("models", "ep/model.bin", b"weights")
    register(registry.url, "ep", f"s3://models/ep/model.bin?endpoint={s3_server.endpoint}&versionId=3", "v1")
    _fresh(s3_server)
    result = run_cli("model-registry://ep/v1", tmp_path / "dest", env=_env(registry, engine))
    assert result.code == 5, result.stderr
    assert "has the query parameter 'versionId'; only endpoint and defaultRegion" in result.last_line
    assert "retrying" not in result.stderr
    assert s3_server.requests == []
    assert _nothing_in(tmp_path / "dest")


def test_a_key_the_own_engine_cannot_read_fails_at_once(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("models", "ep//model.bin", b"weights")
    register(registry.url, "ep", "s3://models/ep//model.bin", "v1")
    result = run_cli("model-registry://ep/v1", tmp_path / "dest", env={**_env(registry, "fast"), **s3_server.env})
    assert result.code == 5, result.stderr
    assert "cannot be read by the own engine" in result.last_line
    assert "retrying" not in result.stderr
    assert _nothing_in(tmp_path / "dest")


# -- storageKey --------------------------------------------------------------------------------------------
def _two_models(registry: Any, s3: S3Server) -> None:
    s3.put("minio-models", "iris/model.bin", b"from minio")
    s3.put("team-b", "llm/weights.bin", b"from team b")
    client = client_for(registry.url)
    client.register_model(
        "iris",
        "s3://minio-models/iris/model.bin",
        version="v1",
        model_format_name="sklearn",
        model_format_version="1",
        storage_key="aws-connection-minio",
    )
    client.register_model(
        "llm",
        "s3://team-b/llm/weights.bin",
        version="v1",
        model_format_name="vllm",
        model_format_version="1",
        storage_key="aws-connection-team-b",
        storage_path="llm/weights.bin",
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_each_model_downloads_with_its_storage_key_credentials(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str
) -> None:
    _two_models(registry, s3_server)
    env = _env(
        registry,
        engine,
        **{
            "MR_STORAGE_CONFIG_aws-connection-minio": _entry(MINIO, s3_server.endpoint, "minio-models"),
            "MR_STORAGE_CONFIG_aws-connection-team-b": _entry(OTHER, s3_server.endpoint, "team-b"),
            "AWS_ACCESS_KEY_ID": "AKIAGLOBALNOTTOBEUSED",
            "AWS_SECRET_ACCESS_KEY": "global-secret-not-to-be-used",
        },
    )
    seen = {}
    for name in ("iris", "llm"):
        _fresh(s3_server)
        result = run_cli(f"model-registry://{name}/v1", tmp_path / name, env=env)
        assert result.code == 0, result.stderr
        assert MINIO["secret"] not in result.stderr and OTHER["secret"] not in result.stderr
        seen[name] = set(s3_server.access_key_ids())
    assert tree(tmp_path / "iris") == {"model.bin": b"from minio"}
    assert tree(tmp_path / "llm") == {"weights.bin": b"from team b"}
    assert seen == {"iris": {MINIO["id"]}, "llm": {OTHER["id"]}}


def test_storage_path_and_the_entry_bucket_locate_an_artifact_without_uri(
    registry: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    s3_server.put("team-b", "llm/weights.bin", b"from team b")
    client = client_for(registry.url)
    client.register_model(
        "llm",
        "s3://placeholder/x",
        version="v1",
        model_format_name="vllm",
        model_format_version="1",
        storage_key="aws-connection-team-b",
        storage_path="llm/weights.bin",
    )
    artifact = client.get_model_artifact("llm", "v1")
    # An artifact made elsewhere (UI, REST) may carry storageKey/storagePath and no uri; the client cannot.
    request = urllib.request.Request(
        f"{registry.url}/api/model_registry/v1/model_artifacts/{artifact.id}",
        data=json.dumps({"uri": ""}).encode(),
        headers={"Content-Type": "application/json"},
        method="PATCH",
    )
    urllib.request.urlopen(request, timeout=10).close()
    _fresh(s3_server)
    entries = tmp_path / "storage-config"
    entries.mkdir()
    (entries / "aws-connection-team-b").write_text(_entry(OTHER, s3_server.endpoint, "team-b"))
    (entries / "..data").mkdir()  # what the kubelet puts beside a mounted secret's keys
    env = _env(registry, "fast", MODEL_REGISTRY_STORAGE_CONFIG_DIR=str(entries))

    result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == {"weights.bin": b"from team b"}
    assert set(s3_server.access_key_ids()) == {OTHER["id"]}
    provenance = json.loads((tmp_path / "dest" / ".model-registry.json").read_text())
    assert provenance["model_artifact"]["storage_key"] == "aws-connection-team-b"
    assert provenance["model_artifact"]["storage_path"] == "llm/weights.bin"


def test_a_required_storage_key_entry_that_is_missing_is_exit_5_naming_key_and_places(
    registry: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    _two_models(registry, s3_server)
    _fresh(s3_server)
    entries = tmp_path / "storage-config"
    entries.mkdir()
    env = _env(
        registry,
        "fast",
        MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY="true",
        MODEL_REGISTRY_STORAGE_CONFIG_DIR=str(entries),
        **{"MR_STORAGE_CONFIG_aws-connection-minio": _entry(MINIO, s3_server.endpoint)},
    )
    result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=env)
    assert result.code == 5, result.stderr
    assert "storageKey 'aws-connection-team-b' has no entry: looked in variables MR_STORAGE_CONFIG_<key>" in (
        result.last_line
    )
    assert f"files in {entries} (MODEL_REGISTRY_STORAGE_CONFIG_DIR)" in result.last_line
    assert s3_server.requests == []
    assert _nothing_in(tmp_path / "dest")


def _env_keys(s3: S3Server, keys: dict[str, str], endpoint: str = "") -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": keys["id"],
        "AWS_SECRET_ACCESS_KEY": keys["secret"],
        "AWS_ENDPOINT_URL": endpoint or s3.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_a_storage_key_without_an_entry_falls_back_to_the_environment_with_one_warning(
    registry: Any, s3_server: S3Server, tmp_path: Path, engine: str
) -> None:
    # a model registered through the dashboard carries storageKey; the Go CSI never reads it
    _two_models(registry, s3_server)
    _fresh(s3_server)
    env = _env(registry, engine, **_env_keys(s3_server, OTHER))

    result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=env)

    assert result.code == 0, result.stderr
    assert tree(tmp_path / "dest") == {"weights.bin": b"from team b"}
    assert set(s3_server.access_key_ids()) == {OTHER["id"]}
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 1, result.stderr
    assert "storageKey 'aws-connection-team-b' has no entry" in warnings[0]
    assert "using the environment's storage credentials" in warnings[0]
    assert "MODEL_REGISTRY_REQUIRE_STORAGE_ENTRY=true" in warnings[0]


class _Denying(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request's credentials, as S3 does (403 AccessDenied)."""

    protocol_version = "HTTP/1.1"
    body = b'<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'

    def _deny(self, with_body: bool) -> None:
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(self.body)

    def do_GET(self) -> None:
        self._deny(True)

    def do_HEAD(self) -> None:
        self._deny(False)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_s3() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Denying)
    serving.serve(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_refused_fallback_names_the_missing_entry_as_the_likely_cause(
    registry: Any, s3_server: S3Server, denying_s3: str, tmp_path: Path, engine: str
) -> None:
    _two_models(registry, s3_server)
    env = _env(registry, engine, **_env_keys(s3_server, MINIO, denying_s3), S3_MAX_ATTEMPTS="1")

    result = run_cli("model-registry://llm/v1", tmp_path / "dest", env=env)

    assert result.code == 5, result.stderr
    assert "403" in result.last_line
    assert "storageKey 'aws-connection-team-b' has no entry" in result.last_line
    assert "the missing entry is the likely cause" in result.last_line
    assert MINIO["secret"] not in result.stderr
    assert _nothing_in(tmp_path / "dest")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"type": "gs", "bucket": "b"}', "has type 'gs'; only s3 entries can be used"),
        ("not json", "cannot be used: it is not a JSON object"),
    ],
)
def test_storage_key_entry_we_cannot_use_is_exit_5(
    registry: Any, s3_server: S3Server, tmp_path: Path, raw: str, fragment: str
) -> None:
    _two_models(registry, s3_server)
    env = _env(registry, "fast", **{"MR_STORAGE_CONFIG_aws-connection-minio": raw})
    result = run_cli("model-registry://iris/v1", tmp_path / "dest", env=env)
    assert result.code == 5, result.stderr
    assert "storage-config entry 'aws-connection-minio' (variable MR_STORAGE_CONFIG_aws-connection-minio) " in (
        result.last_line
    )
    assert fragment in result.last_line
    assert _nothing_in(tmp_path / "dest")


def test_uri_endpoint_wins_over_the_storage_key_entry(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("models", "ep/model.bin", b"weights")
    client_for(registry.url).register_model(
        "ep",
        _s3_uri_from("ep/model.bin", "models", s3_server.endpoint),
        version="v1",
        model_format_name="sklearn",
        model_format_version="1",
        storage_key="aws-connection-minio",
    )
    _fresh(s3_server)
    env = _env(registry, "kserve", **{"MR_STORAGE_CONFIG_aws-connection-minio": _entry(MINIO, DEAD)})
    result = run_cli("model-registry://ep/v1", tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert set(s3_server.access_key_ids()) == {MINIO["id"]}  # the entry's keys, the URI's endpoint


# -- the artifact policy sees the plan's endpoints -------------------------------------------------------
METADATA = "http://169.254.169.254:80"


@pytest.mark.parametrize("origin", ["uri", "entry"])
def test_a_plan_endpoint_at_the_metadata_service_is_refused(
    registry: Any, s3_server: S3Server, tmp_path: Path, origin: str
) -> None:
    s3_server.put("models", "meta/model.bin", b"weights")
    extra: dict[str, str] = {}
    if origin == "uri":
        uri = _s3_uri_from("meta/model.bin", "models", METADATA)
        register(registry.url, f"meta-{origin}", uri, "v1")
    else:
        extra["MR_STORAGE_CONFIG_aws-connection-meta"] = _entry(MINIO, METADATA)
        register(registry.url, f"meta-{origin}", "s3://models/meta/model.bin", "v1", storage_key="aws-connection-meta")
    _fresh(s3_server)

    result = run_cli(f"model-registry://meta-{origin}/v1", tmp_path / "dest", env=_env(registry, "auto", **extra))

    assert result.code == 3, result.stderr
    what = "in the artifact uri (endpoint=)" if origin == "uri" else "of storage-config entry 'aws-connection-meta'"
    assert f"refused the S3 endpoint {what}" in result.last_line
    assert "169.254.169.254 is a cloud metadata endpoint" in result.last_line
    assert s3_server.requests == []
    assert _nothing_in(tmp_path / "dest")
    assert MINIO["secret"] not in result.stderr
