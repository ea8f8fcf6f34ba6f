"""storage_config: s3_uri_from queries, storage-config entries, one download's environment, precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mr_storage_initializer import redact
from mr_storage_initializer.errors import StorageError, UsageError
from mr_storage_initializer.options import load_entries
from mr_storage_initializer.redact import MASK, redact_text
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.storage_config import plan, split_s3_query

SPEC = {"type": "s3", "access_key_id": "AKIAENTRY", "secret_access_key": "entry-secret", "bucket": "team-b"}


def test_query_of_s3_uri_from_is_split_off_the_key() -> None:
    clean, query = split_s3_query("s3://models/ep/model.bin?endpoint=http://minio:9000&defaultRegion=eu-west-1")
    assert clean == "s3://models/ep/model.bin"
    assert query == {"endpoint": "http://minio:9000", "defaultRegion": "eu-west-1"}
    assert split_s3_query("s3://m/k?endpoint=http://minio:9000") == ("s3://m/k", {"endpoint": "http://minio:9000"})
    assert split_s3_query("https://host/file?sig=1") == ("https://host/file?sig=1", {})  # only s3:// is ours


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("s3://m/k?versionId=3", "has the query parameter 'versionId'"),
        ("s3://m/k?endpoint=http://a&endpoint=http://b", "repeats the query parameter 'endpoint'"),
        ("s3://m/k?endpoint=minio:9000", "endpoint that is not an http(s) URL"),
        ("s3://m/k?", "ends in an empty query"),
    ],
)
def test_bad_s3_queries_are_storage_errors(uri: str, fragment: str) -> None:
    with pytest.raises(StorageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        split_s3_query(uri)


def test_uri_query_wins_over_the_entry_which_replaces_storage_config() -> None:
    entries = load_entries({"P_k": json.dumps({**SPEC, "endpoint_url": "http://entry:1", "region": "r1"})}, "P_", None)
    env = {"STORAGE_CONFIG": json.dumps({"type": "s3", "access_key_id": "GLOBAL"}), "STORAGE_OVERRIDE_CONFIG": "{}"}
    got = plan(
        "s3://b/k?endpoint=http://uri:2&defaultRegion=r2",
        storage_key="k",
        storage_path=None,
        entries=entries,
        looked="here",
        env=env,
    )
    assert got.uri == "s3://b/k"
    spec = json.loads(got.env["STORAGE_CONFIG"])
    assert spec["endpoint_url"] == "http://uri:2" and spec["region"] == "r2" and spec["access_key_id"] == "AKIAENTRY"
    assert got.env["AWS_ENDPOINT_URL"] == "http://uri:2" and got.env["AWS_DEFAULT_REGION"] == "r2"
    assert got.unset == ("STORAGE_OVERRIDE_CONFIG",)


def test_uri_query_wins_over_global_storage_config_and_its_override() -> None:
    env = {
        "STORAGE_CONFIG": json.dumps({"type": "s3", "endpoint_url": "http://global:1"}),
        "STORAGE_OVERRIDE_CONFIG": json.dumps({"region": "r-override"}),
    }
    got = plan("s3://b/k?endpoint=http://uri:2", storage_key=None, storage_path=None, entries={}, looked="", env=env)
    spec = json.loads(got.env["STORAGE_CONFIG"])
    assert spec == {"type": "s3", "endpoint_url": "http://uri:2", "region": "r-override"}


def test_plain_uri_without_key_changes_nothing() -> None:
    got = plan("s3://b/k", storage_key=None, storage_path=None, entries={}, looked="", env={})
    assert (got.uri, dict(got.env), got.unset) == ("s3://b/k", {}, ())


def test_storage_path_and_entry_bucket_make_the_location() -> None:
    entries = load_entries({"P_k": json.dumps(SPEC)}, "P_", None)
    got = plan("", storage_key="k", storage_path="/llm/w.bin", entries=entries, looked="", env={})
    assert got.uri == "s3://team-b/llm/w.bin"


def test_entry_without_bucket_cannot_locate_a_uri_less_artifact() -> None:
    entries = load_entries({"P_k": json.dumps({"type": "s3"})}, "P_", None)
    with pytest.raises(StorageError, match="has no 'bucket'"):
        plan("", storage_key="k", storage_path="x", entries=entries, looked="", env={})


def test_entries_from_files_and_variables_variable_wins(tmp_path: Path) -> None:
    (tmp_path / "a").write_text(json.dumps({**SPEC, "bucket": "from-file"}))
    (tmp_path / "b").write_text(json.dumps({**SPEC, "bucket": "b-file"}))
    (tmp_path / "..data").mkdir()
    variables = {"MR_STORAGE_CONFIG_b": json.dumps({**SPEC, "bucket": "b-var"})}
    entries = load_entries(variables, "MR_STORAGE_CONFIG_", tmp_path)
    assert sorted(entries) == ["a", "b"]
    assert entries["a"].spec["bucket"] == "from-file" and entries["a"].source == f"file {tmp_path / 'a'}"
    assert entries["b"].spec["bucket"] == "b-var" and entries["b"].source == "variable MR_STORAGE_CONFIG_b"


def test_every_value_of_an_entry_is_masked_but_where_it_points(monkeypatch: pytest.MonkeyPatch) -> None:
    # values of 8 characters or more: shorter secrets are masked only as whole values (redact.py's rule)
    monkeypatch.setattr(redact, "_secrets", set())  # this test's secrets only, gone after it
    spec = {**SPEC, "endpoint_url": "http://minio.internal:9000", "session_token": "tok-1234", "extra": "x-567890"}
    load_entries({"P_k": json.dumps(spec), "P_broken": "not json at all"}, "P_", None)
    text = redact_text("AKIAENTRY entry-secret tok-1234 x-567890 | not json at all | s3://team-b/k minio.internal:9000")
    assert text == f"{MASK} {MASK} {MASK} {MASK} | {MASK} | s3://team-b/k minio.internal:9000"


def test_settings_read_entries_once_and_check_their_places(tmp_path: Path) -> None:
    settings = Settings.from_env({"MR_STORAGE_CONFIG_aws-connection-minio": json.dumps(SPEC)})
    assert list(settings.storage_entries) == ["aws-connection-minio"]
    custom = Settings.from_env(
        {"MODEL_REGISTRY_STORAGE_CONFIG_PREFIX": "SC_", "SC_x": "{}", "MR_STORAGE_CONFIG_y": "{}"}
    )
    assert list(custom.storage_entries) == ["x"]
    with pytest.raises(UsageError, match=r"_DIR='.*missing' must be a directory"):
        Settings.from_env({"MODEL_REGISTRY_STORAGE_CONFIG_DIR": str(tmp_path / "missing")})
    with pytest.raises(UsageError, match="must be a name that starts with a letter"):
        Settings.from_env({"MODEL_REGISTRY_STORAGE_CONFIG_PREFIX": "1X_"})
    with pytest.raises(UsageError, match="MODEL_REGISTRY_API_VERSION='v2'"):
        Settings.from_env({"MODEL_REGISTRY_API_VERSION": "v2"})


def test_storage_key_and_path_are_part_of_the_fingerprint() -> None:
    from mr_storage_initializer.provenance import fingerprint
    from mr_storage_initializer.resolve import Artifact, Entity, Resolution

    def resolution(**artifact: str) -> Resolution:
        entity = Entity(id="1", name="m", state="LIVE")
        art = Artifact(id="2", name="a", state="LIVE", uri="s3://b/k", **artifact)  # type: ignore[arg-type]
        where = {"source_uri": "model-registry://m", "registry_url": "http://r"}
        return Resolution(**where, model=entity, version=entity, artifact=art)

    import hashlib

    plain = fingerprint(resolution())
    assert plain == hashlib.sha256(b"http://r\x002\x00s3://b/k").hexdigest()  # earlier installs stay recognised
    keyed = fingerprint(resolution(storage_key="k1", storage_path="p"))
    assert keyed != plain
    assert fingerprint(resolution(storage_key="k2", storage_path="p")) != keyed
    assert fingerprint(resolution(storage_key="k1", storage_path="q")) != keyed
