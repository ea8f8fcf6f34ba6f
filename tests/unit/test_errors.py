"""Local file-system failures are recognised wherever they hide, and nothing else is taken for one."""

from __future__ import annotations

import errno

from mr_storage_initializer.errors import NotFoundError, UnexpectedError, destination_errno, reportable


def test_oserror_in_the_cause_chain() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("download failed") from inner
    except RuntimeError as outer:
        assert destination_errno(outer) == errno.ENOSPC


def test_errno_in_the_text_of_a_flattened_error() -> None:
    assert destination_errno(RuntimeError("Failed to download 1 files: k: [Errno 28] No space left")) == errno.ENOSPC


def test_remote_errors_are_not_destination_errors() -> None:
    assert destination_errno(RuntimeError("An error occurred (AccessDenied) when calling GetObject")) is None
    assert destination_errno(RuntimeError("[Errno 13] Permission denied (said by the server)")) is None
    assert destination_errno(ConnectionResetError(errno.ECONNRESET, "reset")) is None


def test_a_stop_signal_cannot_be_swallowed_by_broad_handlers() -> None:
    import logging

    from mr_storage_initializer.errors import InterruptedByUser

    class Stopping(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise InterruptedByUser("stopped by SIGTERM; nothing was installed", 15)

    logger = logging.getLogger("test.stop")
    logger.addHandler(Stopping())
    logger.propagate = False
    swallowed = False
    try:
        try:
            logger.warning("x")  # logging's Handler.handleError swallows any Exception raised in emit
        except Exception:
            swallowed = True
    except InterruptedByUser as exc:
        assert exc.exit_code == 143
    else:
        raise AssertionError("the stop did not propagate")
    assert not swallowed


def test_a_bug_is_reported_as_exit_1_naming_its_type_and_an_error_as_itself() -> None:
    known = NotFoundError("no such model")
    assert reportable(known) is known
    bug = KeyError("surprise")
    said = reportable(bug)
    assert isinstance(said, UnexpectedError) and said.__cause__ is bug
    assert (said.exit_code, said.kind) == (1, "unexpected")
    assert said.message == "unexpected KeyError: 'surprise' (run with --debug for the traceback)"
