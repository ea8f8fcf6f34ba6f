"""oci:// on the own engine, against Debian's docker-registry (distribution 2.8) started on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from fixtures.oci import OciProxy, Registry, layer, tree_of
from helpers import register, run_cli

BASE = {"etc/os-release": b"ID=test\n", "bin/sh": b"#!shell\n"}  # a base image's files: not model content


def _provenance(dest: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dest / ".model-registry.json").read_text())
    return data


def _env(registry: Registry, **extra: str) -> dict[str, str]:
    return {"KSERVE_OCI_INSECURE_REGISTRY": "true", "KSERVE_OCI_DOCKER_CONFIG": "/nonexistent/config.json", **extra}


def test_a_modelcar_with_gzip_zstd_and_plain_layers_installs_its_models_folder(
    oci_registry: Registry, tmp_path: Path
) -> None:
    weights = os.urandom(1 << 20)
    digest = oci_registry.push_image(
        "team/llm/modelcar",
        "v1",
        [
            layer(BASE, "gzip"),
            layer({"models/config.json": b"{}", "models/weights/a.bin": weights}, "gzip"),
            layer({"models/weights/b.bin": weights[::-1], "models/tokenizer.json": b"tok"}, "zstd"),
            layer({"models/README.md": b"# model\n"}, "none"),
        ],
    )
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry.host}/team/llm/modelcar:v1", dest, env=_env(oci_registry))
    assert result.code == 0, result.stderr
    assert tree_of(dest) == {
        "README.md": b"# model\n",
        "config.json": b"{}",
        "tokenizer.json": b"tok",
        "weights/a.bin": weights,
        "weights/b.bin": weights[::-1],
    }
    record = _provenance(dest)
    assert record["transfer"]["engine"] == "fast"
    assert record["transfer"]["revision"] == digest

    again = run_cli(f"oci://{oci_registry.host}/team/llm/modelcar:v1", dest, env=_env(oci_registry))
    assert again.code == 0, again.stderr
    assert "already installed" in again.stderr


def test_a_moved_tag_is_a_new_version(oci_registry: Registry, tmp_path: Path) -> None:
    uri = f"oci://{oci_registry.host}/moving/model:prod"
    oci_registry.push_image("moving/model", "prod", [layer({"models/w.bin": b"one"})])
    dest = tmp_path / "dest"
    assert run_cli(uri, dest, env=_env(oci_registry)).code == 0
    second = oci_registry.push_image("moving/model", "prod", [layer({"models/w.bin": b"two"})])
    result = run_cli(uri, dest, env=_env(oci_registry))
    assert result.code == 0, result.stderr
    assert "already installed" not in result.stderr
    assert tree_of(dest) == {"w.bin": b"two"}
    assert _provenance(dest)["transfer"]["revision"] == second


def test_a_modelpack_artifact_and_oras_files(oci_registry: Registry, tmp_path: Path) -> None:
    weight = b"W" * 100_000
    oci_registry.push_image(
        "modelpack/model",
        "v1",
        [
            (weight, "application/vnd.cncf.model.weight.v1.raw", {"org.cncf.model.filepath": "model.safetensors"}),
            (
                b'{"a": 1}',
                "application/vnd.cncf.model.weight.config.v1.raw",
                {"org.cncf.model.filepath": "config.json"},
            ),
            (layer({"docs/README.md": b"doc"}, "gzip")[0], "application/vnd.cncf.model.doc.v1.tar+gzip", {}),
            (layer({"code/run.py": b"print()"}, "zstd")[0], "application/vnd.cnai.model.code.v1.tar+zstd", {}),
        ],
        config_type="application/vnd.cncf.model.config.v1+json",
        artifact_type="application/vnd.cncf.model.manifest.v1+json",
    )
    oci_registry.push_image(
        "oras/files",
        "v1",
        [
            (
                b"bytes of a gguf",
                "application/vnd.oci.image.layer.v1.tar",
                {"org.opencontainers.image.title": "m.gguf"},
            ),
            (
                layer({"extra/notes.txt": b"n"}, "gzip")[0],
                "application/vnd.oci.image.layer.v1.tar+gzip",
                {"org.opencontainers.image.title": "extra", "io.deis.oras.content.unpack": "true"},
            ),
        ],
        config_type="application/vnd.oras.config.v1+json",
    )
    pack = tmp_path / "pack"
    result = run_cli(f"oci://{oci_registry.host}/modelpack/model:v1", pack, env=_env(oci_registry))
    assert result.code == 0, result.stderr
    assert tree_of(pack) == {
        "model.safetensors": weight,
        "config.json": b'{"a": 1}',
        "docs/README.md": b"doc",
        "code/run.py": b"print()",
    }
    files = tmp_path / "files"
    result = run_cli(f"oci://{oci_registry.host}/oras/files:v1", files, env=_env(oci_registry))
    assert result.code == 0, result.stderr
    assert tree_of(files) == {"m.gguf": b"bytes of a gguf", "extra/notes.txt": b"n"}


def test_an_index_gives_this_machines_platform_or_the_one_set(oci_registry: Registry, tmp_path: Path) -> None:
    from mr_storage_initializer.transfer.oci_ref import goarch

    here = oci_registry.push_image("multi/model", "here", [layer({"models/arch.txt": goarch().encode()})])
    other_arch = "s390x"
    other = oci_registry.push_image("multi/model", "other", [layer({"models/arch.txt": other_arch.encode()})])
    oci_registry.push_index("multi/model", "v1", {f"linux/{goarch()}": here, f"linux/{other_arch}": other})
    uri = f"oci://{oci_registry.host}/multi/model:v1"
    first = run_cli(uri, tmp_path / "a", env=_env(oci_registry))
    assert first.code == 0, first.stderr
    assert tree_of(tmp_path / "a") == {"arch.txt": goarch().encode()}
    assert _provenance(tmp_path / "a")["transfer"]["revision"] == here
    second = run_cli(uri, tmp_path / "b", env=_env(oci_registry, MODEL_REGISTRY_OCI_PLATFORM=f"linux/{other_arch}"))
    assert second.code == 0, second.stderr
    assert tree_of(tmp_path / "b") == {"arch.txt": other_arch.encode()}


def test_whiteouts_of_a_later_layer_remove_what_earlier_layers_put(oci_registry: Registry, tmp_path: Path) -> None:
    oci_registry.push_image(
        "layers/whiteout",
        "v1",
        [
            layer({"models/keep.txt": b"1", "models/old.bin": b"old", "models/cache/x": b"x", "models/cache/y": b"y"}),
            layer({"models/.wh.old.bin": b"", "models/cache/.wh..wh..opq": b"", "models/cache/z": b"z"}),
            layer({"models/keep.txt": b"2", "models/link": ("symlink", "keep.txt")}),
        ],
    )
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry.host}/layers/whiteout:v1", dest, env=_env(oci_registry))
    assert result.code == 0, result.stderr
    assert tree_of(dest) == {"keep.txt": b"2", "cache/z": b"z", "link": "-> keep.txt"}


def test_model_registry_uris_resolve_to_oci_artifacts(registry: Any, oci_registry: Registry, tmp_path: Path) -> None:
    from mr_storage_initializer.transfer.oci_ref import goarch

    oci_registry.push_image("reg/modelcar", "v1", [layer({"models/model.bin": b"car"}, "zstd")])
    oci_registry.push_image(
        "reg/modelpack",
        "v1",
        [(b"pack", "application/vnd.cncf.model.weight.v1.raw", {"org.cncf.model.filepath": "model.bin"})],
        config_type="application/vnd.cncf.model.config.v1+json",
    )
    native = oci_registry.push_image("reg/multi", "native", [layer({"models/model.bin": b"multi"})])
    other = oci_registry.push_image("reg/multi", "other", [layer({"models/model.bin": b"other"})])
    oci_registry.push_index("reg/multi", "v1", {f"linux/{goarch()}": native, "linux/riscv64": other})
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **_env(oci_registry)}
    for name, expected in (("modelcar", b"car"), ("modelpack", b"pack"), ("multi", b"multi")):
        register(registry.url, name, f"oci://{oci_registry.host}/reg/{name}:v1", "v1")
        result = run_cli(f"model-registry://{name}/v1", tmp_path / name, env=env)
        assert result.code == 0, result.stderr
        assert tree_of(tmp_path / name) == {"model.bin": expected}


def test_a_reference_without_a_host_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("oci://modelcar:v1", tmp_path / "dest", env={"KSERVE_OCI_INSECURE_REGISTRY": "1"})
    assert result.code == 2, result.stderr
    assert "with the registry's host first" in result.last_line
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


def test_a_mirror_is_asked_first_and_the_upstream_when_the_mirror_fails(oci_registry: Registry, tmp_path: Path) -> None:
    oci_registry.push_image("mirrored/model", "v1", [layer({"models/w.bin": b"mirrored"})])
    upstream, mirror = OciProxy(oci_registry), OciProxy(oci_registry)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    uri = f"oci://{upstream.host}/mirrored/model:v1"
    try:
        served = _env(oci_registry, MODEL_REGISTRY_OCI_MIRRORS=json.dumps({upstream.host: f"http://{mirror.host}"}))
        first = run_cli(uri, tmp_path / "a", env=served)
        assert first.code == 0, first.stderr
        assert mirror.requests and not upstream.requests
        failing = _env(oci_registry, MODEL_REGISTRY_OCI_MIRRORS=json.dumps({"*": [dead]}))
        second = run_cli(uri, tmp_path / "b", env=failing)
        assert second.code == 0, second.stderr
        assert upstream.requests
    finally:
        upstream.stop()
        mirror.stop()
    assert tree_of(tmp_path / "a") == tree_of(tmp_path / "b") == {"w.bin": b"mirrored"}


def test_a_malformed_mirror_setting_is_exit_2_before_any_request(tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_OCI_MIRRORS": '{"quay.io": ["ftp://mirror"]}'}
    result = run_cli("oci://quay.io/org/model:v1", tmp_path / "dest", env=env)
    assert result.code == 2, result.stderr
    assert "MODEL_REGISTRY_OCI_MIRRORS" in result.last_line


def test_kserve_storage_stays_selectable_and_installs_the_same_modelcar(oci_registry: Registry, tmp_path: Path) -> None:
    weights = os.urandom(200_000)
    oci_registry.push_image(
        "diff/modelcar",
        "v1",
        [
            layer(BASE),
            layer({"models/w.bin": weights, "models/sub/c.json": b"{}"}),
            layer({"models/r.md": b"r"}, "none"),
        ],
    )
    uri = f"oci://{oci_registry.host}/diff/modelcar:v1"
    ours = run_cli(uri, tmp_path / "ours", env=_env(oci_registry))
    theirs = run_cli(uri, tmp_path / "theirs", env=_env(oci_registry, MODEL_REGISTRY_TRANSFER="kserve"))
    assert ours.code == 0, ours.stderr
    assert theirs.code == 0, theirs.stderr
    assert _provenance(tmp_path / "theirs")["transfer"]["engine"] == "kserve"
    assert (
        tree_of(tmp_path / "ours")
        == tree_of(tmp_path / "theirs")
        == {
            "w.bin": weights,
            "sub/c.json": b"{}",
            "r.md": b"r",
        }
    )


def test_a_registry_on_a_metadata_address_is_refused_before_any_request(tmp_path: Path) -> None:
    result = run_cli("oci://169.254.169.254/org/model:v1", tmp_path / "dest", env={})
    assert result.code == 3, result.stderr
    assert "cloud metadata endpoint" in result.last_line
