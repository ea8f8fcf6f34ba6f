"""OpenSSF model signatures (model.sig) are verified before anything is installed; every mismatch is exit 5.

Models are signed here with ``model-signing`` (keys and a small CA made by the test), laid out as the
official tools lay them out, served by moto S3 or the HTTP fixture, registered with the official client,
and installed by the real CLI.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fixtures.signing import KeyPair, issue, make_ca, make_key, sign_with_certificate, sign_with_key, write_tree
from fixtures.sigstore_offline import PrivateSigstore
from fixtures.storage import HttpFileServer, S3Server, make_tar_gz
from helpers import cli_env, client_for, register, run_cli, tree

FILES = {"weights.bin": b"w" * 3000, "tok/vocab.txt": b"a\nb\n", "config.json": b"{}"}


def _publish(s3: S3Server, model: Path, prefix: str = "llm") -> str:
    for path in sorted(model.rglob("*")):
        if path.is_file():
            s3.put("models", f"{prefix}/{path.relative_to(model).as_posix()}", path.read_bytes())
    return f"s3://models/{prefix}"


def _env(registry: Any, s3: S3Server, **extra: str) -> dict[str, str]:
    return {"MODEL_REGISTRY_BASE_URL": registry.host_port, **s3.env, **extra}


def _install(registry: Any, s3: S3Server, model: Path, dest: Path, env: dict[str, str], **kwargs: Any) -> Any:
    register(registry.url, "llm", _publish(s3, model), "v1", **kwargs)
    return run_cli("model-registry://llm/v1", dest, env=_env(registry, s3, **env))


def _key(keys: dict[str, KeyPair]) -> dict[str, str]:
    return {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public)}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, KeyPair]:
    return {name: make_key(tmp_path / "keys", name) for name in ("team", "other")}


@pytest.fixture
def signed(tmp_path: Path, keys: dict[str, KeyPair]) -> Path:
    model = write_tree(tmp_path / "model", FILES)
    sign_with_key(model, keys["team"])
    return model


def _provenance(dest: Path) -> dict[str, Any]:
    return json.loads((dest / ".model-registry.json").read_text())


def _subject_digest(sig: Path) -> str:
    payload = json.loads(base64.b64decode(json.loads(sig.read_text())["dsseEnvelope"]["payload"]))
    return "sha256:" + payload["subject"][0]["digest"]["sha256"]


def _refused(result: Any, dest: Path, message: str) -> None:
    assert result.code == 5, result.stderr
    assert message in result.last_line, result.last_line
    assert "ERROR" in result.last_line or "failed" in result.last_line
    assert list(dest.iterdir()) == []


# -- key method -------------------------------------------------------------------------------------------
def test_key_signed_model_installs_with_its_signature_and_provenance(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    register(registry.url, "llm", _publish(s3_server, signed), "v1")
    result = run_cli("model-registry://llm/v1", dest, "--debug", env=_env(registry, s3_server, **_key(keys)))
    assert result.code == 0, result.stderr
    assert "3 files hashed during the download, 0 bytes after it" in result.stderr
    assert tree(dest) == {**FILES, "model.sig": (signed / "model.sig").read_bytes()}
    record = _provenance(dest)["signature"]
    from mr_storage_initializer.signature_verify import key_fingerprint

    assert record["method"] == "key"
    assert record["signer"] == key_fingerprint(keys["team"].public.read_bytes())
    assert record["manifest_digest"] == _subject_digest(signed / "model.sig")
    assert "model.sig verified: 3 files signed by sha256:" in result.stderr


def test_second_key_verifies_during_rotation(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": f"{keys['other'].public},{keys['team'].public}"}
    result = _install(registry, s3_server, signed, tmp_path / "dest", env)
    assert result.code == 0, result.stderr


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: (m / "weights.bin").write_bytes(b"W" + b"w" * 2999), "'weights.bin' does not match its digest"),
        (lambda m: (m / "extra.bin").write_bytes(b"x"), "'extra.bin' was downloaded but is not in the signed"),
        (lambda m: (m / "tok/vocab.txt").unlink(), "'tok/vocab.txt' is in the signed manifest of model.sig but"),
    ],
    ids=["edited-byte", "added-file", "dropped-file"],
)
def test_tampered_model_is_exit_5_and_installs_nothing(
    registry: Any,
    s3_server: S3Server,
    signed: Path,
    keys: dict[str, KeyPair],
    tmp_path: Path,
    tamper: Any,
    message: str,
) -> None:
    tamper(signed)
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, signed, dest, _key(keys))
    _refused(result, dest, message)


def test_signature_of_another_model_is_refused(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    other = write_tree(tmp_path / "other-model", {**FILES, "weights.bin": b"other weights"})
    sign_with_key(other, keys["team"])
    shutil.copy(other / "model.sig", signed / "model.sig")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, signed, dest, _key(keys))
    _refused(result, dest, "'weights.bin' does not match its digest in the signed manifest of model.sig")


def test_signature_by_another_key_is_refused(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    sign_with_key(model, keys["other"])
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, model, dest, _key(keys))
    _refused(result, dest, "which is not one of the 1 configured public keys")


def test_corrupted_signature_is_refused(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    bundle = json.loads((signed / "model.sig").read_text())
    sig = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 1
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    (signed / "model.sig").write_text(json.dumps(bundle))
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, signed, dest, _key(keys))
    _refused(result, dest, "the signature in model.sig does not verify with the configured public key")


def test_git_files_the_manifest_ignores_are_not_installed(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", {**FILES, ".gitattributes": b"*.bin filter=lfs"})
    sign_with_key(model, keys["team"])
    dest = tmp_path / "dest"
    result = _install(registry, s3_server, model, dest, _key(keys))
    assert result.code == 0, result.stderr
    assert not (dest / ".gitattributes").exists()
    assert "1 files the signature does not cover were not installed: .gitattributes" in result.stderr
    assert _provenance(dest)["signature"]["not_installed"] == [".gitattributes"]


# -- policy and registry narrowing -------------------------------------------------------------------------
def test_required_without_signature_is_exit_5(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, model, dest, _key(keys))
    _refused(result, dest, "the model has no model.sig, and a signature is required (MODEL_REGISTRY_SIGNATURE)")


def test_if_present_without_signature_installs_and_says_unsigned(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    dest = tmp_path / "dest"
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public), "MODEL_REGISTRY_SIGNATURE": "if-present"}
    result = _install(registry, s3_server, model, dest, env)
    assert result.code == 0, result.stderr
    assert "the model is unsigned (no model.sig)" in result.stderr
    assert _provenance(dest)["signature"] == {"method": "none", "file": None}


def test_if_present_still_refuses_a_bad_signature(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    (signed / "config.json").write_bytes(b'{"changed": 1}')
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public), "MODEL_REGISTRY_SIGNATURE": "if-present"}
    _refused(_install(registry, s3_server, signed, dest, env), dest, "'config.json' does not match")


def test_registry_property_makes_the_signature_required(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public), "MODEL_REGISTRY_SIGNATURE": "if-present"}
    result = _install(registry, s3_server, model, dest, env, metadata={"signature.required": "true"})
    _refused(result, dest, "a signature is required (the model version's signature.required)")


def test_registry_property_requiring_a_signature_without_a_verifier_is_refused(
    registry: Any, s3_server: S3Server, signed: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, signed, dest, {}, metadata={"signature.required": "true"})
    _refused(result, dest, "the model version's signature.required asks for a signature, but this initializer has no")


def test_registry_property_narrows_the_accepted_signer(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    from mr_storage_initializer.signature_verify import key_fingerprint

    dest = tmp_path / "dest"
    dest.mkdir()
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": f"{keys['team'].public},{keys['other'].public}"}
    wanted = key_fingerprint(keys["other"].public.read_bytes())
    result = _install(registry, s3_server, signed, dest, env, metadata={"signature.identity": wanted})
    _refused(result, dest, f"but the model version's signature.identity is {wanted!r}")


def test_model_artifact_property_makes_the_signature_required(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    register(registry.url, "llm", _publish(s3_server, model), "v1")
    client = client_for(registry.url)
    artifact = client.get_model_artifact("llm", "v1")
    artifact.custom_properties = {"signature.required": True}
    client.update(artifact)
    dest = tmp_path / "dest"
    dest.mkdir()
    env = _env(registry, s3_server, **_key(keys), MODEL_REGISTRY_SIGNATURE="if-present")
    result = run_cli("model-registry://llm/v1", dest, env=env)
    _refused(result, dest, "a signature is required (the model artifact's signature.required)")


def test_registry_signer_identity_also_requires_a_signature(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    model = write_tree(tmp_path / "model", FILES)
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {**_key(keys), "MODEL_REGISTRY_SIGNATURE": "if-present"}
    result = _install(registry, s3_server, model, dest, env, metadata={"signature.identity": "sha256:00"})
    _refused(result, dest, "a signature is required (the model version's signature.identity)")


_PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['mr-storage-initializer'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('mr_storage_initializer', run_name='__main__')\n"
    "except SystemExit as exc:\n    code = exc.code\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'model_signing', 'sigstore', 'sigstore_models', "
    "'OpenSSL', 'tuf', 'securesystemslib', 'blake3'})\n"
    "print(code, heavy)\n"
)


def _imports(registry: Any, s3: S3Server, dest: Path, env: dict[str, str]) -> str:
    """Run the CLI in a fresh interpreter; its exit code and which signing libraries it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, "model-registry://llm/v1", str(dest)],
        env=cli_env(_env(registry, s3, **env)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.stdout.strip() or proc.stderr


def test_off_by_default_ignores_model_sig_and_imports_no_signing_library(
    registry: Any, s3_server: S3Server, signed: Path, tmp_path: Path
) -> None:
    register(registry.url, "llm", _publish(s3_server, signed), "v1")
    assert _imports(registry, s3_server, tmp_path / "dest", {}) == "0 []"
    assert _provenance(tmp_path / "dest")["signature"] is None


def test_key_verification_imports_neither_sigstore_nor_tuf(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    register(registry.url, "llm", _publish(s3_server, signed), "v1")
    seen = _imports(registry, s3_server, tmp_path / "dest", _key(keys))
    assert seen == "0 ['OpenSSL', 'blake3', 'model_signing', 'sigstore_models']"
    assert _provenance(tmp_path / "dest")["signature"]["method"] == "key"


def test_allow_patterns_that_drop_a_signed_file_fail_verification(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public),
        "MODEL_REGISTRY_SIGNATURE": "if-present",
        "STORAGE_IGNORE_PATTERNS": "tok/*",
    }
    _refused(_install(registry, s3_server, signed, dest, env), dest, "'tok/vocab.txt' is in the signed manifest")


# -- certificate method -------------------------------------------------------------------------------------
@pytest.fixture
def ca_env(tmp_path: Path) -> tuple[Any, dict[str, str]]:
    ca = make_ca(tmp_path / "ca")
    env = {
        "MODEL_REGISTRY_SIGNATURE_CERT_CHAIN": str(ca.cert),
        "MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY": "ml-team@example.com",
    }
    return ca, env


def test_certificate_signed_model_installs(
    registry: Any, s3_server: S3Server, tmp_path: Path, ca_env: tuple[Any, dict[str, str]]
) -> None:
    ca, env = ca_env
    key, cert = issue(ca, tmp_path / "leaf", "ml-team@example.com")
    model = write_tree(tmp_path / "model", FILES)
    sign_with_certificate(model, key, cert, [ca.cert])
    dest = tmp_path / "dest"
    result = _install(registry, s3_server, model, dest, env)
    assert result.code == 0, result.stderr
    record = _provenance(dest)["signature"]
    assert record["method"] == "certificate"
    assert record["signer"] == "ml-team@example.com"
    assert record["manifest_digest"] == _subject_digest(model / "model.sig")


def test_certificate_of_another_identity_is_refused(
    registry: Any, s3_server: S3Server, tmp_path: Path, ca_env: tuple[Any, dict[str, str]]
) -> None:
    ca, env = ca_env
    key, cert = issue(ca, tmp_path / "leaf", "intern@example.com")
    model = write_tree(tmp_path / "model", FILES)
    sign_with_certificate(model, key, cert, [ca.cert])
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, model, dest, env)
    _refused(result, dest, "model.sig was signed by 'intern@example.com' but 'ml-team@example.com' is expected")


