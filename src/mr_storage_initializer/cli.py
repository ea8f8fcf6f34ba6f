"""Command line: ``mr-storage-initializer SOURCE_URI DEST_PATH`` (what KServe runs), and the exit codes.

Exit codes: 0 ok · 1 unexpected · 2 usage/bad URI · 3 not found or refused in registry · 4 registry
unreachable/auth/bad answer · 5 storage/download/integrity/archive · 6 destination.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from mr_storage_initializer import __version__
from mr_storage_initializer.errors import InitializerError, InterruptedByUser, UsageError

log = logging.getLogger("mr_storage_initializer")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; usage: mr-storage-initializer SOURCE_URI DEST_PATH")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mr-storage-initializer",
        description="Install the model a model-registry:// URI names into DEST_PATH (KServe storage initializer).",
    )
    parser.add_argument("source_uri", metavar="SOURCE_URI", help="model-registry://[HOST[:PORT]/]MODEL[/VERSION]")
    parser.add_argument("dest_path", metavar="DEST_PATH", nargs="?", help="directory to install into")
    parser.add_argument("--resolve-only", action="store_true", help="print the resolution as JSON; download nothing")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    parser.add_argument("--debug", action="store_true", help="debug logs, with tracebacks for unexpected errors")
    parser.add_argument("--version", action="version", version=f"mr-storage-initializer {__version__}")
    return parser


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise InterruptedByUser(f"stopped by {signal.Signals(signum).name}; nothing was installed", signum)


def _default_signals_in_child() -> None:
    """Forked workers (kserve_storage's S3 pool) must die on SIGTERM, not run our handler and hang the pool."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_signals_in_child)


def _run(args: argparse.Namespace) -> int:
    from mr_storage_initializer import install, integrity, transfer
    from mr_storage_initializer.provenance import build_record, fingerprint
    from mr_storage_initializer.resolve import resolve
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.uri import parse_uri

    started = time.monotonic()
    settings = Settings.from_env()
    parsed = parse_uri(args.source_uri)
    if parsed.ambiguous:
        log.info("%s is HOST/MODEL or MODEL/VERSION; probing", args.source_uri, extra={"step": "parsed"})
    else:
        log.info("%s is %s", args.source_uri, parsed.readings[0].describe(), extra={"step": "parsed"})
    if not args.resolve_only and not args.dest_path:
        raise UsageError("DEST_PATH is missing; usage: mr-storage-initializer SOURCE_URI DEST_PATH")

    resolution = resolve(parsed, settings)
    artifact = resolution.artifact
    log.info(
        "model %s version %s artifact %s",
        resolution.model.name,
        resolution.version.name,
        artifact.name,
        extra={
            "step": "resolved",
            "registry": resolution.registry_url,
            "artifact_id": artifact.id,
            "uri": artifact.uri,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    if args.resolve_only:
        sys.stdout.write(json.dumps(resolution.to_json(), indent=2) + "\n")
        sys.stdout.flush()
        return 0

    inputs = transfer.fingerprint_inputs(artifact.uri, timeout=settings.timeout)
    wanted = fingerprint(resolution, inputs)
    with install.open_destination(Path(args.dest_path), lock_timeout=settings.lock_timeout) as dest:
        if dest.installed(wanted) is not None:
            log.info("already installed in %s; nothing to download", dest.root, extra={"step": "installed"})
            return 0
        with dest.scratch_tmpdir(), dest.staging() as staging:
            log.info("%s", artifact.uri, extra={"step": "downloading", "into": str(dest.root)})
            t0 = time.monotonic()
            result = transfer.download(artifact.uri, staging, settings.transfer, timeout=settings.timeout)
            took = time.monotonic() - t0
            log.info(
                "%d files, %d bytes in %.2fs",
                result.files,
                result.bytes,
                took,
                extra={
                    "step": "downloaded",
                    "engine": result.engine,
                    "mb_per_s": round(result.bytes / 1e6 / max(took, 1e-6), 1),
                },
            )
            verified = integrity.verify(resolution, staging)
            record = build_record(resolution, result, seconds=time.monotonic() - started, inputs=inputs)
            record = dest.commit(staging, {**record, "verified_sha256": verified})
    log.info(
        "%s version %s into %s",
        resolution.model.name,
        resolution.version.name,
        dest.root,
        extra={
            "step": "installed",
            "files": len(record["files"]),
            "bytes": result.bytes,
            "seconds": record["seconds"],
        },
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from mr_storage_initializer import logs
    from mr_storage_initializer.redact import register_env_secrets

    argv = list(sys.argv[1:] if argv is None else argv)
    log_format = "json" if "--log-format=json" in argv or _after(argv, "--log-format") == "json" else "text"
    debug = "--debug" in argv
    logs.configure(log_format, level=logging.DEBUG if debug else logging.INFO)
    register_env_secrets()
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        args = _parser().parse_args(argv)
        return _run(args)
    except InterruptedByUser as exc:
        log.error("%s", exc.message, extra={"step": "failed", "exit_code": exc.exit_code, "error": exc.kind})
        return exc.exit_code
    except InitializerError as exc:
        log.error("%s", exc.message, extra={"step": "failed", "exit_code": exc.exit_code, "error": exc.kind})
        if debug and exc.__cause__ is not None:
            log.debug("cause", exc_info=exc.__cause__)
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except Exception as exc:
        log.error(
            "unexpected %s: %s (run with --debug for the traceback)",
            type(exc).__name__,
            exc,
            extra={"step": "failed", "exit_code": 1, "error": "unexpected"},
        )
        log.debug("traceback", exc_info=exc)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _after(argv: list[str], flag: str) -> str | None:
    try:
        return argv[argv.index(flag) + 1]
    except (ValueError, IndexError):
        return None
