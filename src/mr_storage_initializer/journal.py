"""The commit journal of an install: what a run killed at any step of a replacement leaves, and how to undo it.

A replacement goes through these steps, each one a rename or an atomic file write inside DEST_PATH:

1. the journal (``.model-registry.pending.json``) is written: the previous install's top-level entries
   (``old``), the new ones (``new``), the trash directory (``.mr-trash-*``) and whether a provenance existed;
2. the old provenance is renamed into the trash, then every old entry, one rename each;
3. every new entry is renamed from the staging directory into DEST_PATH;
4. the new provenance is written (temp file, fsync, rename): from here on the install is complete;
5. the journal is removed, then the trash.

:func:`settle` brings DEST_PATH from any of these states to one complete version: if the new provenance is
in place (and the old one is in the trash, so it cannot be the old one) it rolls forward (the journal goes;
the trash is swept later); otherwise it rolls back: the new entries present are removed and the old ones
renamed back from the trash, provenance last. Every action checks the state first, so a settle that is
itself killed is finished by the next run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mr_storage_initializer import paths
from mr_storage_initializer.paths import is_real_dir, remove

log = logging.getLogger("mr_storage_initializer.install")

TRASH_PREFIX = ".mr-trash-"


def plain_name(value: object, reserved: frozenset[str]) -> str | None:
    """``value`` if it is a single path component we may touch (:func:`.paths.plain_name`, not reserved)."""
    name = paths.plain_name(value)
    return name if name is not None and name not in reserved else None


def settle(root: Path, pending: Any, *, provenance: str, reserved: frozenset[str]) -> str:
    """Finish or undo the replacement ``pending`` (the journal's content) describes; return which."""
    if not isinstance(pending, dict) or "new" not in pending:
        return _undo_legacy(root, pending, provenance=provenance, reserved=reserved)
    old = {n for n in map(lambda v: plain_name(v, reserved), pending.get("old") or []) if n}
    new = {n for n in map(lambda v: plain_name(v, reserved), pending.get("new") or []) if n}
    trash_name = plain_name(pending.get("trash"), reserved)
    trash = root / trash_name if trash_name and trash_name.startswith(TRASH_PREFIX) else None
    if trash is not None and not is_real_dir(trash):  # a link planted under that name is never walked through
        trash = None
    had_provenance = bool(pending.get("had_provenance"))
    in_trash = trash is not None and os.path.lexists(trash / provenance)
    if os.path.lexists(root / provenance) and (in_trash or not had_provenance):
        log.warning("finishing an interrupted install (its provenance was written)", extra={"step": "recover"})
        return "forward"
    log.warning(
        "rolling back an interrupted install (%d new entries, %d previous entries to restore)",
        len(new),
        len(old),
        extra={"step": "recover"},
    )
    for name in sorted(new):  # the new entries present: a name the old install had is new only once moved
        target = root / name
        if os.path.lexists(target) and (name not in old or (trash is not None and os.path.lexists(trash / name))):
            remove(target)
    if trash is not None:
        for name in sorted(old | {provenance}):
            if os.path.lexists(trash / name) and not os.path.lexists(root / name):
                os.rename(trash / name, root / name)
    return "back"


def _undo_legacy(root: Path, pending: Any, *, provenance: str, reserved: frozenset[str]) -> str:
    """A journal of an earlier version (only the new entries): remove them and the provenance."""
    names = pending.get("entries", []) if isinstance(pending, dict) else []
    log.warning("rolling back an interrupted install of %d entries", len(names), extra={"step": "recover"})
    for value in names:
        name = plain_name(value, reserved)
        if name:
            remove(root / name)
    (root / provenance).unlink(missing_ok=True)
    return "back"
