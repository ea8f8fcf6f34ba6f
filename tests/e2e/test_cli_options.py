"""Command-line options are read once, by argparse: abbreviations mean what the full option means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli


@pytest.mark.parametrize("spelling", [["--log-form", "json"], ["--log-f=json"], ["--log-format", "json"]])
def test_log_format_abbreviation_switches_to_json(tmp_path: Path, spelling: list[str]) -> None:
    result = run_cli("model-registry://a/b/c/d", tmp_path / "m", *spelling)
    assert result.code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stderr
    last = json.loads(lines[-1])
    assert last["step"] == "failed"
    assert last["exit_code"] == 2
    assert "at most 3 are allowed" in last["message"]


@pytest.mark.parametrize("spelling", ["--deb", "--debug"])
def test_debug_abbreviation_turns_on_debug_logs(tmp_path: Path, spelling: str) -> None:
    env = {"MODEL_REGISTRY_BASE_URL": "127.0.0.1:9", "MODEL_REGISTRY_TIMEOUT": "1"}
    result = run_cli("model-registry://iris/v1", tmp_path / "m", spelling, env=env)
    assert result.code == 4
    assert " DEBUG " in result.stderr, result.stderr
