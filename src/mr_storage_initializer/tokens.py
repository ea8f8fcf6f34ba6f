"""The registry's bearer token: from ``MODEL_REGISTRY_TOKEN`` or the first token line of the file
``MODEL_REGISTRY_TOKEN_PATH`` names, registered as a secret at once, and refused (exit 4, naming the
variable, never the value) when it cannot be sent in an HTTP header."""

from __future__ import annotations

from pathlib import Path

from mr_storage_initializer.errors import RegistryAuthError
from mr_storage_initializer.redact import register_secret


def read_token_file(path: Path) -> str:
    """The token in ``path``: its first line that is neither empty nor a ``#`` comment, stripped."""
    where = f"the registry token file {path} (MODEL_REGISTRY_TOKEN_PATH)"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryAuthError(f"cannot read {where}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryAuthError(f"{where} is not UTF-8 text; write the token as plain text") from None
    lines = (line.strip() for line in text.splitlines())
    token = next((line for line in lines if line and not line.startswith("#")), "")
    if not token:
        raise RegistryAuthError(f"{where} is empty (or holds only # comments)")
    return header_token(token, where)


def header_token(token: str, where: str) -> str:
    """``token`` if it can go into an ``Authorization`` header; else a sentence naming ``where``, never the value."""
    register_secret(token)
    if any(ord(c) > 0xFF or (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in token):
        raise RegistryAuthError(
            f"{where} holds a token that cannot be sent in an HTTP header "
            "(a line break, a control character or a character outside Latin-1); check its content"
        )
    return token
