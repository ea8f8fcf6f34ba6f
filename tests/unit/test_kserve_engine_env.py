"""The kserve engine puts one download's storage variables into os.environ around Storage.download only."""

from __future__ import annotations

import os

import pytest

from mr_storage_initializer.pipeline import with_plan
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.storage_config import DownloadPlan
from mr_storage_initializer.transfer.kserve_engine import _storage_variables


def test_the_plan_is_applied_to_a_copy_of_the_storage_snapshot() -> None:
    settings = Settings.from_env({"AWS_ENDPOINT_URL": "http://global:9000", "STORAGE_OVERRIDE_CONFIG": "{}"})
    plan = DownloadPlan("s3://b/k", env={"AWS_ENDPOINT_URL": "http://uri:9000"}, unset=("STORAGE_OVERRIDE_CONFIG",))
    planned = with_plan(settings, plan)
    assert dict(planned.storage_env) == {"AWS_ENDPOINT_URL": "http://uri:9000"}
    assert dict(settings.storage_env) == {"AWS_ENDPOINT_URL": "http://global:9000", "STORAGE_OVERRIDE_CONFIG": "{}"}
    assert with_plan(settings, DownloadPlan("s3://b/k")) is settings
    with pytest.raises(TypeError):
        planned.storage_env["AWS_ENDPOINT_URL"] = "x"  # type: ignore[index]


def test_process_storage_variables_are_the_downloads_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://global:9000")
    monkeypatch.setenv("STORAGE_OVERRIDE_CONFIG", '{"type": "s3"}')
    monkeypatch.setenv("MR_UNRELATED_TEST_VARIABLE", "kept")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    before = dict(os.environ)
    env = {**{k: v for k, v in before.items() if k != "STORAGE_OVERRIDE_CONFIG"}, "AWS_DEFAULT_REGION": "eu-west-1"}
    env["AWS_ENDPOINT_URL"] = "http://uri:9000"

    with _storage_variables(env):
        assert os.environ["AWS_ENDPOINT_URL"] == "http://uri:9000"
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert "STORAGE_OVERRIDE_CONFIG" not in os.environ
        assert os.environ["MR_UNRELATED_TEST_VARIABLE"] == "kept"  # not a storage variable: untouched

    assert dict(os.environ) == before


def test_process_variables_are_restored_when_the_download_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAGLOBAL")
    before = dict(os.environ)
    with pytest.raises(RuntimeError), _storage_variables({"AWS_ACCESS_KEY_ID": "AKIAENTRY"}):
        assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAENTRY"
        raise RuntimeError("kserve_storage failed")
    assert dict(os.environ) == before
