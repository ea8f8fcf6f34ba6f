"""SQLite persistence: ids, owners, name scopes, timestamps, ordering and cursor paging, as upstream.

Registered models, model versions, serving environments, inference services, experiments and experiment
runs are MLMD "contexts" and share one id sequence (the first model is "1" and its first version "2", as
on the real server); artifacts have their own, and so do serve-model records ("executions"). A create
that the name index refuses still uses up its id, as a PostgreSQL sequence does on upstream. Every write
is one transaction, committed before the HTTP answer, so a stopped server loses nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from model_registry_lite.kinds import KINDS

SPACES = {name: kind.space for name, kind in KINDS.items()} | {"metric_history": "artifact"}
ORDER_COLUMNS = {"CREATE_TIME": "ctime", "LAST_UPDATE_TIME": "mtime", "ID": "id", "id": "id"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (space TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL, id INTEGER NOT NULL, parent INTEGER NOT NULL, name TEXT NOT NULL,
    external_id TEXT, ctime INTEGER NOT NULL, mtime INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_name ON entities (kind, parent, name);
"""
# An external id is unique within an MLMD table (Context, Artifact, Execution), across the kinds sharing it.


class Conflict(Exception):
    """A name or external id is taken within its scope (HTTP 409)."""


class NotFound(Exception):
    """No entity with that id (HTTP 404)."""


class BadToken(ValueError):
    """A ``nextPageToken`` that is not one (HTTP 400, with Go's reason)."""


def _now_ms(previous: int) -> int:
    return max(int(time.time() * 1000), previous + 1)


def encode_token(ident: int, value: str) -> str:
    """Upstream's cursor: base64 of ``ID:VALUE`` (internal/platform/db/scopes)."""
    return base64.b64encode(f"{ident}:{value}".encode()).decode()


