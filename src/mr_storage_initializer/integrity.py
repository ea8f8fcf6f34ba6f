"""Verify the downloaded files against digests the registry carries, before anything is installed.

Keys, read from the model artifact's ``customProperties`` first, then from the model version's (where the
official client's ``register_model(metadata=...)`` puts them), as string values:

- ``sha256``: hex SHA-256 of the artifact when it installs as exactly one file;
- ``sha256sums``: ``sha256sum``-format lines (``HEX  relative/path``), one per installed file; every
  installed file must be listed and every listed file present.

Sizes are always checked by the install step (the provenance records them); digests only when given.
A mismatch is an :class:`IntegrityError` (exit 5) and nothing is installed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mr_storage_initializer.digests import Digests, compare
from mr_storage_initializer.errors import IntegrityError
from mr_storage_initializer.resolve import Resolution
from mr_storage_initializer.staged import StagedTree, walk

log = logging.getLogger("mr_storage_initializer.integrity")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_LINE = re.compile(r"^(?P<digest>[0-9a-fA-F]{64}) [ *](?P<path>.+)$")


def _string_property(props: Mapping[str, Any], key: str) -> str | None:
    value = props.get(key)
    if isinstance(value, Mapping) and isinstance(value.get("string_value"), str):
        return str(value["string_value"]).strip()
    return None


def expected_digests(resolution: Resolution) -> tuple[str, str, str] | None:
    """(key, value, where) of the first digest property found, or None."""
    sources = (("model artifact", resolution.artifact.custom_properties), ("model version", _props(resolution)))
    for where, props in sources:
        for key in ("sha256sums", "sha256"):
            value = _string_property(props, key)
            if value:
                return key, value, where
    return None


def _props(resolution: Resolution) -> Mapping[str, Any]:
    props = resolution.version.raw.get("customProperties")
    return props if isinstance(props, Mapping) else {}


def verify(
    resolution: Resolution, staging: Path, tree: StagedTree | None = None, digests: Digests | None = None
) -> int:
    """Check ``staging`` (whose walk is ``tree``, walked here when not given) against the digests the
    registry gives; returns how many files were verified. Links are not files with content: not counted.
    ``digests``: the download's digest service (:mod:`.digests`), so that no file is hashed twice."""
    found = expected_digests(resolution)
    if found is None:
        return 0
    key, value, where = found
    files = (tree or walk(staging)).regular
    if key == "sha256":
        if not _HEX.match(value):
            raise IntegrityError(f"the {where}'s sha256 property is not a hex SHA-256: {value[:80]!r}")
        if len(files) != 1:
            raise IntegrityError(
                f"the {where} gives one sha256 but the artifact installs {len(files)} files; use sha256sums"
            )
        expected = {files[0]: value.lower()}
    else:
        expected = {}
        for number, line in enumerate(value.splitlines(), 1):
            if not line.strip():
                continue
            match = _LINE.match(line.strip())
            if match is None:
                raise IntegrityError(f"line {number} of the {where}'s sha256sums is not 'HEX  path': {line[:80]!r}")
            expected[match["path"].removeprefix("./")] = match["digest"].lower()
    difference = compare(expected, files, digests or Digests(staging))
    if difference is not None:
        rel = difference.path
        if difference.problem == "missing":
            raise IntegrityError(f"{rel!r} is listed in sha256sums but was not downloaded")
        if difference.problem == "unlisted":
            raise IntegrityError(f"{rel!r} was downloaded but is not listed in sha256sums")
        raise IntegrityError(f"sha256 mismatch for {rel!r}: expected {expected[rel]}, got {difference.actual}")
    log.info("%d files match the %s's %s", len(expected), where, key, extra={"step": "verified"})
    return len(expected)
