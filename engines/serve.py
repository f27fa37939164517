"""`camerapose serve DIR`: NVIDIA Triton Inference Server, the build bundled with nvidia-pytriton,
serving the Python-backend variant of a model repository (`camerapose export --triton-repo DIR`).

    with TritonServer(Path("repo"), ServeConfig(grpc_port=8001)) as server:   # starts, waits for ready
        runner = TritonRunner(server.grpc_url)

nvidia-pytriton pins numpy < 2, so it lives in a side environment of its own (like the MediaPipe
peer of the benchmarks), made on first use in the asset cache (`<cache>/envs/pytriton`): a venv of
this interpreter's Python with `PACKAGES` from PyPI; `env.json` is written last, so a half-made one
is made again. The bundle has only the Python backend; its stub (one binary per Python version) is
copied beside the backend, and it needs this Python's own libpython first in LD_LIBRARY_PATH (a
system libpython of the same version loads otherwise and fails on a `_thread.RLock`), the bundle's
`nvidia_pytriton.libs` too, and the venv's `bin` first in PATH (how the stub finds the venv's
numpy and onnxruntime). The server binds loopback unless told otherwise, readiness is polled with
a timeout (a failing stub can leave it not ready forever), and it is stopped with SIGTERM then
SIGKILL (it ignores SIGINT, which is ours: Ctrl-C stops this command, which stops the server).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from camerapose.children import dies_with_parent
from camerapose.core.config import check_ranges
from camerapose.core.errors import CameraPoseError, InputError

log = logging.getLogger(__name__)

PACKAGES = ("nvidia-pytriton==0.7.0", "onnxruntime>=1.17,<2", "numpy<2")
KEEP_LOGS = 20
ERROR_LINE = re.compile(r"E\d{4} [\d:.]+ +\d+ [^\]]+\] ")


def env_dir() -> Path:
    """Where the side environment lives: `<asset cache>/envs/pytriton`."""
    from camerapose.assets import cache_dir

    return cache_dir() / "envs" / "pytriton"


@dataclass(frozen=True)
class SideEnv:
    """A made side environment: its python, the bundled server and what the stub needs."""

    root: Path
    python: Path
    site: Path  # site-packages
    libpython_dir: Path  # the folder of this Python's libpython3.X.so

    @property
    def tritonserver(self) -> Path:
        return self.site / "pytriton" / "tritonserver" / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.root / "backends"

    def process_env(self) -> dict[str, str]:
        """The environment tritonserver and its Python stubs run in."""
        env = dict(os.environ)
        libs = [str(self.libpython_dir), str(self.site / "nvidia_pytriton.libs")]
        env["LD_LIBRARY_PATH"] = ":".join([*libs, *filter(None, [env.get("LD_LIBRARY_PATH")])])
        env["PATH"] = f"{self.python.parent}:{env.get('PATH', '/usr/bin:/bin')}"
        for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # ours would shadow the side venv's
            env.pop(key, None)
        return env


def side_env() -> SideEnv:
    """The side environment (`assets.side_env`: made on first use, minutes, once; SideEnvUnavailable
    if pip fails), with the Python backend and its stub set up beside it."""
    from camerapose.assets import side_env as make_env

    log.info("the Triton side environment: %s (about 450 MB when first made)", env_dir())
    python = make_env("pytriton", PACKAGES)
    root = python.parent.parent
    facts = _read_facts(root, python)
    if facts is None:
        facts = _probe(python)
        _make_backends(root, Path(facts["site"]), facts["version"])
        facts.update(python=str(python), packages=list(PACKAGES))
        (root / "env.json").write_text(json.dumps(facts, indent=1))  # last: a half-set-up one is redone
    return SideEnv(root, python, Path(facts["site"]), Path(facts["libpython_dir"]))


def _read_facts(root: Path, python: Path) -> dict | None:
    """env.json of an environment set up for these PACKAGES and this python, or None."""
    try:
        facts = json.loads((root / "env.json").read_text())
    except (OSError, ValueError):
        return None
    ok = facts.get("packages") == list(PACKAGES) and facts.get("python") == str(python)
    return facts if ok and (root / "backends" / "python").is_dir() else None


_PROBE = """import json, site, sys, sysconfig
print(json.dumps({"version": "%d.%d" % sys.version_info[:2], "site": site.getsitepackages()[0],
                  "libdir": sysconfig.get_config_var("LIBDIR") or "",
                  "ldlibrary": sysconfig.get_config_var("LDLIBRARY") or ""}))"""


def _probe(python: Path) -> dict:
    """The side Python's version, site-packages and libpython folder (the stub links libpython3.X.so)."""
    facts = json.loads(subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True,
                                      check=True).stdout)
    lib = Path(facts["libdir"]) / facts["ldlibrary"]
    if not facts["ldlibrary"].endswith(".so") or not lib.is_file():
        raise CameraPoseError(f"Triton's Python stub needs a shared libpython, and {python}'s Python has "
                              f"none ({lib}); make the environment with a Python built with --enable-shared")
    facts["libpython_dir"] = facts["libdir"]
    return facts


