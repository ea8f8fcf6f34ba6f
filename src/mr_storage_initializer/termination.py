"""The termination message ``kubectl describe pod`` shows: what was installed, or why it failed.

Written to ``MODEL_REGISTRY_TERMINATION_LOG`` when set, else to ``/dev/termination-log`` only where that
file exists (Kubernetes creates it in every container); never anywhere else. Kubernetes keeps 4,096 bytes
of it, so the message stays under :data:`LIMIT`: with many pairs it keeps the counts and the first failure
and says how many pairs were cut. Success is one JSON object; failure is the final error line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mr_storage_initializer.pipeline import Installed
from mr_storage_initializer.redact import redact_text, redact_url

DEFAULT = Path("/dev/termination-log")
LIMIT = 4000  # Kubernetes truncates at 4,096 bytes; keep a margin
log = logging.getLogger("mr_storage_initializer")


def target(configured: Path | None) -> Path | None:
    if configured is not None:
        return configured
    return DEFAULT if DEFAULT.exists() else None


def pair_summary(done: Installed) -> dict[str, Any]:
    resolution = done.resolution
    return {
        "dest": str(done.pair.dest),
        "model": resolution.model.name,
        "version": resolution.version.name,
        "artifact_id": resolution.artifact.id,
        "uri": redact_url(resolution.artifact.uri),
        "fingerprint": done.fingerprint,
        "files": done.files,
        "bytes": done.bytes,
        "seconds": round(done.seconds, 3),
        "downloaded": done.downloaded,
        **_signature(done.record.get("signature")),
    }


def _signature(entry: Any) -> dict[str, Any]:
    """The verified signature's method, signer and manifest digest, when one was checked."""
    if not isinstance(entry, dict) or not entry.get("method"):
        return {}
    return {"signature": {k: entry.get(k) for k in ("method", "signer", "manifest_digest") if k in entry}}


def success_message(installed: Sequence[Installed]) -> str:
    pairs = [pair_summary(done) for done in installed]
    body: dict[str, Any] = {"status": "installed", "pairs": pairs}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    while len(text.encode("utf-8")) > LIMIT and pairs:
        pairs.pop()
        body = {
            "status": "installed",
            "installed": len(installed),
            "pairs": pairs,
            "cut": f"{len(installed) - len(pairs)} more pairs were cut to stay under 4096 bytes",
        }
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text


def failure_message(lines: Sequence[str]) -> str:
    """The error lines (one per failed pair, then the summary), the last kept whole, the rest cut to fit."""
    last = _fit(redact_text(lines[-1]), LIMIT)
    kept: list[str] = []
    room = LIMIT - len(last.encode("utf-8")) - 1
    for raw in lines[:-1]:
        line = redact_text(raw)
        size = len(line.encode("utf-8")) + 1
        if size > room - 80:
            kept.append(f"({len(lines) - 1 - len(kept)} more error lines were cut to stay under 4096 bytes)")
            break
        kept.append(line)
        room -= size
    return "\n".join([*kept, last])


def _fit(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def write(configured: Path | None, message: str) -> None:
    """Write ``message`` where Kubernetes reads it; a failure to write is a warning, never the run's result."""
    path = target(configured)
    if path is None:
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(message)
    except OSError as exc:
        log.warning("cannot write the termination message to %s: %s", path, exc.strerror or exc)
