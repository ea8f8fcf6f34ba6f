"""Why a request got no answer, or only part of one: one table for the registry client and every source.

:func:`classify` sorts what urllib3, ``http.client``, ``ssl`` and ``socket`` raise (a urllib3
``MaxRetryError`` or ``SSLError`` is read through the error it wraps); :func:`classify_text` sorts an error
that arrives only as text (obstore's, from Rust). What may be retried is decided here; the callers say it in
their own words (the registry client with its deadline and ``MODEL_REGISTRY_CA_BUNDLE``, a source with
its hint). The first row that matches decides:

============  ======================================================================  ==========
kind          what happened                                                           transient
============  ======================================================================  ==========
``proxy``     the proxy could not be reached, or refused the tunnel                   yes
``connect``   refused, no route, the name does not resolve: nothing was sent           yes [1]_
``broken``    a TLS stream that ended early (a load balancer closing it)               yes
``tls``       an untrusted certificate, a failed handshake, a bad record               no [2]_
``timeout``   no connection or no answer in time                                      yes
``connect``   a bare ``ConnectionRefusedError`` or ``socket.gaierror``                 yes
``broken``    reset, cut mid-answer, a malformed answer (``http.client``), any OSError yes
``other``     anything else urllib3 reports                                           yes
============  ======================================================================  ==========

.. [1] The registry may be starting beside the init container: it is waited for until
   ``MODEL_REGISTRY_TIMEOUT``, said once (:mod:`.reachability`).
.. [2] Another attempt would fail the same way.
"""

from __future__ import annotations

import enum
import functools

from mr_storage_initializer.redact import redact_text
from mr_storage_initializer.values import dataclass


class Kind(enum.Enum):
    PROXY = "proxy"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    BROKEN = "broken"
    OTHER = "other"

    @property
    def transient(self) -> bool:
        return self is not Kind.TLS


@dataclass(frozen=True)
class Failure:
    """``kind`` of a transport failure; ``error`` the exception that decided it (a wrapper's inner error)."""

    kind: Kind
    error: BaseException | None
    text: str  # the error in one line of at most 200 characters, redacted; its type's name when it says nothing

    @property
    def transient(self) -> bool:
        return self.kind.transient

    @property
    def unreachable(self) -> str:
        """For ``connect``: what the failed connection says about the server, as the end of a sentence."""
        cause = self.error.__cause__ or self.error.__context__ if self.error is not None else None
        if isinstance(self.error, ConnectionRefusedError) or isinstance(cause, ConnectionRefusedError):
            return "refuses connections"
        if _resolution_failed(self.error):
            return "does not resolve"
        return f"cannot be connected to ({_one_line(cause) if cause is not None else self.text})"


_Row = tuple[tuple[type[BaseException], ...], Kind]


@functools.cache
def _table() -> tuple[_Row, ...]:
    import http.client
    import socket
    import ssl

    import urllib3

    e = urllib3.exceptions
    return (
        ((e.ProxyError,), Kind.PROXY),
        ((e.NewConnectionError,), Kind.CONNECT),  # before timeouts: urllib3 2 makes it a ConnectTimeoutError
        ((ssl.SSLEOFError, ssl.SSLZeroReturnError), Kind.BROKEN),  # a cut, not a TLS fault
        ((ssl.SSLError, e.SSLError), Kind.TLS),  # ssl.CertificateError is an ssl.SSLError
        ((e.TimeoutError, TimeoutError), Kind.TIMEOUT),  # socket.timeout is TimeoutError
        ((ConnectionRefusedError, socket.gaierror), Kind.CONNECT),
        ((e.ProtocolError, http.client.HTTPException, OSError), Kind.BROKEN),
        ((e.HTTPError,), Kind.OTHER),
    )


def classify(exc: BaseException) -> Failure:
    """The :class:`Failure` for ``exc``, which a request or the read of its answer raised."""
    import urllib3

    e = urllib3.exceptions
    if isinstance(exc, e.MaxRetryError) and exc.reason is not None:  # our pools retry nothing: one failure
        exc = exc.reason
    if isinstance(exc, e.SSLError) and exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]  # urllib3 wraps ssl's error; which one it is decides (a cut stream is no TLS fault)
    for types, kind in _table():
        if isinstance(exc, types):
            return Failure(kind, exc, _one_line(exc))
    return Failure(Kind.OTHER, exc, _one_line(exc))


# Words of obstore's (reqwest's, rustls') errors, checked in the table's order; anything else is "other".
_TEXT_ROWS: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("certificate", "invalid peer"), Kind.TLS),
    (("connection refused", "dns error", "failed to lookup address"), Kind.CONNECT),
    (("timed out", "timeout"), Kind.TIMEOUT),
    (("connection reset", "broken pipe", "connection closed", "unexpected eof"), Kind.BROKEN),
)


def classify_text(text: str) -> Failure:
    """The :class:`Failure` an error's text describes, for errors that arrive only as text."""
    lowered = text.lower()
    for words, kind in _TEXT_ROWS:
        if any(word in lowered for word in words):
            return Failure(kind, None, _clip(text))
    return Failure(Kind.OTHER, None, _clip(text))


def _resolution_failed(exc: BaseException | None) -> bool:
    import socket

    import urllib3

    return isinstance(exc, urllib3.exceptions.NameResolutionError | socket.gaierror)


def _one_line(exc: BaseException) -> str:
    return _clip(str(exc)) or type(exc).__name__


def _clip(text: str) -> str:
    return redact_text(" ".join(text.split())[:200])
