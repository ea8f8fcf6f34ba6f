"""What the CLI tells a newcomer: --help lists every variable settings reads, the exit codes and the docs;
the registry address is logged as a default when nothing named one; mr-registry-lite --version works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mr_storage_initializer
from mr_storage_initializer import cli_help, errors
from mr_storage_initializer.resolve import registry_label
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.uri import ModelRef

SRC = Path(mr_storage_initializer.__file__).parent


def _help() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "mr_storage_initializer", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_lists_every_model_registry_variable_the_package_reads() -> None:
    read = set()
    for module in SRC.rglob("*.py"):
        read |= set(re.findall(r"\bMODEL_REGISTRY_[A-Z0-9_]*[A-Z0-9]\b", module.read_text()))
    text = _help()
    missing = sorted(name for name in read if not re.search(rf"^\s+{name}\s", text, re.MULTILINE))
    assert not missing, f"--help does not list {missing}"


def test_help_lists_the_kserve_variables_settings_reads() -> None:
    text = _help()
    for name in ("ALLOWED_ARTIFACT_URI_PREFIXES", "STORAGE_CONFIG", "STORAGE_ALLOW_PATTERNS", "AWS_*", "HF_TOKEN"):
        assert name in cli_help.names(), name
        assert name in text


def test_help_gives_every_exit_code_and_the_docs() -> None:
    text = _help()
    exit_codes = text.split("exit codes:", 1)[1]
    for code, meaning in errors.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", exit_codes, re.MULTILINE), code
    assert "docs/get-started.md" in text or "get-started.md" in text


def test_every_error_class_exits_with_a_documented_code() -> None:
    documented = {code for code, _ in errors.EXIT_CODES}
    classes = [errors.InitializerError]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        assert cls.exit_code in documented, cls


def test_registry_address_is_labelled_as_the_default_when_nothing_names_one() -> None:
    defaulted = Settings.from_env({})
    assert registry_label(ModelRef("iris", "v1"), defaulted) == (
        "http://localhost:8080 (the default: MODEL_REGISTRY_BASE_URL is not set)"
    )
    named = Settings.from_env({"MODEL_REGISTRY_BASE_URL": "localhost:8080"})
    assert registry_label(ModelRef("iris", "v1"), named) == "http://localhost:8080"
    assert registry_label(ModelRef("iris", "v1", host="mr:9000"), defaulted) == "http://mr:9000"


def test_registry_lite_reports_its_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "model_registry_lite", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"mr-registry-lite \S+ \(Model Registry REST API v1, v1alpha3\)\n", proc.stdout)
