"""A urllib3 ``PoolManager`` that asks :mod:`.proxy` about every URL it fetches, each redirect included.

urllib3's ``ProxyManager`` reads no environment and has no ``NO_PROXY``: :class:`RoutingPoolManager`
connects directly itself and keeps one ``ProxyManager`` per proxy for the URLs :meth:`ProxyConfig.for_url`
sends through one (``https://`` through a ``CONNECT`` tunnel, ``http://`` as an absolute-form request).
urllib3 follows a redirect by calling ``urlopen`` again on the manager that got it, so both kinds route
back here: a redirect that crosses a ``NO_PROXY`` boundary is decided again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import urllib3

from mr_storage_initializer.proxy import ProxyConfig


class _ProxyHop(urllib3.ProxyManager):
    """A ``ProxyManager`` whose redirects go back to the router that chose it."""

    router: RoutingPoolManager

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        if self.router.manager_for(url) is not self:
            return self.router.urlopen(method, url, redirect=redirect, **kw)
        return super().urlopen(method, url, redirect=redirect, **kw)


class RoutingPoolManager(urllib3.PoolManager):
    """Direct connections, or the proxy :meth:`ProxyConfig.for_url` names, decided for each URL."""

    def __init__(self, proxies: ProxyConfig, *, wrap: Callable[[Any], Any] | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self._proxies = proxies
        self._kw = kw
        self._wrap = wrap  # applied to each ProxyManager made (the artifact policy's guard)
        self._hops: dict[str, _ProxyHop] = {}
        self._lock = threading.Lock()

    def manager_for(self, url: str) -> urllib3.PoolManager:
        proxy = self._proxies.for_url(url)
        if proxy is None:
            return self
        with self._lock:
            hop = self._hops.get(proxy)
            if hop is None:
                bare, auth = ProxyConfig.without_userinfo(proxy)
                kw = dict(self._kw)
                if kw.get("ssl_context") is not None and bare.startswith("https://"):
                    kw.setdefault("proxy_ssl_context", kw["ssl_context"])
                hop = _ProxyHop(bare, proxy_headers=auth or None, **kw)
                hop.router = self
                if self._wrap is not None:
                    self._wrap(hop)
                self._hops[proxy] = hop
        return hop

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        manager = self.manager_for(url)
        if manager is not self:
            return manager.urlopen(method, url, redirect=redirect, **kw)
        return super().urlopen(method, url, redirect=redirect, **kw)

    def clear(self) -> None:
        with self._lock:
            hops = list(self._hops.values())
        for hop in hops:
            hop.clear()
        super().clear()


def pool_manager(proxies: ProxyConfig, *, wrap: Callable[[Any], Any] | None = None, **kw: Any) -> Any:
    """A plain ``PoolManager`` when no proxy is set, else a :class:`RoutingPoolManager`; ``wrap`` is applied
    to every manager that connects (the direct one and each proxy's)."""
    if not proxies.configured:
        pool = urllib3.PoolManager(**kw)
        return wrap(pool) if wrap is not None else pool
    router = RoutingPoolManager(proxies, wrap=wrap, **kw)
    return wrap(router) if wrap is not None else router
