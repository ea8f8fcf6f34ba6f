"""MODEL_REGISTRY_SIGNATURE*: off unless a verifier is configured, required once one is; nonsense is exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fixtures.signing import make_key
from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.settings import Settings
from mr_storage_initializer.signature_policy import read_signature_properties


@pytest.fixture
def key(tmp_path: Path) -> str:
    return str(make_key(tmp_path, "k").public)


def test_off_without_a_verifier(tmp_path: Path) -> None:
    assert Settings.from_env({}).signature.mode == "off"
    assert Settings.from_env({"MODEL_REGISTRY_SIGNATURE": "off"}).signature.mode == "off"


def test_required_by_default_once_a_key_is_configured(key: str) -> None:
    policy = Settings.from_env({"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": key}).signature
    assert (policy.mode, policy.methods, policy.file_name) == ("required", ("key",), "model.sig")


@pytest.mark.parametrize("mode", ["off", "if-present", "required", "IF-PRESENT"])
def test_modes_with_a_verifier(key: str, mode: str) -> None:
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": key, "MODEL_REGISTRY_SIGNATURE": mode}
    assert Settings.from_env(env).signature.mode == mode.lower()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL_REGISTRY_SIGNATURE": "required"}, "needs a verifier"),
        ({"MODEL_REGISTRY_SIGNATURE": "maybe"}, "must be one of off, if-present, required"),
        ({"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": "/nonexistent/key.pub"}, "is not a readable file"),
        ({"MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY": "a@example.com"}, "go together"),
        ({"MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY": "a@example.com"}, "go together"),
        ({"MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG": "{}"}, "needs _SIGSTORE_IDENTITY"),
        ({"MODEL_REGISTRY_SIGNATURE_SIGSTORE_TRUST_CONFIG": "/nonexistent.json"}, "is not a readable file"),
        ({"MODEL_REGISTRY_SIGNATURE_FILE": "../model.sig"}, "must be a path inside the model"),
    ],
)
def test_nonsense_is_a_usage_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Settings.from_env(env)


def test_certificate_chain_without_expected_identity_is_refused(tmp_path: Path) -> None:
    chain = tmp_path / "ca.pem"
    chain.write_text("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(UsageError, match="a chain alone would accept any certificate"):
        Settings.from_env({"MODEL_REGISTRY_SIGNATURE_CERT_CHAIN": str(chain)})


def test_patterns_that_skip_the_signature_are_refused(key: str) -> None:
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": key, "STORAGE_ALLOW_PATTERNS": "*.safetensors"}
    with pytest.raises(UsageError, match=r"would skip model\.sig"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "MODEL_REGISTRY_SIGNATURE": "off"}).signature.mode == "off"


def test_rsa_and_unsupported_curves_are_refused(tmp_path: Path) -> None:
    for name, private in (
        ("rsa", rsa.generate_private_key(65537, 2048)),
        ("k1", ec.generate_private_key(ec.SECP256K1())),
    ):
        path = tmp_path / f"{name}.pub"
        path.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        with pytest.raises(UsageError, match="key 1 is not an EC P-256, P-384 or P-521 key"):
            Settings.from_env({"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(path)})


def test_p384_and_p521_keys_are_accepted(tmp_path: Path) -> None:
    keys = [make_key(tmp_path, name, curve).public for name, curve in (("a", ec.SECP384R1()), ("b", ec.SECP521R1()))]
    policy = Settings.from_env({"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": ",".join(map(str, keys))}).signature
    assert policy.public_keys == tuple(k.read_bytes() for k in keys)


def test_keys_and_chains_may_be_given_inline(tmp_path: Path) -> None:
    pems = [make_key(tmp_path, name).public.read_bytes() for name in ("a", "b")]
    env = {"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": b"".join(pems).decode()}
    assert Settings.from_env(env).signature.public_keys == tuple(pems)


def test_a_file_without_pem_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.pub").write_text("nothing here")
    with pytest.raises(UsageError, match="holds no PEM block"):
        Settings.from_env({"MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(tmp_path / "empty.pub")})


def test_registry_properties_only_narrow_the_policy() -> None:
    artifact = {"signature.identity": {"string_value": "a@example.com", "metadataType": "MetadataStringValue"}}
    version = {
        "signature.required": {"string_value": "true", "metadataType": "MetadataStringValue"},
        "signature.identity": {"string_value": "b@example.com", "metadataType": "MetadataStringValue"},
    }
    found = read_signature_properties([("model artifact", artifact), ("model version", version)])
    assert found.required == "the model version's signature.required"
    assert found.identities == (("a@example.com", "model artifact"), ("b@example.com", "model version"))
    assert (
        read_signature_properties([("model version", {"signature.required": {"string_value": "no"}})]).required is None
    )
    flagged = read_signature_properties([("model version", {"signature.required": {"bool_value": True}})]).required
    assert flagged == "the model version's signature.required"
    assert (
        read_signature_properties([("model artifact", artifact)]).required == "the model artifact's signature.identity"
    )
