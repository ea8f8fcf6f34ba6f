"""Nothing is hashed twice: a model checked against the registry's sha256sums and its signature is read for
hashing once, byte for byte, whether the own engine's writes are hashed while it downloads or the files are
hashed after the download (kserve_storage wrote them).

The real CLI runs under a test-only launcher that wraps ``digests.hash_range``, through which every byte
hashed is read, and counts the bytes read per file (by the path its descriptor has at that moment).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.signing import make_key, sign_with_key, write_tree
from fixtures.storage import S3Server
from helpers import cli_env, register, tree

FILES = {"weights.bin": b"w" * 300_000, "tok/vocab.txt": b"a\nb\n", "config.json": b"{}"}

_COUNTING = """
import json, os, sys, threading
from mr_storage_initializer import cli, digests

counted, lock, real = {}, threading.Lock(), digests.hash_range

def hash_range(fd, hasher, offset, end, buffer):
    reached = real(fd, hasher, offset, end, buffer)
    path = os.readlink(f"/proc/self/fd/{fd}")
    with lock:
        counted[path] = counted.get(path, 0) + reached - offset
    return reached

digests.hash_range = hash_range
try:
    code = cli.main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(counted, out)
sys.exit(code)
"""


def _sums(files: dict[str, bytes]) -> str:
    return "\n".join(f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items())


def _hashed_per_file(counts: dict[str, int], dest: Path) -> dict[str, int]:
    """Bytes hashed per model file: the paths were inside a staging directory of ``dest`` when read."""
    per_file: dict[str, int] = {}
    for path, count in counts.items():
        staged = Path(path).relative_to(dest)
        rel = Path(*staged.parts[1:]).as_posix() if staged.parts[0].startswith(".mr-") else staged.as_posix()
        per_file[rel] = per_file.get(rel, 0) + count
    return per_file


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the launcher names files by /proc/self/fd")
@pytest.mark.parametrize("transfer", ["fast", "kserve"], ids=["hashed-while-downloading", "hashed-after"])
def test_registry_digests_and_a_signature_hash_each_file_once(
    registry: Any, s3_server: S3Server, tmp_path: Path, transfer: str
) -> None:
    key = make_key(tmp_path / "keys", "team")
    model = write_tree(tmp_path / "model", FILES)
    sign_with_key(model, key)
    prefix = f"once-{transfer}"
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        s3_server.put("models", f"{prefix}/{path.relative_to(model).as_posix()}", path.read_bytes())
    signature = (model / "model.sig").read_bytes()
    sums = _sums({**FILES, "model.sig": signature})
    register(registry.url, prefix, f"s3://models/{prefix}", "v1", metadata={"sha256sums": sums})
    dest, counts = tmp_path / "dest", tmp_path / "hashed.json"
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(key.public),
        "MODEL_REGISTRY_TRANSFER": transfer,
        **s3_server.env,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _COUNTING, str(counts), f"model-registry://{prefix}/v1", str(dest)],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert tree(dest) == {**FILES, "model.sig": signature}
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["verified_files"] == 4  # the registry's digests were checked ...
    assert provenance["signature"]["files"] == 3  # ... and the signature's
    hashed = _hashed_per_file(json.loads(counts.read_text()), dest)
    # Every file the signature covers is read once for both checks; model.sig only for the registry's.
    assert hashed == {name: len(data) for name, data in {**FILES, "model.sig": signature}.items()}
