"""One strict reading of every storage URL: what the artifact policy checks is what the engines connect to.

Python's ``urllib.parse.urlsplit`` (the policy's old reading), urllib3's ``parse_url`` (the own engine,
``requests`` inside ``kserve_storage``) and the Rust ``url`` crate (obstore) disagree on odd spellings:
``http://169.254.169.254:1\\@127.0.0.1:2/x`` is host ``127.0.0.1`` to the first and ``169.254.169.254`` to
the second, and makes the third panic. So a URL is read once, here, and refused when any part of it could
be read two ways (:func:`read`):

- no control character (tab and newline included) or ``#`` fragment anywhere, no white space at either end
  or in the authority (a space inside an object key is read alike by all); no ``\\`` before the query;
- the scheme is ``[a-z][a-z0-9+.-]*`` followed by ``://``;
- the authority is ASCII; at most one ``@``; user info only of RFC 3986's unreserved characters,
  sub-delimiters, ``:`` and percent-escapes;
- the host is a DNS-style name (letters, digits, ``-``, ``_``, ``.``), a canonical dotted IPv4 address
  (a name that ends in a number, such as ``2852039166`` or ``0xa9.0xfe.0xa9.0xfe``, is not: resolvers
  read it as an address), or a bracketed IPv6 address without a zone; it is empty only for the schemes
  of :data:`SCHEMES` that allow it (``file:///path``);
- the port, when there is a ``:``, is a number from 1 to 65535.

Two more rules for an artifact URI (:func:`artifact_problem`): no ``.`` or ``..`` path segment, also
percent-encoded (urllib3 removes dot-segments before sending, so ``http://h/good/../evil`` fetches
``/evil``; for S3 and GCS keys they are literal), and a scheme an engine serves (:data:`SCHEMES`, or an
existing local path). Callers turn a problem into their own error: exit 2 for the user's own settings
and command line, exit 3 for what the registry returned, exit 5 for a redirect met mid-download.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import cast
from urllib.parse import unquote

from mr_storage_initializer import schemes
from mr_storage_initializer.values import dataclass


class UrlProblem(ValueError):
    """Why a URL is refused: one phrase, such as ``"its authority contains a backslash"``."""


@dataclass(frozen=True)
class Scheme:
    """A URL scheme as written (``gs``, ``https``) and the row of :mod:`mr_storage_initializer.schemes` that
    says how its URLs are read (``empty_host``, ``needs_path``, ``host_called``, ``grammar``)."""

    name: str
    row: schemes.Scheme


SCHEMES = {name: Scheme(name, row) for row in schemes.ROWS for name in row.written}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEME_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_USERINFO = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*$")
_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_PORT = re.compile(r"^[0-9]{1,5}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # read for every request and redirect: a scan in C, not per character


@dataclass(frozen=True)
class StrictUrl:
    """The one reading of a URL."""

    scheme: str  # lower-case
    userinfo: str  # as written ('' when none)
    host: str  # lower-case, without brackets or a trailing dot; '' when none
    port: int | None
    path: str  # as written, '' or starting with '/'
    query: str  # as written, without the '?'

    @property
    def netloc(self) -> str:
        """``HOST[:PORT]`` (IPv6 in brackets), without the user info."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host


def is_url(text: str) -> bool:
    """Whether ``text`` starts like ``scheme://`` (else it is a local path or no URI at all)."""
    return _SCHEME.match(text) is not None


def read(url: str) -> StrictUrl:
    """The one reading of ``url``, or :class:`UrlProblem` when two parsers could read it differently."""
    if _CONTROL.search(url):  # urlsplit drops tab and newline, urllib3 keeps them
        raise UrlProblem("it contains control characters (percent-encode them)")
    if url != url.strip():  # urlsplit strips them, urllib3 does not
        raise UrlProblem("it starts or ends with white space")
    match = _SCHEME.match(url)
    if match is None:
        raise UrlProblem("it does not start with SCHEME:// (such as s3://, gs:// or https://)")
    if "#" in url:
        raise UrlProblem("it has a '#' fragment, which storage libraries read differently")
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    path, _, query = tail.partition("?")
    if any(ch.isspace() for ch in authority):
        raise UrlProblem("its authority contains white space")
    if "\\" in authority or "\\" in path:
        where = "authority" if "\\" in authority else "path"
        raise UrlProblem(f"its {where} contains a backslash, which URL parsers read differently")
    if not authority.isascii():
        raise UrlProblem("its host is not ASCII (write an international name in its xn-- form)")
    if authority.count("@") > 1:
        raise UrlProblem("its authority has more than one '@'")
    userinfo, at, hostport = authority.rpartition("@")
    if at and not _USERINFO.match(userinfo):
        raise UrlProblem("its user info contains characters that URL parsers read differently")
    host, port = _host_port(hostport)
    written = SCHEMES.get(scheme)
    if not host and not (written is not None and written.row.empty_host):
        raise UrlProblem(f"it names no {written.row.host_called if written is not None else 'host'}")
    return StrictUrl(scheme, userinfo, host, port, path, query)


