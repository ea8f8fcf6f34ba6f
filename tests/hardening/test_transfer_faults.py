"""The own engine under faults: cut connections resume by range, short objects fail, hostile artifacts refused."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixtures.faults import FaultProxy
from fixtures.storage import HttpFileServer, S3Server, make_tar_gz
from helpers import fetch, register, run_cli, tree

MIB = 1024 * 1024
DATA = os.urandom(3 * MIB)
ONE_WORKER = {"MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "1MiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}


def test_http_cut_mid_range_resumes_from_the_bytes_written(http_server: HttpFileServer, tmp_path: Path) -> None:
    url = http_server.add("m/model.bin", DATA)
    http_server.cut_next(None, 300_000)  # the probe passes; the first range is cut after 300,000 bytes
    result = fetch(url, tmp_path / "out", "fast", ONE_WORKER)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    ranges = http_server.server.ranges_seen
    assert ranges[:3] == ["bytes=0-0", f"bytes=0-{MIB - 1}", f"bytes=300000-{MIB - 1}"], ranges
    assert "resuming there" in result.stderr


def test_http_without_ranges_starts_over_after_a_cut(http_server: HttpFileServer, tmp_path: Path) -> None:
    http_server.server.ranges = False
    url = http_server.add("m/model.bin", DATA)
    http_server.cut_next(None, 1_000_000)
    result = fetch(url, tmp_path / "out", "fast", ONE_WORKER)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    assert len(http_server.requests) == 3  # probe, cut stream, whole stream again


def test_s3_cut_mid_range_resumes(s3_server: S3Server, fault_proxy: Callable[..., FaultProxy], tmp_path: Path) -> None:
    s3_server.put("faults", "m/model.bin", DATA)
    proxy = fault_proxy(s3_server.endpoint, ["pass", "cut"])  # the listing passes, the first range is cut
    env = {**s3_server.env, "AWS_ENDPOINT_URL": f"http://{proxy.host_port}", **ONE_WORKER}
    result = fetch("s3://faults/m", tmp_path / "out", "fast", env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    assert proxy.ranges[1] == f"bytes=0-{MIB - 1}", proxy.ranges
    resumed = proxy.ranges[2] or ""
    start, _, end = resumed.removeprefix("bytes=").partition("-")
    assert 0 < int(start) <= MIB // 2, proxy.ranges  # from what was written before the cut, not from 0
    assert end == str(MIB - 1)


def test_s3_503_burst_on_ranges_is_retried(
    s3_server: S3Server, fault_proxy: Callable[..., FaultProxy], tmp_path: Path
) -> None:
    s3_server.put("faults", "m/model.bin", DATA)
    proxy = fault_proxy(s3_server.endpoint, ["pass", 503, 503, "reset", 500])
    env = {**s3_server.env, "AWS_ENDPOINT_URL": f"http://{proxy.host_port}", **ONE_WORKER}
    result = fetch("s3://faults/m", tmp_path / "out", "fast", env)
    assert result.code == 0, result.stderr
    assert tree(tmp_path / "out") == {"model.bin": DATA}
    assert result.stderr.count("retrying in") >= 4


def test_s3_403_on_a_range_is_not_retried(
    s3_server: S3Server, fault_proxy: Callable[..., FaultProxy], tmp_path: Path
) -> None:
    s3_server.put("faults", "m/model.bin", DATA)
    proxy = fault_proxy(s3_server.endpoint, ["pass", 403])
    env = {**s3_server.env, "AWS_ENDPOINT_URL": f"http://{proxy.host_port}", **ONE_WORKER}
    result = fetch("s3://faults/m", tmp_path / "out", "fast", env)
    assert result.code == 5
    assert "access was denied" in result.stderr
    assert "retrying" not in result.stderr


def test_object_that_keeps_ending_early_fails_with_exit_5_and_leaves_nothing(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    url = http_server.add("m/model.bin", DATA)
    http_server.cut_next(None, *([0] * 10))  # every range ends after its headers
    register(registry.url, "short", url, "v1")
    dest = tmp_path / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER_ATTEMPTS": "2", **ONE_WORKER}
    result = run_cli("model-registry://short/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "connection broke" in result.last_line
    assert not dest.exists() or list(dest.iterdir()) == []


def test_s3_key_escaping_the_destination_is_refused(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("faults", "m/ok.bin", b"ok")
    s3_server.put("faults", "m/../../../escape.bin", b"evil")  # moto stores the key as written
    register(registry.url, "escape", "s3://faults/m", "v1")
    dest = tmp_path / "deep" / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    result = run_cli("model-registry://escape/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "escape.bin" in result.last_line and "not a safe path" in result.last_line
    assert not (tmp_path / "escape.bin").exists()
    assert not list(tmp_path.rglob("escape.bin"))


def test_zip_bomb_on_the_download_path_is_exit_5(registry: Any, http_server: HttpFileServer, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", bytes(8 * MIB))  # ~8 KiB compressed: 1000x
    bomb = buffer.getvalue()
    register(registry.url, "bomb", http_server.add("m/model.zip", bomb), "v1")
    dest = tmp_path / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_ARCHIVE_MAX_RATIO": "100"}
    result = run_cli("model-registry://bomb/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "zip bomb" in result.last_line
    assert not dest.exists() or list(dest.iterdir()) == []


def test_tar_with_traversal_on_the_download_path_is_exit_5(registry: Any, s3_server: S3Server, tmp_path: Path) -> None:
    s3_server.put("faults", "m/model.tar.gz", make_tar_gz({"../../outside.txt": b"evil"}))
    register(registry.url, "traversal", "s3://faults/m/model.tar.gz", "v1")
    dest = tmp_path / "a" / "models"
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3_server.env}
    result = run_cli("model-registry://traversal/v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "outside the model directory" in result.last_line
    assert not list(tmp_path.rglob("outside.txt"))
