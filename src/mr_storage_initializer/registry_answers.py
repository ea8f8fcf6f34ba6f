"""What the Model Registry's answer to a GET means: a JSON object, "none" (404), or the error it is.

Strict on purpose: a 404 must carry the registry's error body before it may mean "no such model", a
redirect is never followed (a token must not travel to another host), anything that is not a JSON object
is a bad answer (exit 4). Statuses ``retry.transient_status`` names are worth another try.
"""

from __future__ import annotations

from typing import Any

from mr_storage_initializer import json_body, retry
from mr_storage_initializer.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryResponseError,
    RegistryUnreachableError,
)
from mr_storage_initializer.redact import redact_text, redact_url

Json = dict[str, Any]
NOT_SERVED = frozenset({404, 405, 410, 501})  # answers to a list call that mean "this API is not here"


def interpret(url: str, status: int, body: bytes, *, missing_ok: bool, sent_token: bool = True) -> Json | None:
    """What the registry's answer to ``url`` means: its JSON object, ``None`` for a 404 when ``missing_ok``,
    a :class:`retry.TransientError` for the statuses worth another try, else the error it is."""
    where = redact_url(url)
    _check_retry_proxy_and_auth(where, status, body, sent_token=sent_token)
    if status == 404 and missing_ok:
        _check_error_body(where, body)
        return None
    if status != 200:
        raise _unexpected_status(where, status, body)
    return _json_object(where, body)


def _check_retry_proxy_and_auth(where: str, status: int, body: bytes, *, sent_token: bool) -> None:
    """Raise for a status worth another try, a proxy that wants credentials, and missing, rejected or denied
    credentials."""
    if retry.transient_status(status):
        final = RegistryError(f"the model registry answered HTTP {status} for {where}: {_error_message(body)}")
        raise retry.TransientError(f"the model registry answered HTTP {status} for {where}", final)
    if status == 407:
        raise RegistryUnreachableError(
            f"the proxy for {where} requires credentials (HTTP 407): put them in HTTP_PROXY / HTTPS_PROXY "
            "(http://user:password@proxy:port), or list the registry's host in NO_PROXY"
        )
    if status == 401 and not sent_token:
        raise RegistryAuthError(
            f"the model registry requires credentials (HTTP 401) for {where}: {_error_message(body)}; "
            "none were sent: set MODEL_REGISTRY_TOKEN or MODEL_REGISTRY_TOKEN_PATH"
        )
    if status in (401, 403):
        what = "rejected the credentials" if status == 401 else "denied access"
        raise RegistryAuthError(
            f"the model registry {what} (HTTP {status}) for {where}: {_error_message(body)}; "
            "check MODEL_REGISTRY_TOKEN or MODEL_REGISTRY_TOKEN_PATH and the account's permissions"
        )


def _check_error_body(where: str, body: bytes) -> None:
    """A 404 means "no such model" only when it carries the Model Registry's error body."""
    if not _is_error_body(body):
        raise RegistryResponseError(
            f"{where} answered HTTP 404 without the Model Registry's error body; "
            "is MODEL_REGISTRY_BASE_URL (or the host in the URI) a Model Registry?"
        )


def _unexpected_status(where: str, status: int, body: bytes) -> RegistryResponseError:
    """The error for a status other than 200 that no earlier check took: a redirect (never followed) or other."""
    if 300 <= status < 400:
        return RegistryResponseError(
            f"the model registry redirected {where} (HTTP {status}); redirects are not followed, "
            "point MODEL_REGISTRY_BASE_URL / MODEL_REGISTRY_SCHEME at the final address"
        )
    return RegistryResponseError(f"the model registry answered HTTP {status} for {where}: {_error_message(body)}")


def _json_object(where: str, body: bytes) -> Json:
    """The body of a 200 answer, which must be a JSON object."""
    try:
        data = json_body.loads(body)
    except json_body.TooDeep:
        raise RegistryResponseError(
            f"the model registry answered {where} with JSON nested too deep to decode (about 1,000 levels "
            "or more; a Model Registry's answers nest a few levels)"
        ) from None
    except ValueError:
        raise RegistryResponseError(
            f"the model registry answered {where} with something that is not JSON "
            f"(is MODEL_REGISTRY_BASE_URL a Model Registry?): {_snippet(body)}"
        ) from None
    if not isinstance(data, dict):
        raise RegistryResponseError(f"the model registry answered {where} with JSON that is not an object")
    return data


def _error_message(body: bytes) -> str:
    try:
        data = json_body.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return redact_text(data["message"][:300])
    return _snippet(body)


def _is_error_body(body: bytes) -> bool:
    try:
        data = json_body.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("message"), str)


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
    return redact_text(text) if text else "(empty body)"
