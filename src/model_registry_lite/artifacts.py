"""Artifact operations (model, doc, dataset, metric, parameter), as upstream answers them.

Upstream's quirks kept (as its recording shows): ``/model_artifacts`` always makes a model artifact, whatever
``artifactType`` the body names, and a PATCH there ignores the type; under a model version a model or
doc artifact is 201, a metric, parameter or dataset 200; a nameless artifact gets a fresh UUID; only
``/model_artifacts`` gives a new artifact ``state: UNKNOWN``. Metrics logged under an experiment run
update the run's metric of that name and add a metric-history record.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from model_registry_lite.common import HttpError, bad, conflict, get_or_404, list_answer, path_id
from model_registry_lite.kinds import ARTIFACT_TYPES, ARTIFACT_WORDS, KINDS
from model_registry_lite.schemas import (
    COLUMN_CHARS,
    GENERATED_OWNER,
    BadRequest,
    TooLong,
    check_columns,
    decode_artifact,
)
from model_registry_lite.store import Conflict, Store

Handler = Callable[[re.Match[str], dict[str, str], Any], tuple[int, Any]]
ART = KINDS["artifact"]


def _kind_words(artifact_type: Any) -> str:
    return ARTIFACT_WORDS.get(str(artifact_type), str(artifact_type))


class Artifacts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self, ident: str) -> list[tuple[str, str, Handler, bool]]:
        return [
            ("GET", "/artifacts", self.list_all, False),
            ("POST", "/artifacts", self.create_standalone, False),
            ("GET", rf"/artifacts/{ident}", self.get, False),
            ("PATCH", rf"/artifacts/{ident}", self.patch, False),
            ("GET", "/artifact", self.finder("artifact"), False),
            ("GET", "/model_artifacts", self.list_models, False),
            ("POST", "/model_artifacts", self.create_model, False),
            ("GET", rf"/model_artifacts/{ident}", self.get_model, False),
            ("PATCH", rf"/model_artifacts/{ident}", self.patch_model, False),
            ("GET", "/model_artifact", self.finder("model artifact"), False),
            ("GET", rf"/model_versions/{ident}/artifacts", self.list_under("model_version"), False),
            ("POST", rf"/model_versions/{ident}/artifacts", self.upsert_under_version, False),
            ("GET", rf"/experiment_runs/{ident}/artifacts", self.list_under("experiment_run"), True),
            ("POST", rf"/experiment_runs/{ident}/artifacts", self.log_under_run, True),
            ("GET", "/experiment_runs/metric_history", self.history(all_runs=True), True),
            ("GET", rf"/experiment_runs/{ident}/metric_history", self.history(all_runs=False), True),
        ]

    # -- reading ----------------------------------------------------------------------------------------
    def _items(self, parent: int | None = None, artifact_type: str | None = None) -> list[dict[str, Any]]:
        rows = self.store.rows("artifact", parent=parent)
        return [d for d, _o in rows if artifact_type is None or d.get("artifactType") == artifact_type]

    @staticmethod
    def _type_param(query: dict[str, str]) -> str | None:
        wanted = query.get("artifactType") or None
        if wanted is not None and wanted not in ARTIFACT_TYPES:
            raise bad(f"invalid artifact type {wanted}")
        return wanted

    def list_all(self, _m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
        items = self._items(artifact_type=self._type_param(query))
        return 200, list_answer(self.store, items, query, words="artifact")

    def list_models(self, _m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
        # upstream's model-artifact list does not apply filterQuery (recorded)
        query = {k: v for k, v in query.items() if k != "filterQuery"}
        return 200, list_answer(self.store, self._items(artifact_type="model-artifact"), query, words="model artifact")

    def list_under(self, parent_kind: str) -> Handler:
        def handler(m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            parent = path_id(m["id"], KINDS[parent_kind])
            items = self._items(parent, self._type_param(query))
            return 200, list_answer(self.store, items, query, words="artifact")

        return handler

    def get(self, m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, get_or_404(self.store, "artifact", path_id(m["id"], ART))

    def get_model(self, m: re.Match[str], _query: dict[str, str], _body: Any) -> tuple[int, Any]:
        ident = path_id(m["id"], ART)
        found = get_or_404(self.store, "artifact", ident)
        if found.get("artifactType") != "model-artifact":
            raise HttpError(404, f"artifact with id {ident} is not a model artifact: not found")
        return 200, found

    def finder(self, words: str) -> Handler:
        def handler(_m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            name, external_id, parent_raw = query.get("name"), query.get("externalId"), query.get("parentResourceId")
            if not external_id and not (name and parent_raw):
                raise bad("invalid parameters call, supply either (artifactName and parentResourceId), or externalId")
            parent = path_id(parent_raw, KINDS["model_version"]) if parent_raw else None
            wanted = "model-artifact" if words == "model artifact" else None
            found = self.store.find(
                "artifact",
                name=name or None,
                external_id=external_id or None,
                parent=parent,
                where=lambda d: wanted is None or d.get("artifactType") == wanted,
            )
            if found is None:
                shown = f"name={name or ''}, parentResourceId={parent_raw or ''}, externalId={external_id or ''}"
                raise HttpError(404, f"no {words}s found for {shown}: not found")
            return 200, found

        return handler

    # -- writing ----------------------------------------------------------------------------------------
    def _create(self, parent: int, clean: dict[str, Any]) -> dict[str, Any]:
        """Upstream gives a nameless artifact a fresh UUID (``ensureArtifactName``); an empty name is stored
        as the bare owner prefix, which reads back as the version's id (or, standalone, a UUID)."""
        if clean["artifactType"] == "metric" and "value" not in clean:
            raise bad("metric value is required")
        if isinstance(clean.get("step"), int):  # stored in a 32-bit column upstream: 2**53 + 1 reads back 1
            clean["step"] = int32(clean["step"])
        clean.setdefault("name", str(uuid.uuid4()))
        if clean["name"] == "":
            clean["name"] = str(parent) if parent else str(uuid.uuid4())
        words = _kind_words(clean["artifactType"])
        try:
            check_columns(words, str(parent) if parent else GENERATED_OWNER, clean)
        except TooLong:
            # upstream inserts a standalone artifact, then prefixes its name: a name that fits alone
            # fails on the second statement, its id used up (recorded)
            if not parent and len(clean["name"]) <= COLUMN_CHARS:
                self.store.use_id("artifact")
            raise
        try:
            return self.store.create("artifact", parent, clean)
        except Conflict:
            raise conflict(_kind_words(clean["artifactType"]), clean["name"]) from None

    def create_standalone(self, _m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        return 201, self._create(0, decode_artifact(body, "Create"))

    def create_model(self, _m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        clean = decode_artifact(body, "Create", only="model-artifact")
        clean.setdefault("state", "UNKNOWN")
        return 201, self._create(0, clean)

    def patch(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        ident = path_id(m["id"], ART)
        current = get_or_404(self.store, "artifact", ident)
        wanted = body.get("artifactType") if isinstance(body, dict) else None
        if wanted != current["artifactType"]:
            shown = wanted if isinstance(wanted, str) and wanted else "unknown"
            raise bad_sentence(current["artifactType"], shown)
        clean = decode_artifact(body, "Update")
        check_columns(_kind_words(current["artifactType"]), None, clean)
        return 200, self._update(ident, current, clean)

    def _update(self, ident: int, current: dict[str, Any], clean: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if isinstance(clean.get("step"), int):
            clean["step"] = int32(clean["step"])
        try:
            return self.store.update("artifact", ident, clean, **kw)
        except Conflict:
            raise conflict(_kind_words(current["artifactType"]), current["name"]) from None

    def patch_model(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        ident = path_id(m["id"], ART)
        current = get_or_404(self.store, "artifact", ident)
        if current.get("artifactType") != "model-artifact":
            raise HttpError(404, f"artifact with id {ident} is not a model artifact: not found")
        clean = decode_artifact(body, "Update", only="model-artifact")
        clean.setdefault("state", "UNKNOWN")  # upstream's update resets a state it is not given (recorded)
        check_columns("model artifact", None, clean)
        return 200, self._update(ident, current, clean)

    def upsert_under_version(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        version = path_id(m["id"], KINDS["model_version"])
        get_or_404(self.store, "model_version", version)
        clean = decode_artifact(body, "")
        for key in ("createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "experimentId", "experimentRunId"):
            clean.pop(key, None)
        ident_raw = clean.pop("id", None)
        if ident_raw is not None:
            words = _kind_words(clean["artifactType"])
            ident = path_id(str(ident_raw), ART)
            current = self.store.get("artifact", ident)
            if current is None:
                raise bad(f"mismatched types, artifact with id {ident} is not a {words}")
            if current.get("artifactType") != clean["artifactType"]:
                raise bad(f"artifact with id {ident} is not a {words}")
            clean.pop("name", None)
            check_columns(words, None, clean)
            return 200, self._update(ident, current, clean, parent=version)
        created = self._create(version, clean)
        return (201 if clean["artifactType"] in ("model-artifact", "doc-artifact") else 200), created

    def log_under_run(self, m: re.Match[str], _query: dict[str, str], body: Any) -> tuple[int, Any]:
        run_id = path_id(m["id"], KINDS["experiment_run"])
        run = get_or_404(self.store, "experiment_run", run_id)
        clean = decode_artifact(body, "")
        for key in ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"):
            clean.pop(key, None)
        clean.update(experimentId=run["experimentId"], experimentRunId=str(run_id))
        if clean["artifactType"] != "metric":
            return 200, self._create(run_id, clean)
        clean.setdefault("name", str(uuid.uuid4()))
        existing = self.store.find("artifact", name=clean["name"], external_id=None, parent=run_id)
        if existing is not None:
            answer = self.store.update("artifact", int(existing["id"]), clean)
        else:
            answer = self._create(run_id, dict(clean))
        history = {**clean, "customProperties": {}}
        self.store.create("metric_history", run_id, history, key=f"{clean['name']}:{uuid.uuid4()}")
        marks = {
            "experiment_id": {"metadataType": "MetadataIntValue", "int_value": run["experimentId"]},
            "experiment_run_id": {"metadataType": "MetadataIntValue", "int_value": str(run_id)},
        }
        return 200, {**answer, "customProperties": {**answer.get("customProperties", {}), **marks}}

    def history(self, *, all_runs: bool) -> Handler:
        def handler(m: re.Match[str], query: dict[str, str], _body: Any) -> tuple[int, Any]:
            parent = None if all_runs else path_id(m["id"], KINDS["experiment_run"])
            items = [d for d, _o in self.store.rows("metric_history", parent=parent)]
            for item in items:
                item["artifactType"] = "metric"
            if query.get("name"):
                items = [d for d in items if d.get("name") == query["name"]]
            rest = {k: v for k, v in query.items() if k != "name"}
            return 200, list_answer(self.store, items, rest, words="artifact")

        return handler


def int32(value: int) -> int:
    """What upstream's 32-bit integer property column keeps of an int64 (two's complement wrap-around)."""
    return (value + 2**31) % 2**32 - 2**31


def bad_sentence(current: str, wanted: str) -> BadRequest:
    return BadRequest(f"cannot change artifact type from '{current}' to '{wanted}': artifact type is immutable")
