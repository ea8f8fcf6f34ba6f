"""Send a recorded scenario to a registry and normalise what comes back, the same way for both servers.

``scripts/record-upstream`` runs :func:`run` against the real (Go) Model Registry and writes the exchanges
to ``tests/registry/data/upstream-recording.json``; ``test_upstream_recording.py`` runs the same requests
against ``mr-registry-lite`` and compares. A request may name values taken from earlier answers of the
same server: ``{rm}`` is the ``id`` of the answer saved as ``rm`` (``"save": "rm"``), ``{token}`` the
``nextPageToken`` of the answer just before. So ids need not be equal on both servers for the requests to
mean the same thing; the answers are compared with ids as they are (lite numbers as upstream does).

What is normalised, in both recordings: the values of ``createTimeSinceEpoch`` and
``lastUpdateTimeSinceEpoch`` (``"<ms>"``), every UUID in a string (``<uuid>``), a non-empty
``nextPageToken`` (``"<token>"``) and the text of an error ``message`` longer than 300 characters is
cut there. Headers kept: ``Content-Type`` (and the deprecation headers when present).
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_KEYS = ("createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
KEPT_HEADERS = ("content-type", "deprecation", "sunset", "link")
_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in TIME_KEYS and isinstance(item, str) and item.isdigit():
                out[key] = "<ms>"
            elif key == "nextPageToken" and isinstance(item, str) and item:
                out[key] = "<token>"
            else:
                out[key] = normalise(item)
        return out
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        return UUID.sub("<uuid>", value)
    return value


def _fill(text: str, saved: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        # A value the server never gave (its create failed) stands as "0": the request then fails too.
        return quote(saved.get(match[1], "0"), safe="")

    return _REF.sub(one, text)


def _fill_body(value: Any, saved: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _REF.sub(lambda m: saved.get(m[1], "0"), value)
    if isinstance(value, dict):
        return {k: _fill_body(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_body(v, saved) for v in value]
    return value


def send(base_url: str, step: Mapping[str, Any], saved: dict[str, str]) -> dict[str, Any]:
    """One request of the scenario; returns the normalised exchange (what is recorded and compared)."""
    target = _fill(step["path"], saved)
    if step.get("query"):
        target += "?" + _fill(step["query"], saved)
    if "deep" in step:  # a JSON body nested that deep: [[[ … ]]]
        data: bytes | None = b"[" * step["deep"] + b"]" * step["deep"]
    elif "raw" in step:
        data = step["raw"].encode()
    elif "body" in step:
        data = json.dumps(_fill_body(step["body"], saved)).encode()
    else:
        data = None
    split = urlsplit(base_url)
    conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=60)
    try:
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(step["method"], target, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        got_headers = {k.lower(): v for k, v in response.getheaders() if k.lower() in KEPT_HEADERS}
        status = response.status
    finally:
        conn.close()
    text = raw.decode("utf-8", errors="replace")
    body: Any
    try:
        body = json.loads(text) if text.strip() else None
        is_json = True
    except ValueError:
        body, is_json = text, False
    if is_json and isinstance(body, dict):
        if step.get("save") and isinstance(body.get("id"), str):
            saved[step["save"]] = body["id"]
        token = body.get("nextPageToken")
        saved["token"] = token if isinstance(token, str) else ""
        message = body.get("message")
        if isinstance(message, str) and len(message) > 300:
            body = {**body, "message": message[:300]}
    return {"status": status, "headers": got_headers, "body": normalise(body) if is_json else body}


def run(base_url: str, steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    saved: dict[str, str] = {}
    exchanges = []
    for step in steps:
        request = {k: step[k] for k in ("method", "path", "query", "body", "raw", "deep", "save", "note") if k in step}
        exchanges.append({"request": request, "response": send(base_url, step, saved)})
    return exchanges
