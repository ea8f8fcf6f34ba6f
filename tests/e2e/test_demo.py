"""`make demo`'s script registers the sample model with the official client and installs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]


def test_demo_installs_the_sample_model_and_prints_provenance(tmp_path: Path) -> None:
    models = tmp_path / "models"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(models)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "registered iris/v1 with the official model-registry client" in proc.stdout
    assert sorted(p.name for p in models.iterdir()) == [".model-registry.json", "README.md", "model.json"]
    provenance = json.loads((models / ".model-registry.json").read_text())
    assert provenance["model_artifact"]["uri"] == "s3://demo-models/iris/v1"
    assert '"fingerprint"' in proc.stdout
