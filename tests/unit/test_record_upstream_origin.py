"""scripts/record-upstream names the upstream commit of the server binary it is given, or refuses to record.

The "binaries" here are small shell scripts: one answers ``--version``, one carries the lines a Go binary's
build information holds (``build\tvcs.revision=…``), as bytes in the file, which is what the script reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import record_upstream_origin

COMMIT = "1ac3e35956d5f64a9db6deb9cd71b483869f7904"
OTHER = "0123456789abcdef0123456789abcdef01234567"


def _binary(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "model-registry"
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def _built_in_checkout(tmp_path: Path, revision: str, modified: str = "false") -> Path:
    build_info = f"build\tvcs=git\nbuild\tvcs.revision={revision}\nbuild\tvcs.time=2026-08-07T14:30:04Z\n"
    return _binary(tmp_path, f"exit 1\n: '\n{build_info}build\tvcs.modified={modified}\n'")


def test_the_commit_and_its_time_come_from_the_go_build_information(tmp_path: Path) -> None:
    server = _built_in_checkout(tmp_path, COMMIT)
    assert record_upstream_origin.origin(server, None, None) == {"commit": COMMIT, "date": "2026-08-07T14:30:04Z"}


def test_a_commit_printed_by_version_is_taken(tmp_path: Path) -> None:
    server = _binary(tmp_path, f'[ "$1" = --version ] && echo "model-registry {COMMIT}" && exit 0\nexit 1')
    assert record_upstream_origin.origin(server, None, None) == {"commit": COMMIT}


def test_the_commit_given_wins_and_a_differing_build_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _built_in_checkout(tmp_path, OTHER)
    assert record_upstream_origin.origin(server, COMMIT, "2026-08-07") == {"commit": COMMIT, "date": "2026-08-07"}
    assert f"says it was built from {OTHER}; recording {COMMIT}" in capsys.readouterr().err


def test_a_modified_checkout_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = _built_in_checkout(tmp_path, COMMIT, modified="true")
    assert record_upstream_origin.origin(server, None, None)["commit"] == COMMIT
    assert f"built from a modified checkout of {COMMIT}" in capsys.readouterr().err


def test_no_commit_anywhere_refuses_to_record(tmp_path: Path) -> None:
    server = _binary(tmp_path, 'echo "unknown flag: --version" >&2\nexit 1')
    with pytest.raises(SystemExit, match="give it with --commit"):
        record_upstream_origin.origin(server, None, None)


def test_a_short_commit_is_refused(tmp_path: Path) -> None:
    server = _built_in_checkout(tmp_path, COMMIT)
    with pytest.raises(SystemExit, match="not a full commit id"):
        record_upstream_origin.origin(server, COMMIT[:7], None)
