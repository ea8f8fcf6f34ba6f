"""SQLite persistence: ids, parents, name scopes, timestamps, ordering and paging.

Registered models and model versions are MLMD "contexts" and share one id sequence (so the first model
is "1" and its first version "2", as on the real server); artifacts have their own. Every write is one
transaction, committed before the HTTP answer, so a stopped server loses nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

SPACES = {"registered_model": "context", "model_version": "context", "artifact": "artifact"}
ORDER_COLUMNS = {"CREATE_TIME": "ctime", "LAST_UPDATE_TIME": "mtime", "ID": "id"}
MAX_PAGE_SIZE = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (space TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL, id INTEGER NOT NULL, parent INTEGER NOT NULL, name TEXT NOT NULL,
    external_id TEXT, ctime INTEGER NOT NULL, mtime INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS entities_name ON entities (kind, parent, name);
CREATE UNIQUE INDEX IF NOT EXISTS entities_external ON entities (kind, external_id) WHERE external_id IS NOT NULL;
"""


class Conflict(Exception):
    """A name or external id is taken within its scope (HTTP 409)."""


class NotFound(Exception):
    """No entity with that id (HTTP 404)."""


def _now_ms(previous: int) -> int:
    return max(int(time.time() * 1000), previous + 1)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, value = text.partition(":")
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid nextPageToken") from None
    if prefix != "offset" or offset < 0:
        raise ValueError("invalid nextPageToken")
    return offset


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
        data.update(id=str(ident), createTimeSinceEpoch=str(ctime), lastUpdateTimeSinceEpoch=str(mtime))
        if kind == "model_version":
            data["registeredModelId"] = str(parent)
        return data

    def get(self, kind: str, ident: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM entities WHERE kind=? AND id=?", (kind, ident)).fetchone()
        return self._row(row) if row else None

    def find(
        self, kind: str, *, name: str | None, external_id: str | None, parent: int | None, artifact_type: str | None
    ) -> dict[str, Any] | None:
        sql, args = "SELECT * FROM entities WHERE kind=?", [kind]
        if name is not None:
            sql += " AND name=?"
            args.append(name)
        if external_id is not None:
            sql += " AND external_id=?"
            args.append(external_id)
        if parent is not None:
            sql += " AND parent=?"
            args.append(str(parent))
        sql += " ORDER BY id"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        for row in rows:
            data = self._row(row)
            if artifact_type is None or data.get("artifactType") == artifact_type:
                return data
        return None

    def list(
        self,
        kind: str,
        *,
        parent: int | None,
        artifact_type: str | None,
        order_by: str,
        descending: bool,
        page_size: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], str]:
        column = ORDER_COLUMNS[order_by]
        direction = "DESC" if descending else "ASC"
        sql, args = "SELECT * FROM entities WHERE kind=?", [kind]
        if parent is not None:
            sql += " AND parent=?"
            args.append(str(parent))
        if artifact_type is not None:
            sql += " AND json_extract(body, '$.artifactType')=?"
            args.append(artifact_type)
        sql += f" ORDER BY {column} {direction}, id {direction} LIMIT ? OFFSET ?"
        args += [str(page_size + 1), str(offset)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        items = [self._row(r) for r in rows[:page_size]]
        token = encode_token(offset + page_size) if len(rows) > page_size else ""
        return items, token

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

    def create(self, kind: str, parent: int, body: dict[str, Any]) -> dict[str, Any]:
        name = body["name"]
        with self._lock:
            self._last_ms = now = _now_ms(self._last_ms)
            with self._transaction(f"a {kind.replace('_', ' ')} named {name!r} (or with that externalId) exists"):
                space = SPACES[kind]
                self._db.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (space,))
                self._db.execute("UPDATE counters SET value = value + 1 WHERE space=?", (space,))
                (ident,) = self._db.execute("SELECT value FROM counters WHERE space=?", (space,)).fetchone()
                stored = {k: v for k, v in body.items() if k not in ("registeredModelId",)}
                self._db.execute(
                    "INSERT INTO entities VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind, ident, parent, name, body.get("externalId"), now, now, json.dumps(stored)),
                )
        created = self.get(kind, ident)
        assert created is not None
        return created

    def update(self, kind: str, ident: int, patch: dict[str, Any], *, parent: int | None = None) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT body FROM entities WHERE kind=? AND id=?", (kind, ident)).fetchone()
            if row is None:
                raise NotFound(f"{kind} {ident} not found")
            body = json.loads(row[0])
            body.update(patch)
            self._last_ms = now = _now_ms(self._last_ms)
            with self._transaction(f"that externalId or name is taken by another {kind.replace('_', ' ')}"):
                self._db.execute(
                    "UPDATE entities SET body=?, mtime=?, external_id=?, parent=COALESCE(?, parent) "
                    "WHERE kind=? AND id=?",
                    (json.dumps(body), now, body.get("externalId"), parent, kind, ident),
                )
        updated = self.get(kind, ident)
        assert updated is not None
        return updated
