"""``kserve_storage``'s ``hf://`` path (``snapshot_download``) in a child process, within bounds: for files
only Xet can serve, and for ``MODEL_REGISTRY_TRANSFER=kserve``.

It runs in a child process (``python -m mr_storage_initializer.transfer.hf_kserve URI DIR``) so that it can be
stopped at once: ``snapshot_download``'s worker threads would otherwise hold the interpreter's exit (SIGTERM)
until a stalled file times out. Around it:

- ``HF_HOME`` (token, Xet cache) and ``local_dir`` (with snapshot_download's ``.cache/huggingface``) live in a
  temporary directory inside the staging directory (DEST's volume); only the model files are moved into
  place, so nothing is written to ``$HOME`` and no cache reaches the installed model. ``local_dir`` is the
  bottom of :mod:`.kserve_engine`'s jail, so a path with ``..`` segments cannot climb out of it unseen;
- the child's environment is this process's (:func:`~mr_storage_initializer.settings.child_environment`)
  with the variables below; the artifact policy checks ``HF_ENDPOINT`` before the child starts, and, in the
  child, every host its HTTP client connects to, redirects (to the CDN) included;
- the token is the one :func:`~.hf.hf_token` found, passed as ``HF_TOKEN`` (``HF_HOME`` has moved);
- the revision is the commit this run already pinned, when it did;
- progress bars are off; the child's log records (huggingface_hub's own handler removed) come back one per
  line and are logged here, so they carry our format and masking;
- each request has ``HF_HUB_ETAG_TIMEOUT``/``HF_HUB_DOWNLOAD_TIMEOUT`` = the deadline, and a child that
  writes no byte for the deadline is killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.proxy import NAMES as PROXY_NAMES
from mr_storage_initializer.redact import redact_text, redact_url
from mr_storage_initializer.transfer.hf import HfRef, hf_token, hub_endpoint, parse_hf_uri, pinned_commit

if TYPE_CHECKING:
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine

log = logging.getLogger("mr_storage_initializer.transfer")
_FAILED = "FAILED\t"
_TOKENS = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})  # the one found is passed on; HF_HOME moves
# Settings decided these (proxy variables in Go's order; Xet's concurrency, ours when the user set it): the
# child gets Settings' values, not the raw environment's.
_DECIDED = frozenset({*PROXY_NAMES, "HF_XET_NUM_CONCURRENT_RANGE_GETS"})


def _clear(dest: Path) -> None:
    for leftover in os.scandir(dest):
        if leftover.is_dir(follow_symlinks=False):
            shutil.rmtree(leftover.path)
        else:
            os.unlink(leftover.path)


def decided_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``Settings.storage_env`` that settings decided, as the child must see them."""
    return {name: value for name, value in env.items() if name in _DECIDED}


def engine(settings: Settings) -> Engine:
    """kserve_storage for ``hf://`` (the scheme row's ``kserve`` engine)."""
    return HfKServeEngine(settings.storage_env, settings.timeout)


