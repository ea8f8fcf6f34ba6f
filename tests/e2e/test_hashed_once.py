"""Nothing is hashed twice: a model checked against the registry's sha256sums and its signature (and, from the
Hub, its LFS digests) is read for hashing once, byte for byte, whether the own engine's writes are hashed
while it downloads or the files are hashed after the download (kserve_storage wrote them).

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

from fixtures.hub import Hub
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
@pytest.mark.parametrize(
    ("source", "transfer"),
    [("s3", "fast"), ("s3", "kserve"), ("hf", "fast")],
    ids=["hashed-while-downloading", "hashed-after", "hf-lfs-too"],
)
def test_registry_digests_and_a_signature_hash_each_file_once(
    registry: Any, s3_server: S3Server, tmp_path: Path, source: str, transfer: str, request: pytest.FixtureRequest
) -> None:
    """The hf:// case adds a third check, every LFS file against the Hub's SHA-256: still one read."""
    key = make_key(tmp_path / "keys", "team")
    model = write_tree(tmp_path / "model", FILES)
    sign_with_key(model, key)
    name = f"once-{source}-{transfer}"
    published = {p.relative_to(model).as_posix(): p.read_bytes() for p in sorted(model.rglob("*")) if p.is_file()}
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, "MODEL_REGISTRY_TRANSFER": transfer}
    if source == "hf":
        hub: Hub = request.getfixturevalue("hub")
        hub.add(f"org/{name}", dict(published))
        uri = f"hf://org/{name}"
        env.update(hub.env)
    else:
        for rel, data in published.items():
            s3_server.put("models", f"{name}/{rel}", data)
        uri = f"s3://models/{name}"
        env.update(s3_server.env)
    register(registry.url, name, uri, "v1", metadata={"sha256sums": _sums(published)})
    dest, counts = tmp_path / "dest", tmp_path / "hashed.json"
    env["MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY"] = str(key.public)
    proc = subprocess.run(
        [sys.executable, "-c", _COUNTING, str(counts), f"model-registry://{name}/v1", str(dest)],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert tree(dest) == published
    provenance = json.loads((dest / ".model-registry.json").read_text())
    assert provenance["verified_files"] == 4  # the registry's digests were checked ...
    assert provenance["signature"]["files"] == 3  # ... and the signature's
    if source == "hf":
        assert "checking 2 LFS files against the Hub's SHA-256" in proc.stderr  # ... and the Hub's
    digests = {f["path"]: f.get("sha256") for f in provenance["files"]}
    assert digests == {rel: hashlib.sha256(data).hexdigest() for rel, data in published.items()}  # recorded
    hashed = _hashed_per_file(json.loads(counts.read_text()), dest)
    # Every file the signature covers is read once for all checks; model.sig for the others.
    assert hashed == {rel: len(data) for rel, data in published.items()}
