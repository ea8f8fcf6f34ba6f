"""Logging: one line per step, as text or JSON, with every secret redacted on the way out.

The redaction filter sits on the handler, so it also covers records from libraries that propagate to the
root logger (``kserve_storage``'s ``storage.initializer``, botocore, urllib3).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from mr_storage_initializer.redact import redact_text

# Attributes every LogRecord has; anything else came in through ``extra=`` and is a structured field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Rewrite the record's message (and structured fields) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact_text(record.getMessage())
        record.msg, record.args = message, None
        for key, value in _fields(record).items():
            if isinstance(value, str):
                setattr(record, key, redact_text(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class LibraryErrorsAreWarnings(logging.Filter):
    """A library's ERROR record (``kserve_storage`` logs one before it raises, ``oras``, the cloud SDKs) is
    shown as a WARNING: the one ERROR line of a failure is the initializer's own, which says what failed,
    where, and what to try."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and not record.name.startswith("mr_storage_initializer"):
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


class TextFormatter(logging.Formatter):
    """``2026-11-24T10:00:00.123Z INFO step: message key=value …``"""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        fields = _fields(record)
        step = fields.pop("step", None)
        head = f"{stamp} {record.levelname:<5} {step + ': ' if step else ''}{record.getMessage()}"
        if record.name and not record.name.startswith("mr_storage_initializer") and not step:
            head = f"{stamp} {record.levelname:<5} [{record.name}] {record.getMessage()}"
        extras = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        line = f"{head} {extras}" if extras else head
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, step, message, and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(_fields(record))
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def configure(log_format: str = "text", *, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route every log record through one redacting handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(LibraryErrorsAreWarnings())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that are chatty at INFO: keep their warnings only.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "azure", "google", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    adopt_library_loggers()


def adopt_library_loggers() -> None:
    """Make ``kserve_storage``'s loggers (configured with their own handlers) propagate to ours instead."""
    for name in ("storage", "storage.initializer", "storage.trace", "storage.initializer.trace"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
