"""Verify a downloaded tree against its OpenSSF model signature with ``model-signing`` (imported here only).

``model_signing``'s own ``verify()`` re-hashes the model and returns nothing; we use its verifiers for the
signature alone (they return the signed manifest), read who signed and the manifest digest from the bundle
ourselves, and compare the files with our own parallel hashing, with messages that name the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mr_storage_initializer.digests import Digests, compare
from mr_storage_initializer.paths import is_real_file, remove_empty_dirs
from mr_storage_initializer.redact import redact_url
from mr_storage_initializer.signature_policy import (
    PROP_IDENTITY,
    PROP_URI,
    RegistrySignatureProperties,
    SignatureError,
    SignaturePolicy,
)
from mr_storage_initializer.staged import StagedTree

log = logging.getLogger("mr_storage_initializer.signing")
_STEP = {"step": "signature"}  # the log records' ``extra``


def key_fingerprint(pem: bytes) -> str:
    """``sha256:HEX`` of the key's PEM SubjectPublicKeyInfo: the hint ``model-signing`` writes into bundles."""
    key = serialization.load_pem_public_key(pem)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(pem).hexdigest()


def cert_identities(cert: x509.Certificate) -> list[str]:
    """The SAN values (e-mail, URI, DNS) and the RFC 4514 subject of ``cert``."""
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
            names.extend(str(v) for v in san.get_values_for_type(kind))
    except x509.ExtensionNotFound:
        pass
    if len(cert.subject):
        names.append(cert.subject.rfc4514_string())
    return names


def _method(bundle: dict[str, Any]) -> str:
    material = bundle.get("verificationMaterial")
    if not isinstance(material, dict):
        raise SignatureError("the signature file is not a Sigstore bundle (no verificationMaterial)")
    if "publicKey" in material:
        return "key"
    if material.get("tlogEntries") or "certificate" in material:
        return "sigstore"
    if "x509CertificateChain" in material:
        return "certificate"
    raise SignatureError("the signature file's verificationMaterial names no key or certificate")


def _leaf(bundle: dict[str, Any]) -> x509.Certificate:
    import base64

    material = bundle["verificationMaterial"]
    raw = material["certificate"]["rawBytes"] if "certificate" in material else None
    raw = raw or material["x509CertificateChain"]["certificates"][0]["rawBytes"]
    return x509.load_der_x509_certificate(base64.b64decode(raw))


_LOADING = threading.Lock()


def load_verifiers(*, sigstore: bool) -> None:
    """Import ``model-signing``'s verifier modules (the Sigstore one only when ``sigstore``).

    ``model_signing/__init__.py`` imports the package's whole API on any import: Sigstore, TUF and
    securesystemslib, about 0.6 s of CPU, which the key and certificate verifiers never use. So the package
    is registered without running its ``__init__`` (its submodules import as usual); where it was already
    imported in full, that is used.
    """
    with _LOADING:
        if "model_signing" not in sys.modules:
            spec = importlib.util.find_spec("model_signing")
            if spec is None or spec.loader is None:
                raise ImportError("model-signing is not installed; install mr-storage-initializer[signing]")
            sys.modules["model_signing"] = importlib.util.module_from_spec(spec)
        import model_signing._signing.sign_certificate
        import model_signing._signing.sign_ec_key

        if sigstore:
            import model_signing._signing.sign_sigstore  # noqa: F401


def _material(scratch: Path, name: str, data: bytes) -> Path:
    """The library reads keys, chains and trust configurations from files."""
    path = scratch / "material" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _verify_signature(
    policy: SignaturePolicy, sig: Path, bundle: dict[str, Any], scratch: Path
) -> tuple[str, str, Any]:
    """(method, signer, manifest): the signature checked by ``model-signing``'s verifiers, the signer read by us."""
    method = _method(bundle)
    load_verifiers(sigstore=method == "sigstore")
    if method not in policy.methods:
        configured = ", ".join(policy.methods)
        raise SignatureError(
            f"{policy.file_name} is signed with a {method}, but this initializer verifies only: {configured}"
        )
    if method == "key":
        signer, manifest = _verify_key(policy, sig, bundle, scratch)
    elif method == "certificate":
        signer, manifest = _verify_certificate(policy, sig, bundle, scratch)
    else:
        signer, manifest = _verify_sigstore(policy, sig, bundle, scratch)
    return method, signer, manifest


