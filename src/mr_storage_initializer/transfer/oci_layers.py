"""What the layers of an OCI manifest hold, and putting them into the model directory, safely.

Layouts (per layer, :func:`plan`):

- ModelPack (CNCF model-spec): ``application/vnd.cncf.model.{weight,weight.config,doc,code,dataset}.v1.
  {raw,tar,tar+gzip,tar+zstd}`` (and the older ``vnd.cnai.model.*``): a ``raw`` layer is one file at its
  ``org.cncf.model.filepath`` (``org.cnai.model.filepath``, else ``org.opencontainers.image.title``)
  annotation; a tar layer is unpacked at the model's root.
- ``oras push``: a layer with an ``org.opencontainers.image.title`` annotation is a raw file of that name,
  whatever its media type, unless ``io.deis.oras.content.unpack=true`` (then a tar+gzip directory) or its
  media type is ``application/vnd.oci.image.layer.v1.tar+gzip`` (how PyPI's ``oras`` pushes a directory,
  without that annotation; its pull unpacks such a layer too).
- modelcar: image layers (``application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]``, Docker's
  ``rootfs.diff.tar.gzip``); only what is under ``models/`` is kept, without that prefix.
  Other layers (the image config, attestations) are not model content and are skipped.

Layers are unpacked each into its own directory, several at once (decompression on different cores),
then applied in manifest order: a later layer's file wins, its whiteouts (``.wh.NAME``, ``.wh..wh..opq``)
remove what lower layers put there. Every name is checked (no absolute path, no ``..``, nothing written
through a link); a symbolic link is kept only when its target is relative and, once everything is applied,
resolves inside the model directory; a hard link is kept only to a file of the same layer; devices and
FIFOs are refused. The archive limits (``MODEL_REGISTRY_ARCHIVE_MAX_*``) bound every layer.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tarfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mr_storage_initializer.archive import Budget, copy_member, file_mode, inside, make_room, raised_by_disk
from mr_storage_initializer.errors import ArchiveError, StorageError
from mr_storage_initializer.options import Limits, Patterns
from mr_storage_initializer.paths import is_real_dir, is_real_file, remove, safe_relpath
from mr_storage_initializer.transfer.oci_streams import PIECE, copy_range, open_layer

log = logging.getLogger("mr_storage_initializer.transfer")
MODELPACK = ("application/vnd.cncf.model.", "application/vnd.cnai.model.")
FILEPATH = ("org.cncf.model.filepath", "org.cnai.model.filepath")
TITLE = "org.opencontainers.image.title"
UNPACK = "io.deis.oras.content.unpack"
# PyPI's oras pushes a directory as this media type with only a title (no unpack annotation), and its pull
# unpacks every titled layer of this type: read the same way
ORAS_PY_DIRECTORY = "application/vnd.oci.image.layer.v1.tar+gzip"
IMAGE_LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }
)
WORK = ".mr-oci-layer-"  # a layer's own directory in staging while it is unpacked
MODEL = ".mr-oci-model"  # where the layers are applied, before the result moves up into staging
BLOBS_DIR = ".mr-oci-blobs"  # the blobs, as the fast engine wrote them


@dataclass(frozen=True)
class Layer:
    """One layer to apply: its blob, how it is packed (``tar`` or ``raw``), and where it goes."""

    digest: str
    size: int
    media_type: str
    kind: str  # "tar" or "raw"
    compression: str = ""  # "", "gzip" or "zstd" (tar only)
    path: str = ""  # raw: the file's path below the model directory
    modelcar: bool = False  # tar: keep only models/, without the prefix


def _compression(media_type: str) -> str:
    if media_type.endswith(("gzip", ".gz")):
        return "gzip"
    if media_type.endswith("zstd"):
        return "zstd"
    return ""


def plan(manifest: Mapping[str, Any], what: str) -> list[Layer]:
    """The layers of ``manifest`` that hold model content, in order (see the module's layouts)."""
    layers: list[Layer] = []
    descriptors = manifest.get("layers")
    if not isinstance(descriptors, list):
        raise StorageError(f"the manifest of {what} lists no layers")
    for d in descriptors:
        if not isinstance(d, dict):
            raise StorageError(f"the manifest of {what} has a malformed layer")
        media, digest, size = str(d.get("mediaType", "")), str(d.get("digest", "")), d.get("size")
        found = d.get("annotations")
        notes: dict[str, Any] = found if isinstance(found, dict) else {}
        if not isinstance(size, int) or size < 0:
            raise StorageError(f"layer {digest} of {what} has no valid size")
        if d.get("urls"):
            raise StorageError(f"layer {digest} of {what} is a foreign layer (served from its urls); not supported")
        title = str(notes.get(TITLE) or "")
        if media.startswith(MODELPACK):
            packing = media.rsplit(".v1.", 1)[-1] if ".v1." in media else ""
            where = next((str(notes[k]) for k in FILEPATH if notes.get(k)), title)
            if packing == "raw":
                if not where:
                    raise StorageError(f"raw ModelPack layer {digest} of {what} names no file path (annotation)")
                layers.append(Layer(digest, size, media, "raw", path=safe_relpath(where, "layer file path")))
            elif packing in ("tar", "tar+gzip", "tar+zstd"):
                layers.append(Layer(digest, size, media, "tar", _compression(packing)))
            else:
                log.info("skipping layer %s of unknown packing %s", digest, media)
        elif title and str(notes.get(UNPACK, "")).lower() != "true" and media != ORAS_PY_DIRECTORY:
            layers.append(Layer(digest, size, media, "raw", path=safe_relpath(title, "layer title")))
        elif title:
            layers.append(Layer(digest, size, media, "tar", _compression(media) or "gzip"))
        elif media in IMAGE_LAYERS:
            layers.append(Layer(digest, size, media, "tar", _compression(media), modelcar=True))
        else:
            log.debug("skipping layer %s (%s): no model content", digest, media)
    if not layers:
        raise StorageError(f"{what} has no layer with model content (a modelcar, ModelPack or oras artifact)")
    return layers


@dataclass
class _Changes:
    """What one tar layer holds, unpacked in ``root``: its whiteouts, and its opaque directories."""

    root: Path
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    files: int = 0
    source_fd: int | None = None  # an uncompressed layer's blob, whose members are copied in the kernel


def _unpack(blob: Path, layer: Layer, root: Path, limits: Limits) -> _Changes:
    changes = _Changes(root)
    budget = Budget(max(layer.size, 1), limits)
    root.mkdir()
    try:
        # an uncompressed layer is read in place: members' headers by seeking, their bytes copied in the kernel
        plain = not layer.compression
        with (
            open_layer(blob, layer.compression) as stream,
            tarfile.open(fileobj=stream, mode="r:" if plain else "r|") as archive,
        ):
            changes.source_fd = stream.fileno() if plain else None
            for member in archive:
                budget.member()
                name = safe_relpath(member.name, f"layer {layer.digest} member", error=ArchiveError, empty_ok=True)
                if layer.modelcar:
                    if not name.startswith("models/"):
                        budget.add(member.size if member.isfile() else 0)  # read through, not written
                        continue
                    name = name.removeprefix("models/")
                if name:
                    _member(archive, member, name, changes, budget=budget, layer=layer)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if raised_by_disk(exc):
            raise
        raise ArchiveError(
            f"cannot unpack layer {layer.digest}: it is corrupt or not a {layer.media_type} ({exc})"
        ) from None
    return changes


def _member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, name: str, changes: _Changes, *, budget: Budget, layer: Layer
) -> None:
    """Unpack ``member`` (named ``name`` in the model) into ``changes.root``, or note it as a whiteout."""
    parent, base = posixpath.split(name)
    if base == ".wh..wh..opq":
        changes.opaque.append(parent)
        return
    if base.startswith(".wh."):
        changes.whiteouts.append(posixpath.join(parent, base[4:]))
        return
    target = make_room(changes.root, name, member.name, directory=member.isdir())
    if member.isdir():
        return
    remove(target)  # the same name twice in one layer: the later one wins
    if member.isfile():
        _write_file(archive, member, target, changes, budget=budget, layer=layer)
        changes.files += 1
    elif member.issym():
        _check_symlink(member, parent, layer)
        os.symlink(member.linkname, target)
    elif member.islnk():
        os.link(_hard_link_source(member, changes.root, layer), target)
        changes.files += 1
    else:
        raise ArchiveError(f"layer {layer.digest} member {member.name!r} is a device, FIFO or other special file")


