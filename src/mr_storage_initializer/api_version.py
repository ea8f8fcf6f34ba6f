"""The Model Registry REST APIs the initializer speaks, preferred first, and what a run learns about them.

``MODEL_REGISTRY_API_VERSION`` is ``auto`` (default) or one of :data:`VERSIONS`. A
:class:`~mr_storage_initializer.registry.RegistryClient` tries :func:`prefixes` in order: in ``auto`` the
first registry call of a run is made in the preferred API, unconfirmed, with no separate probe (a
``MODEL/VERSION`` install is three requests); an answer proves it is served; a 404, 405, 410 or 501 is
checked with ``GET <prefix>/registered_models?pageSize=1``, and when that says it is not served the same call
is made in the next API. The choice is remembered for the registry's URL for the rest of the run
(:class:`Learned`). A pinned version, and the last API left to try, are confirmed by the first real answer; a
404 before that is checked with the same list call, so a registry that serves none of them (or not the pinned
one) ends in exit 4 with that sentence, never in "model not found".
"""

from __future__ import annotations

import threading

# The registry's REST APIs, preferred first: (version, base path).
VERSIONS: tuple[tuple[str, str], ...] = (
    ("v1", "/api/model_registry/v1"),
    ("v1alpha3", "/api/model_registry/v1alpha3"),
)
SETTINGS = ("auto", *(name for name, _ in VERSIONS))  # the values MODEL_REGISTRY_API_VERSION may take
PREFIXES = dict(VERSIONS)
API_V1, API_V1ALPHA3 = PREFIXES["v1"], PREFIXES["v1alpha3"]
PREFERRED = VERSIONS[0][0]


def version_of(prefix: str) -> str:
    return prefix.rsplit("/", 1)[-1]


def prefixes(setting: str) -> tuple[str, ...]:
    """The API prefixes to try for ``setting`` (``auto`` or a version), in order."""
    return (PREFIXES[setting],) if setting in PREFIXES else tuple(prefix for _, prefix in VERSIONS)


def listed(names: list[str]) -> str:
    """``neither A nor B`` for two names, ``none of A, B, C`` for more."""
    return f"neither {names[0]} nor {names[1]}" if len(names) == 2 else f"none of {', '.join(names)}"


class Learned:
    """What one run learned about its registries: the API ``auto`` settled on at each registry URL (and
    whether an answer confirmed it), and the deprecations already warned about. Shared by the run's
    clients, which may be on several threads (one per pair)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[str, tuple[str, bool]] = {}
        self._warned: set[str] = set()

    def chosen(self, base_url: str) -> tuple[str, bool] | None:
        """``(prefix, confirmed)`` settled on earlier in the run for ``base_url``, if any."""
        with self._lock:
            return self._chosen.get(base_url)

    def choose(self, base_url: str, prefix: str, confirmed: bool) -> None:
        with self._lock:
            self._chosen[base_url] = (prefix, confirmed)

    def first_warning(self, key: str) -> bool:
        """True the first time ``key`` is asked about in this run."""
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
            return first
