"""Command line: ``mr-storage-initializer SOURCE_URI DEST_PATH [SOURCE_URI DEST_PATH …]`` (what KServe runs).

Each pair's flow (resolve → policy → download → verify → commit) is :mod:`mr_storage_initializer.pipeline`;
several pairs run side by side in :mod:`mr_storage_initializer.pairs`; this module parses, orchestrates,
reports (one ERROR line per failed pair, then a summary line when there are several) and writes the
termination message (:mod:`mr_storage_initializer.termination`).

Exit codes: 0 ok · 1 unexpected · 2 usage/bad URI · 3 not found or refused in registry · 4 registry
unreachable/auth/bad answer · 5 storage/download/integrity/archive · 6 destination.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from mr_storage_initializer import __version__
from mr_storage_initializer.errors import InterruptedByUser, UsageError, reportable
from mr_storage_initializer.redact import redact_url

if TYPE_CHECKING:
    import argparse

    from mr_storage_initializer.pipeline import Pair

log = logging.getLogger("mr_storage_initializer")


USAGE = "usage: mr-storage-initializer SOURCE_URI DEST_PATH [SOURCE_URI DEST_PATH ...]"


class Options(NamedTuple):
    """What the command line says (a NamedTuple: a third of a frozen dataclass's cost to define)."""

    uris: list[str]
    resolve_only: bool = False
    log_format: str = "text"
    debug: bool = False


def parse_args(argv: list[str]) -> Options:
    """The command line as argparse reads it. A command line without options (``SRC DEST …``, what KServe
    runs) means exactly its positional arguments, and is taken as such without importing argparse (a few ms
    of every pod start)."""
    if not any(arg.startswith("-") for arg in argv):
        return Options(list(argv))
    args = _parser().parse_intermixed_args(argv)
    return Options(args.uris, args.resolve_only, args.log_format, args.debug)


def _parser() -> argparse.ArgumentParser:
    import argparse

    from mr_storage_initializer.cli_help import epilog

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message}; {USAGE}")

    parser = _Parser(
        prog="mr-storage-initializer",
        description="Install the model each SOURCE_URI names into its DEST_PATH (KServe storage initializer).",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "uris",
        metavar="SOURCE_URI DEST_PATH",
        nargs="*",
        help="model-registry://[HOST[:PORT]/]MODEL[/VERSION] (or any URI KServe downloads) and its directory",
    )
    parser.add_argument("--resolve-only", action="store_true", help="print the resolution as JSON; download nothing")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    parser.add_argument("--debug", action="store_true", help="debug logs, with tracebacks for unexpected errors")
    parser.add_argument("--version", action="version", version=f"mr-storage-initializer {__version__}")
    return parser


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise InterruptedByUser(f"stopped by {signal.Signals(signum).name}", signum)  # what is installed: _stopped


