"""The oci:// scenarios of `make bench`: Debian's docker-registry (distribution 2.8) on loopback with two
modelcars pushed to it (4 layers each under ``models/``: uncompressed tar, and tar+gzip), reached directly
(unthrottled) and through nginx with ``limit_rate`` per connection (a registry or its blob storage behind
a per-connection limit). Baselines: ``kserve_storage`` (oras-py, one blob after another) and
``skopeo copy`` to a directory (no unpacking: the blobs as they are).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_REGISTRY = "/usr/bin/docker-registry"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _push_blob(host: str, repository: str, path: Path) -> dict[str, object]:
    digest = _digest(path)
    conn = http.client.HTTPConnection(host, timeout=600)
    conn.request("HEAD", f"/v2/{repository}/blobs/{digest}")
    exists = conn.getresponse()
    exists.read()
    if exists.status != 200:
        conn.request("POST", f"/v2/{repository}/blobs/uploads/", body=b"")
        started = conn.getresponse()
        started.read()
        location = started.getheader("Location", "")
        location = location.split(host, 1)[-1] if "://" in location else location
        with open(path, "rb") as body:
            conn.request(
                "PUT",
                f"{location}{'&' if '?' in location else '?'}digest={digest}",
                body=body,
                headers={"Content-Length": str(path.stat().st_size), "Content-Type": "application/octet-stream"},
            )
            done = conn.getresponse()
            done.read()
        if done.status != 201:
            raise SystemExit(f"bench: pushing {path.name} failed: HTTP {done.status}")
    conn.close()
    return {"digest": digest, "size": path.stat().st_size}


def _push_manifest(host: str, repository: str, tag: str, manifest: dict[str, object]) -> None:
    conn = http.client.HTTPConnection(host, timeout=60)
    body = json.dumps(manifest).encode()
    conn.request(
        "PUT",
        f"/v2/{repository}/manifests/{tag}",
        body=body,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    answer = conn.getresponse()
    answer.read()
    if answer.status != 201:
        raise SystemExit(f"bench: pushing the manifest of {repository} failed: HTTP {answer.status}")


def build_layers(parts: list[Path], work: Path) -> dict[str, list[Path]]:
    """Each part as ``models/<name>`` in a tar layer, and that tar gzip-compressed (level 1); cached on disk."""
    layers: dict[str, list[Path]] = {"tar": [], "gzip": []}
    for part in parts:
        plain = work / f"{part.name}.tar"
        if not plain.exists() or plain.stat().st_mtime < part.stat().st_mtime:
            with tarfile.open(plain, "w", format=tarfile.PAX_FORMAT) as tar:
                tar.add(part, arcname=f"models/{part.name}")
        packed = work / f"{part.name}.tar.gz"
        if not packed.exists() or packed.stat().st_mtime < plain.stat().st_mtime:
            with open(plain, "rb") as source, gzip.open(packed, "wb", compresslevel=1) as out:
                shutil.copyfileobj(source, out, 8 << 20)
        layers["tar"].append(plain)
        layers["gzip"].append(packed)
    return layers


def push_modelcar(host: str, repository: str, layers: list[Path], compressed: bool) -> str:
    """Push a modelcar of ``layers``; returns its reference ``HOST/REPO:v1`` (HOST as given)."""
    config = layers[0].parent / "config.json"
    config.write_text(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}))
    descriptors = []
    for layer in layers:
        d = _push_blob(host, repository, layer)
        descriptors.append({"mediaType": TAR + ("+gzip" if compressed else ""), **d})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_push_blob(host, repository, config)},
        "layers": descriptors,
    }
    _push_manifest(host, repository, "v1", manifest)
    return f"{repository}:v1"


@contextmanager
def oci_registry(work: Path, rate: str) -> Iterator[tuple[str, str]]:
    """docker-registry on its own port, and nginx in front of it with ``limit_rate``: (direct, throttled)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import free_port, nginx_servers, process  # type: ignore[import-not-found]

    if not Path(DOCKER_REGISTRY).exists():
        raise SystemExit("bench: Debian's docker-registry is missing (make system-deps)")
    port, front = free_port(), free_port()
    root = work / "oci-registry"
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    server = (
        f"  server {{ listen 127.0.0.1:{front}; client_max_body_size 0;\n"
        f"    location / {{ proxy_pass http://127.0.0.1:{port}; proxy_max_temp_file_size 0; limit_rate {rate}; }} }}"
    )
    with (
        process([DOCKER_REGISTRY, "serve", str(root / "config.yml")], port, "docker-registry"),
        nginx_servers(work / "oci-nginx", server, front, "nginx (oci)"),
    ):
        yield f"127.0.0.1:{port}", f"127.0.0.1:{front}"


def skopeo_command(host: str, reference: str) -> Callable[[Path], list[str]]:
    if shutil.which("skopeo") is None:
        raise SystemExit("bench: Debian's skopeo is missing (make system-deps)")
    return lambda d: [
        "skopeo",
        "copy",
        "-q",
        "--src-tls-verify=false",
        f"docker://{host}/{reference}",
        f"dir:{d}/image",
    ]


def version() -> str:
    out = subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return out or "skopeo (unknown version)"
