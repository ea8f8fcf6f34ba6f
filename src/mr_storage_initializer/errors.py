"""The one exception hierarchy: every failure the initializer reports maps to one exit code.

Messages are single human sentences that say what was wrong, where, and what to try. They never carry a
secret: callers pass URLs through :func:`mr_storage_initializer.redact.redact_text` before building them.
"""

from __future__ import annotations

import errno
import re
import sys

# What each exit code means, for --help and the docs; every error class's ``exit_code`` is one of these.
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "installed, or already installed"),
    (1, "unexpected error (run with --debug for the traceback)"),
    (2, "usage: bad arguments, URI or setting; nothing was contacted"),
    (3, "not found or refused in the registry (unknown model or version, ARCHIVED, artifact policy)"),
    (4, "registry unreachable, credentials refused, or an answer that makes no sense"),
    (5, "storage: download, integrity, signature or archive failure"),
    (6, "destination: DEST_PATH cannot be written (space, permissions, lock)"),
    (143, "stopped by SIGTERM (130: SIGINT); what was installed is said in the last line"),
)


class InitializerError(Exception):
    """Base of every error the CLI reports as one line and an exit code."""

    exit_code: int = 1
    kind: str = "unexpected"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(InitializerError):
    """Bad command line or malformed ``model-registry://`` URI (exit 2)."""

    exit_code = 2
    kind = "usage"


class NotFoundError(InitializerError):
    """The registry has no such model, version or model artifact (exit 3)."""

    exit_code = 3
    kind = "not-found"


class RefusedError(InitializerError):
    """The registry has it, but we will not install it, e.g. it is ARCHIVED (exit 3)."""

    exit_code = 3
    kind = "refused"


class RegistryError(InitializerError):
    """The registry could not be reached, refused our credentials, or answered nonsense (exit 4)."""

    exit_code = 4
    kind = "registry"


class RegistryUnreachableError(RegistryError):
    kind = "registry-unreachable"


class RegistryAuthError(RegistryError):
    kind = "registry-auth"


class RegistryResponseError(RegistryError):
    kind = "registry-bad-answer"


class StorageError(InitializerError):
    """Downloading the artifact failed: missing object, denied, network, size or digest mismatch (exit 5)."""

    exit_code = 5
    kind = "storage"


class IntegrityError(StorageError):
    kind = "integrity"


class ArchiveError(StorageError):
    kind = "archive"


class DestinationError(InitializerError):
    """DEST_PATH cannot take the model: not writable, full, a file, or holding conflicting files (exit 6)."""

    exit_code = 6
    kind = "destination"


class UnexpectedError(InitializerError):
    """A bug: an exception nothing expected, said in one line (exit 1); ``--debug`` logs its traceback."""

    kind = "unexpected"


def reportable(exc: Exception) -> InitializerError:
    """What ``exc`` is reported as: itself when it is an :class:`InitializerError`, else an
    :class:`UnexpectedError` naming its type, caused by it (the one place a bug becomes exit 1)."""
    if isinstance(exc, InitializerError):
        return exc
    error = UnexpectedError(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    error.__cause__ = exc
    return error


class InterruptedByUser(BaseException):
    """SIGTERM or SIGINT arrived. Exit 128 + the signal number.

    A ``BaseException`` like ``KeyboardInterrupt``, so that no ``except Exception`` on the way (logging's
    handler, a storage library's broad handlers) can swallow the stop; staging is removed by ``finally``.
    """

    kind = "interrupted"

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = 128 + signum


DESTINATION_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


# Errnos recognised in the *text* of an error whose OSError was lost on the way (kserve_storage's S3 pool
# workers report failures as strings): only the ones that cannot be about a remote service.
_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\]")


def destination_errno(exc: BaseException) -> int | None:
    """The errno of the first OSError in ``exc``'s chain that is about the local file system, if any.

    An ``ssl.SSLError`` is an OSError whose errno is OpenSSL's error kind (1 for a failed handshake, which
    would read as EPERM): it is about the connection, never the destination."""
    ssl = sys.modules.get("ssl")  # an SSLError exists only where ssl was imported
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (
            isinstance(current, OSError)
            and not (ssl is not None and isinstance(current, ssl.SSLError))
            and current.errno in DESTINATION_ERRNOS
        ):
            return current.errno
        for match in _ERRNO_TEXT.finditer(str(current)):
            if int(match.group(1)) in _SPACE_ERRNOS:
                return int(match.group(1))
        current = current.__cause__ or current.__context__
    return None


class ArtifactRefusedError(RefusedError):
    """The artifact's URI breaks the artifact policy (allow-list, metadata or link-local block): exit 3."""

    kind = "refused-artifact"


class RedirectRefusedError(StorageError):
    """A download was redirected (or its host re-resolved) to a place the artifact policy refuses: exit 5."""

    kind = "redirect-refused"
