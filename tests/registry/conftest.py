"""Fixtures for the embedded registry's own tests: ``rest`` calls one registry through each API version."""

from __future__ import annotations

from typing import Any

import pytest
from rest_client import API_V1, API_V1ALPHA3, Rest


@pytest.fixture(params=[API_V1, API_V1ALPHA3], ids=["v1", "v1alpha3"])
def rest(registry: Any, request: pytest.FixtureRequest) -> Rest:
    return Rest(registry.url, api=request.param)
