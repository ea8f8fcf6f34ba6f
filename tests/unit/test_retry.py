"""retry.call: tries until the function returns, waits a backoff between tries, and never waits past the deadline."""

from __future__ import annotations

import logging
import time

import pytest

from mr_storage_initializer import retry
from mr_storage_initializer.errors import StorageError

FAST = {"wait_initial": 0.0, "wait_max": 0.0}  # no backoff: the tries alone


class Flaky:
    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.calls: list[float] = []  # when each try started

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            exc = retry.TransientError(f"try {len(self.calls)} failed", StorageError("gave up"))
            exc.retry_after = self.retry_after
            raise exc
        return "ok"


def test_a_transient_failure_is_retried_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(failures=2)
    with caplog.at_level(logging.WARNING, logger="mr_storage_initializer.retry"):
        assert retry.call(flaky, deadline=30, max_attempts=5, **FAST) == "ok"
    assert len(flaky.calls) == 3
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert retries[0].endswith("(retry 1): try 1 failed")
    assert retries[1].endswith("(retry 2): try 2 failed")


def test_a_quiet_failure_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def quiet() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise retry.TransientError("refused", StorageError("gave up"), quiet=True)
        return "ok"

    with caplog.at_level(logging.DEBUG, logger="mr_storage_initializer.retry"):
        assert retry.call(quiet, deadline=30, **FAST) == "ok"
    assert [r.levelno for r in caplog.records if "retrying in" in r.getMessage()] == [logging.DEBUG]


def test_the_attempt_budget_counts_the_first_try() -> None:
    flaky = Flaky(failures=100)
    with pytest.raises(StorageError, match="gave up") as caught:
        retry.call(flaky, deadline=30, max_attempts=3, **FAST)
    assert len(flaky.calls) == 3
    assert isinstance(caught.value.__cause__, retry.TransientError)  # the last failure says what went wrong


def test_without_an_attempt_cap_the_deadline_alone_decides() -> None:
    flaky = Flaky(failures=100)
    started = time.monotonic()
    with pytest.raises(StorageError, match="gave up"):
        retry.call(flaky, deadline=0.6, max_attempts=None, wait_initial=0.05, wait_max=0.05)
    took = time.monotonic() - started
    assert len(flaky.calls) >= 4
    assert took < 0.6  # the last try started before the deadline, and nothing waited past it


def test_a_backoff_past_the_deadline_is_cut_to_end_just_before_it_for_a_last_try() -> None:
    flaky = Flaky(failures=100)
    started = time.monotonic()
    with pytest.raises(StorageError, match="gave up"):
        retry.call(flaky, deadline=0.5, max_attempts=None, wait_initial=10.0, wait_max=10.0)
    took = time.monotonic() - started
    assert len(flaky.calls) == 2  # the first try, and one last try just before the deadline
    assert 0.3 < flaky.calls[1] - started < 0.5
    assert took < 0.5


def test_a_retry_after_is_never_cut_the_retries_stop_instead() -> None:
    flaky = Flaky(failures=100, retry_after=5.0)
    started = time.monotonic()
    with pytest.raises(StorageError, match="gave up"):
        retry.call(flaky, deadline=1.0, max_attempts=None, **FAST)
    assert len(flaky.calls) == 1
    assert time.monotonic() - started < 0.5  # no wait at all


def test_a_retry_after_within_the_deadline_is_waited_for() -> None:
    flaky = Flaky(failures=1, retry_after=0.2)
    assert retry.call(flaky, deadline=30, **FAST) == "ok"
    assert flaky.calls[1] - flaky.calls[0] >= 0.2


def test_a_final_error_is_raised_at_once() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise StorageError("no such object")

    with pytest.raises(StorageError, match="no such object"):
        retry.call(broken, deadline=30)
    assert calls == [1]
