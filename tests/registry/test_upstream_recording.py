"""Lite answers the recorded conformance scenario as the real server did (issue #25).

``data/upstream-recording.json`` holds the real Model Registry server's answers (built from upstream source,
on PostgreSQL 18; the commit is in the file) to every request of ``scripts/record_upstream_scenario.py``,
written by ``scripts/record-upstream``. This test sends the same requests, in order, to a fresh lite
and compares status, ``Content-Type`` and body (normalised alike: :mod:`upstream_replay`). Every exchange
must match, except those listed in :data:`upstream_differences.DIFFERENCES`, each with its reason; a
listed exchange that has come to match fails too, so the list stays true. No Go, no PostgreSQL here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import upstream_replay
from upstream_differences import DIFFERENCES

RECORDING = Path(__file__).parent / "data" / "upstream-recording.json"


def _signature(request: dict[str, Any]) -> str:
    query = request.get("query")
    return f"{request['method']} {request['path']}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDING.read_text(encoding="utf-8"))
    return data


def test_the_recording_says_where_it_came_from(recording: dict[str, Any]) -> None:
    origin = recording["recorded_from"]
    assert len(origin["commit"]) == 40 and origin["database"].startswith("PostgreSQL 18")
    assert len(recording["exchanges"]) > 300


def test_listed_differences_name_recorded_exchanges(recording: dict[str, Any]) -> None:
    exchanges = recording["exchanges"]
    for index, (signature, reason) in DIFFERENCES.items():
        assert _signature(exchanges[index]["request"]) == signature, index
        assert reason.strip(), index


def test_lite_answers_the_recorded_scenario_as_upstream(registry: Any, recording: dict[str, Any]) -> None:
    exchanges = recording["exchanges"]
    replayed = upstream_replay.run(registry.url, [e["request"] for e in exchanges])
    differing: dict[int, str] = {}
    for index, (want, got) in enumerate(zip(exchanges, replayed, strict=True)):
        if want["response"] != got["response"]:
            differing[index] = (
                f"#{index} {_signature(want['request'])}\n  upstream: {json.dumps(want['response'])[:600]}\n"
                f"  lite:     {json.dumps(got['response'])[:600]}"
            )
    unlisted = [text for index, text in differing.items() if index not in DIFFERENCES]
    now_matching = sorted(set(DIFFERENCES) - set(differing))
    assert not unlisted, f"{len(unlisted)} exchanges differ from upstream:\n" + "\n".join(unlisted)
    assert not now_matching, f"listed as differing but now matching upstream (drop them from the list): {now_matching}"
