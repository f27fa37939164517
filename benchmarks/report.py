"""Benchmark reports: summary statistics, the machine they were measured on, and the writer that
turns one suite's results into Markdown + JSON + PNG plots.

    rep = Report("engines", "Engine latency vs batch")
    rep.add_table("onnxruntime", ["batch", "p50 ms", "p95 ms"], rows)
    rep.add_plot("latency_vs_batch.png", fig)
    rep.data["samples"] = {...}
    rep.write(Path("benchmarks/results"))   # engines.md, engines.json, latency_vs_batch.png

Speed is only ever reported here, never asserted in tests; a speed-up is a ratio of two
variants measured side by side in one run.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import json
import os
import platform
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import CameraPoseError

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def latency_stats(samples_ms: Any) -> dict[str, float]:
    """Summary of latency samples in ms: n, mean, p50, p95, p99, min, max."""
    a = np.asarray(samples_ms, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError("latency_stats: no samples")
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": int(a.size), "mean": float(a.mean()), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "min": float(a.min()), "max": float(a.max())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    """stdout of a short command, or None when it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    head = _run(["git", "rev-parse", "--short", "HEAD"], here)
    if head is None:
        return "unknown"
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], here)
    return head + ("+dirty" if dirty else "")


def _version(*dists: str) -> str | None:
    """Version of the first installed distribution among `dists` (e.g. onnxruntime, onnxruntime-gpu)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _module_version(module: str) -> str | None:
    """`module.__version__` for packages installed without pip metadata (JetPack's tensorrt)."""
    import importlib
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return None
        return str(getattr(importlib.import_module(module), "__version__", None) or "") or None
    except Exception:  # a broken system package must not stop a report
        return None


def _versions() -> dict[str, str]:
    found = {
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime", "onnxruntime-gpu"),
        "torch": _version("torch"),
        "tensorrt": _version("tensorrt", "tensorrt-cu13", "tensorrt-cu12") or _module_version("tensorrt"),
        "pycuda": _version("pycuda"),
        "opencv": _version("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
        "pyzmq": _version("pyzmq"),
        "ai-edge-litert": _version("ai-edge-litert"),
    }
    return {k: v for k, v in found.items() if v}


def _ort_providers() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:
        return []


def _gpu() -> dict[str, str] | None:
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"])
    if out is None:
        return None
    name, driver, cc = (s.strip() for s in out.splitlines()[0].split(",")[:3])
    return {"name": name, "driver": driver, "compute_capability": cc}


def _cuda() -> dict[str, str]:
    """CUDA the driver supports (nvidia-smi's header) and the toolkit nvcc belongs to."""
    out: dict[str, str] = {}
    smi = _run(["nvidia-smi"])
    if smi and (m := re.search(r"CUDA Version:\s*([\d.]+)", smi)):
        out["driver"] = m.group(1)
    nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").is_file()
                                    else None)
    text = _run([nvcc, "--version"]) if nvcc else None
    if text and (m := re.search(r"release ([\d.]+)", text)):
        out["toolkit"] = m.group(1)
    return out


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").replace("\x00", "").strip() or None
    except OSError:
        return None


def _jetson_power_mode() -> str | None:
    """`nvpmodel -q` ("NV Power Mode: MAXN" + id), else the id in /var/lib/nvpmodel/status named
    through /etc/nvpmodel.conf; None off a Jetson or when neither is readable."""
    out = _run(["nvpmodel", "-q"])
    if out:
        lines = [s.strip() for s in out.splitlines() if s.strip()]
        name = lines[0].split(":", 1)[-1].strip()
        return f"{name} (mode {lines[1]})" if len(lines) > 1 and lines[1].isdigit() else name
    status = _read("/var/lib/nvpmodel/status")
    m = re.search(r"pmode:0*(\d+)", status or "")
    if m is None:
        return None
    conf = _read("/etc/nvpmodel.conf") or ""
    named = re.search(rf"<\s*POWER_MODEL\s+ID={m.group(1)}\s+NAME=(\S+)\s*>", conf)
    return f"{named.group(1)} (mode {m.group(1)})" if named else f"mode {m.group(1)}"


def _jetson() -> dict[str, str] | None:
    """Board model and L4T release on a Jetson (from /proc/device-tree and /etc/nv_tegra_release)."""
    release = _read("/etc/nv_tegra_release")
    if release is None:
        return None
    m = re.search(r"R(\d+) \(release\), REVISION: ([\d.]+)", release)
    return {"model": _read("/proc/device-tree/model") or "Jetson",
            "l4t": f"{m.group(1)}.{m.group(2)}" if m else release.splitlines()[0]}


@functools.lru_cache(maxsize=1)
def _static_machine_info() -> dict[str, Any]:
    jetson = _jetson()
    gpu = _gpu()
    if gpu is None and jetson is not None:  # older JetPacks have no nvidia-smi: the GPU is the SoC's
        gpu = {"name": f"{jetson['model']} (integrated)", "driver": f"L4T {jetson['l4t']}"}
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "gpu": gpu,
        "cuda": _cuda(),
        "jetson": jetson,
        "jetson_power_mode": _jetson_power_mode(),
        "versions": _versions(),
        "onnxruntime_providers": _ort_providers(),
        "commit": _git_commit(),
    }


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and cores, GPU and driver, CUDA, library versions
    (onnxruntime, torch, TensorRT...), Jetson board and power mode when on one, git commit, date."""
    info = copy.deepcopy(_static_machine_info())  # probed once per process; the date is per report
    info["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def machine_lines(m: dict[str, Any]) -> list[str]:
    """The Markdown lines that describe a machine_info() dict."""
    gpu = m.get("gpu")
    gpu_text = f"{gpu['name']} (driver {gpu['driver']})" if gpu else "none"
    cuda = m.get("cuda") or {}
    cuda_text = ", ".join(f"{k} {v}" for k, v in cuda.items()) or "none"
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m.get('machine', '?')}); GPU: {gpu_text}; "
             f"CUDA: {cuda_text}; commit {m['commit']}; {m['date']}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "."]
    if m.get("onnxruntime_providers"):
        lines.append("onnxruntime providers: " + ", ".join(m["onnxruntime_providers"]) + ".")
    if m.get("jetson"):
        lines.append(f"Jetson: {m['jetson']['model']}, L4T {m['jetson']['l4t']}; power mode: "
                     f"{m.get('jetson_power_mode') or 'not readable (run `sudo nvpmodel -q`)'}.")
    elif m.get("jetson_power_mode"):
        lines.append(f"Jetson power mode: {m['jetson_power_mode']}.")
    return lines


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display); CameraPoseError without it."""
    try:
        import matplotlib
    except ImportError:
        raise CameraPoseError("benchmark plots need matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def stats_cells(st: dict[str, float]) -> list[float]:
    """[p50, p95, p99] of a latency_stats() dict: the three numbers every table shows."""
    return [st["p50"], st["p95"], st["p99"]]


@dataclass
class Report:
    """One suite's results; `write` renders it as Markdown, JSON and PNGs."""

    suite: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=machine_info)
    _blocks: list[str] = field(default_factory=list)
    _plots: dict[str, Any] = field(default_factory=dict)

    def add_text(self, markdown: str) -> None:
        self._blocks.append(markdown.strip())

    def add_table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
            return str(v)

        lines = [f"### {title}", "", "| " + " | ".join(columns) + " |",
                 "|" + "|".join("---" for _ in columns) + "|"]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
        self._blocks.append("\n".join(lines))
        self.data.setdefault("tables", {})[title] = {"columns": columns, "rows": rows}

    def add_plot(self, filename: str, fig: Any) -> None:
        """Keep a matplotlib Figure to be saved as `filename` (PNG) next to the report."""
        self._plots[filename] = fig
        self._blocks.append(f"![{Path(filename).stem}]({filename})")

    def markdown(self) -> str:
        head = [f"# {self.title}", "", *machine_lines(self.machine)]
        return "\n".join(head) + "\n\n" + "\n\n".join(self._blocks) + "\n"

    def write(self, out_dir: Path | str = RESULTS_DIR) -> Path:
        """Write `<suite>.md`, `<suite>.json` and the plots into out_dir; return the .md path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for filename, fig in self._plots.items():
            fig.savefig(out / filename, dpi=110, bbox_inches="tight")
            _close(fig)
        md = out / f"{self.suite}.md"
        md.write_text(self.markdown())
        payload = {"suite": self.suite, "title": self.title, "machine": self.machine, **self.data}
        (out / f"{self.suite}.json").write_text(json.dumps(payload, indent=2, default=_jsonable))
        return md


def _close(fig: Any) -> None:
    """Release a saved figure from pyplot's registry (it can still be saved again)."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for a runtime to publish on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
