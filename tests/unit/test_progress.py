"""Progress lines: periodic log lines in pods, one live line on a terminal."""

from __future__ import annotations

import io
import logging

import pytest

from mr_storage_initializer.transfer.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_live_line() -> None:
    terminal = _Terminal()
    progress = Progress(4 * 1048576, stream=terminal)
    progress.add(1048576)
    progress.tick()
    progress.add(3 * 1048576)
    progress.finish()
    out = terminal.getvalue()
    assert out.startswith("\r1.0 MiB of 4.0 MiB (25%)")
    assert "\r4.0 MiB of 4.0 MiB (100%)" in out and out.endswith("\n")
    assert out.count("\n") == 1


def test_a_pod_log_gets_lines_only_when_the_interval_has_passed(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress(100, interval=3600, stream=io.StringIO())
    progress.add(50)
    with caplog.at_level(logging.INFO, logger="mr_storage_initializer.transfer"):
        progress.tick()
        assert caplog.records == []
        progress.interval = 0
        progress.tick()
    [record] = caplog.records
    assert "50%" in record.getMessage() and "ETA" in record.getMessage()