def _make_backends(root: Path, site: Path, version: str) -> None:
    """<root>/backends/python: the bundle's Python backend plus the stub for this Python version."""
    bundle = site / "pytriton" / "tritonserver"
    stub = bundle / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise CameraPoseError(f"nvidia-pytriton has no Python-backend stub for Python {version}")
    dest = root / "backends" / "python"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(bundle / "backends" / "python", dest, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(stub, dest / "triton_python_backend_stub")


# -- the server -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServeConfig:
    """host: the address all three endpoints bind (loopback unless the server is meant for the
    network); ports: HTTP, gRPC (what `lift.triton_url` names), Prometheus metrics."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    ready_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        check_ranges("serve", self, http_port=(1, 65535), grpc_port=(1, 65535), metrics_port=(1, 65535),
                     ready_timeout_s=(1, 3600))
        ports = [self.http_port, self.grpc_port, self.metrics_port]
        if len(set(ports)) != 3:
            raise InputError(f"--http-port, --grpc-port and --metrics-port must differ, got {ports}")

    @property
    def local_host(self) -> str:
        """The address to reach the server at from this machine."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host


def model_repository(repo: Path) -> Path:
    """The folder tritonserver serves: DIR/python for an export's repository, else DIR itself when its
    models are there; InputError when there is none."""
    for folder in (repo / "python", repo):
        if folder.is_dir() and any(folder.glob("*/config.pbtxt")):
            return folder
    raise InputError(f"{repo}: not a Triton model repository (no python/<model>/config.pbtxt; make one "
                     "with `camerapose export CHECKPOINT --triton-repo DIR`)")


def check_ports_free(cfg: ServeConfig) -> None:
    """InputError naming the first of the three ports something already listens on."""
    for flag, port in (("--http-port", cfg.http_port), ("--grpc-port", cfg.grpc_port),
                       ("--metrics-port", cfg.metrics_port)):
        with socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            try:
                s.bind((cfg.host, port))
            except OSError as err:
                raise InputError(f"port {port} on {cfg.host} is in use or not available ({err.strerror}); "
                                 f"pick another with {flag} N") from None


class TritonServer:
    """The bundled tritonserver on `model_repository(repo)`; a context manager (start .. stop)."""

    def __init__(self, repo: Path, cfg: ServeConfig = ServeConfig(), env: SideEnv | None = None) -> None:
        self.repo, self.cfg = model_repository(Path(repo)), cfg
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def grpc_url(self) -> str:
        return f"{self.cfg.local_host}:{self.cfg.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.cfg.local_host}:{self.cfg.http_port}"

    def command(self) -> list[str]:
        c, env = self.cfg, self.env
        assert env is not None
        return [str(env.tritonserver), f"--model-repository={self.repo}",
                f"--backend-directory={env.backends}",
                f"--http-address={c.host}", f"--http-port={c.http_port}",
                f"--grpc-address={c.host}", f"--grpc-port={c.grpc_port}",
                f"--metrics-address={c.host}", f"--metrics-port={c.metrics_port}",
                "--allow-gpu-metrics=false", "--strict-readiness=true", "--exit-timeout-secs=5"]

    def start(self) -> None:
        """Start it and wait until it is ready; CameraPoseError (one line) if it does not get there."""
        check_ports_free(self.cfg)
        self.env = self.env or side_env()
        logs = self.env.root / "logs"
        logs.mkdir(exist_ok=True)
        for old in sorted(logs.glob("tritonserver-*.log"), key=lambda p: p.stat().st_mtime)[:-KEEP_LOGS]:
            old.unlink(missing_ok=True)  # one log per gRPC port; tests and benchmarks pick new ports
        self.log_path = logs / f"tritonserver-{self.cfg.grpc_port}.log"
        with open(self.log_path, "wb") as out:  # Ctrl-C is ours: this command stops the server
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env.process_env(),
                                         preexec_fn=dies_with_parent(ignore_sigint=True))
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise CameraPoseError(f"tritonserver exited while starting ({self.exit_reason()})")
            if self._ready():
                return
            time.sleep(0.2)
        raise CameraPoseError(f"tritonserver was not ready after {self.cfg.ready_timeout_s:.0f} s "
                              f"({self.exit_reason()})")

    def _ready(self) -> bool:
        """Triton's readiness endpoint on the server we started (a direct connection to its own host
        and port: urllib would send it through any proxy the environment names)."""
        conn = http.client.HTTPConnection(self.cfg.local_host, self.cfg.http_port, timeout=1.0)
        try:
            conn.request("GET", "/v2/health/ready")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):  # refused while it starts, a timeout, a reset
            return False
        finally:
            conn.close()

    def exit_reason(self) -> str:
        """The server's last error line (or its exit code) and where its log is."""
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path else []
        # Triton's own error lines ("E1208 00:56:15.857 123 file.cc:642] \"...\""), else any "error:"
        errors = [ERROR_LINE.sub("", s) for s in lines if ERROR_LINE.match(s)]
        errors = errors or [s for s in lines if s.lower().startswith("error:") and "NVML" not in s]
        code = self.proc.poll() if self.proc is not None else None
        if code is not None and code < 0:  # killed: its log says nothing of it
            return f"killed by {signal.Signals(-code).name}; log: {self.log_path}"
        what = (errors[-1].strip().strip('"').split("\\n")[0][:300] if errors
                else f"exit code {code}" if code is not None else "no error logged")
        return f"{what}; log: {self.log_path}"

    def poll(self) -> int | None:
        """The server's exit code once it has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout_s` (in-flight requests get 5 s), then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver did not stop within %.0f s; killing it", timeout_s)
            proc.kill()
            proc.wait()

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