def _default_signals_in_child() -> None:
    """Forked workers (kserve_storage's S3 pool) must die on SIGTERM, not run our handler and hang the pool."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_signals_in_child)


def _pairs(args: Options) -> list[Pair]:
    """The command line's ``SOURCE_URI DEST_PATH`` pairs; DESTs must be distinct and not nested, decided on
    what the paths are (resolved as the kernel resolves them, and by directory identity) before anything runs."""
    from mr_storage_initializer.paths import overlap
    from mr_storage_initializer.pipeline import Pair

    uris: list[str] = args.uris
    if not uris:
        raise UsageError(f"SOURCE_URI is missing; {USAGE}")
    if len(uris) == 1:
        if not args.resolve_only:
            raise UsageError(f"DEST_PATH is missing; {USAGE}")
        return [Pair(0, uris[0], None)]
    if len(uris) % 2:
        raise UsageError(f"{len(uris)} arguments are not SOURCE_URI DEST_PATH pairs; {USAGE}")
    dests = [Path(uris[i + 1]) for i in range(0, len(uris), 2)]
    for index, dest in enumerate(dests):
        for other in dests[:index]:
            relation = overlap(dest, other)  # what the paths are (links, bind mounts), not how they are spelled
            if relation is not None:
                what = "is named twice" if relation == "same" else "and another DEST_PATH are nested"
                if relation == "same" and os.path.realpath(dest) != os.path.realpath(other):
                    what = "is the same directory as another DEST_PATH (a link or a bind mount)"
                raise UsageError(f"DEST_PATH {dest} {what} ({other}); each pair needs a directory of its own")
    return [Pair(i // 2, uris[i], dests[i // 2]) for i in range(0, len(uris), 2)]


def _run(args: Options, outcome: dict[str, Any], env: Mapping[str, str]) -> int:
    from mr_storage_initializer import pipeline
    from mr_storage_initializer.api_version import Learned
    from mr_storage_initializer.settings import Settings

    pairs = _pairs(args)
    outcome["pairs"] = pairs
    settings = Settings.from_env(env)
    outcome["settings"] = settings
    if args.resolve_only:
        import json

        learned = Learned()
        found = [pipeline.resolve_pair(pair, settings, learned).to_json() for pair in pairs]
        sys.stdout.write(json.dumps(found[0] if len(found) == 1 else found, indent=2) + "\n")
        sys.stdout.flush()
        return 0
    if len(pairs) == 1:  # in the main thread: a signal removes its staging on the way out
        (pair,) = pairs
        committed = outcome.setdefault("committed", set())
        resolution = pipeline.resolve_pair(pair, settings)
        done = pipeline.install_pair(
            pair, resolution, settings, exclusive=True, committed=lambda: committed.add(pair.index)
        )
        outcome["installed"] = [done]
        return 0
    from mr_storage_initializer import pairs as several

    installed, failures = several.run(pairs, settings, committed=outcome.setdefault("committed", set()))
    outcome["installed"] = installed
    if not failures:
        log.info("%d pairs installed", len(installed), extra={"step": "installed", "pairs": len(pairs)})
        return 0
    lines = []
    for pair, exc in failures:
        lines.append(f"pair {pair.index + 1} ({redact_url(pair.source_uri)} -> {pair.dest}): {exc.message}")
        log.error("%s", lines[-1], extra={"step": "failed", "exit_code": exc.exit_code, "error": exc.kind})
    first_pair, first = failures[0]
    summary = (
        f"{len(installed)} of {len(pairs)} pairs installed, {len(failures)} failed; "
        f"first failure: pair {first_pair.index + 1}, exit {first.exit_code}"
    )
    log.error("%s", summary, extra={"step": "failed", "exit_code": first.exit_code, "error": "pairs"})
    outcome["lines"] = [*lines, summary]
    return first.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    from mr_storage_initializer import logs
    from mr_storage_initializer.redact import register_env_secrets
    from mr_storage_initializer.settings import environment

    argv = list(sys.argv[1:] if argv is None else argv)
    # A first guess, so that a bad command line is reported in the format asked for; argparse decides below.
    log_format = "json" if "--log-format=json" in argv or _after(argv, "--log-format") == "json" else "text"
    debug = "--debug" in argv
    logs.configure(log_format, level=logging.DEBUG if debug else logging.INFO)
    env = environment()  # the one read of the environment; Settings.from_env parses it in _run
    register_env_secrets(env)
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    outcome: dict[str, Any] = {}
    code = 1
    try:
        args = parse_args(argv)
        if (args.log_format, args.debug) != (log_format, debug):  # abbreviations: --log-form json, --deb
            log_format, debug = args.log_format, args.debug
            logs.configure(log_format, level=logging.DEBUG if debug else logging.INFO)
        outcome["report"] = not args.resolve_only
        code = _run(args, outcome, env)
    except InterruptedByUser as exc:
        code = _failed(_stopped(exc.message, outcome), exc.exit_code, exc.kind, outcome)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except Exception as exc:  # an InitializerError, or a bug (exit 1)
        error = reportable(exc)
        code = _failed(error.message, error.exit_code, error.kind, outcome)
        if debug and error.__cause__ is not None:
            log.debug("cause", exc_info=error.__cause__)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _report(code, outcome)
    return code


def _stopped(message: str, outcome: dict[str, Any]) -> str:
    """``stopped by SIGTERM`` and what the run had installed by then, pair by pair, and what it had not."""
    pairs: list[Pair] = outcome.get("pairs") or []
    done: set[int] = {*outcome.get("committed", ()), *(r.pair.index for r in outcome.get("installed", []))}
    if not done:
        return f"{message}; nothing was installed"
    installed = ", ".join(f"pair {p.index + 1} ({p.dest})" for p in pairs if p.index in done)
    missing = ", ".join(f"pair {p.index + 1} ({p.dest})" for p in pairs if p.index not in done)
    return f"{message}; installed: {installed}" + (f"; not installed: {missing}" if missing else "")


def _failed(message: str, code: int, kind: str, outcome: dict[str, Any]) -> int:
    log.error("%s", message, extra={"step": "failed", "exit_code": code, "error": kind})
    outcome["lines"] = [message]
    return code


def _report(code: int, outcome: dict[str, Any]) -> None:
    """The termination message for ``kubectl describe pod`` (only where Kubernetes reads one)."""
    if not outcome.get("report", True):
        return
    from mr_storage_initializer import termination
    from mr_storage_initializer.settings import termination_log_path

    settings = outcome.get("settings")
    path = settings.termination_log if settings is not None else termination_log_path()
    if code == 0:
        termination.write(path, termination.success_message(outcome.get("installed", [])))
    elif outcome.get("lines"):
        termination.write(path, termination.failure_message(outcome["lines"]))


def _after(argv: list[str], flag: str) -> str | None:
    try:
        return argv[argv.index(flag) + 1]
    except (ValueError, IndexError):
        return None


def entry() -> NoReturn:
    """The console script: :func:`main`, then leave without the interpreter's teardown.

    By the time :func:`main` returns, everything the run owes is on disk and fsynced (model, provenance,
    termination message) and every thread it started has ended or is a daemon blocked on a dead socket; what
    is left for the interpreter is freeing the module objects, which nobody needs. So: flush the log
    handlers and the two streams, then ``os._exit`` with the exit code.
    ``python -m mr_storage_initializer`` keeps the ordinary exit (tests run the CLI in process through it).
    The console script calls this through :func:`mr_storage_initializer.console.entry`.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing more to say on it
            stream.flush()
    os._exit(code)
