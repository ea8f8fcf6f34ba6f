"""Retries done one way for the whole package: exponential backoff with jitter inside a total deadline.

:func:`call` is a small loop: it calls a function until it returns, and after each :class:`TransientError`
(what is transient is the caller's business) waits and tries again, logging each retry once. No wait ends
past the deadline: one that would is cut to end just before it, for a last try there; a server's
``Retry-After`` is never cut (when it would end past the deadline the retries stop at once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("mr_storage_initializer.retry")
T = TypeVar("T")


# The one transient-status policy: request timeout, too many requests, and the 5xx answers that mean
# "try again" (not 501 Not Implemented or 505 HTTP Version Not Supported, which will not change).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def transient_status(status: int) -> bool:
    """Whether an HTTP answer with ``status`` may succeed when asked again."""
    return status in TRANSIENT_STATUSES


class TransientError(Exception):
    """A failure worth another attempt (connection refused or reset, timeout, 429, 5xx).

    ``final`` is the error to raise when the deadline or the attempts run out. ``quiet``: the caller said
    once what is being waited for, so each retry is logged at DEBUG, not WARNING.
    """

    def __init__(self, message: str, final: BaseException, *, quiet: bool = False) -> None:
        super().__init__(message)
        self.final = final
        self.quiet = quiet
        self.retry_after: float | None = None  # the server's Retry-After, in seconds, when it sent one


_LAST_TRY_MARGIN = 0.05  # seconds: the last try starts this long before the deadline
RETRY_AFTER_MAX = 300.0  # seconds; a longer Retry-After is waited for this long (the deadline bounds it anyway)


def retry_after(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` (delay-seconds or an HTTP date) in seconds from now, or None."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), RETRY_AFTER_MAX)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(when - time.time(), 0.0), RETRY_AFTER_MAX)


def _wait(exc: TransientError, failures: int, left: float, wait_initial: float, wait_max: float) -> float | None:
    """Seconds to wait before the next try after ``failures`` failed ones, ``left`` seconds before the last
    try must start; None: no wait fits, stop."""
    import random  # only once something failed (~1 ms of a run that needs no retry)

    jitter = random.uniform(0, min(1.0, wait_max))  # noqa: S311 - jitter, not cryptography
    wait: float = min(wait_max, wait_initial * 2 ** min(failures - 1, 32) + jitter)
    if exc.retry_after is not None:  # the server said when: not before, and spread so a crowd does not
        spread = random.uniform(0, max(0.5, exc.retry_after / 2))  # noqa: S311 - come back in lock-step
        wait = max(wait, exc.retry_after + spread)
    if wait <= left:
        return wait
    # The wait would end past the deadline. A server's Retry-After is not cut short; otherwise the wait ends
    # just before the deadline, for a last try there, if any time is left for one.
    if exc.retry_after is not None or left <= 0:
        return None
    return left


def call(
    fn: Callable[[], T],
    *,
    deadline: float,
    max_attempts: int | None = 8,
    wait_initial: float = 0.2,
    wait_max: float = 5.0,
) -> T:
    """Call ``fn`` until it returns; a :class:`TransientError` schedules another try until ``deadline``
    seconds from now, at most ``max_attempts`` tries in all (None: no cap, the deadline alone decides).

    No backoff sleeps past the deadline: a wait that would end after it is cut to end just before it, for one
    last try there (a ``Retry-After`` that would end after it stops the retries at once instead).
    When the deadline or the attempts are spent, the last transient error's ``final`` exception is raised.
    """
    end = time.monotonic() + deadline
    failures = 0
    while True:
        try:
            return fn()
        except TransientError as exc:
            failures += 1
            left = end - time.monotonic() - _LAST_TRY_MARGIN
            spent = max_attempts is not None and failures >= max_attempts
            wait = None if spent else _wait(exc, failures, left, wait_initial, wait_max)
            if wait is None:
                raise exc.final from exc
            log.log(
                logging.DEBUG if exc.quiet else logging.WARNING,
                "retrying in %.1fs (retry %d): %s",
                wait,
                failures,
                exc,
                extra={"step": "retry", "retry": failures, "wait_s": round(wait, 2)},
            )
            time.sleep(wait)
