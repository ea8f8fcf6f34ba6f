"""One transient-status policy for the registry client and every source: 408, 429, 500, 502, 503, 504."""

from __future__ import annotations

import http.client
import ssl

import pytest

from mr_storage_initializer import retry
from mr_storage_initializer.errors import InitializerError
from mr_storage_initializer.registry_answers import interpret
from mr_storage_initializer.transfer import wire
from mr_storage_initializer.transfer.objectstore import ObstoreSource
from mr_storage_initializer.transfer.source import SourceError, transport_failure

TRANSIENT = (408, 429, 500, 502, 503, 504)
FINAL = (400, 401, 403, 404, 409, 416, 501, 505)


@pytest.mark.parametrize("status", TRANSIENT + FINAL)
def test_registry_http_and_object_stores_agree(status: int) -> None:
    expected = status in TRANSIENT
    assert retry.transient_status(status) is expected
    assert wire.status_error(status, "hint").transient is expected
    obstore_error = ObstoreSource(None, "").error(RuntimeError(f"Request failed with status: {status}"), "k")
    assert obstore_error.transient is expected
    with pytest.raises((retry.TransientError, InitializerError)) as caught:
        interpret("http://r/x", status, b"{}", missing_ok=False)
    assert isinstance(caught.value, retry.TransientError) is expected


def test_cut_connections_are_transient_for_every_source() -> None:
    import urllib3

    cut = urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")
    assert transport_failure(cut, 30, "hint").transient
    assert ObstoreSource(None, "").error(RuntimeError("connection reset by peer"), "k").transient


@pytest.mark.parametrize(
    ("exc", "transient", "sentence"),
    [
        (ssl.SSLError(1, "bad record mac"), False, "TLS failed (bad record mac); check the CA"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True, "mid-transfer (the TLS stream ended"),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"), True, "mid-transfer (the TLS stream"),
        (TimeoutError("timed out"), True, "the server did not answer within 7s (timed out)"),
        (ConnectionResetError(104, "Connection reset by peer"), True, "the connection broke mid-transfer ("),
        (http.client.IncompleteRead(b"", 10), True, "the connection broke mid-transfer (IncompleteRead"),
    ],
)
def test_a_body_read_failure_is_sorted_in_one_place(exc: BaseException, transient: bool, sentence: str) -> None:
    # the ordinary read (wire._readinto) and the splice's first read (splice._read_head) both use this
    error = transport_failure(exc, 7, "check the CA")
    assert error.transient is transient
    assert sentence in error.message


class _Raw:
    """http.client's response as the body readers see it, failing with ``exc`` on its first read."""

    length = 10
    chunked = False

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def readinto(self, _: memoryview) -> int:
        raise self.exc

    def read1(self, _: int) -> bytes:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "sentence"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), "the connection broke mid-transfer ("),
        (TimeoutError("timed out"), "the server did not answer within 7s"),
    ],
)
def test_both_body_readers_sort_their_failures_there(exc: BaseException, sentence: str) -> None:
    from mr_storage_initializer.transfer import splice

    for read in (lambda: next(wire._readinto(_Raw(exc), 16, "hint", 7)), lambda: splice._read_head(_Raw(exc), 7)):
        with pytest.raises(SourceError) as caught:
            read()
        assert caught.value.transient
        assert sentence in caught.value.message
