"""The own engine on a plain source, as the builders of the rows whose source is not an engine of its own
(``s3://``, ``gs://``, ``http(s)://``, Azure Blob) make it: the settings' patterns and limits, the caller's hooks.

:mod:`~mr_storage_initializer.transfer.fast_engine` is imported when an engine is made, not with this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine, Hooks
    from mr_storage_initializer.transfer.source import Source


class PooledSource(Protocol):
    """A source class whose pool keeps ``connections`` connections."""

    def __call__(self, uri: str, env: Mapping[str, str], /, *, connections: int) -> Source: ...


def on(source: Source, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine reading from ``source``."""
    from mr_storage_initializer.transfer.fast_engine import FastEngine

    return FastEngine(source, tunables, settings.patterns, settings.limits, hooks=hooks)


def pooled(source: PooledSource, uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine reading ``uri`` from a ``source`` whose pool keeps as many connections as the run may
    open."""
    from mr_storage_initializer.transfer.plan import most_connections

    return on(source(uri, settings.storage_env, connections=most_connections(tunables)), settings, tunables, hooks)