def _verify_key(policy: SignaturePolicy, sig: Path, bundle: dict[str, Any], scratch: Path) -> tuple[str, Any]:
    """(the key's fingerprint, manifest): the bundle's key hint picks among the configured public keys."""
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    name = policy.file_name
    hint = bundle["verificationMaterial"]["publicKey"].get("hint")
    keys = {key_fingerprint(pem): pem for pem in policy.public_keys}
    candidates = [(fp, pem) for fp, pem in keys.items() if not hint or fp == f"sha256:{hint}"]
    if not candidates:
        raise SignatureError(
            f"{name} was signed by key sha256:{hint}, which is not one of the {len(keys)} configured public keys"
        )
    for fingerprint, pem in candidates:
        path = _material(scratch, "key.pub", pem)
        try:
            manifest = sign_ec_key.Verifier(path).verify(sign_sigstore_pb.Signature.read(sig))
        except Exception:  # noqa: S112 - try the next key; none verifying is the error below
            continue
        return fingerprint, manifest
    raise SignatureError(f"the signature in {name} does not verify with the configured public key(s)")


def _verify_certificate(policy: SignaturePolicy, sig: Path, bundle: dict[str, Any], scratch: Path) -> tuple[str, Any]:
    """(the expected identity, manifest): the certificate chains to the configured chain and names it."""
    from model_signing._signing import sign_certificate, sign_sigstore_pb
    from OpenSSL import crypto

    name = policy.file_name
    try:
        chain = [_material(scratch, "chain.pem", b"".join(policy.cert_chain))]
        manifest = sign_certificate.Verifier(chain).verify(sign_sigstore_pb.Signature.read(sig))
    except crypto.X509StoreContextError as exc:
        raise SignatureError(
            f"the certificate in {name} does not chain to MODEL_REGISTRY_SIGNATURE_CERT_CHAIN ({exc})"
        ) from None
    seen = cert_identities(_leaf(bundle))
    _expect(name, seen, policy.cert_identity or "", "MODEL_REGISTRY_SIGNATURE_CERT_IDENTITY")
    return policy.cert_identity or "", manifest


def _verify_sigstore(policy: SignaturePolicy, sig: Path, bundle: dict[str, Any], scratch: Path) -> tuple[str, Any]:
    """(the expected identity, manifest): Sigstore's verifier, for the configured identity and issuer."""
    from model_signing._signing import sign_sigstore

    seen = cert_identities(_leaf(bundle))
    _expect(policy.file_name, seen, policy.sigstore_identity or "", "MODEL_REGISTRY_SIGNATURE_SIGSTORE_IDENTITY")
    verifier = sign_sigstore.Verifier(
        identity=policy.sigstore_identity or "",
        oidc_issuer=policy.sigstore_issuer or "",
        trust_config=_material(scratch, "trust.json", policy.sigstore_trust_config.encode())
        if policy.sigstore_trust_config
        else None,
    )
    manifest = verifier.verify(sign_sigstore.Signature.read(sig))
    return policy.sigstore_identity or "", manifest


def _expect(name: str, seen: list[str], expected: str, source: str) -> None:
    if expected not in seen:
        shown = seen[0] if seen else "an unnamed certificate"
        raise SignatureError(f"{name} was signed by {shown!r} but {expected!r} is expected ({source})")


def _ignored(rel: str, ignore: list[str]) -> bool:
    path = PurePosixPath(rel)
    return any(path.is_relative_to(PurePosixPath(p)) for p in ignore if p not in ("", "."))


