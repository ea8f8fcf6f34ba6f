"""Helpers for end-to-end tests: run the CLI as KServe would, register models with the official client."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fixtures.metadata import METADATA_OFF

# Variables of the developer's environment that would change what the CLI does.
_SCRUB_PREFIXES = ("MODEL_REGISTRY_", "AWS_", "S3_", "AZURE_", "AZ_", "GOOGLE_", "HF_", "STORAGE_")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env.update(METADATA_OFF)  # no cloud metadata lookups (fixtures/metadata.py); a test may override
    env["MODEL_REGISTRY_TIMEOUT"] = "10"
    env["MODEL_REGISTRY_PROBE_TIMEOUT"] = "2"
    env.update(extra or {})
    return env


def run_cli(*args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run ``python -m mr_storage_initializer ARGS`` in a subprocess, as the init container would."""
    return _python(["-m", "mr_storage_initializer", *map(str, args)], env, timeout)


def run_python(code: str, *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliResult:
    """``python -c CODE ARGS`` in a subprocess with the CLI's environment (a probe around ``cli.main``)."""
    return _python(["-c", code, *map(str, args)], env, timeout)


KILL_AT = Path(__file__).with_name("kill_at.py")


def run_cli_killed(
    kill: Sequence[str], *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """:func:`run_cli` through ``tests/kill_at.py``: the run kills itself where ``kill`` (its options) says."""
    return _python([str(KILL_AT), *kill, "--", *map(str, args)], env, timeout)


def _python(args: list[str], env: Mapping[str, str] | None, timeout: float) -> CliResult:
    proc = subprocess.run(
        [sys.executable, *args], env=cli_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


_FETCH = """
import sys
from pathlib import Path
from mr_storage_initializer import logs, values
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.errors import InitializerError
from mr_storage_initializer.transfer import download
logs.configure("text")
try:
    settings = values.replace(Settings.from_env(), transfer=sys.argv[3])
    result = download(sys.argv[1], Path(sys.argv[2]), settings)
except InitializerError as exc:
    print(exc.message, file=sys.stderr)
    sys.exit(exc.exit_code)
print(result.engine)
"""


def fetch(uri: str, dest: Path, engine: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Only the transfer step (no registry): ``uri`` into the existing directory ``dest`` with ``engine``."""
    dest.mkdir(parents=True, exist_ok=True)
    return _python(["-c", _FETCH, uri, str(dest), engine], env, timeout)


class _SharedDefaultContexts:
    """``ssl`` as the official client's REST layer sees it: it builds a new default context for every API
    call (``register_model`` makes six), each loading the system CA store, ~35 ms: most of a registration.
    A context without a custom CA is built once here and shared; the tests' clients speak plain HTTP
    (their context is never used) or pass ``custom_ca`` (a context of its own, built as before)."""

    def __init__(self) -> None:
        self._default: ssl.SSLContext | None = None

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        if args or any(value is not None for value in kwargs.values()):
            return ssl.create_default_context(*args, **kwargs)
        if self._default is None:
            self._default = ssl.create_default_context()
        return self._default

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)


def client_for(registry_url: str, **kwargs: Any) -> Any:
    """The official ``model-registry`` client for a registry at ``http(s)://HOST:PORT``."""
    import mr_openapi.rest  # type: ignore[import-untyped]
    from model_registry import ModelRegistry

    if not isinstance(mr_openapi.rest.ssl, _SharedDefaultContexts):
        mr_openapi.rest.ssl = _SharedDefaultContexts()

    scheme_host, _, port = registry_url.rpartition(":")
    return ModelRegistry(scheme_host, int(port), author="tests", is_secure=registry_url.startswith("https"), **kwargs)


def register(registry_url: str, name: str, uri: str, version: str = "v1", **kwargs: Any) -> Any:
    """Register ``name``/``version`` with a model artifact at ``uri``, as a user would."""
    client = client_for(registry_url)
    return client.register_model(
        name,
        uri,
        model_format_name=kwargs.pop("model_format_name", "sklearn"),
        model_format_version=kwargs.pop("model_format_version", "1"),
        version=version,
        **kwargs,
    )


def ranges_written(dest: Path, rel: str | None = None, *, enough: int = 1, timeout: float = 60) -> list[Any]:
    """The ranges a running install into ``dest`` has written of ``rel`` (default: its first file), as its
    resume ledger says, once there are ``enough`` of them or ``timeout`` has passed (polled)."""
    from mr_storage_initializer.transfer.resume import STATE, load

    deadline = time.monotonic() + timeout
    while True:
        ledgers = list(dest.glob(f".mr-staging-resume-*/{STATE}"))
        files = load(ledgers[0]).get("files", {}) if ledgers else {}
        entry = files.get(rel) if rel is not None else next(iter(files.values()), None)
        done: list[Any] = entry["done"] if entry else []
        if len(done) >= enough or time.monotonic() >= deadline:
            return done
        time.sleep(0.02)  # polling what the run writes, with a deadline


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (provenance excluded) with its content."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".model-registry.json"
    }


T = TypeVar("T")


@contextlib.contextmanager
def retries_without_waiting(attempts: int | None = None) -> Iterator[None]:
    """In this process, ``retry.call`` keeps its tries but waits no backoff between them (a server's
    Retry-After is still waited for); with ``attempts``, it makes at most that many tries. Every caller
    looks ``retry.call`` up on the module at each call, so replacing it there reaches them all."""
    from mr_storage_initializer import retry

    real = retry.call

    def call(fn: Callable[[], T], *, deadline: float, max_attempts: int | None = 8, **_: float) -> T:
        tries = attempts if attempts is not None else max_attempts
        return real(fn, deadline=deadline, max_attempts=tries, wait_initial=0.0, wait_max=0.0)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(retry, "call", call)
        yield
