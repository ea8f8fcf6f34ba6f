"""Shared pytest configuration: fixtures that start real servers on 127.0.0.1 live in tests/fixtures/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "fixtures.registry",
    "fixtures.storage",
    "fixtures.tls",
    "fixtures.faults",
    "fixtures.azure",
    "fixtures.hub",
    "fixtures.oci",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = PROJECT_ROOT.parent / "shared" / "specs"


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The reference specs beside the project (../shared/specs); skip where they are absent outside CI."""
    if not SPECS_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"reference specs not found at {SPECS_DIR}; CI must have ../shared beside the clone")
        pytest.skip(f"reference specs not found at {SPECS_DIR} (they sit beside the project in CI)")
    return SPECS_DIR
