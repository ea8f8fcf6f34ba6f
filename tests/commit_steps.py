"""The steps of a replacement (``install.Destination.commit``, journal.py's list), each as the call a kill lands
on (:mod:`kill_at`) and as what DEST holds when it lands there.

A cut names a call the production code makes anyway (a rename, an fsync of DEST, a removal), counted as
``install.py`` makes it; :func:`left_by` says what DEST must hold at that instant, so a cut that lands on
another step than its name says fails the test that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

INSTALL = "mr_storage_initializer.install:"
JOURNAL_MODULE = "mr_storage_initializer.journal:"
PROVENANCE = ".model-registry.json"
JOURNAL = ".model-registry.pending.json"
TRASH = ".mr-trash-*"
LOCK = ".model-registry.lock"

# The order a replacement passes them in.
STEPS = (
    "journal-temp-written",
    "journal-written",
    "provenance-moved",
    "old-entry-moved",
    "old-entries-moved",
    "new-entry-moved",
    "new-entries-moved",
    "provenance-temp-written",
    "provenance-written",
    "journal-removed",
    "trash-entry-removed",
)
FORWARD = frozenset({"provenance-written", "journal-removed", "trash-entry-removed"})  # settled to the new one


@dataclass(frozen=True)
class Cut:
    """The ``call``-th call of ``target`` (``MODULE:NAME``), before it runs or once it returned (``after``)."""

    target: str
    call: int = 1
    after: bool = True

    def args(self) -> list[str]:
        return [self.target, "--call", str(self.call), *(["--after"] if self.after else [])]


def replacement_cuts(old: int, *, had_provenance: bool = True) -> dict[str, Cut]:
    """Where each step is when an install of ``old`` top-level entries (all present) is replaced.

    ``install.py`` calls, in order: ``os.replace`` (the journal), ``_fsync_dir`` #1; ``os.rename`` for the
    old provenance, each old entry, each new entry; ``_fsync_dir`` #2; ``os.replace`` (the provenance),
    ``_fsync_dir`` #3; the journal's unlink, ``_fsync_dir`` #4; ``_remove`` for each trash entry."""
    aside = int(had_provenance) + old  # renames into the trash
    cuts = {
        "journal-temp-written": Cut(INSTALL + "os.replace", 1, after=False),
        "journal-written": Cut(INSTALL + "_fsync_dir", 1),
        "provenance-moved": Cut(INSTALL + "os.rename", 1),
        "old-entry-moved": Cut(INSTALL + "os.rename", int(had_provenance) + 1),
        "old-entries-moved": Cut(INSTALL + "os.rename", aside + 1, after=False),
        "new-entry-moved": Cut(INSTALL + "os.rename", aside + 1),
        "new-entries-moved": Cut(INSTALL + "_fsync_dir", 2),
        "provenance-temp-written": Cut(INSTALL + "os.replace", 2, after=False),
        "provenance-written": Cut(INSTALL + "_fsync_dir", 3),
        "journal-removed": Cut(INSTALL + "_fsync_dir", 4),
        "trash-entry-removed": Cut(INSTALL + "_remove", 1),
    }
    if not had_provenance:
        del cuts["provenance-moved"]
    if not old:
        del cuts["old-entry-moved"]
    return cuts


# A run that settles a killed replacement backwards: the first new entry removed, the first old one restored.
ROLLBACK_CUTS = {
    "rollback-entry-removed": Cut(JOURNAL_MODULE + "remove", 1),
    "rollback-entry-restored": Cut(JOURNAL_MODULE + "os.rename", 1),
}


def left_by(step: str, old: Sequence[str], new: Sequence[str], *, had_provenance: bool = True) -> list[str]:
    """What DEST holds (as :func:`ours` sums it up) when a replacement of top-level entries ``old`` by
    ``new`` stops right after ``step``: journal.py's steps, played in order."""
    top = {*old, TRASH, *([PROVENANCE] if had_provenance else [])}
    trash: set[str] = set()

    def state() -> list[str]:
        return sorted(top | {f"{TRASH}/{n}" for n in trash})

    def aside(name: str) -> None:
        top.discard(name)
        trash.add(name)

    top.add(f".{JOURNAL}.*")
    if step == "journal-temp-written":
        return state()
    top.symmetric_difference_update({f".{JOURNAL}.*", JOURNAL})
    if step == "journal-written":
        return state()
    if had_provenance:
        aside(PROVENANCE)
    if step == "provenance-moved":
        return state()
    for index, name in enumerate(sorted(old)):
        aside(name)
        if index == 0 and step == "old-entry-moved":
            return state()
    if step == "old-entries-moved":
        return state()
    for index, name in enumerate(sorted(new)):
        top.add(name)
        if index == 0 and step == "new-entry-moved":
            return state()
    if step == "new-entries-moved":
        return state()
    top.add(f".{PROVENANCE}.*")
    if step == "provenance-temp-written":
        return state()
    top.symmetric_difference_update({f".{PROVENANCE}.*", PROVENANCE})
    if step == "provenance-written":
        return state()
    top.discard(JOURNAL)
    if step == "journal-removed":
        return state()
    trash.discard(sorted(trash)[0])
    if step == "trash-entry-removed":
        return state()
    raise ValueError(step)


_RANDOM = re.compile(r"^(\.mr-trash-|\.\.model-registry(?:\.pending)?\.json\.).+$")
_CONSTANT = (LOCK, ".mr-staging-", ".mr-scratch-")  # there from before the commit to after it


def ours(paths: Iterable[str], users: Iterable[str] = ()) -> list[str]:
    """DEST's top-level entries and the trash's, from relative paths, random suffixes as ``*``; without the
    lock, the staging and scratch directories and the user's entries ``users``."""
    skip = set(users)
    found: set[str] = set()
    for path in paths:
        top, *rest = path.split("/")
        top = _RANDOM.sub(r"\1*", top)
        if top in skip or top.startswith(_CONSTANT):
            continue
        if not rest:
            found.add(top)
        elif top == TRASH and len(rest) == 1:
            found.add(f"{top}/{rest[0]}")
    return sorted(found)
