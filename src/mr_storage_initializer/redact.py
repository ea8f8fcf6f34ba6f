"""Keep secrets out of every log line and error message.

Three kinds of secret are removed from any text that leaves the process:
- known secret values (registry token, cloud keys from the environment), registered once at start-up;
- the userinfo and the query string of URLs (signed URLs carry their signature there);
- ``Authorization:``/``Bearer`` header values.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

MASK = "***"

# Environment variables whose values are secrets wherever they appear (KServe's and ours).
SECRET_ENV_VARS = (
    "MODEL_REGISTRY_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_CLIENT_SECRET",
    "AZ_CLIENT_SECRET",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "HF_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "GIT_PASSWORD",
)
# Keys inside STORAGE_CONFIG / STORAGE_OVERRIDE_CONFIG JSON whose values are secrets.
SECRET_CONFIG_KEYS = ("access_key_id", "secret_access_key", "session_token", "password", "token", "sas_token")

_URL_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@?#]*@)?(?P<rest>[^\s\"'<>]*)")
_AUTH_RE = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?|\bbearer\s+|\bbasic\s+)([^\s,;\"']+)"
)
_MIN_SECRET_LEN = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact_text` masks it wherever it appears."""
    if value and len(value.strip()) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value.strip())


def register_env_secrets(env: Mapping[str, str]) -> None:
    """Register the secret-bearing variables of the environment snapshot (called once at start-up)."""
    for name in SECRET_ENV_VARS:
        register_secret(env.get(name))
    for name in ("STORAGE_CONFIG", "STORAGE_OVERRIDE_CONFIG"):
        raw = env.get(name)
        if raw:
            _register_json_secrets(raw)
    for name, raw in env.items():
        if name.endswith("-headers"):  # KServe's per-host HTTP headers: every value may be a credential
            _register_json_secrets(raw, every_value=True)


def _register_json_secrets(raw: str, *, every_value: bool = False) -> None:
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and (every_value or any(k in key.lower() for k in SECRET_CONFIG_KEYS)):
                register_secret(value)


def _redact_url(match: re.Match[str]) -> str:
    rest = match.group("rest")
    # Our own URIs carry only ?namespace=, which is no secret; every other query string may be a signature.
    if "?" in rest and match.group("scheme").lower() != "model-registry://":
        path, _, _query = rest.partition("?")
        rest = f"{path}?{MASK}"
    userinfo = f"{MASK}@" if match.group("userinfo") else ""
    return f"{match.group('scheme')}{userinfo}{rest}"


def redact_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with secrets, URL userinfo and query strings, and auth header values masked."""
    with _lock:
        secrets = sorted(_secrets.union(s for s in extra_secrets if s), key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _URL_RE.sub(_redact_url, text)
    return _AUTH_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact_url(url: str) -> str:
    """A URL safe to log or store: no userinfo, no query string, no registered secret."""
    return redact_text(url)


def forget_secrets() -> None:
    """Forget every registered secret (for tests that run the CLI in-process more than once)."""
    with _lock:
        _secrets.clear()
