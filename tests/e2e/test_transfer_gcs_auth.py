"""GCS credentials on the own path go through google-auth itself: a service-account file is exchanged for a
token at its ``token_uri`` (a real OAuth token endpoint on loopback here), and no credentials mean anonymous
requests, as KServe's anonymous-client fallback."""

from __future__ import annotations

import http.server
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fixtures.serving import serve
from mr_storage_initializer.transfer.gcs import GcsSource


class _TokenHandler(http.server.BaseHTTPRequestHandler):
    grants: ClassVar[list[dict[str, list[str]]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.grants.append(urllib.parse.parse_qs(body))
        answer = json.dumps({"access_token": "ya29.from-the-test", "expires_in": 3600, "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    _TokenHandler.grants = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    serve(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()


def _service_account(path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "tests",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "initializer@tests.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_service_account_file_is_exchanged_for_a_bearer_token(
    token_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account(tmp_path / "sa.json", token_endpoint)))
    source = GcsSource("gs://bucket/model", {})
    source._connect()
    assert source._headers() == {"Authorization": "Bearer ya29.from-the-test"}
    assert source._headers() == {"Authorization": "Bearer ya29.from-the-test"}  # cached while valid
    [grant] = _TokenHandler.grants
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_no_usable_credentials_means_anonymous_as_in_kserve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """google-auth's DefaultCredentialsError (here: the named file is absent) makes both engines go anonymous."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    source = GcsSource("gs://bucket/model", {})
    source._connect()
    assert source._credentials is None
    assert source._headers() == {}
