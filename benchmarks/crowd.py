"""A crowd of pods: N initializers started at once against one registry and one bucket, on loopback.

A 200-replica rollout starts 200 storage initializers together. This starts ``--pods`` (default 100)
``mr-storage-initializer model-registry://127.0.0.1:PORT/crowd/v1 DEST`` processes at the same moment
against one ``mr-registry-lite`` (its own process, ``--verbose`` so that every request is counted from its
log) and one moto S3 server (its own process), and reports: failures, registry requests per initializer,
the answers that were not 200, and the p50/p99/max wall time of one initializer (launch to exit).
``--lite-backlog 5`` runs the registry with socketserver's default listen backlog, for comparison.

    python benchmarks/crowd.py [--pods 100] [--size-kib 1024] [--lite-backlog 1024] [--write]

Bounded: one run, loopback only, every process has a timeout; ``--write`` replaces the crowd block of
benchmarks/RESULTS.md (below its notes line).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BIN, ROOT, S3_ENV, free_port, moto, upload, wait_for_port

BLOCK_START, BLOCK_END = "<!-- crowd -->", "<!-- /crowd -->"
RUN_TIMEOUT = 300.0
_REQUEST = re.compile(r'"GET (/api/model_registry/\S+) HTTP/1\.[01]" (\d{3})')
LITE = (
    "import sys; from model_registry_lite import server; server.RegistryServer.request_queue_size = int(sys.argv[1]);"
    " from model_registry_lite.cli import main; sys.exit(main(sys.argv[2:]))"
)


def register(registry: str, uri: str) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    from model_registry import ModelRegistry

    host, _, port = registry.rpartition(":")
    client = ModelRegistry(f"http://{host}", int(port), author="bench", is_secure=False)
    client.register_model("crowd", uri, model_format_name="bench", model_format_version="1", version="v1")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def crowd(pods: int, size: int, backlog: int, work: Path) -> dict[str, object]:
    port = free_port()
    log_path = work / "registry.log"
    args = [sys.executable, "-c", LITE, str(backlog), "--host", "127.0.0.1", "--port", str(port), "--verbose"]
    with open(log_path, "wb") as log, moto() as endpoint:
        lite = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for_port(port, lite, "mr-registry-lite")
            upload(endpoint, "crowd", {"model/model.bin": os.urandom(size)})
            registry = f"127.0.0.1:{port}"
            register(registry, "s3://crowd/model")
            log.flush()
            before = len(_REQUEST.findall(log_path.read_text(errors="replace")))
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("MODEL_REGISTRY_", "AWS_", "S3_"))},
                **S3_ENV,
                "AWS_ENDPOINT_URL": endpoint,
                "MODEL_REGISTRY_TIMEOUT": "120",
            }
            uri = f"model-registry://{registry}/crowd/v1"
            times: list[float] = [0.0] * pods
            codes: list[int] = [0] * pods
            started = time.monotonic()

            def one(i: int) -> None:
                t0 = time.monotonic()
                proc = subprocess.run(
                    [str(BIN / "mr-storage-initializer"), uri, str(work / f"pod-{i}")],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=RUN_TIMEOUT,
                    check=False,
                )
                times[i] = time.monotonic() - t0
                codes[i] = proc.returncode
                if proc.returncode:
                    lines = proc.stderr.decode(errors="replace").strip().splitlines()
                    print(f"crowd: pod {i} exit {proc.returncode}: {lines[-1] if lines else ''}", file=sys.stderr)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(pods)]
            for thread in threads:  # all at once, as a rollout's init containers start
                thread.start()
            for thread in threads:
                thread.join(RUN_TIMEOUT + 10)
            wall = time.monotonic() - started
        finally:
            lite.terminate()
            lite.wait(10)
    seen = _REQUEST.findall(log_path.read_text(errors="replace"))[before:]
    statuses: dict[str, int] = {}
    for _, status in seen:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "pods": pods,
        "backlog": backlog,
        "failures": sum(1 for c in codes if c != 0),
        "registry_requests": len(seen),
        "per_pod": len(seen) / pods,
        "statuses": statuses,
        "p50": statistics.median(times),
        "p99": percentile(times, 99),
        "max": max(times),
        "wall": wall,
        "size": size,
    }


def machine_line() -> str:
    import platform

    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def registry_burst(pods: int, backlog: int, work: Path) -> dict[str, object]:
    """Only the registry conversation of ``pods`` initializers, released at one instant (threads of this process
    behind a barrier, each with its own client and connections): what a listen backlog does to a burst."""
    from mr_storage_initializer.resolve import resolve
    from mr_storage_initializer.settings import Settings
    from mr_storage_initializer.uri import parse_uri

    port = free_port()
    log_path = work / "registry.log"
    args = [sys.executable, "-c", LITE, str(backlog), "--host", "127.0.0.1", "--port", str(port), "--verbose"]
    with open(log_path, "wb") as log:
        lite = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for_port(port, lite, "mr-registry-lite")
            registry = f"127.0.0.1:{port}"
            register(registry, "s3://crowd/model")
            log.flush()
            before = len(_REQUEST.findall(log_path.read_text(errors="replace")))
            settings = Settings.from_env({"MODEL_REGISTRY_TIMEOUT": "120"})
            parsed = parse_uri(f"model-registry://{registry}/crowd/v1")
            times: list[float] = [0.0] * pods
            failures: list[str] = []
            barrier = threading.Barrier(pods)

            def one(i: int) -> None:
                barrier.wait(60)
                t0 = time.monotonic()
                try:
                    resolve(parsed, settings)
                except Exception as exc:  # counted and shown: the benchmark reports failures, it does not stop
                    failures.append(f"{type(exc).__name__}: {exc}")
                times[i] = time.monotonic() - t0

            started = time.monotonic()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(pods)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(RUN_TIMEOUT)
            wall = time.monotonic() - started
        finally:
            lite.terminate()
            lite.wait(10)
    for failure in failures[:3]:
        print(f"crowd: {failure}", file=sys.stderr)
    seen = _REQUEST.findall(log_path.read_text(errors="replace"))[before:]
    statuses: dict[str, int] = {}
    for _, status in seen:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "pods": pods,
        "backlog": backlog,
        "failures": len(failures),
        "registry_requests": len(seen),
        "per_pod": len(seen) / pods,
        "statuses": statuses,
        "p50": statistics.median(times),
        "p99": percentile(times, 99),
        "max": max(times),
        "wall": wall,
        "size": 0,
    }


def report(results: list[dict[str, object]]) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BLOCK_START,
        "## A crowd of pods (`benchmarks/crowd.py`)",
        "",
        f"- Date: {when}; {machine_line()}; one run per row, everything on 127.0.0.1",
        "- N initializers started at the same moment (`model-registry://HOST:PORT/crowd/v1`, one S3 object), "
        "one `mr-registry-lite` (its own process), one moto S3 server (its own process)",
        "- time: one initializer's wall time from launch to exit (process start and imports included, on 2 shared "
        "cores: the crowd queues for the CPU)",
        "",
        "| pods | registry listen backlog | object | failures | registry requests per initializer | answers | "
        "p50 | p99 | max | whole crowd |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["size"] == 0:
            continue
        answers = ", ".join(f"{n}x {s}" for s, n in sorted(r["statuses"].items()))  # type: ignore[attr-defined]
        lines.append(
            f"| {r['pods']} | {r['backlog']} | {int(r['size']) // 1024} KiB | {r['failures']} | {r['per_pod']:.2f} | "
            f"{answers} | {r['p50']:.2f} s | {r['p99']:.2f} s | {r['max']:.2f} s | {r['wall']:.2f} s |"
        )
    bursts = [r for r in results if r["size"] == 0]
    if bursts:
        lines += [
            "",
            "The registry alone: the resolution (`resolve`, three GETs, own connections) of N initializers released "
            "at one instant from threads of one process, so that their connections arrive together:",
            "",
            "| initializers | registry listen backlog | failures | registry requests per initializer | answers | "
            "p50 | p99 | max |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in bursts:
            answers = ", ".join(f"{n}x {s}" for s, n in sorted(r["statuses"].items()))  # type: ignore[attr-defined]
            lines.append(
                f"| {r['pods']} | {r['backlog']} | {r['failures']} | {r['per_pod']:.2f} | {answers} | "
                f"{r['p50']:.3f} s | {r['p99']:.3f} s | {r['max']:.3f} s |"
            )
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def write(block: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    if BLOCK_START in text:
        head, _, rest = text.partition(BLOCK_START)
        _, _, tail = rest.partition(BLOCK_END)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--size-kib", type=int, default=1024)
    parser.add_argument("--lite-backlog", default="1024", help="comma-separated: one run per value")
    parser.add_argument("--burst", type=int, default=200, help="initializers of the registry-only burst (0: none)")
    parser.add_argument("--write", action="store_true", help="replace the crowd block of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if not 0 <= args.pods <= 300 or not 0 <= args.burst <= 500:
        parser.error("--pods must be from 0 to 300, --burst from 0 to 500")
    results = []
    for backlog in (int(b) for b in args.lite_backlog.split(",")):
        if args.pods:
            with tempfile.TemporaryDirectory(prefix="crowd-") as work:
                results.append(crowd(args.pods, args.size_kib * 1024, backlog, Path(work)))
        if args.burst:
            with tempfile.TemporaryDirectory(prefix="crowd-") as work:
                results.append(registry_burst(args.burst, backlog, Path(work)))
    block = report(results)
    print(block)
    if args.write:
        write(block)
    return 0 if all(r["failures"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