def _host_port(hostport: str) -> tuple[str, int | None]:
    port_text: str | None
    if hostport.startswith("["):
        inside, bracket, after = hostport[1:].partition("]")
        if not bracket:
            raise UrlProblem("its IPv6 host has no closing ']'")
        if "%" in inside:
            raise UrlProblem("its IPv6 host has a zone id ('%'), which URL parsers read differently")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise UrlProblem(f"[{inside}] is not an IPv6 address") from None
        if after and not after.startswith(":"):
            raise UrlProblem("its authority has characters after the IPv6 host")
        port_text = after[1:] if after else None
    else:
        name, colon, text = hostport.partition(":")
        port_text = text if colon else None
        if name and not _NAME.match(name):
            raise UrlProblem(f"its host {name!r} is not a plain DNS name or IPv4 address")
        host = name.lower().rstrip(".")
        if host and _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise UrlProblem(
                    f"its host {host!r} ends in a number but is no dotted IPv4 address (resolvers read it as one)"
                ) from None
    port: int | None = None
    if port_text is not None:
        if not _PORT.match(port_text) or not 0 < int(port_text) <= 65535:
            raise UrlProblem("its port is not a number from 1 to 65535")
        port = int(port_text)
    return host, port


def dot_segment(path: str) -> str | None:
    """The first ``.`` or ``..`` segment of ``path`` (also percent-encoded, also between backslashes)."""
    for segment in re.split(r"[/\\]", path):
        if unquote(segment) in (".", ".."):
            return segment
    return None


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` (a URL, or ``HOST[:PORT]`` read as ``http://``) cannot be read one way, or None."""
    try:
        read(endpoint if "://" in endpoint else f"http://{endpoint}")
    except UrlProblem as problem:
        return str(problem)
    return None


def artifact_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be an artifact (or a SOURCE_URI) as it is written, or None.

    A URL must read one way (:func:`read`), have a path without dot-segments, and use a scheme some engine
    serves; anything else must be a local path that exists (kserve_storage copies it)."""
    if not is_url(uri):
        if os.path.exists(uri):
            segment = dot_segment(uri)
            return f"its path has a {segment!r} segment" if segment is not None else None
        if _SCHEME_ONLY.match(uri):
            return "it is not SCHEME://… (a storage URI needs '://')"
        return "it is neither a storage URI (s3://, gs://, https://, hf://, …) nor an existing local path"
    written = uri.split("://", 1)[0]
    scheme = SCHEMES.get(written)  # the engines compare the scheme as written: lower-case only
    if scheme is not None and scheme.row.grammar is not None:  # oci://HOST/REPO:TAG: the tag's colon is no port
        from mr_storage_initializer.errors import UsageError

        check = cast("Callable[[str], object]", schemes.load(scheme.row.grammar))
        try:
            check(uri)
        except UsageError as exc:
            return exc.message
    try:
        url = read(uri)
    except UrlProblem as problem:
        return str(problem)
    if scheme is None:
        served = ", ".join(f"{name}://" for name in SCHEMES)
        return f"no engine serves the scheme {written}:// (served: {served}, and existing local paths)"
    if scheme.row.needs_path and not url.path.strip("/"):
        return "it names no file on the server (expected http(s)://HOST/PATH)"
    segment = dot_segment(url.path)
    if segment is not None:
        return f"its path has a {segment!r} segment, which HTTP clients remove before sending and object stores keep"
    return None
