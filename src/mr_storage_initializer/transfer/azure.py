"""Azure Blob source for the fast engine, on obstore, configured as ``kserve_storage`` configures Azure.

URI: ``https://<account>.blob.core.windows.net/<container>/<path>[?<SAS>]`` (or the ``.zNN.blob.storage.
azure.net`` DNS-zone form). Credentials, in KServe's order:

1. a service principal: ``AZ_TENANT_ID``/``AZ_CLIENT_ID``/``AZ_CLIENT_SECRET`` (or their ``AZURE_*``
   names); with ``AZURE_FEDERATED_TOKEN_FILE`` instead of a secret, workload identity;
2. ``AZURE_STORAGE_ACCESS_KEY`` (the account key);
3. a SAS token in the URI's query string;
4. none: anonymous requests (public containers).

Trusted CAs: the system's plus ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` / KServe's global bundle,
which is what KServe's aiohttp-based client trusts. ``HTTPS_PROXY`` is honoured by both.

Left to ``kserve_storage`` (logged): ``AZURE_CLIENT_ID`` alone (managed identity and the rest of
``DefaultAzureCredential``'s chain).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mr_storage_initializer import proxy
from mr_storage_initializer.errors import StorageError
from mr_storage_initializer.tls import extra_roots
from mr_storage_initializer.transfer import own_engine
from mr_storage_initializer.transfer.objectstore import ObstoreSource
from mr_storage_initializer.transfer.source import Unsupported

if TYPE_CHECKING:
    from mr_storage_initializer.options import Tunables
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.transfer.engine import Engine, Hooks


def _credentials(env: Mapping[str, str], sas: str) -> dict[str, str | bool]:
    tenant = env.get("AZ_TENANT_ID") or env.get("AZURE_TENANT_ID", "")
    client = env.get("AZ_CLIENT_ID") or env.get("AZURE_CLIENT_ID", "")
    secret = env.get("AZ_CLIENT_SECRET") or env.get("AZURE_CLIENT_SECRET", "")
    if client:
        if secret and tenant:
            return {"client_id": client, "client_secret": secret, "tenant_id": tenant}
        token_file = env.get("AZURE_FEDERATED_TOKEN_FILE", "")
        if token_file and tenant:
            return {"client_id": client, "tenant_id": tenant, "federated_token_file": token_file}
        raise Unsupported("AZURE_CLIENT_ID without a secret or token file needs azure-identity's credential chain")
    if env.get("AZURE_STORAGE_ACCESS_KEY"):
        return {"access_key": env["AZURE_STORAGE_ACCESS_KEY"]}
    if sas:
        return {"sas_key": sas}
    return {"skip_signature": True}


def store_options(uri: str, env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """(obstore ``AzureStore`` keyword arguments, path inside the container) for ``uri``."""
    parts = urlsplit(uri)
    account = parts.netloc.split(".")[0]
    container, _, path = parts.path.lstrip("/").partition("/")
    if not account or not container:
        raise StorageError(f"{uri.split('?', maxsplit=1)[0]} names no storage account and container")
    config: dict[str, Any] = {"account_name": account, "endpoint": f"https://{parts.netloc}"}
    config.update(_credentials(env, parts.query))
    client: dict[str, Any] = {"connect_timeout": "30s", "timeout": "3600s", "pool_idle_timeout": "30s"}
    client.update(proxy.of_env(env).obstore_options(config["endpoint"]))  # Go's rules, not reqwest's
    roots = extra_roots(env)
    if roots:
        client["root_certificate"] = roots
    options = {
        "container_name": container,
        "config": config,
        "client_options": client,
        "retry_config": {"max_retries": 0},
    }
    return options, path


class AzureSource(ObstoreSource):
    label = "azure"
    credentials_hint = "check AZ_CLIENT_ID/AZ_CLIENT_SECRET/AZ_TENANT_ID, AZURE_STORAGE_ACCESS_KEY or the SAS"
    tls_hint = "check SSL_CERT_FILE or the CA bundle"

    def __init__(self, uri: str, env: Mapping[str, str]) -> None:
        options, path = store_options(uri, env)
        from obstore.store import AzureStore

        super().__init__(AzureStore(**options), path)


def engine(uri: str, settings: Settings, tunables: Tunables, hooks: Hooks) -> Engine:
    """The own engine for an Azure Blob URL (the scheme row's builder)."""
    return own_engine.on(AzureSource(uri, settings.storage_env), settings, tunables, hooks)
