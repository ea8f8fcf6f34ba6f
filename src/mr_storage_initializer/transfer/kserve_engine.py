"""The engine that hands the URI to KServe's own storage library (``kserve_storage.Storage.download``).

It serves every scheme KServe's storage initializer serves (s3, gs, azure blob and file shares, http(s),
hf, ms, oci, git, hdfs, local paths) with KServe's credential environment variables, unchanged.
"""

from __future__ import annotations

from pathlib import Path


class KServeEngine:
    name = "kserve"

    def download(self, uri: str, dest: Path) -> str:
        from kserve_storage import Storage

        from mr_storage_initializer.logs import adopt_library_loggers
        from mr_storage_initializer.policy import requests_redirect_guard

        adopt_library_loggers()  # importing kserve_storage may have configured its own handlers
        with requests_redirect_guard():  # the artifact policy, after every redirect of an http(s) download
            Storage.download(uri, out_dir=str(dest))
        return self.name


def instead_of(uri: str, reason: BaseException) -> KServeEngine:
    """KServe's engine for a download the own engine cannot do, with the reason logged once."""
    import logging

    from mr_storage_initializer.redact import redact_url

    logging.getLogger("mr_storage_initializer.transfer").warning(
        "handing %s to kserve_storage: %s", redact_url(uri), reason, extra={"step": "fallback"}
    )
    return KServeEngine()
