"""The hf:// scenario of `make bench`: the tests' Hub (tests/fixtures/hub.py) in this process for the API and the
small files, its LFS redirects going to nginx (``limit_rate`` per connection, as a CDN edge), files on disk.

No Xet server can run here: both tools take the Hub's plain-HTTP path (the resolve redirect), which
``snapshot_download`` takes with ``HF_HUB_DISABLE_XET=1``; RESULTS.md says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SNAPSHOT = (
    "import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1], local_dir=sys.argv[2])"
)


@contextmanager
def hub_behind_nginx(work: Path, repos: dict[str, dict[str, Path | bytes]], rate: str) -> Iterator[str]:
    """Serve each repository of ``repos`` (id -> files); yields the Hub's endpoint (HF_ENDPOINT). LFS files
    must be given as paths (nginx serves them); small files may be bytes (the Hub serves those)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from run import free_port, nginx_servers  # type: ignore[import-not-found]

    from fixtures.hub import LFS_THRESHOLD, Hub

    hub = Hub(page_size=1000)
    blobs = work / "hf-cdn" / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    for repo_id, files in repos.items():
        repo = hub.add(repo_id, dict(files))
        for path, value in repo.files.items():
            if isinstance(value, Path) and value.stat().st_size >= LFS_THRESHOLD:
                link = blobs / repo.blobs[path]
                if not link.exists():
                    os.link(value, link)
    port = free_port()
    server = f"  server {{ listen 127.0.0.1:{port}; root {work / 'hf-cdn'}; limit_rate {rate}; }}"
    with nginx_servers(work / "hf-nginx", server, port, "nginx (hf)"):
        hub.start(cdn_base=f"http://127.0.0.1:{port}")
        try:
            yield hub.url
        finally:
            hub.stop()


def snapshot_command(repo_id: str) -> Callable[[Path], list[str]]:
    def command(dest: Path) -> list[str]:
        return [sys.executable, "-c", SNAPSHOT, repo_id, str(dest)]

    return command


def many_files(work: Path, count: int) -> dict[str, Path | bytes]:
    """A tree of ``count`` files as tokenizer/config trees and sharded checkpoints have them: a third small
    JSON files the Hub serves itself (under its LFS threshold), the rest 2-64 KiB LFS files on the CDN."""
    files: dict[str, Path | bytes] = {}
    for i in range(count):
        name = f"tree/{i % 10:02d}/file-{i:04d}"
        if i % 3 == 0:
            files[f"{name}.json"] = b'{"i": %d}' % i
            continue
        path = work / "hf-many" / f"{name}.bin"
        size = 2048 + (i * 7919) % (62 * 1024)
        if not path.exists() or path.stat().st_size != size:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(size))
        files[f"{name}.bin"] = path
    return files
