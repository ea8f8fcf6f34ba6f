"""api_version.choose: one decision per registry and run; pins ask nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mr_storage_initializer import api_version
from mr_storage_initializer.registry import API_V1, API_V1ALPHA3


class FakeClient:
    """Only what choose() touches: the base URL, the prefix fields, and ``serves`` (counted)."""

    def __init__(self, base_url: str, serves_v1: bool) -> None:
        self.base_url = base_url
        self.api_prefix = ""
        self.api_confirmed = False
        self.api_unserved = ""
        self.asked: list[str] = []
        self._serves_v1 = serves_v1
        self.api_fallback: str | None = None
        self.on_api_decided: Any = None

    def serves(self, prefix: str) -> bool:
        self.asked.append(prefix)
        return self._serves_v1 and prefix == API_V1


@pytest.fixture(autouse=True)
def _fresh_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_version, "_decided", {})


def test_auto_asks_nothing_itself_and_the_first_answer_decides_once_per_registry_and_run() -> None:
    first = FakeClient("http://r:8080", True)
    first.api_fallback = None
    first.on_api_decided = None
    assert api_version.choose(first, "auto") == "auto"  # type: ignore[arg-type]
    assert first.asked == []  # no probe: the first real request is made in v1, unconfirmed
    assert (first.api_prefix, first.api_confirmed, first.api_fallback) == (API_V1, False, API_V1ALPHA3)
    first.on_api_decided(API_V1ALPHA3, "it does not serve v1")  # what RegistryClient.get reports
    second = FakeClient("http://r:8080", True)
    assert api_version.choose(second, "auto") == "v1alpha3"  # type: ignore[arg-type]
    assert (second.api_prefix, second.api_confirmed, second.asked) == (API_V1ALPHA3, False, [])
    other = FakeClient("http://other:8080", True)
    api_version.choose(other, "auto")  # type: ignore[arg-type]
    assert other.api_prefix == API_V1 and other.api_fallback == API_V1ALPHA3


@pytest.mark.parametrize(("pin", "prefix"), [("v1", API_V1), ("v1alpha3", API_V1ALPHA3)])
def test_a_pin_asks_nothing_and_stays_unconfirmed(pin: str, prefix: str) -> None:
    client = FakeClient("http://r:8080", True)
    assert api_version.choose(client, pin) == pin  # type: ignore[arg-type]
    assert client.asked == [] and client.api_prefix == prefix and client.api_confirmed is False
    assert f"MODEL_REGISTRY_API_VERSION={pin} asks for" in client.api_unserved


def test_probe_prefixes_follow_the_setting() -> None:
    assert api_version.probe_prefixes("auto") == (API_V1, API_V1ALPHA3)
    assert api_version.probe_prefixes("v1alpha3") == (API_V1ALPHA3,)
