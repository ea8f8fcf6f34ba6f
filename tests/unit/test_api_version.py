"""api_version.choose: one decision per registry and run; pins ask nothing."""

from __future__ import annotations

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

    def serves(self, prefix: str) -> bool:
        self.asked.append(prefix)
        return self._serves_v1 and prefix == API_V1


@pytest.fixture(autouse=True)
def _fresh_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_version, "_decided", {})


@pytest.mark.parametrize(("serves_v1", "prefix", "confirmed"), [(True, API_V1, True), (False, API_V1ALPHA3, False)])
def test_auto_asks_once_per_registry_and_run(serves_v1: bool, prefix: str, confirmed: bool) -> None:
    first, second = FakeClient("http://r:8080", serves_v1), FakeClient("http://r:8080", serves_v1)
    api_version.choose(first, "auto")  # type: ignore[arg-type]
    api_version.choose(second, "auto")  # type: ignore[arg-type]
    assert first.asked == [API_V1] and second.asked == []
    assert (first.api_prefix, first.api_confirmed) == (prefix, confirmed)
    assert (second.api_prefix, second.api_confirmed) == (prefix, confirmed)
    other = FakeClient("http://other:8080", serves_v1)
    api_version.choose(other, "auto")  # type: ignore[arg-type]
    assert other.asked == [API_V1]


@pytest.mark.parametrize(("pin", "prefix"), [("v1", API_V1), ("v1alpha3", API_V1ALPHA3)])
def test_a_pin_asks_nothing_and_stays_unconfirmed(pin: str, prefix: str) -> None:
    client = FakeClient("http://r:8080", True)
    assert api_version.choose(client, pin) == pin  # type: ignore[arg-type]
    assert client.asked == [] and client.api_prefix == prefix and client.api_confirmed is False
    assert f"MODEL_REGISTRY_API_VERSION={pin} asks for" in client.api_unserved


def test_probe_prefixes_follow_the_setting() -> None:
    assert api_version.probe_prefixes("auto") == (API_V1, API_V1ALPHA3)
    assert api_version.probe_prefixes("v1alpha3") == (API_V1ALPHA3,)
