"""KServe's injected variables in Settings: kept, checked, and ours winning where the user set ours."""

from __future__ import annotations

import pytest

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.transfer.hf_kserve import decided_environment

INJECTED = {"HF_HUB_ENABLE_HF_TRANSFER": "1", "HF_XET_HIGH_PERFORMANCE": "1", "HF_XET_NUM_CONCURRENT_RANGE_GETS": "8"}


def test_the_injected_variables_are_kept_for_kserve_storage() -> None:
    settings = Settings.from_env(INJECTED)
    assert {k: settings.storage_env[k] for k in INJECTED} == INJECTED
    assert settings.tunables.ramp  # the injected 8 is Xet's, not the own engine's


def test_a_user_set_concurrency_wins_over_the_injected_one() -> None:
    settings = Settings.from_env({**INJECTED, "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "32"})
    assert settings.storage_env["HF_XET_NUM_CONCURRENT_RANGE_GETS"] == "32"
    assert settings.tunables.concurrency == 32
    assert decided_environment(settings.storage_env)["HF_XET_NUM_CONCURRENT_RANGE_GETS"] == "32"


def test_the_hf_child_gets_the_decided_proxies() -> None:
    settings = Settings.from_env({"https_proxy": "proxy:3128", "HTTPS_PROXY": "http://upper:1", "HF_TOKEN": "x"})
    child = decided_environment(settings.storage_env)
    assert child["HTTPS_PROXY"] == child["https_proxy"] == "http://upper:1"
    assert "HF_TOKEN" not in child


@pytest.mark.parametrize("value", ["eight", "0", "-1"])
def test_a_bad_xet_concurrency_is_exit_2(value: str) -> None:
    with pytest.raises(UsageError, match="HF_XET_NUM_CONCURRENT_RANGE_GETS"):
        Settings.from_env({"HF_XET_NUM_CONCURRENT_RANGE_GETS": value})
