"""--db keeps everything across a restart (SIGTERM stops the server cleanly), and ids keep counting up."""

from __future__ import annotations

import signal
from pathlib import Path

from rest_client import Rest

from fixtures.registry import RegistryProcess
from helpers import client_for


def test_restart_with_db_keeps_data_and_ids_count_up(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    with RegistryProcess("--db", db) as first:
        client_for(first.url).register_model(
            "iris", "s3://b/iris", model_format_name="sklearn", model_format_version="1", version="v1"
        )
        assert first.proc is not None
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(10) == 0

    with RegistryProcess("--db", db) as second:
        client = client_for(second.url)
        assert client.get_registered_model("iris").id == "1"
        assert client.get_model_version("iris", "v1").id == "2"
        assert client.get_model_artifact("iris", "v1").uri == "s3://b/iris"
        status, model = Rest(second.url).call("POST", "/registered_models", {"name": "next"})
        assert status == 201
        assert model["id"] == "3"
        status, artifact = Rest(second.url).call("POST", "/model_artifacts", {"name": "a2", "uri": "u"})
        assert artifact["id"] == "2"


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    with RegistryProcess("--db", tmp_path / "r.sqlite") as process:
        assert process.proc is not None
        process.proc.send_signal(signal.SIGINT)
        assert process.proc.wait(10) == 0


def test_without_db_data_lives_in_memory_only() -> None:
    with RegistryProcess() as first:
        Rest(first.url).call("POST", "/registered_models", {"name": "gone"})
    with RegistryProcess() as second:
        assert Rest(second.url).call("GET", "/registered_models")[1]["items"] == []
