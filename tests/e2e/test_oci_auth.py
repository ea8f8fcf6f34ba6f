"""oci:// credentials and TLS: htpasswd basic auth over HTTPS with the tests' CA, the Bearer token flow,
tokens never sent to the host a blob GET is redirected to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixtures.oci import BlobHost, OciProxy, Registry, docker_config, layer, tree_of
from helpers import run_cli


def _left(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_basic_auth_over_tls_from_kserves_docker_config(
    oci_registry_tls: Registry, tls_files: Any, tmp_path: Path
) -> None:
    oci_registry_tls.push_image("private/model", "v1", [layer({"models/w.bin": b"private"})])
    config = docker_config(tmp_path / "auth" / "config.json", oci_registry_tls.host, "reader", "s3cret-pw")
    env = {"KSERVE_OCI_DOCKER_CONFIG": str(config), "REQUESTS_CA_BUNDLE": str(tls_files.ca)}
    result = run_cli(f"oci://{oci_registry_tls.host}/private/model:v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": b"private"}
    assert "s3cret-pw" not in result.stderr


def test_username_and_password_from_docker_config_dir(
    oci_registry_tls: Registry, tls_files: Any, tmp_path: Path
) -> None:
    oci_registry_tls.push_image("private/other", "v1", [layer({"models/w.bin": b"other"})])
    docker_config(
        tmp_path / "docker" / "config.json", f"https://{oci_registry_tls.host}", "reader", "s3cret-pw", form="fields"
    )
    env = {
        "KSERVE_OCI_DOCKER_CONFIG": str(tmp_path / "absent.json"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "REQUESTS_CA_BUNDLE": str(tls_files.ca),
    }
    result = run_cli(f"oci://{oci_registry_tls.host}/private/other:v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": b"other"}


def test_a_wrong_password_is_exit_5_naming_the_config(
    oci_registry_tls: Registry, tls_files: Any, tmp_path: Path
) -> None:
    oci_registry_tls.push_image("private/denied", "v1", [layer({"models/w.bin": b"x"})])
    config = docker_config(tmp_path / "config.json", oci_registry_tls.host, "reader", "wrong-password-42")
    env = {"KSERVE_OCI_DOCKER_CONFIG": str(config), "REQUESTS_CA_BUNDLE": str(tls_files.ca)}
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry_tls.host}/private/denied:v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "ERROR" in result.last_line
    assert "refused access to the manifest" in result.last_line
    assert "wrong-password-42" not in result.stderr
    assert _left(dest) == []


def test_an_untrusted_certificate_is_a_tls_failure_not_a_full_disk(oci_registry_tls: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry_tls.host}/private/model:v1", dest, env={})
    assert result.code == 5, result.stderr
    assert "TLS failed" in result.last_line
    assert _left(dest) == []


def test_the_bearer_token_flow_with_credentials_from_registry_auth_file(
    oci_registry_token: Registry, tmp_path: Path
) -> None:
    oci_registry_token.push_image("tokened/model", "v1", [layer({"models/w.bin": b"tokened"}, "zstd")])
    config = docker_config(tmp_path / "auth.json", oci_registry_token.host, "puller", "t0ken-pw")
    env = {
        "KSERVE_OCI_INSECURE_REGISTRY": "yes",
        "KSERVE_OCI_DOCKER_CONFIG": str(tmp_path / "absent.json"),
        "REGISTRY_AUTH_FILE": str(config),
    }
    token = oci_registry_token.token
    assert token is not None
    before = len(token.requests)
    result = run_cli(f"oci://{oci_registry_token.host}/tokened/model:v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": b"tokened"}
    asked = token.requests[before:]
    assert asked
    assert asked[0]["scope"] == "repository:tokened/model:pull"
    assert asked[0]["service"] == "test-registry"
    assert asked[0]["authorization"] == "Basic"


def test_an_identitytoken_is_exchanged_with_the_oauth2_refresh_grant(
    oci_registry_token: Registry, tmp_path: Path
) -> None:
    token = oci_registry_token.token
    assert token is not None
    oci_registry_token.push_image("tokened/identity", "v1", [layer({"models/w.bin": b"identity"})])
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {oci_registry_token.host: {"identitytoken": token.refresh_token}}}))
    env = {"KSERVE_OCI_INSECURE_REGISTRY": "1", "KSERVE_OCI_DOCKER_CONFIG": str(config)}
    before = len(token.requests)
    result = run_cli(f"oci://{oci_registry_token.host}/tokened/identity:v1", tmp_path / "dest", env=env)
    assert result.code == 0, result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": b"identity"}
    posted = [r for r in token.requests[before:] if r["authorization"] == "post"]
    assert posted and posted[0]["grant_type"] == "refresh_token"
    assert posted[0]["scope"] == "repository:tokened/identity:pull"
    assert token.refresh_token not in result.stderr


def test_without_credentials_the_token_service_refusal_is_exit_5(oci_registry_token: Registry, tmp_path: Path) -> None:
    oci_registry_token.push_image("tokened/anon", "v1", [layer({"models/w.bin": b"x"})])
    env = {"KSERVE_OCI_INSECURE_REGISTRY": "1", "KSERVE_OCI_DOCKER_CONFIG": str(tmp_path / "absent.json")}
    dest = tmp_path / "dest"
    result = run_cli(f"oci://{oci_registry_token.host}/tokened/anon:v1", dest, env=env)
    assert result.code == 5, result.stderr
    assert "token service refused a token" in result.last_line
    assert "no credentials for it" in result.last_line
    assert _left(dest) == []


def test_a_blob_redirected_to_another_host_gets_no_token(oci_registry_token: Registry, tmp_path: Path) -> None:
    weights = bytes(range(256)) * 1000
    oci_registry_token.push_image("tokened/redirected", "v1", [layer({"models/w.bin": weights}, "none")])
    proxy = OciProxy(oci_registry_token)
    blobs = BlobHost(oci_registry_token)
    proxy.redirect_to = blobs
    try:
        config = docker_config(tmp_path / "auth.json", proxy.host, "puller", "t0ken-pw")
        env = {"KSERVE_OCI_INSECURE_REGISTRY": "true", "KSERVE_OCI_DOCKER_CONFIG": str(config)}
        result = run_cli(f"oci://{proxy.host}/tokened/redirected:v1", tmp_path / "dest", env=env)
    finally:
        proxy.stop()
        blobs.stop()
    assert result.code == 0, result.stderr
    assert tree_of(tmp_path / "dest") == {"w.bin": weights}
    assert blobs.seen, "the blob GETs went to the other host"
    assert all("Authorization" not in headers for headers in blobs.seen)
    blob_auth = [auth for path, auth in proxy.requests if "/blobs/" in path]
    assert blob_auth and all(auth and auth.startswith("Bearer ") for auth in blob_auth)  # the registry had its token
    assert "secret-signature" not in result.stderr
    assert json.loads((tmp_path / "dest" / ".model-registry.json").read_text())["transfer"]["engine"] == "fast"