def _write_file(
    archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, changes: _Changes, *, budget: Budget, layer: Layer
) -> None:
    """A regular member's bytes into the new file ``target``: copied in the kernel from an uncompressed layer's
    blob (unless the member is sparse), else read through ``archive``."""
    if changes.source_fd is not None and not member.issparse():
        budget.add(member.size)
        with open(target, "xb") as out:
            copy_range(changes.source_fd, out.fileno(), member.offset_data, member.size)
    else:
        source = archive.extractfile(member)
        if source is None:
            raise ArchiveError(f"layer {layer.digest} member {member.name!r} cannot be read")
        copy_member(source, target, budget, PIECE)
    os.chmod(target, file_mode(member.mode))


def _check_symlink(member: tarfile.TarInfo, parent: str, layer: Layer) -> None:
    """Refuse a symbolic link (in the directory ``parent``) whose target is absolute or climbs out of the model."""
    link = member.linkname
    resolved = posixpath.normpath(posixpath.join(parent, link))
    if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(
            f"layer {layer.digest} member {member.name!r} links to {link!r}, outside the model directory"
        )


def _hard_link_source(member: tarfile.TarInfo, root: Path, layer: Layer) -> Path:
    """The file a hard link member links to: one of the same layer's model files, already unpacked in ``root``."""
    linked = safe_relpath(member.linkname, "hard link target", error=ArchiveError)
    if layer.modelcar:
        linked = linked.removeprefix("models/") if linked.startswith("models/") else ""
    source = root / linked
    if not linked or not is_real_file(source):
        raise ArchiveError(
            f"layer {layer.digest} member {member.name!r} is a hard link to {member.linkname!r}, "
            "not to a file of the same layer's model directory"
        )
    inside(root, source, member.name)
    return source


