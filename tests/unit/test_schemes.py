"""A URI scheme is one row of ``schemes.py``: the code a row names exists, and no other module tests for a
scheme on its own (a scheme's literal, ``"hf://"`` or ``scheme == "s3"``, lives in the table or in the
modules its row lists as its own)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from mr_storage_initializer import schemes, tls
from mr_storage_initializer.settings import Settings, is_storage_variable
from mr_storage_initializer.transfer import fast_scheme

SRC = Path(schemes.__file__).resolve().parent
PACKAGE = "mr_storage_initializer"
# http(s) is also the scheme of the registry, proxies, endpoints and redirects: its literals are everywhere.
WEB = frozenset(schemes.HTTP.written)


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def scheme_literals(source: str) -> list[tuple[int, str]]:
    """(line, literal) of every place ``source`` names a scheme by itself: a string that starts with a
    scheme's prefix (``"hf://"``, ``f"s3://{bucket}"``), or a scheme's name compared with or passed to
    ``tunables_for`` (``scheme == "gcs"``, ``scheme in ("s3", "gs")``). Docstrings and prose are not code."""
    prefixes = tuple(p for row in schemes.ROWS if row is not schemes.HTTP for p in row.prefixes)
    names = {row.name for row in schemes.ROWS} | {w for row in schemes.ROWS for w in row.written}
    names -= WEB | {schemes.LOCAL.name}  # "file" is also a word (the Hub's tree lists type "file")
    tree = ast.parse(source)
    skipped = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith(prefixes):
                found.append((node.lineno, first.value))
            skipped.update(id(value) for value in node.values)
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
        if text.startswith(prefixes) and id(node) not in skipped:
            found.append((node.lineno, text))
        compared: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            compared = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "tunables_for":
            compared = list(node.args)
        for side in compared:
            items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            for item in items:
                if isinstance(item, ast.Constant) and item.value in names:
                    found.append((item.lineno, repr(item.value)))
    return sorted(set(found))


def _owner_modules() -> dict[str, set[str]]:
    """Literal → the modules allowed to hold it: the table, and the modules of the row it belongs to."""
    allowed: dict[str, set[str]] = {}
    for row in schemes.ROWS:
        for literal in (*row.prefixes, repr(row.name), *(repr(w) for w in row.written)):
            allowed.setdefault(literal, {f"{PACKAGE}.schemes"}).update(row.modules)
    return allowed


def test_no_module_outside_the_table_names_a_scheme() -> None:
    allowed = _owner_modules()
    strays = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path, SRC, PACKAGE)
        for line, literal in scheme_literals(path.read_text(encoding="utf-8")):
            owners = next((mods for key, mods in allowed.items() if literal == key or literal.startswith(key)), set())
            if module not in owners:
                strays.append(f"{path.relative_to(SRC.parent)}:{line}: {literal}")
    assert strays == [], "a scheme handled outside its row of schemes.py:\n" + "\n".join(strays)


def test_the_scan_finds_a_scheme_named_in_code() -> None:
    sample = (
        '"""Docstrings may say hf://org/model."""\n'
        'if uri.startswith("hf://"):\n'
        '    x = f"s3://{bucket}/{key}"\n'
        'if scheme == "gcs" or scheme in ("s3", "gs"):\n'
        '    t = settings.tunables_for("oci")\n'
        'message = f"no such thing as {uri}; use hf://ORG/MODEL"\n'
        'web = scheme == "https"\n'
    )
    assert scheme_literals(sample) == [
        (2, "hf://"),
        (3, "s3://"),
        (4, "'gcs'"),
        (4, "'gs'"),
        (4, "'s3'"),
        (5, "'oci'"),
    ]


@pytest.mark.parametrize("row", schemes.ROWS, ids=lambda row: row.name)
def test_the_code_a_row_names_exists(row: schemes.Scheme) -> None:
    for target in (row.builder, row.kserve, row.revision, row.grammar):
        if target is not None:
            assert callable(schemes.load(target)), target
    for module in row.modules:
        assert (SRC.parent / Path(*module.split("."))).with_suffix(".py").is_file(), module
    builder = schemes.load(row.builder) if row.builder is not None else None
    if builder is not None:
        assert list(inspect.signature(builder).parameters) == ["uri", "settings", "tunables", "hooks"]


@pytest.mark.parametrize("row", schemes.own_rows(), ids=lambda row: row.name)
def test_an_own_engine_row_names_its_builder_and_the_trust_its_source_takes(row: schemes.Scheme) -> None:
    assert row.builder is not None
    assert row.trust is not None and callable(getattr(tls, row.trust, None)), row.trust
    builder_module = row.builder.partition(":")[0]
    imported_from_tls: set[str] = set()
    for module in (builder_module, *row.modules):
        text = (SRC.parent / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8")
        imported_from_tls |= {
            alias.name
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.ImportFrom) and node.module == f"{PACKAGE}.tls"
            for alias in node.names
        }
    assert row.trust in imported_from_tls


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("KSERVE_OCI_INSECURE_REGISTRY", "true", True),
        ("AWS_ENDPOINT_URL", "http://minio:9000", True),
        ("HUGGING_FACE_HUB_TOKEN", "hf_x", True),
        ("models.example.com-headers", "{}", True),
        ("STORAGE_CONFIG", "{}", True),
        ("HTTPS_PROXY", "http://proxy:3128", True),
        ("MODEL_REGISTRY_TOKEN", "t", False),
        ("UNRELATED", "x", False),
    ],
)
def test_the_storage_variables_are_the_rows_variables(variable: str, value: str, read: bool) -> None:
    assert is_storage_variable(variable) is read
    assert (variable in Settings.from_env({variable: value}).storage_env) is read


def test_a_row_with_a_retry_knob_has_its_own_tunables() -> None:
    settings = Settings.from_env({"S3_MAX_ATTEMPTS": "2"})
    assert [row.name for row in schemes.ROWS if row.attempts_variable] == ["s3"]
    assert settings.tunables_for(schemes.S3.name).attempts == 2
    assert settings.tunables_for(schemes.GCS.name).attempts == settings.tunables.attempts


def test_each_uri_finds_its_row_in_kserve_storages_order() -> None:
    assert schemes.row_for("hdfs://nn/https://acct.blob.core.windows.net/c/m") is schemes.HDFS  # prefixes first
    assert schemes.row_for("https://acct.blob.core.windows.net/c/repo.git") is schemes.AZURE  # Blob before git
    assert schemes.row_for("https://github.com/org/repo.git") is schemes.GIT
    assert schemes.row_for("pvc://claim/model") is None
    assert fast_scheme("https://acct.file.core.windows.net/share/model") is None
