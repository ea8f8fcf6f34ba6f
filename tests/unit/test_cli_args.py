"""The command line KServe runs (``SRC DEST …``, no options) is read without argparse, to the same meaning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mr_storage_initializer import cli


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["model-registry://iris/v1", "/mnt/models"],
        ["model-registry://iris/v1"],
        ["model-registry://a/v1", "/mnt/a", "s3://b/c", "/mnt/b"],
        ["", "dest with spaces"],
        ["model-registry://iris/v1", "/mnt/models", "--resolve-only"],
        ["--log-format", "json", "model-registry://iris/v1", "/mnt/models"],
        ["model-registry://iris/v1", "--deb", "/mnt/models"],
    ],
)
def test_the_options_read_are_what_argparse_reads(argv: list[str]) -> None:
    parsed = cli._parser().parse_intermixed_args(argv)
    assert cli.parse_args(argv) == cli.Options(parsed.uris, parsed.resolve_only, parsed.log_format, parsed.debug)


def test_a_command_line_without_options_imports_no_argparse() -> None:
    probe = (
        "import sys\n"
        "from mr_storage_initializer import cli\n"
        "options = cli.parse_args(['model-registry://iris/v1', '/mnt/models'])\n"
        "print(options.uris, 'argparse' in sys.modules, 'mr_storage_initializer.cli_help' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split("]", 1)[1].split() == ["False", "False"], out.stdout + out.stderr


def test_an_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(cli.UsageError, match="unrecognized arguments: --nope"):
        cli.parse_args(["model-registry://iris/v1", "/mnt/models", "--nope"])
