"""retry.call: the first try runs without stamina; a transient failure is replayed as stamina's first attempt."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
import stamina

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise retry.TransientError(f"try {self.calls} failed", StorageError("gave up"))
        return "ok"


def test_a_first_try_that_works_does_not_import_stamina() -> None:
    code = (
        "import sys; from mr_storage_initializer import retry; "
        "assert retry.call(lambda: 7, deadline=5) == 7; print('stamina' in sys.modules, 'tenacity' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_transient_failure_is_retried_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(failures=2)
    with caplog.at_level(logging.WARNING, logger="mr_storage_initializer.retry"):
        assert retry.call(flaky, deadline=30, max_attempts=5) == "ok"
    assert flaky.calls == 3
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].endswith("(retry 1): try 1 failed")  # the first try, made before stamina, counts as one


def test_the_attempt_budget_counts_the_first_try() -> None:
    flaky = Flaky(failures=100)
    with pytest.raises(StorageError, match="gave up"):
        retry.call(flaky, deadline=30, max_attempts=3)
    assert flaky.calls == 3


def test_stamina_testing_mode_still_decides_the_attempts() -> None:
    flaky = Flaky(failures=100)
    with stamina.set_testing(True, attempts=1), pytest.raises(StorageError, match="gave up"):
        retry.call(flaky, deadline=30, max_attempts=5)
    assert flaky.calls == 1


def test_a_final_error_is_raised_at_once() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise StorageError("no such object")

    with pytest.raises(StorageError, match="no such object"):
        retry.call(broken, deadline=30)
    assert calls == [1]
