"""Which upstream commit a supplied Model Registry server binary was built from, for the recording's header.

In order: the commit the user names (``--commit``, 40 hex digits); a 40-hex commit that ``SERVER --version``
prints (upstream's server has no such flag today; a build that adds one is read); the Go build information
every Go binary carries, whose ``vcs.revision`` and ``vcs.time`` say the commit and its time when the binary
was built inside a git checkout. Nothing found: the recording is refused, with what to give.
"""

from __future__ import annotations

import mmap
import re
import subprocess
import sys
from pathlib import Path

COMMIT = re.compile(r"\b[0-9a-f]{40}\b")
# debug.BuildInfo as a Go binary stores it: one "build\tKEY=VALUE" line per setting.
_BUILD_SETTING = re.compile(rb"\tvcs\.(revision|time|modified)=([0-9A-Za-z:+.\-]+)\n")


def from_version_output(server: Path) -> str | None:
    """The one 40-hex commit ``SERVER --version`` prints on success, else None."""
    try:
        done = subprocess.run([str(server), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = set(COMMIT.findall(done.stdout)) if done.returncode == 0 else set()
    return found.pop() if len(found) == 1 else None


def from_build_info(server: Path) -> dict[str, str]:
    """``revision``, ``time`` and ``modified`` from the binary's Go build information (those present)."""
    if server.stat().st_size == 0:
        return {}
    with server.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return {key.decode(): value.decode() for key, value in _BUILD_SETTING.findall(data)}


def origin(server: Path, commit: str | None, date: str | None) -> dict[str, str]:
    """``commit`` (and ``date`` when known) of the upstream source ``server`` was built from."""
    if commit is not None and not COMMIT.fullmatch(commit):
        sys.exit(f"record-upstream: --commit {commit!r} is not a full commit id (40 hex digits)")
    info = from_build_info(server)
    found = commit or from_version_output(server) or info.get("revision")
    if found is None or not COMMIT.fullmatch(found):
        sys.exit(
            f"record-upstream: cannot tell which upstream commit {server} was built from (it prints none with"
            " --version and its Go build information has no vcs.revision): give it with --commit"
        )
    if info.get("revision", found) != found:
        print(
            f"record-upstream: {server} says it was built from {info['revision']}; recording {found}", file=sys.stderr
        )
    built = info if info.get("revision") == found else {}
    if built.get("modified") == "true":
        print(f"record-upstream: {server} was built from a modified checkout of {found}", file=sys.stderr)
    when = date or built.get("time")
    return {"commit": found, **({"date": when} if when else {})}
