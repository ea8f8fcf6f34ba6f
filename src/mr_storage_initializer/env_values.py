"""The value parsers of the settings: one reading and one message style for every variable's value.

Each parser takes the environment snapshot and a variable's name, returns the default when the variable is
unset or blank, and raises a :class:`UsageError` (exit 2) worded ``NAME='value' must be …`` otherwise, so
every bad value reads the same way. Only :mod:`.settings` and :mod:`.options` parse the environment, and they
do it with these; the sources reading KServe's storage variables per download use them too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from mr_storage_initializer.errors import UsageError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


def invalid(name: str, raw: str, expected: str) -> UsageError:
    """The one wording of a bad value: what the variable holds and what it must be."""
    return UsageError(f"{name}={raw!r} must be {expected}")


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The value without surrounding blanks; ``default`` when unset or blank."""
    return env.get(name, "").strip() or default


def path(env: Mapping[str, str], name: str) -> Path | None:
    """A file or directory name; None when unset or blank."""
    raw = text(env, name)
    return Path(raw) if raw else None


def flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean: 1/true/yes/on or 0/false/no/off (any case); false when unset."""
    value = env.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise invalid(name, value, "true or false")


def choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    """One of ``allowed`` (read in lower case); ``default`` when unset."""
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise invalid(name, value, "one of " + ", ".join(allowed))
    return value


def whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(name, raw, f"a whole number from {low} to {high}")
    return int(raw)


def number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A (decimal) number from ``low`` to ``high``."""
    return _decimal(env, name, default, lambda value: low <= value <= high, f"a number from {low:g} to {high:g}")


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A duration in seconds, more than 0 and at most a day."""
    return _decimal(
        env, name, default, lambda value: 0 < value <= 86_400, "a number of seconds, more than 0 and at most 86400"
    )


def _decimal(env: Mapping[str, str], name: str, default: float, fits: Callable[[float], bool], expected: str) -> float:
    """A decimal number that ``fits`` (``expected`` says what it must be); one that is not a number is NaN, which
    fits no range."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not fits(value):
        raise invalid(name, raw, expected)
    return value


def size(env: Mapping[str, str], name: str, default: int) -> int:
    """A size in bytes from 64KiB to 4GiB, with an optional unit (K, M, G; KiB, MB… all binary)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw)
    value = int(match.group(1)) * _UNITS[(match.group(2) or "")[:1].lower()] if match else 0
    if not (64 << 10) <= value <= (4 << 30):
        raise invalid(name, raw, "a size from 64KiB to 4GiB, such as 32MiB")
    return value


def patterns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """KServe's reading of a pattern list: a JSON list (or one JSON value), else comma-separated; blanks
    dropped."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    items = value if isinstance(value, list) else [value]
    return tuple(str(p).strip() for p in items if str(p).strip())


def words(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


def json_object(env: Mapping[str, str], name: str, expected: str) -> dict[str, object] | None:
    """A JSON object (None when unset or blank); ``expected`` says what it must be when it is not one."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UsageError(f"{name} must be {expected}")  # the value may hold credentials: not shown
    return value


def pem_blocks(env: Mapping[str, str], name: str) -> tuple[bytes, ...]:
    """The PEM blocks of ``name``: given inline (a ClusterStorageContainer has no volumes of its own) or as
    comma-separated files, each holding one or more blocks."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    expected = "PEM text or comma-separated files holding PEM blocks"
    sources = [(raw.encode(), "the value")] if "-----BEGIN" in raw else []
    for path in () if sources else words(env, name):
        try:
            sources.append((Path(path).read_bytes(), repr(path)))
        except OSError:
            raise invalid(name, raw, f"{expected}: {path!r} is not a readable file") from None
    blocks: list[bytes] = []
    for data, where in sources:
        found = [m.group(0) + b"\n" for m in _PEM.finditer(data)]
        if not found:
            shown = raw if "-----BEGIN" not in raw else "PEM text"
            raise invalid(name, shown, f"{expected}: {where} holds no PEM block")
        blocks.extend(found)
    return tuple(blocks)


def document(env: Mapping[str, str], name: str) -> str | None:
    """A JSON document given inline or as a file name; None when unset."""
    raw = env.get(name, "").strip()
    if not raw or raw.startswith("{"):
        return raw or None
    try:
        return Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise invalid(name, raw, f"JSON or a file holding it: {raw!r} is not a readable file") from None


def is_one_of(env: Mapping[str, str], name: str, words: tuple[str, ...], *, strip: bool = True) -> bool:
    """Whether the value (any case; without surrounding blanks unless ``strip`` is false) is one of ``words``:
    how KServe and botocore read their own switches, where anything else is the other state, never an
    error. A variable both they and this program read is read their way, so both agree."""
    value = env.get(name, "")
    return (value.strip() if strip else value).lower() in words
