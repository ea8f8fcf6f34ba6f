"""The official `model-registry` Python client (0.3.18, which calls only /api/model_registry/v1) works
against the embedded registry unchanged: one serving both versions, and one serving v1 alone (a server
after the alpha sunset)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.registry import RegistryProcess
from helpers import client_for


@pytest.fixture(params=[(), ("--api-versions", "v1")], ids=["both", "v1-only"])
def registry(request: pytest.FixtureRequest) -> Iterator[RegistryProcess]:
    with RegistryProcess(*request.param) as process:
        yield process


def test_register_and_read_back(registry: Any) -> None:
    client = client_for(registry.url)
    model = client.register_model(
        "iris",
        "s3://bucket/iris/v1",
        model_format_name="sklearn",
        model_format_version="1.3",
        version="v1",
        storage_key="my-data-connection",
        storage_path="iris/v1",
        version_description="first",
        metadata={"accuracy": 0.97, "epochs": 10, "license": "apache-2.0", "tuned": True},
    )
    assert model.name == "iris"
    assert model.id == "1"

    fetched = client.get_registered_model("iris")
    assert fetched.id == model.id
    version = client.get_model_version("iris", "v1")
    assert version.name == "v1"
    assert version.id == "2"
    assert version.custom_properties == {"accuracy": 0.97, "epochs": 10, "license": "apache-2.0", "tuned": True}
    artifact = client.get_model_artifact("iris", "v1")
    assert artifact.uri == "s3://bucket/iris/v1"
    assert artifact.model_format_name == "sklearn"
    assert artifact.model_format_version == "1.3"
    assert artifact.storage_key == "my-data-connection"
    assert artifact.storage_path == "iris/v1"


def test_second_version_and_listing(registry: Any) -> None:
    client = client_for(registry.url)
    client.register_model("iris", "s3://b/1", model_format_name="sklearn", model_format_version="1", version="v1")
    client.register_model("iris", "s3://b/2", model_format_name="sklearn", model_format_version="1", version="v2")
    names = [v.name for v in client.get_model_versions("iris")]
    assert sorted(names) == ["v1", "v2"]
    assert client.get_model_artifact("iris", "v2").uri == "s3://b/2"


def test_update_and_archive(registry: Any) -> None:
    from model_registry.types import ModelVersionState, RegisteredModelState

    client = client_for(registry.url)
    client.register_model("iris", "s3://b/1", model_format_name="sklearn", model_format_version="1", version="v1")
    model = client.get_registered_model("iris")
    model.description = "updated"
    model.state = RegisteredModelState.ARCHIVED
    client.update(model)
    version = client.get_model_version("iris", "v1")
    version.state = ModelVersionState.ARCHIVED
    client.update(version)
    artifact = client.get_model_artifact("iris", "v1")
    artifact.uri = "s3://b/moved"
    client.update(artifact)

    assert client.get_registered_model("iris").description == "updated"
    assert client.get_registered_model("iris").state == RegisteredModelState.ARCHIVED
    assert client.get_model_version("iris", "v1").state == ModelVersionState.ARCHIVED
    assert client.get_model_artifact("iris", "v1").uri == "s3://b/moved"


def test_duplicate_version_is_refused_by_the_client(registry: Any) -> None:
    import pytest
    from model_registry.exceptions import StoreError

    client = client_for(registry.url)
    client.register_model("iris", "s3://b/1", model_format_name="sklearn", model_format_version="1", version="v1")
    with pytest.raises(StoreError, match="already exists"):
        client.register_model("iris", "s3://b/2", model_format_name="sklearn", model_format_version="1", version="v1")


def test_the_client_needs_v1(start_registry: Any) -> None:
    """Against a server up to v0.3.14 (v1alpha3 only) the client finds nothing: it never tries the alpha API."""
    from mr_openapi.exceptions import NotFoundException

    registry = start_registry("--api-versions", "v1alpha3")
    with pytest.raises(NotFoundException, match="404 page not found"):
        client_for(registry.url).register_model(
            "iris", "s3://b/1", model_format_name="sklearn", model_format_version="1", version="v1"
        )
