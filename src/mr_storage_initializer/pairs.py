"""Several ``SOURCE_URI DEST_PATH`` pairs in one call (KServe's ``storageUris``): each on its own thread.

Every pair is resolved and installed independently (:mod:`mr_storage_initializer.pipeline`); a failure of
one does not stop the others, and what installed stays installed (a restart finds it and skips it). At most
:data:`IN_FLIGHT` pairs run at once, so memory stays within ``IN_FLIGHT`` times one pair's bound
(``MODEL_REGISTRY_TRANSFER_CONCURRENCY`` times 1 MiB for the own engine); downloads that may run
``kserve_storage`` take :data:`pipeline.PROCESS_STATE` and so run one at a time.

Worker threads are daemons: on SIGTERM the main thread reports and exits at once; staging directories a
worker leaves behind are removed by the next run on that DEST (as after a kill).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from mr_storage_initializer import pipeline
from mr_storage_initializer.api_version import Learned
from mr_storage_initializer.errors import InitializerError, UnexpectedError, reportable
from mr_storage_initializer.pipeline import Installed, Pair
from mr_storage_initializer.settings import Settings

IN_FLIGHT = 4
log = logging.getLogger("mr_storage_initializer")
_STOPPED = threading.Event()  # set when the main thread gives up on the pairs (SIGTERM): their lines end there


class _PairTag(logging.Filter):
    """Tag each log line a pair's thread writes with ``pair=N`` (their lines interleave)."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = threading.current_thread().name
        if name.startswith("pair-") and _STOPPED.is_set():
            return False  # a daemon pair thread still running after the final ERROR line: it is not written
        if name.startswith("pair-") and not hasattr(record, "pair"):
            record.pair = int(name.removeprefix("pair-"))
        return True


def _one(pair: Pair, settings: Settings, committed: set[int], learned: Learned) -> Installed:
    resolution = pipeline.resolve_pair(pair, settings, learned)
    return pipeline.install_pair(
        pair, resolution, settings, exclusive=False, committed=lambda: committed.add(pair.index)
    )


def run(
    pairs: Sequence[Pair], settings: Settings, *, committed: set[int] | None = None
) -> tuple[list[Installed], list[tuple[Pair, InitializerError]]]:
    """Install every pair; return what installed and, in argument order, what failed and why. ``committed``
    gets each pair's index the moment it is installed, so a caller stopped by a signal can say which are."""
    _STOPPED.clear()
    committed = set() if committed is None else committed
    results: dict[int, Installed | InitializerError] = {}
    learned = Learned()  # one registry's API is found out once for all its pairs
    slots = threading.BoundedSemaphore(IN_FLIGHT)
    done = threading.Semaphore(0)

    def work(pair: Pair) -> None:
        try:
            with slots:
                results[pair.index] = _one(pair, settings, committed, learned)
        except Exception as exc:  # one pair's failure, a bug included, must not take the others' results with it
            results[pair.index] = error = reportable(exc)
            if isinstance(error, UnexpectedError):
                log.debug("traceback of pair %d", pair.index + 1, exc_info=exc)
        finally:
            done.release()

    for handler in logging.getLogger().handlers:
        handler.addFilter(_PairTag())
    threads = [threading.Thread(target=work, args=(p,), name=f"pair-{p.index + 1}", daemon=True) for p in pairs]
    for thread in threads:
        thread.start()
    try:
        for _ in threads:
            done.acquire()  # interruptible: SIGTERM's handler runs in this (main) thread
    except BaseException:
        _STOPPED.set()  # the final line is the main thread's; the daemon pair threads log no more
        raise
    installed = [r for _, r in sorted(results.items()) if isinstance(r, Installed)]
    failures = [(p, r) for p in pairs if isinstance(r := results[p.index], InitializerError)]
    return installed, failures
