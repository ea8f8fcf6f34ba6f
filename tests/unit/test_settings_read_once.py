"""Settings are read in one place: only settings.py reads the environment, and it checks every value at start."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.options import Limits, Tunables
from mr_storage_initializer.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src"
# The one reader, and the one writer: install.scratch_tmpdir SETS TMPDIR (and restores the previous value)
# so that kserve_storage's temporary files land inside DEST; it reads nothing else. The kserve engine sets
# one download's storage variables around Storage.download and restores them.
ALLOWED = {
    "mr_storage_initializer/settings.py": "the one reader",
    "mr_storage_initializer/install.py": "sets TMPDIR for kserve_storage and restores it",
    "mr_storage_initializer/transfer/kserve_engine.py": (
        "kserve_storage reads credentials from os.environ: around Storage.download the storage variables are "
        "set to the download's (settings.storage_env with a storageKey / ?endpoint= plan) and restored"
    ),
}


def _environment_reads(path: Path) -> list[int]:
    """Lines that touch ``os.environ`` / ``os.getenv`` / ``os.environb`` (or import them by name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = ("environ", "environb", "getenv", "getenvb")
    lines = []
    for node in ast.walk(tree):
        attribute = isinstance(node, ast.Attribute) and node.attr in names
        imported = isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in names for a in node.names)
        if attribute or imported:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for path in sorted((SRC / "mr_storage_initializer").rglob("*.py")):  # model_registry_lite is another program
        rel = path.relative_to(SRC).as_posix()
        if rel in ALLOWED:
            continue
        offenders += [f"{rel}:{line}" for line in _environment_reads(path)]
    assert offenders == [], "read the value from Settings instead: " + ", ".join(offenders)


def test_the_scan_finds_a_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom os import getenv\nx = os.environ.get('A')\ny = getenv('B')\n")
    assert _environment_reads(sample) == [2, 3]


def test_transfer_archive_and_storage_values_come_from_one_read() -> None:
    env = {
        "MODEL_REGISTRY_TIMEOUT": "12",
        "MODEL_REGISTRY_TRANSFER_CONCURRENCY": "3",
        "S3_MAX_ATTEMPTS": "2",
        "STORAGE_ALLOW_PATTERNS": "*.bin",
        "MODEL_REGISTRY_ARCHIVE_MAX_RATIO": "50.5",
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "models.example.com-headers": '{"X-Key": "v"}',
        "UNRELATED": "x",
    }
    settings = Settings.from_env(env)
    assert settings.tunables == Tunables(concurrency=3, deadline=12.0, ramp=False)  # a number set: no ramp
    assert settings.tunables_for("s3") == Tunables(concurrency=3, attempts=2, deadline=12.0, ramp=False)
    assert settings.tunables_for("http").attempts == 5
    assert settings.patterns.allow == ("*.bin",)
    assert settings.limits == Limits(max_ratio=50.5)
    assert dict(settings.storage_env) == {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "S3_MAX_ATTEMPTS": "2",
        "STORAGE_ALLOW_PATTERNS": "*.bin",
        "models.example.com-headers": '{"X-Key": "v"}',
    }
    with pytest.raises(TypeError):
        settings.storage_env["AWS_ENDPOINT_URL"] = "elsewhere"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_REGISTRY_PROGRESS_INTERVAL", "0.1"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_RATIO", "lots"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_RATIO", "nan"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_BYTES", "1e3"),
        ("MODEL_REGISTRY_ARCHIVE_MAX_MEMBERS", "0"),
        ("S3_READ_TIMEOUT", "-5"),
        ("STORAGE_OVERRIDE_CONFIG", "[1, 2]"),
        ("host-headers", '"just a string"'),
    ],
)
def test_every_bad_value_is_a_usage_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(UsageError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.message
