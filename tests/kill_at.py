"""Run the initializer's CLI with a kill planted at one call: how a test cuts a run at an exact step.

    python tests/kill_at.py TARGET [--call N] [--after] [--signal KILL|TERM] [--show DIR] -- CLI ARGS...

TARGET is ``MODULE:NAME`` (a function as MODULE's code calls it: one of its own, or a name it imported) or
``MODULE:OBJECT.NAME`` (a function of a module MODULE imported, such as ``os.rename``: replaced in MODULE's
view only, so that ``os.rename`` called elsewhere is untouched). At the N-th call (default the first) the
process sends itself the signal (default SIGKILL), before the call runs or, with ``--after``, once it has
returned. With ``--show DIR``, the line ``kill_at: [...]`` (every path under DIR, relative, sorted, JSON) goes
to stderr just before the signal: what the run had left there at that instant. Then ``cli.main(CLI ARGS)``
runs as ``python -m mr_storage_initializer`` would run it.

The production code has no hook for this; :func:`plant` is also what the in-process tests use.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "kill_at: "


class _View:
    """A module as one other module sees it: every attribute is the module's, except those set here."""

    def __init__(self, module: types.ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:  # only for what is not set here
        return getattr(self._module, name)


def plant(
    target: str,
    action: Callable[[], None],
    *,
    call: int = 1,
    after: bool = False,
    setattr_: Callable[[Any, str, Any], None] = setattr,
) -> None:
    """Run ``action`` at the ``call``-th call of ``target`` (see the module's docstring), before the call or,
    with ``after``, once it returned. ``setattr_``: pytest's ``monkeypatch.setattr``, to undo it."""
    module_name, _, path = target.partition(":")
    holder: Any = importlib.import_module(module_name)
    *owners, name = path.split(".")
    if len(owners) > 1:
        raise ValueError(f"{target}: at most one object between the module and the function")
    if owners:
        view = _View(getattr(holder, owners[0]))
        setattr_(holder, owners[0], view)
        holder = view
    original = getattr(holder, name)
    calls = 0
    lock = threading.Lock()

    def planted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        with lock:
            calls += 1
            now = calls == call
        if now and not after:
            action()
        result = original(*args, **kwargs)
        if now and after:
            action()
        return result

    setattr_(holder, name, planted)


def listing(root: Path) -> list[str]:
    """Every path under ``root`` (directories too), relative, sorted; links are listed, never followed."""
    found: list[str] = []
    for top, dirs, files in os.walk(root):
        base = Path(top).relative_to(root)
        found += [(base / n).as_posix() for n in dirs + files]
    return sorted(found)


def shown(stderr: str) -> list[str]:
    """The listing a run started with ``--show`` printed just before its signal."""
    for line in stderr.splitlines():
        if line.startswith(PREFIX):
            value: list[str] = json.loads(line[len(PREFIX) :])
            return value
    raise AssertionError(f"no {PREFIX!r} line: the kill never came\n{stderr}")


def main(argv: list[str]) -> int:
    ours, rest = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="kill_at.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("target")
    parser.add_argument("--call", type=int, default=1)
    parser.add_argument("--after", action="store_true")
    parser.add_argument("--signal", choices=("KILL", "TERM"), default="KILL")
    parser.add_argument("--show", type=Path)
    args = parser.parse_args(ours)
    signum = signal.SIGKILL if args.signal == "KILL" else signal.SIGTERM

    def kill() -> None:
        if args.show is not None:
            print(PREFIX + json.dumps(listing(args.show)), file=sys.stderr, flush=True)
        os.kill(os.getpid(), signum)

    plant(args.target, kill, call=args.call, after=args.after)
    from mr_storage_initializer.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
