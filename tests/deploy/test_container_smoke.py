"""The CLI run exactly as the container runs it: only the manifest's environment, a non-root uid, the two
arguments KServe passes, and nothing writable but DEST_PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.storage import HttpFileServer
from helpers import register, tree

ROOT = Path(__file__).resolve().parents[2]
UID = 65532

pytestmark = pytest.mark.skipif(
    os.getuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to run as uid 65532"
)


def _manifest_env() -> dict[str, str]:
    (csc,) = yaml.safe_load_all((ROOT / "deploy" / "base" / "clusterstoragecontainer.yaml").read_text())
    return {e["name"]: e["value"] for e in csc["spec"]["container"]["env"]}


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A world-traversable directory; DEST inside it belongs to the container's uid, the rest to root."""
    base = Path(tempfile.mkdtemp(prefix="mr-smoke-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def test_cli_runs_as_the_container_would(registry: Any, http_server: HttpFileServer, sandbox: Path) -> None:
    register(registry.url, "iris", http_server.add("iris/model.joblib", b"sklearn-bytes"), "v1")
    dest = sandbox / "mnt-models"
    dest.mkdir()
    os.chown(dest, UID, UID)
    readonly_tmp = sandbox / "tmp"  # a read-only root file system: no writable /tmp
    readonly_tmp.mkdir(mode=0o755)
    env = {
        **_manifest_env(),
        "MODEL_REGISTRY_BASE_URL": registry.host_port,  # the manifest names the in-cluster service
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "TMPDIR": str(readonly_tmp),
        "HOME": "/nonexistent",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [
            "env",
            "-i",
            *(f"{k}={v}" for k, v in env.items()),
            "setpriv",
            f"--reuid={UID}",
            f"--regid={UID}",
            "--clear-groups",
            "mr-storage-initializer",
            "model-registry://iris/v1",
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert tree(dest) == {"model.joblib": b"sklearn-bytes"}
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["model_version"]["name"] == "v1"
    assert all(p.stat().st_uid == UID for p in dest.iterdir())
    assert list(readonly_tmp.iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == [".model-registry.json", "model.joblib"]