class HfKServeEngine:
    """kserve_storage's ``hf://`` download in a child process, within the deadline, into staging (see the
    module's docstring)."""

    name = "kserve"

    def __init__(self, env: Mapping[str, str], deadline: float) -> None:
        self.env = env  # Settings.storage_env
        self.deadline = deadline
        self.revision: str | None = None

    def download(self, uri: str, dest: Path) -> str:
        from mr_storage_initializer.settings import child_environment
        from mr_storage_initializer.transfer.kserve_engine import _check_jail, _make_jail

        ref = parse_hf_uri(uri)
        endpoint = hub_endpoint(self.env)  # refused here (exit 3) when the artifact policy blocks its host
        commit = pinned_commit(endpoint, ref)  # the commit the fingerprint was made with
        if commit is not None:
            ref = HfRef(ref.repo_id, commit)
        if ref.pinned:
            self.revision = ref.revision
        uri = f"hf://{ref.repo_id}" + (f":{ref.revision}" if ref.revision != "main" else "")
        token = hf_token(self.env)
        _clear(dest)  # what an interrupted own-engine run kept to resume: not for us
        work = Path(tempfile.mkdtemp(prefix=".mr-hf-kserve-", dir=dest))  # on DEST's volume, removed below
        try:
            local = work / "model"
            local.mkdir()
            inner = _make_jail(local)  # as KServeEngine: a path with '..' segments stays inside work
            home = work / "home"
            changes = {
                "HF_HOME": str(home),
                "HF_HUB_CACHE": str(home / "hub"),
                "HF_XET_CACHE": str(home / "xet"),
                "HF_TOKEN_PATH": str(home / "token"),
                "HF_ENDPOINT": endpoint,
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_UPDATE_CHECK": "1",
                "HF_HUB_ETAG_TIMEOUT": str(max(1, int(self.deadline))),
                "HF_HUB_DOWNLOAD_TIMEOUT": str(max(1, int(self.deadline))),
                "TMPDIR": str(work),
            }
            if token:
                changes["HF_TOKEN"] = token
            changes.update(decided_environment(self.env))
            self._run(uri, inner, work, child_environment(changes, _TOKENS | _DECIDED))
            _check_jail(local, uri)
            for entry in inner.iterdir():
                if entry.name == ".cache":  # snapshot_download's local-dir metadata stays in work
                    continue
                os.replace(entry, dest / entry.name)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.name

    def _run(self, uri: str, local: Path, work: Path, env: Mapping[str, str]) -> None:
        args = [sys.executable, "-m", "mr_storage_initializer.transfer.hf_kserve", uri, str(local)]
        proc = subprocess.Popen(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        failure: list[tuple[int, str]] = []
        assert proc.stderr is not None
        reader = threading.Thread(target=_relay, args=(proc.stderr, failure), name="kserve-hf-log", daemon=True)
        reader.start()
        try:
            seen, since = -1, time.monotonic()
            while True:
                try:
                    proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    pass
                size = _bytes_below(work)
                if size != seen:
                    seen, since = size, time.monotonic()
                elif time.monotonic() - since > self.deadline:
                    raise StorageError(
                        f"downloading {redact_url(uri)} with kserve_storage made no progress for "
                        f"{self.deadline:g}s; is the Hub reachable?"
                    )
        finally:
            if proc.poll() is None:  # a signal, or no progress: stop it now
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        if failure:
            code, text = failure[0]
            if code:
                raise OSError(code, text)  # a destination errno (ENOSPC, EROFS, …): exit 6 upstream
            raise StorageError(f"downloading {redact_url(uri)} with kserve_storage failed: {redact_text(text)}")
        if proc.returncode != 0:
            raise StorageError(f"downloading {redact_url(uri)} with kserve_storage failed (exit {proc.returncode})")


def _relay(stream: IO[str], failure: list[tuple[int, str]]) -> None:
    """The child's log lines (``LEVEL<TAB>logger<TAB>message``) re-logged here; its final failure kept."""
    for raw in stream:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith(_FAILED):
            code, _, text = line[len(_FAILED) :].partition("\t")
            failure.append((int(code) if code.isdigit() else 0, text))
            continue
        level, _, rest = line.partition("\t")
        name, _, message = rest.partition("\t")
        if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") and name:
            logging.getLogger(name).log(logging.getLevelName(level), "%s", message)
        else:
            log.warning("%s", line, extra={"step": "kserve"})


def _bytes_below(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text += " " + self.formatException(record.exc_info)
        return f"{record.levelname}\t{record.name}\t{' '.join(text.split())}"


def _guard(request: Any) -> None:
    """The artifact policy on every request of the child's HTTP client: the Hub's host and each redirect's."""
    from mr_storage_initializer.policy import check_redirect

    check_redirect(str(request.url))


def _child(argv: Sequence[str]) -> int:
    """In the child: ``Storage.download(URI, out_dir=DIR)``, logs one record per line on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    import huggingface_hub  # its import installs a stderr handler: removed below
    from kserve_storage import Storage

    from mr_storage_initializer.errors import destination_errno
    from mr_storage_initializer.logs import adopt_library_loggers

    adopt_library_loggers()
    library = logging.getLogger("huggingface_hub")
    library.handlers.clear()
    library.propagate = True
    library.setLevel(logging.WARNING)
    for chatty in ("httpx2", "httpx", "httpcore", "filelock", "urllib3"):  # one INFO line per request otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    huggingface_hub.get_session().event_hooks["request"].append(_guard)  # the one client the library shares
    try:
        Storage.download(argv[0], out_dir=argv[1])
    except BaseException as exc:
        text = " ".join(str(exc).split())[:400] or type(exc).__name__
        print(f"{_FAILED}{destination_errno(exc) or 0}\t{text}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
