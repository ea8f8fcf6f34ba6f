"""Keep secrets out of every log line and error message, and out of every URL that leaves the process.

:func:`redact_url` is the one redaction of a URL: logs, error lines, the termination message, the
provenance and ``--resolve-only`` all show a URL through it (log lines also pass :func:`redact_text`).

What is removed from any text that leaves the process:
- known secret values (registry token, cloud keys from the environment), registered once at start-up:
  those of 8 characters or more wherever they appear; shorter ones (``AWS_SECRET_ACCESS_KEY=test``) only
  where they stand as a whole value (``NAME=value``, ``"name": "value"``, ``Bearer value``), so that
  ``latest`` or ``/models/test/`` stay readable;
- the userinfo, query string and fragment of URLs, found by a scan that needs no valid URL (a password
  with ``@``, ``#`` or ``?``; ``s3://b//k?X-Amz-Signature=…``), ``user:password@`` without a scheme, and
  signature-like query parameters (``X-Amz-Signature=``, ``sig=``, ``token=``, …) wherever they appear,
  with or without a scheme;
- ``Authorization:`` values, and ``Bearer``/``Basic`` values that look like credentials (not the English
  word in a server's "missing bearer token");
- the value of any ``NAME=value`` or ``"name": "value"`` whose name is a known secret variable or key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

from mr_storage_initializer.schemes import secret_variables

MASK = "***"

# Environment variables whose values are secrets wherever they appear: ours, and each scheme's (its row).
SECRET_ENV_VARS = ("MODEL_REGISTRY_TOKEN", *secret_variables())
# Keys inside STORAGE_CONFIG / STORAGE_OVERRIDE_CONFIG JSON whose values are secrets.
SECRET_CONFIG_KEYS = ("access_key_id", "secret_access_key", "session_token", "password", "token", "sas_token")

_URL_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s\"'<>]*)")
_PARAM_RE = re.compile(  # also percent-encoded (%3D), as an error message may print a key that held a query
    r"(?i)(?:(?<![\w-])|(?<=%3F)|(?<=%26))((?:x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)|signature"
    r"|sig|access_token|token|sas_token|password|secret|client_secret|api_key|apikey)(?:=|%3D))"
    r"((?:(?!%26)[^&\s\"'<>)])+)"
)
# ``user:password@host`` without a scheme in free text (a URI's host segment quoted in a message): the
# password runs to the last '@' before a '/', white space or quote.
_BARE_USERINFO_RE = re.compile(r"(?<![\w.~%!$&()*+,;=:@/-])[\w.~%!$&()*+,;=-]+:[^\s/\"'<>]*@(?=[\w\[])")
_QUERY_START = re.compile(r"[?#]|%3F|%23", re.IGNORECASE)
_AUTH_RE = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)([^\s,;\"']+)")
_SCHEME_WORD_RE = re.compile(r"(?i)(\b(?:bearer|basic)\s+)([^\s,;\"']+)")
_ASSIGNED_RE = re.compile(r"(?<![\w-])([\"']?)([A-Za-z_][\w.-]*)\1(\s*[:=]\s*)([\"']?)([^\s\"',;}&)]+)")
_MIN_FREE_TEXT_LEN = 8  # shorter secrets are masked only where they stand as a whole value
_SECRET_NAMES = frozenset(
    {n.lower() for n in SECRET_ENV_VARS}
    | set(SECRET_CONFIG_KEYS)
    | {"aws_secret_access_key", "aws_session_token", "aws_access_key_id", "client_secret", "password", "passwd"}
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact_text` masks it (see the module's rules on length)."""
    if value and value.strip():
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
    return _mask_url(match.group("scheme"), match.group("rest"))


def _mask_url(scheme: str, rest: str) -> str:
    """``scheme`` ("" for ``HOST[:PORT][/…]``) and the rest, with the userinfo and query string masked."""
    # userinfo ends at the last '@' before the first '/': a password may hold '@', '#' or '?'
    head = rest.split("/", 1)[0]
    userinfo = ""
    if "@" in head:
        userinfo, rest = f"{MASK}@", rest[head.rindex("@") + 1 :]
    # Our own URIs carry only ?namespace=, which is no secret; every other query string may be a signature.
    if scheme.lower() != "model-registry://" and (start := _QUERY_START.search(rest)):
        rest = f"{rest[: start.end()]}{MASK}"
    return f"{scheme}{userinfo}{rest}"


def redact_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with secrets, URL userinfo and query strings, and auth header values masked."""
    with _lock:
        secrets = _secrets.union(s.strip() for s in extra_secrets if s and s.strip())
    for secret in sorted((s for s in secrets if len(s) >= _MIN_FREE_TEXT_LEN), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_RE.sub(_redact_url, text)
    text = _BARE_USERINFO_RE.sub(f"{MASK}@", text)
    text = _PARAM_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _AUTH_RE.sub(lambda m: f"{m.group(1)}{MASK}", text)

    def scheme_word(m: re.Match[str]) -> str:
        value = m.group(2)
        credential_like = value in secrets or len(value) >= _MIN_FREE_TEXT_LEN or not value.isalpha()
        return f"{m.group(1)}{MASK}" if credential_like and value != MASK else m.group(0)

    def assigned(m: re.Match[str]) -> str:
        value = m.group(5)
        if value != MASK and (m.group(2).lower() in _SECRET_NAMES or value in secrets):
            return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}"
        return m.group(0)

    text = _SCHEME_WORD_RE.sub(scheme_word, text)
    return _ASSIGNED_RE.sub(assigned, text)


def redact_url(url: str) -> str:
    """The one redaction of a URL that leaves the process (log line, error message, termination message,
    provenance, ``--resolve-only``): userinfo (user name and password) → ``***@``, query string and
    fragment → ``?***`` (a ``model-registry://`` URI keeps its ``?namespace=``), and whatever
    :func:`redact_text` masks. A URL without a scheme (``user:pw@host:8080``, as
    ``MODEL_REGISTRY_BASE_URL`` may be given) is read as ``HOST[:PORT][/PATH]``."""
    if not _URL_RE.match(url):
        url = _mask_url("", url)
    return redact_text(url)
