"""The console script leaves with ``os._exit``: its exit code and everything it wrote must still arrive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "mr-storage-initializer"


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    termination = tmp_path / "termination-log"
    env = {"PATH": "/usr/bin:/bin", "MODEL_REGISTRY_TERMINATION_LOG": str(termination)}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_console_script_exit_code_and_streams_survive_the_fast_exit(tmp_path: Path) -> None:
    version = run("--version", tmp_path=tmp_path)
    assert version.returncode == 0
    assert version.stdout.startswith("mr-storage-initializer ")

    bad = run("model-registry://", str(tmp_path / "dest"), tmp_path=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].split("ERROR", 1)[1].strip()  # the one error line, flushed
    assert (tmp_path / "termination-log").read_text().strip()  # written before the exit


def test_console_script_keeps_the_garbage_collector_on_with_a_tenfold_first_threshold() -> None:
    probe = (
        "import gc\n"
        "default = gc.get_threshold()\n"
        "from mr_storage_initializer import cli, console\n"
        "cli.main = lambda: print(gc.isenabled(), default, gc.get_threshold()) or 0\n"
        "console.entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "True (700, 10, 10) (7000, 10, 10)"


def test_the_console_module_imports_nothing_of_the_package_before_the_threshold_is_raised() -> None:
    probe = "import sys, mr_storage_initializer.console\nprint(sorted(m for m in sys.modules if 'initializer' in m))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "['mr_storage_initializer', 'mr_storage_initializer.console']"
    assert SCRIPT.read_text().count("from mr_storage_initializer.console import entry") == 1
