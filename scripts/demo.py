"""`make demo`: the whole flow on loopback, as a platform engineer would see it in a cluster.

1. start the embedded Model Registry (mr-registry-lite) and an S3 API (moto) on 127.0.0.1;
2. upload a small sample model to s3://demo-models/iris/v1/ and register it with the official
   `model-registry` Python client;
3. run `mr-storage-initializer model-registry://iris/v1 ./models` and print the provenance file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLE = {
    "model.json": json.dumps(
        {
            "kind": "logistic-regression",
            "classes": ["setosa", "versicolor", "virginica"],
            "coef": [[0.4, -1.2], [0.1, 0.3]],
        }
    ).encode(),
    "README.md": b"# iris (demo)\nA tiny stand-in model registered by `make demo`.\n",
}


def start_registry(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_registry_lite", "--host", "127.0.0.1", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"demo: the embedded registry did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


def start_s3() -> tuple[object, str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in the demo output

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def main(models: Path = MODELS) -> int:
    s3_env = {
        "AWS_ACCESS_KEY_ID": "demo-key",
        "AWS_SECRET_ACCESS_KEY": "demo-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3_VERIFY_SSL": "0",
    }
    workdir = Path(tempfile.mkdtemp(prefix="mr-demo-"))
    registry, registry_url = start_registry(workdir / "registry.sqlite")
    s3, endpoint = start_s3()
    try:
        print(f"demo: model registry at {registry_url}, S3 (moto) at {endpoint}")
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            **{k.lower(): v for k, v in s3_env.items() if k.startswith("AWS_") and k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="demo-models")
        for name, data in SAMPLE.items():
            client.put_object(Bucket="demo-models", Key=f"iris/v1/{name}", Body=data)
        print("demo: uploaded the sample model to s3://demo-models/iris/v1/")

        warnings.filterwarnings("ignore", message="User access token is missing")  # expected: no auth here
        from model_registry import ModelRegistry

        scheme_host, _, port = registry_url.rpartition(":")
        mr = ModelRegistry(scheme_host, int(port), author="demo", is_secure=False, log_level=logging.ERROR)
        mr.register_model(
            "iris",
            "s3://demo-models/iris/v1",
            model_format_name="sklearn",
            model_format_version="1",
            version="v1",
            storage_key="demo-data-connection",
            storage_path="iris/v1",
            version_description="Iris classifier (demo)",
            metadata={"accuracy": 0.97, "license": "apache-2.0"},
        )
        print("demo: registered iris/v1 with the official model-registry client")

        if models.exists():
            shutil.rmtree(models)
        # The artifact's storageKey names an entry of the storage-config secret, passed as KServe's
        # ClusterStorageContainer would pass it (envFrom, prefix MR_STORAGE_CONFIG_): its own keys and endpoint.
        entry = {"type": "s3", "endpoint_url": endpoint, "region": "us-east-1", "bucket": "demo-models"}
        entry.update(access_key_id=s3_env["AWS_ACCESS_KEY_ID"], secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"])
        env = {
            **os.environ,
            "S3_VERIFY_SSL": "0",
            "MR_STORAGE_CONFIG_demo-data-connection": json.dumps(entry),
            "MODEL_REGISTRY_BASE_URL": registry_url.removeprefix("http://"),
        }
        command = ["mr-storage-initializer", "model-registry://iris/v1", str(models)]
        print("demo: $ " + " ".join(command))
        result = subprocess.run([str(Path(sys.executable).parent / command[0]), *command[1:]], env=env, check=False)
        if result.returncode != 0:
            print(f"demo: the initializer exited {result.returncode}", file=sys.stderr)
            return result.returncode
        print(f"demo: installed into {models}:")
        for path in sorted(models.rglob("*")):
            print(f"  {path.relative_to(models)}  ({path.stat().st_size} bytes)")
        print(f"demo: provenance ({models / '.model-registry.json'}):")
        print((models / ".model-registry.json").read_text())
        return 0
    finally:
        registry.terminate()
        registry.wait(10)
        s3.stop()  # type: ignore[attr-defined]
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    threading.current_thread().name = "demo"
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else MODELS))