def apply(
    dest: Path, layers: list[Layer], blob_of: Callable[[str], Path], *, limits: Limits, patterns: Patterns, workers: int
) -> int:
    """Unpack ``layers`` (several at once), apply them in order, and move the result into ``dest``; return the
    files installed. Each layer is unpacked in its own directory of ``dest``, the result built in another,
    so nothing a layer names can touch the blobs or another layer's directory."""
    tars = [i for i, layer in enumerate(layers) if layer.kind == "tar"]
    model = dest / MODEL
    model.mkdir()

    def unpack(i: int) -> _Changes:
        layer = layers[i]
        changes = _unpack(blob_of(layer.digest), layer, dest / f"{WORK}{i}", limits)
        if layer.digest not in {other.digest for j, other in enumerate(layers) if j != i}:
            blob_of(layer.digest).unlink()  # the disk holds this layer once from here on
        return changes

    unpacked: dict[int, _Changes] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tars) or 1))) as pool:
            for i, changes in zip(tars, pool.map(unpack, tars), strict=True):
                unpacked[i] = changes
        for i, layer in enumerate(layers):
            if layer.kind == "raw":
                _place(model, layer.path, blob_of(layer.digest), link=True)
            else:
                _merge(model, unpacked[i])
                shutil.rmtree(unpacked[i].root)
        _check_links(model)
        _filter(model, patterns)
        files = sum(1 for _, _, names in os.walk(model) for _ in names)
        if not files:
            raise StorageError("the image has no model files (a modelcar keeps them under /models/)")
        for i in tars:
            shutil.rmtree(dest / f"{WORK}{i}", ignore_errors=True)
        shutil.rmtree(dest / BLOBS_DIR, ignore_errors=True)
        for entry in model.iterdir():
            os.rename(entry, dest / entry.name)
    finally:
        for i in tars:
            shutil.rmtree(dest / f"{WORK}{i}", ignore_errors=True)
        shutil.rmtree(model, ignore_errors=True)
    return files


def _place(dest: Path, rel: str, source: Path, *, link: bool = False) -> None:
    """Put ``source`` at ``dest/rel``, replacing what is there; never through a link."""
    target = dest / rel
    _make_dirs(dest, posixpath.dirname(rel))
    inside(dest, target.parent, rel)
    if is_real_dir(target):
        shutil.rmtree(target)
    if link:
        tmp = target.with_name(target.name + ".mr-oci-tmp")
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)  # the blob may be a second file's too: a link, not a rename
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    else:
        os.replace(source, target)


def _make_dirs(dest: Path, rel: str) -> None:
    """``dest/rel`` as a directory: a file or link of a lower layer in the way is removed."""
    current = dest
    for part in [p for p in rel.split("/") if p]:
        current = current / part
        if os.path.lexists(current) and not is_real_dir(current):
            current.unlink()
        current.mkdir(exist_ok=True)


def _merge(dest: Path, changes: _Changes) -> None:
    for rel in changes.opaque:
        folder = dest / rel
        inside(dest, folder, rel)
        if is_real_dir(folder):
            for entry in folder.iterdir():
                remove(entry)
    for rel in changes.whiteouts:
        gone = dest / rel
        inside(dest, gone.parent, rel)
        remove(gone)
    root = changes.root
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        _make_dirs(dest, rel_dir)
        for name in [*filenames, *(d for d in dirnames if (here / d).is_symlink())]:
            _place(dest, posixpath.join(rel_dir, name), here / name)


def _check_links(dest: Path) -> None:
    """Every symbolic link in the model directory resolves inside it (links combine across layers)."""
    real_root = os.path.realpath(dest)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in [*filenames, *dirnames]:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != real_root and not real.startswith(real_root + os.sep):
                    rel = os.path.relpath(path, dest)
                    raise ArchiveError(f"{rel} links to {os.readlink(path)!r}, outside the model directory")


def _filter(dest: Path, patterns: Patterns) -> None:
    """KServe's allow/ignore patterns, on the files once applied."""
    if not (patterns.allow or patterns.ignore):
        return
    for dirpath, _, filenames in os.walk(dest):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), dest)
            if not patterns.wants(rel):
                os.unlink(os.path.join(dirpath, name))
