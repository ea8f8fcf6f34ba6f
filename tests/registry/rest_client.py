"""A plain REST caller for the embedded registry (urllib only, so nothing hides what goes over the wire)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

API_V1 = "/api/model_registry/v1"
API_V1ALPHA3 = "/api/model_registry/v1alpha3"
API = API_V1ALPHA3


@dataclass
class Rest:
    base: str
    token: str | None = None
    context: ssl.SSLContext | None = None
    api: str = API

    @property
    def version(self) -> str:
        return self.api.rsplit("/", 1)[1]

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"{self.base}{self.api}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload)
            except ValueError:
                return exc.code, payload.decode(errors="replace")