def decode_token(token: str) -> tuple[int, str]:
    if len(token) > 1024:
        raise BadToken("invalid cursor format")
    bad = next((i for i, c in enumerate(token) if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
    if bad is None and len(token) % 4:
        bad = len(token) - len(token) % 4
    if bad is not None:
        raise BadToken(f"illegal base64 data at input byte {bad}")
    try:
        text = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BadToken("illegal base64 data at input byte 0") from None
    ident, sep, value = text.partition(":")
    if not sep:
        raise BadToken("invalid cursor format")
    try:
        return int(ident), value
    except ValueError:
        raise BadToken(f'strconv.ParseInt: parsing "{ident}": invalid syntax') from None


class Store:
    def __init__(self, path: str | None = None) -> None:
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._last_ms = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reading -----------------------------------------------------------------------------------------
    @staticmethod
    def _row(row: tuple[Any, ...]) -> dict[str, Any]:
        kind, ident, parent, _name, _ext, ctime, mtime, body = row
        data: dict[str, Any] = json.loads(body)
        data.setdefault("customProperties", {})
        data.update(id=str(ident), createTimeSinceEpoch=str(ctime), lastUpdateTimeSinceEpoch=str(mtime))
        field = KINDS[kind].parent_field if kind in KINDS else None
        if field:
            data[field] = str(parent)
        return data

    def get(self, kind: str, ident: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM entities WHERE kind=? AND id=?", (kind, ident)).fetchone()
        return self._row(row) if row else None

    def parent_of(self, kind: str, ident: int) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT parent FROM entities WHERE kind=? AND id=?", (kind, ident)).fetchone()
        return int(row[0]) if row else None

    def rows(self, kind: str, *, parent: int | None = None) -> list[tuple[dict[str, Any], int]]:
        """Every entity of a kind (of one owner): (answer body, owner id)."""
        sql, args = "SELECT * FROM entities WHERE kind=?", [kind]
        if parent is not None:
            sql += " AND parent=?"
            args.append(str(parent))
        with self._lock:
            found = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [(self._row(r), int(r[2])) for r in found]

    def find(
        self,
        kind: str,
        *,
        name: str | None,
        external_id: str | None,
        parent: int | None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        for data, _owner in self.rows(kind, parent=parent):
            if name is not None and data.get("name") != name:
                continue
            if external_id is not None and data.get("externalId") != external_id:
                continue
            if where is None or where(data):
                return data
        return None

    @staticmethod
    def page(
        items: list[dict[str, Any]], *, order_by: str, sort_order: str, page_size: int, token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """Upstream's ordering and cursor paging over ``items`` (internal/platform/db/scopes/paginate.go)."""
        key = {"ctime": "createTimeSinceEpoch", "mtime": "lastUpdateTimeSinceEpoch", "id": "id"}[
            ORDER_COLUMNS.get(order_by, "id")
        ]
        descending = sort_order == "DESC"
        items = sorted(items, key=lambda d: (int(d[key]), int(d["id"])), reverse=descending)
        if token:
            ident, value = decode_token(token)
            try:
                number = int(value)
            except ValueError:
                number = ident
            if descending:
                items = [d for d in items if (int(d[key]), int(d["id"])) < (number, ident)]
            else:
                items = [d for d in items if (int(d[key]), int(d["id"])) > (number, ident)]
        if page_size <= 0 or len(items) <= page_size:
            return items, ""
        items = items[:page_size]
        last = items[-1]
        return items, encode_token(int(last["id"]), str(last[key]))

    # -- writing ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, clash: str) -> Iterator[None]:
        """One write transaction (the caller holds the lock); a unique-index clash is :class:`Conflict`."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except sqlite3.IntegrityError:
            self._db.execute("ROLLBACK")
            raise Conflict(clash) from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _external_taken(self, kind: str, external_id: Any, ident: int | None) -> bool:
        if external_id is None:
            return False
        rows = self._db.execute("SELECT kind, id FROM entities WHERE external_id=?", (external_id,)).fetchall()
        return any(SPACES[k] == SPACES[kind] and (k, i) != (kind, ident) for k, i in rows)

    def _next_id(self, space: str) -> int:
        with self._transaction("counter"):
            self._db.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (space,))
            self._db.execute("UPDATE counters SET value = value + 1 WHERE space=?", (space,))
            (ident,) = self._db.execute("SELECT value FROM counters WHERE space=?", (space,)).fetchone()
        return int(ident)

    def use_id(self, space: str) -> None:
        """Use up an id, as upstream's insert that a later statement of its transaction undoes does."""
        with self._lock:
            self._next_id(space)

    def create(
        self, kind: str, parent: int, body: dict[str, Any], *, clash: str = "", key: str | None = None
    ) -> dict[str, Any]:
        """Insert; ``key`` is the name the scope's unique index sees (default: the name)."""
        name = key if key is not None else body["name"]
        field = KINDS[kind].parent_field if kind in KINDS else None
        with self._lock:
            ident = self._next_id(SPACES[kind])  # used up even when the insert is refused
            self._last_ms = now = _now_ms(self._last_ms)
            if self._external_taken(kind, body.get("externalId"), None):
                raise Conflict(clash or f"{kind} {name} exists")
            with self._transaction(clash or f"{kind} {name} exists"):
                stored = {k: v for k, v in body.items() if k != field}
                self._db.execute(
                    "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind, ident, parent, name, body.get("externalId"), now, now, json.dumps(stored)),
                )
        created = self.get(kind, ident)
        assert created is not None
        return created

    def update(
        self, kind: str, ident: int, patch: dict[str, Any], *, parent: int | None = None, clash: str = ""
    ) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT body FROM entities WHERE kind=? AND id=?", (kind, ident)).fetchone()
            if row is None:
                raise NotFound(f"{kind} {ident} not found")
            body = json.loads(row[0])
            body.update(patch)
            if self._external_taken(kind, body.get("externalId"), ident):
                raise Conflict(clash or f"that externalId is taken by another {kind}")
            self._last_ms = now = _now_ms(self._last_ms)
            with self._transaction(clash or f"that externalId or name is taken by another {kind}"):
                self._db.execute(
                    "UPDATE entities SET body=?, mtime=?, external_id=?, parent=COALESCE(?, parent) "
                    "WHERE kind=? AND id=?",
                    (json.dumps(body), now, body.get("externalId"), parent, kind, ident),
                )
        updated = self.get(kind, ident)
        assert updated is not None
        return updated
