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
    "fixtures.metadata",
    "fixtures.background",
    "fixtures.proxy",
    "fixtures.oci",
]


def _hypothesis_without_deadline() -> None:
    """Hypothesis fails an example that takes over 200 ms by default: on a loaded two-core machine (the suite
    runs a worker per core) a large example does, which says nothing about the property tested."""
    from hypothesis import settings

    settings.register_profile("suite", deadline=None)
    settings.load_profile("suite")


_hypothesis_without_deadline()


def pytest_configure(config: pytest.Config) -> None:
    """No cloud SDK in this process or any it starts asks a metadata service (169.254.169.254, …): see
    fixtures/metadata.py. Set before any test or fixture runs."""
    from fixtures.metadata import METADATA_OFF

    os.environ.update(METADATA_OFF)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = PROJECT_ROOT.parent / "shared" / "specs"
UNIT_DIR = Path(__file__).resolve().parent / "unit"
# Fixtures that start a server (in this process or as a child): a unit test using one is not "fast".
SERVER_FIXTURES = frozenset(
    {
        "azure_server",
        "fault_proxy",
        "gcs_server",
        "http_server",
        "hub",
        "registry",
        "registry_session",
        "s3_server",
        "s3_tls_server",
        "start_registry",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``spec``: the test reads ../shared/specs. ``slow``: it starts servers or the CLI (every test outside
    tests/unit, and unit tests using a server fixture); ``make test-fast`` runs ``tests/unit -m "not slow"``."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "specs_dir" in fixtures:
            item.add_marker(pytest.mark.spec)
        if not item.path.is_relative_to(UNIT_DIR) or fixtures & SERVER_FIXTURES:
            item.add_marker(pytest.mark.slow)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # the schemathesis runs (fixtures/background.py) go first: a worker starts them at once and waits
        # on them while the other workers run the rest, instead of their 75 s ending the session
        items.sort(key=lambda item: "schemathesis_runs" not in getattr(item, "fixturenames", ()))


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes parameters are named ``bytes`` (pytest numbers repeats): their content may differ between
    processes (random payloads, a gzip header's time), and pytest-xdist's workers must collect the same ids."""
    if isinstance(val, bytes):
        return "bytes"
    return None


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    """The reference specs beside the project (../shared/specs); skip where they are absent outside CI."""
    if not SPECS_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"reference specs not found at {SPECS_DIR}; CI must have ../shared beside the clone")
        pytest.skip(f"reference specs not found at {SPECS_DIR} (they sit beside the project in CI)")
    return SPECS_DIR
