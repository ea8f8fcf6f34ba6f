"""Safe archive extraction: good archives unpack like KServe's; hostile ones are refused and leave nothing."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from mr_storage_initializer.archive import Limits, archive_kind, extract
from mr_storage_initializer.errors import ArchiveError


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    root = tmp_path / "staging"
    root.mkdir()
    return root


def _left(dest: Path) -> list[str]:
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))


@pytest.mark.parametrize(
    ("name", "kind"), [("m.tar", "tar"), ("m.tar.gz", "tar"), ("M.TGZ", "tar"), ("m.zip", "zip"), ("m.bin", None)]
)
def test_archive_kind_by_name(name: str, kind: str | None) -> None:
    assert archive_kind(name) == kind


def test_tar_gz_with_nested_dirs_and_inner_link_unpacks_and_is_removed(dest: Path) -> None:
    archive = _tar(
        dest / "model.tar.gz",
        [
            (_info("model/", tarfile.DIRTYPE), None),
            (_info("model/weights.bin"), b"w" * 100),
            (_info("model/tok/vocab.txt"), b"a\nb\n"),
            (_info("model/latest", tarfile.SYMTYPE, "weights.bin"), None),
        ],
    )
    extract(archive, dest)
    assert _left(dest) == ["model", "model/latest", "model/tok", "model/tok/vocab.txt", "model/weights.bin"]
    assert (dest / "model" / "latest").read_bytes() == b"w" * 100


def test_zip_unpacks_and_is_removed(dest: Path) -> None:
    extract(_zip(dest / "m.zip", {"a/b.txt": b"hello", "c.bin": b"\x00" * 10}), dest)
    assert _left(dest) == ["a", "a/b.txt", "c.bin"]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([(_info("../evil.txt"), b"x")], "outside the model directory"),
        ([(_info("ok/../../evil.txt"), b"x")], "outside the model directory"),
        ([(_info("/etc/evil.txt"), b"x")], "outside the model directory"),
        ([(_info("link", tarfile.SYMTYPE, "/etc/passwd"), None)], "links to '/etc/passwd'"),
        ([(_info("link", tarfile.SYMTYPE, "../../outside"), None)], "outside the model directory"),
        (
            [(_info("here", tarfile.SYMTYPE, "."), None), (_info("here/up", tarfile.SYMTYPE, ".."), None)],
            "outside the model directory",
        ),
        ([(_info("d", tarfile.SYMTYPE, "/tmp"), None), (_info("d/x.txt"), b"x")], "outside"),
        ([(_info("hard", tarfile.LNKTYPE, "../outside"), None)], "outside the model directory"),
        ([(_info("hard", tarfile.LNKTYPE, "missing"), None)], "is a hard link"),
        ([(_info("dev", tarfile.CHRTYPE), None)], "device, FIFO or other special file"),
        ([(_info("fifo", tarfile.FIFOTYPE), None)], "device, FIFO or other special file"),
    ],
)
def test_hostile_tar_is_refused_and_leaves_nothing(
    dest: Path, tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], message: str
) -> None:
    (dest / "ok.txt").write_text("was here before")
    archive = _tar(dest / "bad.tar.gz", [(_info("fine.txt"), b"ok"), *members])
    with pytest.raises(ArchiveError, match=message):
        extract(archive, dest)
    assert _left(dest) == ["bad.tar.gz", "ok.txt"]
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_hostile_zip_paths_are_refused(dest: Path, tmp_path: Path, name: str) -> None:
    archive = _zip(dest / "bad.zip", {"fine.txt": b"ok", name: b"x"})
    with pytest.raises(ArchiveError, match="outside the model directory"):
        extract(archive, dest)
    assert _left(dest) == ["bad.zip"]
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_is_refused(dest: Path) -> None:
    path = dest / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(path, dest)
    assert _left(dest) == ["link.zip"]


def test_zip_bomb_is_refused_by_ratio(dest: Path) -> None:
    archive = _zip(dest / "bomb.zip", {"zeros.bin": b"\x00" * (20 * 1024 * 1024)})
    assert archive.stat().st_size < 100 * 1024
    with pytest.raises(ArchiveError, match="zip bomb"):
        extract(archive, dest, limits=Limits(max_ratio=50))
    assert _left(dest) == ["bomb.zip"]


def test_expanded_size_cap_applies_to_tar_too(dest: Path) -> None:
    archive = _tar(dest / "big.tar", [(_info("big.bin"), b"x" * 4096)], mode="w")
    with pytest.raises(ArchiveError, match="expands past 1000 bytes"):
        extract(archive, dest, limits=Limits(max_bytes=1000))


def test_too_many_members(dest: Path) -> None:
    archive = _zip(dest / "many.zip", {f"f{i}": b"" for i in range(20)})
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract(archive, dest, limits=Limits(max_members=10))


@pytest.mark.parametrize("name", ["corrupt.tar.gz", "corrupt.zip"])
def test_corrupt_archive_is_an_archive_error(dest: Path, name: str) -> None:
    path = dest / name
    path.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(ArchiveError, match="corrupt or not a valid"):
        extract(path, dest)
