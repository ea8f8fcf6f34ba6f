"""A small model over plain HTTP, resolved through a plain-HTTP registry: installed as any other, importing
none of what it does not use (urllib3, ssl, http.client, argparse; dataclasses with inspect and ast; hashlib
with OpenSSL, base64; tempfile and shutil with random, bz2 and lzma)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixtures.storage import HttpFileServer
from helpers import register, run_python, tree

PAYLOAD = bytes(range(256)) * 32  # 8 KiB

PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['mr-storage-initializer'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('mr_storage_initializer', run_name='__main__')\n"
    "except SystemExit as exc:\n    code = exc.code\n"
    "unused = {'urllib3', 'ssl', 'http', 'email', 'argparse', 'dataclasses', 'inspect', 'ast'}\n"
    "unused |= {'hashlib', '_hashlib', 'base64', 'tempfile', 'shutil', 'random', 'bz2', 'lzma'}\n"
    "loaded = sorted({m.split('.')[0] for m in sys.modules} & unused)\n"
    "print(code, loaded)\n"
)


def test_a_small_plain_http_install_imports_only_what_it_uses(
    registry: Any, http_server: HttpFileServer, tmp_path: Path
) -> None:
    register(registry.url, "small-plain", http_server.add("small/model.bin", PAYLOAD), "v1")
    dest = tmp_path / "model"
    proc = run_python(
        PROBE, "model-registry://small-plain/v1", dest, env={"MODEL_REGISTRY_BASE_URL": registry.host_port}
    )
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr
    assert tree(dest) == {"model.bin": PAYLOAD}
    record = json.loads((dest / ".model-registry.json").read_text())
    assert record["registered_model"]["name"] == "small-plain"
    assert [f["path"] for f in record["files"]] == ["model.bin"]
