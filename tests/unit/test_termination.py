"""The termination message: where it is written, and that it stays under Kubernetes' 4,096 bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mr_storage_initializer import termination
from mr_storage_initializer.pipeline import Installed, Pair, plain_uri_resolution


def _installed(i: int) -> Installed:
    uri = f"s3://bucket/models/model-number-{i:04d}/weights?X-Amz-Signature=secret{i}"
    return Installed(
        Pair(i, uri, Path(f"/mnt/models/m{i}")), plain_uri_resolution(uri), "f" * 64, 3, 1000 + i, 1.5, True
    )


def test_written_only_where_kubernetes_created_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "termination-log"
    monkeypatch.setattr(termination, "DEFAULT", default)
    termination.write(None, "hello")
    assert not default.exists()
    default.touch()
    termination.write(None, "hello")
    assert default.read_text() == "hello"
    configured = tmp_path / "elsewhere"
    termination.write(configured, "there")
    assert configured.read_text() == "there"


def test_unwritable_target_is_only_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    termination.write(tmp_path / "missing-dir" / "log", "x")
    assert "cannot write the termination message" in caplog.text


def test_success_lists_every_pair_without_secrets() -> None:
    text = termination.success_message([_installed(0), _installed(1)])
    data = json.loads(text)
    assert data["status"] == "installed"
    assert [p["bytes"] for p in data["pairs"]] == [1000, 1001]
    assert set(data["pairs"][0]) >= {"model", "version", "artifact_id", "uri", "fingerprint", "files", "seconds"}
    assert "secret" not in text


def test_many_pairs_keep_the_counts_and_say_the_rest_was_cut() -> None:
    text = termination.success_message([_installed(i) for i in range(60)])
    assert len(text.encode()) < 4096
    data = json.loads(text)
    assert data["installed"] == 60
    assert 0 < len(data["pairs"]) < 60
    assert data["cut"] == f"{60 - len(data['pairs'])} more pairs were cut to stay under 4096 bytes"


def test_failure_keeps_the_first_failure_and_the_summary() -> None:
    lines = [f"pair {i}: downloading s3://b/{'x' * 200} failed: boom" for i in range(1, 41)]
    lines.append("0 of 40 pairs installed, 40 failed; first failure: pair 1, exit 5")
    text = termination.failure_message(lines)
    assert len(text.encode()) < 4096
    kept = text.splitlines()
    assert kept[0] == lines[0]
    assert kept[-1] == lines[-1]
    assert "more error lines were cut to stay under 4096 bytes" in kept[-2]
    assert termination.failure_message(["one line"]) == "one line"


def test_each_pair_carries_its_verified_signature() -> None:
    signed = _installed(0)
    signature = {"method": "key", "signer": "sha256:ab", "manifest_digest": "sha256:cd", "files": 3, "file": "x"}
    signed = Installed(signed.pair, signed.resolution, "f" * 64, 3, 1000, 1.5, True, record={"signature": signature})
    unchecked = Installed(signed.pair, signed.resolution, "f" * 64, 3, 1000, 1.5, True, record={"signature": None})
    data = json.loads(termination.success_message([signed, unchecked, _installed(2)]))
    assert data["pairs"][0]["signature"] == {"method": "key", "signer": "sha256:ab", "manifest_digest": "sha256:cd"}
    assert "signature" not in data["pairs"][1] and "signature" not in data["pairs"][2]