def test_certificate_from_another_ca_is_refused(
    registry: Any, s3_server: S3Server, tmp_path: Path, ca_env: tuple[Any, dict[str, str]]
) -> None:
    _, env = ca_env
    rogue = make_ca(tmp_path / "rogue", "Rogue CA")
    key, cert = issue(rogue, tmp_path / "leaf", "ml-team@example.com")
    model = write_tree(tmp_path / "model", FILES)
    sign_with_certificate(model, key, cert, [rogue.cert])
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, model, dest, env)
    _refused(result, dest, "the certificate in model.sig does not chain to MODEL_REGISTRY_SIGNATURE_CERT_CHAIN")


def test_key_signature_when_only_certificates_are_trusted_is_refused(
    registry: Any, s3_server: S3Server, signed: Path, tmp_path: Path, ca_env: tuple[Any, dict[str, str]]
) -> None:
    _, env = ca_env
    dest = tmp_path / "dest"
    dest.mkdir()
    result = _install(registry, s3_server, signed, dest, env)
    _refused(result, dest, "model.sig is signed with a key, but this initializer verifies only: certificate")


# -- single-file artifacts ----------------------------------------------------------------------------------
def test_archive_holding_model_sig_is_verified(
    registry: Any, http_server: HttpFileServer, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    files = {p.relative_to(signed).as_posix(): p.read_bytes() for p in signed.rglob("*") if p.is_file()}
    uri = http_server.add("m/model.tar.gz", make_tar_gz(files))
    register(registry.url, "arch", uri, "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public),
    }
    dest = tmp_path / "dest"
    result = run_cli("model-registry://arch/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert _provenance(dest)["signature"]["files"] == 3
    files["weights.bin"] = b"tampered"
    http_server.add("m/bad.tar.gz", make_tar_gz(files))
    register(registry.url, "arch-bad", f"{http_server.url}/m/bad.tar.gz", "v1")
    bad = tmp_path / "bad"
    bad.mkdir()
    _refused(run_cli("model-registry://arch-bad/v1", bad, env=env), bad, "'weights.bin' does not match")


def test_empty_directories_a_signed_archive_adds_are_not_installed(
    registry: Any, http_server: HttpFileServer, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    # a signature covers files: a tar that adds `evil/` and `deep/a/b/c/` beside them adds something unsigned
    files = {p.relative_to(signed).as_posix(): p.read_bytes() for p in signed.rglob("*") if p.is_file()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("evil/", "deep/a/b/c/", "tok/"):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    register(registry.url, "dirs", http_server.add("m/dirs.tar.gz", buffer.getvalue()), "v1")
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public),
    }
    dest = tmp_path / "dest"
    result = run_cli("model-registry://dirs/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == sorted(
        [".model-registry.json", "config.json", "model.sig", "tok", "tok/vocab.txt", "weights.bin"]
    )
    assert "2 empty directories the signature does not cover were not installed: deep/a/b/c/, evil/" in result.stderr
    assert _provenance(dest)["signature"]["not_installed"] == ["deep/a/b/c/", "evil/"]


def _single_signed_file(
    http_server: HttpFileServer, keys: dict[str, KeyPair], tmp_path: Path, sig_path: str
) -> tuple[str, str]:
    """``m/model.onnx`` on the server, signed with the team key, its detached signature at ``sig_path``."""
    model = write_tree(tmp_path / "single", {"model.onnx": b"onnx-bytes" * 100})
    sig = sign_with_key(model / "model.onnx", keys["team"], out=tmp_path / "model.onnx.sig")
    uri = http_server.add("m/model.onnx", (model / "model.onnx").read_bytes())
    return uri, http_server.add(sig_path, sig.read_bytes())


def test_single_file_with_signature_uri_in_the_registry(
    registry: Any, http_server: HttpFileServer, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    uri, sig_uri = _single_signed_file(http_server, keys, tmp_path, "m/model.onnx.sig")
    register(registry.url, "one", uri, "v1", metadata={"signature.uri": sig_uri})
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public),
    }
    dest = tmp_path / "dest"
    result = run_cli("model-registry://one/v1", dest, env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {"model.onnx": b"onnx-bytes" * 100}
    assert _provenance(dest)["signature"]["file"] == sig_uri
    http_server.add("m/other.onnx", b"not the signed bytes")
    register(registry.url, "two", f"{http_server.url}/m/other.onnx", "v1", metadata={"signature.uri": sig_uri})
    bad = tmp_path / "bad"
    bad.mkdir()
    _refused(run_cli("model-registry://two/v1", bad, env=env), bad, "'other.onnx' does not match its digest")


# -- several pairs, plain URIs, the termination message, the artifact policy --------------------------------
def test_pairs_registry_and_plain_each_verified_and_in_the_termination_message(
    registry: Any, s3_server: S3Server, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    from mr_storage_initializer.signature_verify import key_fingerprint

    register(registry.url, "llm", _publish(s3_server, signed), "v1")
    plain = _publish(s3_server, signed, prefix="plain")  # not in the registry: the operator's policy still holds
    dests = [tmp_path / "mnt" / "llm", tmp_path / "mnt" / "plain"]
    termination = tmp_path / "termination-log"
    env = _env(registry, s3_server, **_key(keys), MODEL_REGISTRY_TERMINATION_LOG=str(termination))
    result = run_cli("model-registry://llm/v1", dests[0], plain, dests[1], env=env)
    assert result.code == 0, result.stderr
    fingerprint = key_fingerprint(keys["team"].public.read_bytes())
    digest = _subject_digest(signed / "model.sig")
    message = json.loads(termination.read_text())
    for dest, entry in zip(dests, message["pairs"], strict=True):
        assert tree(dest) == {**FILES, "model.sig": (signed / "model.sig").read_bytes()}
        assert _provenance(dest)["signature"]["signer"] == fingerprint
        assert entry["signature"] == {"method": "key", "signer": fingerprint, "manifest_digest": digest}


def test_plain_uri_without_a_signature_is_refused_when_required(
    registry: Any, s3_server: S3Server, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    plain = _publish(s3_server, write_tree(tmp_path / "model", FILES), prefix="unsigned")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_cli(plain, dest, env=_env(registry, s3_server, **_key(keys)))
    _refused(result, dest, "the model has no model.sig, and a signature is required (MODEL_REGISTRY_SIGNATURE)")


def test_signature_uri_outside_the_allowed_prefixes_is_refused_before_it_is_fetched(
    registry: Any, http_server: HttpFileServer, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    uri, sig_uri = _single_signed_file(http_server, keys, tmp_path, "elsewhere/model.onnx.sig")
    register(registry.url, "one", uri, "v1", metadata={"signature.uri": sig_uri})
    env = {
        "MODEL_REGISTRY_BASE_URL": registry.host_port,
        "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(keys["team"].public),
        "ALLOWED_ARTIFACT_URI_PREFIXES": f"{http_server.url}/m/",
    }
    dest = tmp_path / "dest"
    dest.mkdir()
    http_server.requests.clear()
    result = run_cli("model-registry://one/v1", dest, env=env)
    assert result.code == 3, result.stderr
    assert "ERROR" in result.last_line
    assert f"signature.uri: refused artifact {sig_uri}: it starts with none of ALLOWED" in result.last_line
    assert not any("elsewhere" in path for path in http_server.requests), http_server.requests
    assert list(dest.iterdir()) == []


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_hf_model_is_hashed_while_it_downloads_and_verified(
    registry: Any, hub: Any, signed: Path, keys: dict[str, KeyPair], tmp_path: Path
) -> None:
    import re

    hub.add("org/signed", _files(signed))
    register(registry.url, "hf-signed", "hf://org/signed", "v1")
    env = {"MODEL_REGISTRY_BASE_URL": registry.host_port, **hub.env, **_key(keys), "HOME": str(tmp_path / "home")}
    dest = tmp_path / "dest"
    result = run_cli("model-registry://hf-signed/v1", dest, "--debug", env=env)
    assert result.code == 0, result.stderr
    assert tree(dest) == {**FILES, "model.sig": (signed / "model.sig").read_bytes()}
    assert _provenance(dest)["signature"]["method"] == "key"
    hashed = re.search(r"(\d+) files hashed during the download", result.stderr)
    assert hashed is not None and int(hashed.group(1)) == len(FILES), result.stderr  # the hub engine reports writes
    tampered = write_tree(tmp_path / "tampered", {**FILES, "config.json": b'{"evil": 1}'})
    shutil.copy(signed / "model.sig", tampered / "model.sig")
    hub.add("org/tampered", _files(tampered))
    register(registry.url, "hf-tampered", "hf://org/tampered", "v1")
    bad = tmp_path / "bad"
    bad.mkdir()
    result = run_cli("model-registry://hf-tampered/v1", bad, env=env)
    _refused(result, bad, "'config.json' does not match its digest in the signed manifest of model.sig")


# -- Sigstore (a private instance the tests build: CA, CT log and Rekor keys; no network) ---------------------
@pytest.fixture
def sigstore_env(tmp_path: Path) -> tuple[PrivateSigstore, dict[str, str]]:
    instance = PrivateSigstore()
    trust = tmp_path / "trust_config.json"
    trust.write_text(instance.trust_config())
    env = {
        "MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY": "ml-team@example.com",
        "MODEL_REGISTRY_SIGNATURE_SIGSTORE_ISSUER": "https://issuer.example.com",
        "MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG": str(trust),
    }
    return instance, env


def test_sigstore_signed_model_installs_offline(
    registry: Any, s3_server: S3Server, tmp_path: Path, sigstore_env: tuple[PrivateSigstore, dict[str, str]]
) -> None:
    instance, env = sigstore_env
    model = write_tree(tmp_path / "model", FILES)
    instance.sign(model, "ml-team@example.com", "https://issuer.example.com")
    dest = tmp_path / "dest"
    result = _install(registry, s3_server, model, dest, env)
    assert result.code == 0, result.stderr
    record = _provenance(dest)["signature"]
    assert (record["method"], record["signer"]) == ("sigstore", "ml-team@example.com")
    assert record["manifest_digest"] == _subject_digest(model / "model.sig")


@pytest.mark.parametrize(
    ("identity", "issuer", "message"),
    [
        (
            "intern@example.com",
            "https://issuer.example.com",
            "signed by 'intern@example.com' but 'ml-team@example.com'",
        ),
        ("ml-team@example.com", "https://other-issuer.example.com", "does not match (got 'https://other-issuer"),
    ],
    ids=["identity", "issuer"],
)
def test_sigstore_signature_by_another_identity_or_issuer_is_refused(
    registry: Any,
    s3_server: S3Server,
    tmp_path: Path,
    sigstore_env: tuple[PrivateSigstore, dict[str, str]],
    identity: str,
    issuer: str,
    message: str,
) -> None:
    instance, env = sigstore_env
    model = write_tree(tmp_path / "model", FILES)
    instance.sign(model, identity, issuer)
    dest = tmp_path / "dest"
    dest.mkdir()
    _refused(_install(registry, s3_server, model, dest, env), dest, message)


def test_sigstore_signature_from_another_instance_is_refused(
    registry: Any, s3_server: S3Server, tmp_path: Path, sigstore_env: tuple[PrivateSigstore, dict[str, str]]
) -> None:
    _, env = sigstore_env
    model = write_tree(tmp_path / "model", FILES)
    PrivateSigstore().sign(model, "ml-team@example.com", "https://issuer.example.com")
    dest = tmp_path / "dest"
    dest.mkdir()
    _refused(_install(registry, s3_server, model, dest, env), dest, "model.sig could not be verified:")


def test_sigstore_signed_model_with_a_changed_file_is_refused(
    registry: Any, s3_server: S3Server, tmp_path: Path, sigstore_env: tuple[PrivateSigstore, dict[str, str]]
) -> None:
    instance, env = sigstore_env
    model = write_tree(tmp_path / "model", FILES)
    instance.sign(model, "ml-team@example.com", "https://issuer.example.com")
    (model / "tok/vocab.txt").write_bytes(b"a\nb\nc\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    _refused(_install(registry, s3_server, model, dest, env), dest, "'tok/vocab.txt' does not match its digest")
