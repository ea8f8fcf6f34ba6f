"""The console script ``mr-storage-initializer``: :func:`mr_storage_initializer.cli.entry`, with the cyclic
garbage collector's first threshold raised tenfold (700 → 7,000 new container objects) before anything else
is imported. Importing a run's ~160 modules otherwise triggers ~30 collections that find next to nothing
(2-4 ms of a small install); garbage is still collected, a little later. This module imports nothing else,
so the threshold holds from the first import on.
"""

from __future__ import annotations

import gc


def entry() -> None:
    first, second, third = gc.get_threshold()
    gc.set_threshold(first * 10, second, third)
    from mr_storage_initializer.cli import entry as run

    run()
