"""``mr-registry-lite``: run the embedded development Model Registry."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from model_registry_lite import versions
from model_registry_lite.server import RegistryServer
from model_registry_lite.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mr-registry-lite",
        description="A small, spec-conformant Kubeflow Model Registry (REST v1 and v1alpha3) for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    parser.add_argument("--db", help="SQLite file to keep data in (default: memory)")
    parser.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' on every API call (visible in ps: prefer --token-file "
        "or MODEL_REGISTRY_LITE_TOKEN)",
    )
    parser.add_argument("--token-file", help="like --token, the token read from FILE (first non-# line)")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--api-versions",
        default="v1,v1alpha3",
        help="API versions to serve: v1,v1alpha3 (default), v1 (after the alpha sunset), v1alpha3 (up to v0.3.14)",
    )
    parser.add_argument(
        "--alpha-sunset-date",
        "--deprecate-v1alpha3",
        metavar="YYYY-MM-DD",
        help="add Deprecation/Sunset/Link headers to every v1alpha3 answer, as upstream's flag does",
    )
    parser.add_argument("--gone-v1alpha3", action="store_true", help="answer 410 Gone on every v1alpha3 path")
    parser.add_argument("--version", action="version", version=_version())
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("mr-storage-initializer")  # the distribution that ships mr-registry-lite
    except PackageNotFoundError:
        ours = "unknown"
    return f"mr-registry-lite {ours} (Model Registry REST API {', '.join(versions.VERSIONS)})"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("mr-registry-lite: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    token = args.token or os.environ.get("MODEL_REGISTRY_LITE_TOKEN", "").strip() or None
    if args.token_file:
        try:
            lines = Path(args.token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"mr-registry-lite: cannot read --token-file {args.token_file}: {exc}", file=sys.stderr)
            return 2
        token = next((x.strip() for x in lines if x.strip() and not x.strip().startswith("#")), None)
        if token is None:
            print(f"mr-registry-lite: --token-file {args.token_file} holds no token", file=sys.stderr)
            return 2
    try:
        served = versions.parse_versions(args.api_versions)
        if args.alpha_sunset_date:
            versions.sunset_headers(args.alpha_sunset_date)
    except ValueError as exc:
        print(f"mr-registry-lite: {exc}", file=sys.stderr)
        return 2
    # Go's decoder takes JSON nested up to 10,000 deep; Python's parser stops at the recursion limit.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 11_000))
    store = Store(args.db)
    try:
        server = RegistryServer(
            (args.host, args.port),
            store,
            token=token,
            verbose=args.verbose,
            api_versions=served,
            alpha_sunset=args.alpha_sunset_date,
            alpha_gone=args.gone_v1alpha3,
        )
    except OSError as exc:
        print(f"mr-registry-lite: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    scheme = "http"
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"mr-registry-lite: cannot load the TLS certificate or key: {exc}", file=sys.stderr)
            return 2
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on {scheme}://{shown}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        store.close()
    return 0
