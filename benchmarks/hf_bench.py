"""The hf:// scenario of `make bench`: the tests' Hub (tests/fixtures/hub.py) in this process for the API and the
small files, its LFS redirects going to nginx (``limit_rate`` per connection, as a CDN edge), files on disk.

No Xet server can run here: both tools take the Hub's plain-HTTP path (the resolve redirect), which
``snapshot_download`` takes with ``HF_HUB_DISABLE_XET=1``; RESULTS.md says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SNAPSHOT = (
    "import sys; from huggingface_hub import snapshot_download; snapshot_download(sys.argv[1], local_dir=sys.argv[2])"
)


@contextmanager
def hub_behind_nginx(work: Path, files: dict[str, Path | bytes], rate: str) -> Iterator[str]:
    """Serve ``files`` as the repository ``bench/llm``; yields the Hub's endpoint (HF_ENDPOINT)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from run import free_port, nginx_servers  # type: ignore[import-not-found]

    from fixtures.hub import LFS_THRESHOLD, Hub

    hub = Hub(page_size=1000)
    repo = hub.add("bench/llm", {k: v for k, v in files.items()})
    blobs = work / "hf-cdn" / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
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


def snapshot_command(dest: Path) -> list[str]:
    return [sys.executable, "-c", SNAPSHOT, "bench/llm", str(dest)]