def _compare(name: str, manifest: Any, root: Path, rels: list[str], *, single: bool, digests: Digests) -> None:
    params = manifest.serialization_type
    expected = {rd.identifier: rd.digest for rd in manifest.resource_descriptors()}
    if single:  # a single-file model is signed as the file itself: one resource, named "." or the file's name
        if len(expected) != 1 or len(rels) != 1:
            raise SignatureError(f"{name} signs {len(expected)} files but the artifact installs {len(rels)}")
        expected = {rels[0]: next(iter(expected.values()))}
    if params.get("method") == "files" and params.get("hash_type") == "sha256":
        ordered = {rel: expected[rel] for rel in rels if rel in expected} | expected
        found = compare({rel: d.digest_hex for rel, d in ordered.items()}, rels, digests)
        if found is None:
            return
        if found.problem == "missing":
            raise SignatureError(f"{found.path!r} is in the signed manifest of {name} but was not downloaded")
        if found.problem == "unlisted":
            raise SignatureError(f"{found.path!r} was downloaded but is not in the signed manifest of {name}")
        raise SignatureError(f"{found.path!r} does not match its digest in the signed manifest of {name}")
    # Shards, BLAKE2 or BLAKE3: the library hashes, as the signer did.
    from model_signing import hashing

    config = hashing.Config()  # type: ignore[no-untyped-call]
    if params["method"] == "shards":
        config.use_shard_serialization(
            hashing_algorithm=params["hash_type"], shard_size=params["shard_size"], allow_symlinks=False
        )
    else:
        config.use_file_serialization(hashing_algorithm=params["hash_type"], allow_symlinks=False)
    config.set_ignored_paths(paths=[], ignore_git_paths=False)
    target = root / rels[0] if single else root
    actual_manifest = config.hash(target, files_to_hash=None if single else [root / r for r in rels])
    got = {rd.identifier: rd.digest for rd in actual_manifest.resource_descriptors()}
    if single:
        got = {rels[0]: next(iter(got.values()))} if len(got) == 1 else got
    for key in sorted(set(expected) | set(got)):
        if expected.get(key) != got.get(key):
            file = key.split(":", 1)[0] if params["method"] == "shards" else key
            raise SignatureError(f"{file!r} does not match the signed manifest of {name}")


def manifest_digest(manifest: Any) -> str:
    """The in-toto subject digest: SHA-256 over the resources' digests in manifest order."""
    hasher = hashlib.sha256()
    for rd in manifest.resource_descriptors():
        hasher.update(rd.digest.digest_value)
    return "sha256:" + hasher.hexdigest()


def verify_tree(
    policy: SignaturePolicy,
    wanted: RegistrySignatureProperties,
    staging: Path,
    tree: StagedTree,
    *,
    fetch: Callable[[str, Path], StagedTree] | None = None,
    digests: Digests | None = None,
) -> tuple[dict[str, Any], StagedTree]:
    """Check ``staging`` (walked once as ``tree``); the provenance entry and the tree to install."""
    name = policy.file_name
    with tempfile.TemporaryDirectory(prefix="signature-") as scratch:
        found = _signature_file(policy, wanted, staging, tree, fetch=fetch, scratch=Path(scratch))
        if found is None:
            return {"method": "none", "file": None}, tree
        sig, single = found
        bundle = _read_bundle(name, sig)
        method, signer, manifest = _verify_signature(policy, sig, bundle, Path(scratch))
    signers = [signer] if method == "key" else cert_identities(_leaf(bundle))
    _check_signers(name, wanted, signers, signer)
    rels, dropped, tree = _keep_signed(name, manifest, staging, tree, single=single)
    _compare(name, manifest, staging, rels, single=single, digests=digests or Digests(staging))
    digest = manifest_digest(manifest)
    log.info(
        "%s verified: %d files signed by %s (%s), manifest %s", name, len(rels), signer, method, digest, extra=_STEP
    )
    summary = {
        "method": method,
        "signer": signer,
        "manifest_digest": digest,
        "file": redact_url(wanted.signature_uri) if single and wanted.signature_uri else name,
        "files": len(rels),
        "not_installed": dropped,
    }
    return summary, tree


