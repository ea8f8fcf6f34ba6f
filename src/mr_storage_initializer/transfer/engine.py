"""What a transfer engine is: the interface :func:`mr_storage_initializer.transfer.download` uses, what an
engine is given when it is made, and the functions a row of :mod:`mr_storage_initializer.schemes` names.

An engine is made for one download with everything it needs (tunables, patterns, limits and the caller's
:class:`Hooks`); nothing is set on it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from mr_storage_initializer.schemes import load
from mr_storage_initializer.values import dataclass

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings

# Told of every range written (relative path, offset, length), e.g. to hash completed prefixes (prehash.py).
Observer = Callable[[str, int, int], None]
# Sees the relative paths an engine will write, before it fetches a byte (name clashes in DEST).
BeforeFetch = Callable[[list[str]], None]


@dataclass(frozen=True)
class Hooks:
    """What the caller wants to be told during a download. The own engine calls ``before_fetch`` with the
    paths it listed (an ``oci://`` image: the model's top-level names once its layers are applied) and tells
    ``observer`` of each range of a model file it wrote, first of those kept from a killed run. The
    ``kserve_storage`` engines call neither."""

    before_fetch: BeforeFetch | None = None
    observer: Observer | None = None


NO_HOOKS = Hooks()


class Engine(Protocol):
    """One download: ``download`` writes the artifact at ``uri`` into the existing empty directory ``dest``
    and returns :attr:`name`."""

    @property
    def name(self) -> str:
        """``"fast"`` (the own engine) or ``"kserve"`` (``kserve_storage``)."""

    @property
    def revision(self) -> str | None:
        """The source's version installed (``hf://``: the commit; ``oci://``: the manifest digest), once
        :meth:`download` has returned, when the source has one."""

    def download(self, uri: str, dest: Path) -> str: ...


class Builder(Protocol):
    """A row's ``builder``: the own engine for ``uri`` (raises ``Unsupported`` when it cannot serve it)."""

    def __call__(self, uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine: ...


class KServeBuilder(Protocol):
    """A row's ``kserve``: the ``kserve_storage`` engine for its URIs."""

    def __call__(self, settings: Settings) -> Engine: ...


class Revision(Protocol):
    """A row's ``revision``: the version ``uri`` names now (a moved tag or branch is a new fingerprint)."""

    def __call__(self, uri: str, settings: Settings, tunables: Tunables) -> str | None: ...


def builder(target: str) -> Builder:
    return cast("Builder", load(target))


def kserve_builder(target: str) -> KServeBuilder:
    return cast("KServeBuilder", load(target))


def revision(target: str) -> Revision:
    return cast("Revision", load(target))
