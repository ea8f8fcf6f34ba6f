"""Fixtures for the embedded registry's own tests."""

from __future__ import annotations

from typing import Any

import pytest
from rest_client import Rest


@pytest.fixture
def rest(registry: Any) -> Rest:
    return Rest(registry.url)
