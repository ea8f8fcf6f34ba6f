"""Layer application on real files: gzip streams of several members, a truncated layer, an uncompressed one
copied in place, a raw file used twice."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from mr_storage_initializer.errors import ArchiveError
from mr_storage_initializer.options import Limits, Patterns
from mr_storage_initializer.transfer.oci_layers import BLOBS_DIR, Layer, apply


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _apply(dest: Path, blobs: list[tuple[bytes, Layer]], patterns: Patterns | None = None) -> int:
    (dest / BLOBS_DIR).mkdir(parents=True)
    for data, layer in blobs:
        (dest / BLOBS_DIR / layer.digest).write_bytes(data)
    return apply(
        dest,
        [layer for _, layer in blobs],
        lambda digest: dest / BLOBS_DIR / digest,
        limits=Limits(),
        patterns=patterns or Patterns(),
        workers=2,
    )


def test_a_gzip_stream_of_several_members_is_read_to_its_end(tmp_path: Path) -> None:
    data = _tar({"models/a.bin": os.urandom(300_000), "models/b.txt": b"b"})
    split = len(data) // 3
    blob = gzip.compress(data[:split]) + gzip.compress(data[split:])
    layer = Layer("l1", len(blob), "application/vnd.oci.image.layer.v1.tar+gzip", "tar", "gzip", modelcar=True)
    assert _apply(tmp_path, [(blob, layer)]) == 2
    assert (tmp_path / "b.txt").read_bytes() == b"b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt"]


def test_a_truncated_gzip_layer_is_an_archive_error(tmp_path: Path) -> None:
    blob = gzip.compress(_tar({"models/a.bin": os.urandom(300_000)}))[:-5000]
    layer = Layer("l1", len(blob), "application/vnd.oci.image.layer.v1.tar+gzip", "tar", "gzip", modelcar=True)
    with pytest.raises(ArchiveError, match="cannot unpack layer l1"):
        _apply(tmp_path, [(blob, layer)])
    assert not (tmp_path / "a.bin").exists()


def test_an_uncompressed_layer_and_a_raw_file_used_twice(tmp_path: Path) -> None:
    weights = os.urandom(1 << 20)
    plain = _tar({"models/w.bin": weights, "base/skip": b"x"})
    tar_layer = Layer("l1", len(plain), "application/vnd.oci.image.layer.v1.tar", "tar", modelcar=True)
    raw = [Layer("l2", 3, "application/octet-stream", "raw", path=p) for p in ("one.txt", "dir/two.txt")]
    assert _apply(tmp_path, [(plain, tar_layer), (b"raw", raw[0]), (b"raw", raw[1])]) == 3
    assert (tmp_path / "w.bin").read_bytes() == weights
    assert (tmp_path / "one.txt").read_bytes() == (tmp_path / "dir" / "two.txt").read_bytes() == b"raw"
    assert not (tmp_path / BLOBS_DIR).exists()


def test_patterns_pick_the_files_kept(tmp_path: Path) -> None:
    plain = _tar({"models/w.bin": b"w", "models/notes.md": b"n"})
    layer = Layer("l1", len(plain), "application/vnd.oci.image.layer.v1.tar", "tar", modelcar=True)
    assert _apply(tmp_path, [(plain, layer)], Patterns(ignore=("*.md",))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]
