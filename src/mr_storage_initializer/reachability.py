"""A registry that cannot be connected to (refused, no such name, no route): said once, then waited for.

An init container may start before the registry it asks (both come up with the cluster), so the documented
rule is to keep trying until ``MODEL_REGISTRY_TIMEOUT``, no backoff sleeping past it. :class:`Unreachable`
makes that one ``WARNING`` line (``the model registry at … refuses connections; retrying until …``)
instead of one per retry (the retries are logged at DEBUG), and the error that ends the waiting says what
was tried (``… it refuses connections (16 tries in 59s, until MODEL_REGISTRY_TIMEOUT=60s); check …``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from mr_storage_initializer import retry
from mr_storage_initializer.errors import RegistryUnreachableError

if TYPE_CHECKING:
    from mr_storage_initializer.transport import Failure

log = logging.getLogger("mr_storage_initializer.registry")


class Unreachable:
    """The connection failures of one registry conversation (``where``: the registry's base URL, redacted)."""

    def __init__(self, where: str, end: float, deadline: float) -> None:
        self.where = where
        self.end = end  # time.monotonic() at which the conversation gives up
        self.deadline = deadline
        self._lock = threading.Lock()
        self._why = ""
        self._tries = 0
        self._first = 0.0

    def failed(self, failure: Failure) -> retry.TransientError:
        """The retryable error for one connection that failed (``failure.kind`` is ``connect``; quiet: said
        once, here)."""
        why = failure.unreachable
        now = time.monotonic()
        with self._lock:
            announce = why != self._why
            if announce:
                self._why, self._tries, self._first = why, 0, now
            self._tries += 1
            tries, first = self._tries, self._first
        if announce:
            until = time.strftime("%H:%M:%SZ", time.gmtime(time.time() + max(self.end - now, 0)))
            log.warning(
                "the model registry at %s %s; retrying until %s (MODEL_REGISTRY_TIMEOUT=%gs)",
                self.where,
                why,
                until,
                self.deadline,
                extra={"step": "registry"},
            )
        final = RegistryUnreachableError(
            f"cannot reach the model registry at {self.where}: it {why} ({tries} {'try' if tries == 1 else 'tries'} "
            f"in {now - first:.0f}s, until MODEL_REGISTRY_TIMEOUT={self.deadline:g}s); check MODEL_REGISTRY_BASE_URL, "
            "the host in the URI, and that the registry is running"
        )
        return retry.TransientError(f"the model registry at {self.where} {why}", final, quiet=True)