def _signature_file(
    policy: SignaturePolicy,
    wanted: RegistrySignatureProperties,
    staging: Path,
    tree: StagedTree,
    *,
    fetch: Callable[[str, Path], StagedTree] | None,
    scratch: Path,
) -> tuple[Path, bool] | None:
    """The signature to check (the policy's file in the model, else the one the registry's ``signature.uri``
    names for a one-file model, fetched into ``scratch``) and whether it signs that one file; None for an
    unsigned model the policy lets through (with a warning)."""
    sig = staging / policy.file_name
    if is_real_file(sig):
        return sig, False
    if wanted.signature_uri and fetch is not None and len(tree.regular) == 1:
        found = fetch(wanted.signature_uri, scratch).regular
        if len(found) != 1:
            raise SignatureError(f"the signature at {PROP_URI} gave {len(found)} files, not one")
        return scratch / found[0], True
    if policy.mode == "required" or wanted.required:
        why = wanted.required or "MODEL_REGISTRY_SIGNATURE"
        raise SignatureError(f"the model has no {policy.file_name}, and a signature is required ({why})")
    log.warning(
        "the model is unsigned (no %s); installing it, as MODEL_REGISTRY_SIGNATURE=if-present allows",
        policy.file_name,
        extra=_STEP,
    )
    return None


def _read_bundle(name: str, sig: Path) -> dict[str, Any]:
    """The Sigstore bundle in ``sig`` as a JSON object."""
    try:
        bundle = json.loads(sig.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureError(f"{name} is not a JSON Sigstore bundle") from None
    if not isinstance(bundle, dict):
        raise SignatureError(f"{name} is not a JSON Sigstore bundle")
    return bundle


def _check_signers(name: str, wanted: RegistrySignatureProperties, signers: list[str], signer: str) -> None:
    """Every identity the registry's properties require is one of the ``signers`` (the key's fingerprint, or
    the certificate's identities)."""
    for identity, where in wanted.identities:
        if identity not in signers:
            raise SignatureError(f"{name} was signed by {signer!r} but the {where}'s {PROP_IDENTITY} is {identity!r}")


def _keep_signed(
    name: str, manifest: Any, staging: Path, tree: StagedTree, *, single: bool
) -> tuple[list[str], list[str], StagedTree]:
    """(the files the signature covers, what was removed from ``staging`` as not covered, the tree left).

    A signed model is installed without links; files the signer ignored (git metadata and the like) and empty
    directories (a tar's ``evil/``) are not signed, so not installed."""
    links = [f.path for f in tree.files if f.link]
    if links:
        raise SignatureError(f"{links[0]!r} is a symbolic link; a signed model is installed without links")
    ignore = [str(p) for p in manifest.serialization_type.get("ignore_paths", [])]
    rels = [r for r in tree.regular if r != name and not (not single and _ignored(r, ignore))]
    dropped = [r for r in tree.regular if r != name and r not in rels]
    if dropped:
        _remove_files(staging, dropped)
        gone = set(dropped)
        tree = StagedTree(tuple(f for f in tree.files if f.path not in gone))
        log.warning(
            "%d files the signature does not cover were not installed: %s",
            len(dropped),
            ", ".join(dropped[:5]),
            extra=_STEP,
        )
    empty = remove_empty_dirs(staging)
    if empty:
        log.warning(
            "%d empty directories the signature does not cover were not installed: %s",
            len(empty),
            ", ".join(empty[:5]),
            extra=_STEP,
        )
    return rels, [*dropped, *empty], tree


def _remove_files(staging: Path, rels: list[str]) -> None:
    """Remove the files ``rels`` from ``staging``, and each directory that this leaves empty."""
    for rel in rels:
        (staging / rel).unlink()
        parent = (staging / rel).parent
        while parent != staging and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
