"""The upstream Go CSI beside ours in `make bench`, when ``BENCH_GO_CSI`` names a binary of it.

``BENCH_GO_CSI`` is a binary of the Go CSI (``cmd/csi`` of kubeflow/model-registry) that the user built
from their own checkout with their own toolchain; this repository holds no recipe for it (benchmarks/README.md
says what is expected). It takes exactly two arguments, speaks the registry's v1alpha3 API (which
``mr-registry-lite`` serves beside v1) and downloads with KServe's Go storage code; for S3 it reads ``AWS_*``
and needs ``S3_USER_VIRTUAL_BUCKET=false`` for a path-style endpoint such as moto's. Both tools resolve
through the same registry and read the same servers.

Cases it cannot install are run all the same: the report then says "cannot install" with the Go CSI's own
last log line, instead of a ratio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NAME = "Go CSI"
ENV = "BENCH_GO_CSI"


@dataclass(frozen=True)
class Case:
    """One row of the Go CSI table: a scenario key and what it shows."""

    scenario: str
    what: str


# Scenarios that run the Go CSI beside ours: the three of issue #24 item 3, then the cases it cannot install.
CASES = (
    Case("tiny", "tiny model, 1 file of 10 KiB over HTTP"),
    Case("http-512", "512 MiB file over HTTP, unthrottled"),
    Case("s3-shards", "4 x 256 MiB shards from S3 (a prefix)"),
    Case("go-s3-object", "one S3 object (the artifact URI names a key, not a prefix)"),
    Case("go-s3-uri-from", "an `s3_uri_from` URI (`?endpoint=&defaultRegion=`, as the official client writes)"),
    Case("go-archived", "an ARCHIVED version (ours with MODEL_REGISTRY_ALLOW_ARCHIVED=true)"),
)
ONLY_WITH_GO = tuple(case.scenario for case in CASES if case.scenario.startswith("go-"))


def binary() -> Path | None:
    """The Go CSI binary named by ``BENCH_GO_CSI``, or None when it is unset; a wrong path stops the bench."""
    value = os.environ.get(ENV, "")
    if not value:
        return None
    path = Path(value).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SystemExit(f"bench: {ENV}={value} is not an executable file (a binary of the upstream Go CSI)")
    return path


def command(path: Path, model: str, dest: Path) -> list[str]:
    return [str(path), f"model-registry://{model}/v1", str(dest)]


def environment(registry_host: str, s3_env: dict[str, str]) -> dict[str, str]:
    """What the Go CSI reads: the registry address and KServe's S3 variables (path-style for moto)."""
    return {
        "MODEL_REGISTRY_BASE_URL": registry_host,
        "MODEL_REGISTRY_SCHEME": "http",
        **s3_env,
        "S3_USER_VIRTUAL_BUCKET": "false",
        "AWS_REGION": s3_env.get("AWS_DEFAULT_REGION", "us-east-1"),
    }


def last_line(stderr: str) -> str:
    """The Go CSI's last log line without Go's date and time prefix, for the report."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    words = lines[-1].split(" ", 2)
    text = words[2] if len(words) == 3 and words[0].count("/") == 2 and words[1].count(":") == 2 else lines[-1]
    return text.replace("|", "/")[:160]
