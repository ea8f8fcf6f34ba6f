"""oci:// against hostile or failing registries: wrong bytes, a cut mid-blob, layers that try to leave DEST,
a gzip bomb. Each failure asserts the exit code, the one ERROR line and what DEST holds."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fixtures.oci import OciProxy, Registry, digest_of, layer, tree_of
from helpers import cli_env, ranges_written, run_cli

ENV = {"KSERVE_OCI_INSECURE_REGISTRY": "true", "KSERVE_OCI_DOCKER_CONFIG": "/nonexistent/config.json"}


def _left(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_a_blob_whose_bytes_do_not_match_its_digest_is_exit_5_and_nothing_is_installed(
    oci_registry: Registry, tmp_path: Path
) -> None:
    blob, media = layer({"models/w.bin": os.urandom(300_000)}, "none")
    oci_registry.push_image("faults/corrupt", "v1", [(blob, media)])
    proxy = OciProxy(oci_registry)
    proxy.corrupt = digest_of(blob)
    dest = tmp_path / "dest"
    try:
        result = run_cli(f"oci://{proxy.host}/faults/corrupt:v1", dest, env=ENV)
    finally:
        proxy.stop()
    assert result.code == 5, result.stderr
    assert result.last_line.count("ERROR") == 1
    assert f"blob {digest_of(blob)}" in result.last_line
    assert "do not match the manifest" in result.last_line
    assert _left(dest) == []


def test_a_cut_mid_blob_resumes_from_the_byte_it_reached(oci_registry: Registry, tmp_path: Path) -> None:
    weights = os.urandom(2 << 20)
    blob, media = layer({"models/w.bin": weights}, "gzip")
    oci_registry.push_image("faults/cut", "v1", [(blob, media)])
    proxy = OciProxy(oci_registry)
    proxy.cut = digest_of(blob)
    try:
        result = run_cli(f"oci://{proxy.host}/faults/cut:v1", tmp_path / "dest", env=ENV)
    finally:
        proxy.stop()
    assert result.code == 0, result.stderr
    assert "resuming there" in result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": weights}
    blob_ranges = [path for path, _ in proxy.requests if "/blobs/" in path]
    assert len(blob_ranges) == 2


def _raw_tar(name: str, *, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return gzip.compress(out.getvalue())


@pytest.mark.parametrize(
    ("case", "blob", "words"),
    [
        ("dotdot", _raw_tar("models/../../escape.txt"), "outside the model directory"),
        ("absolute", _raw_tar("/models/abs.txt"), "outside the model directory"),
        ("symlink-up", _raw_tar("models/up", kind=tarfile.SYMTYPE, linkname="../../etc/passwd"), "links to"),
        ("symlink-abs", _raw_tar("models/abs", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "links to"),
        ("hardlink-out", _raw_tar("models/h", kind=tarfile.LNKTYPE, linkname="etc/passwd"), "hard link"),
        ("fifo", _raw_tar("models/pipe", kind=tarfile.FIFOTYPE), "special file"),
    ],
)
def test_a_layer_that_would_leave_dest_is_refused(
    oci_registry: Registry, tmp_path: Path, case: str, blob: bytes, words: str
) -> None:
    oci_registry.push_image(f"faults/{case}", "v1", [layer({"models/ok.txt": b"ok"}), (blob, layer({})[1])])
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry.host}/faults/{case}:v1", dest, env=ENV)
    assert result.code == 5, result.stderr
    assert "ERROR" in result.last_line
    assert words in result.last_line
    assert _left(dest) == []
    assert not (tmp_path / "escape.txt").exists()


def test_links_that_combine_across_layers_to_leave_dest_are_refused(oci_registry: Registry, tmp_path: Path) -> None:
    oci_registry.push_image(
        "faults/chain",
        "v1",
        [
            layer({"models/ok.txt": b"ok", "models/d/l": ("symlink", "..")}),
            layer({"models/d/l2": ("symlink", "l/../..")}),
        ],
    )
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry.host}/faults/chain:v1", dest, env=ENV)
    assert result.code == 5, result.stderr
    assert "outside the model directory" in result.last_line
    assert _left(dest) == []


def test_a_gzip_bomb_layer_is_refused(oci_registry: Registry, tmp_path: Path) -> None:
    bomb, media = layer({"models/zeros.bin": bytes(64 << 20)}, "gzip")  # 64 MiB of zeros, ~64 KiB packed
    oci_registry.push_image("faults/bomb", "v1", [(bomb, media)])
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry.host}/faults/bomb:v1", dest, env=ENV)
    assert result.code == 5, result.stderr
    assert "zip bomb" in result.last_line
    assert _left(dest) == []


def test_a_killed_download_resumes_its_blobs_in_the_next_run(oci_registry: Registry, tmp_path: Path) -> None:
    weights = os.urandom(1 << 20)
    blob, media = layer({"models/w.bin": weights}, "none")
    oci_registry.push_image("faults/killed", "v1", [(blob, media)])
    proxy = OciProxy(oci_registry)
    proxy.hold_after = 3  # three 64 KiB ranges arrive, then the registry goes silent
    dest = tmp_path / "dest"
    env = {**ENV, "MODEL_REGISTRY_TRANSFER_CHUNK_SIZE": "64KiB", "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "1"}
    uri = f"oci://{proxy.host}/faults/killed:v1"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mr_storage_initializer", uri, str(dest)],
            env=cli_env(env),
            stderr=subprocess.DEVNULL,
        )
        try:
            done = ranges_written(dest, enough=3)
            assert len(done) == 3, done
        finally:
            proc.kill()
            proc.wait(10)
        proxy.hold_after = None
        proxy.released.set()
        before = len(proxy.requests)
        result = run_cli(uri, dest, env=env)
    finally:
        proxy.stop()
    assert result.code == 0, result.stderr
    assert "resuming: 1 files keep ranges" in result.stderr
    fetched = [path for path, _ in proxy.requests[before:] if "/blobs/" in path]
    assert len(fetched) == len(blob) // (64 << 10) + (len(blob) % (64 << 10) > 0) - 3
    assert tree_of(dest) == {"w.bin": weights}
    assert not list(dest.glob(".mr-*"))


def test_a_manifest_whose_bytes_do_not_match_the_digest_asked_for_is_refused(
    oci_registry: Registry, tmp_path: Path
) -> None:
    digest = oci_registry.push_image("faults/manifest", "v1", [layer({"models/w.bin": b"w"})])
    proxy = OciProxy(oci_registry)
    proxy.corrupt = digest
    dest = tmp_path / "dest"
    try:
        result = run_cli(f"oci://{proxy.host}/faults/manifest@{digest}", dest, env=ENV)
    finally:
        proxy.stop()
    assert result.code == 5, result.stderr
    assert f"not the {digest} asked for" in result.last_line
    assert _left(dest) == []
