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

import datetime as _dt
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=Path(__file__).resolve().parent,
                               timeout=5)
        if out.returncode != 0:
            return "unknown"
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def _gpu() -> dict[str, str] | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    name, driver, cc = (s.strip() for s in out.stdout.strip().splitlines()[0].split(","))
    return {"name": name, "driver": driver, "compute_capability": cc}


def _jetson_power_mode() -> str | None:
    try:
        out = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, GPU, library versions, commit, date."""
    versions = {m: _version(m) for m in ("numpy", "onnxruntime", "torch", "tensorrt", "pycuda",
                                         "opencv-python-headless", "pyzmq", "ai-edge-litert")}
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "gpu": _gpu(),
        "jetson_power_mode": _jetson_power_mode(),
        "versions": {k: v for k, v in versions.items() if v},
        "commit": _git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


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
        m = self.machine
        gpu = m["gpu"]["name"] + f" (driver {m['gpu']['driver']})" if m.get("gpu") else "none"
        head = [
            f"# {self.title}", "",
            f"Machine: {m['cpu']}, {m['cores']} cores; GPU: {gpu}; commit {m['commit']}; {m['date']}.",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        ]
        if m.get("jetson_power_mode"):
            head.append(f"Jetson power mode: {m['jetson_power_mode']}.")
        return "\n".join(head) + "\n\n" + "\n\n".join(self._blocks) + "\n"

    def write(self, out_dir: Path | str = RESULTS_DIR) -> Path:
        """Write `<suite>.md`, `<suite>.json` and the plots into out_dir; return the .md path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for filename, fig in self._plots.items():
            fig.savefig(out / filename, dpi=110, bbox_inches="tight")
        md = out / f"{self.suite}.md"
        md.write_text(self.markdown())
        payload = {"suite": self.suite, "title": self.title, "machine": self.machine, **self.data}
        (out / f"{self.suite}.json").write_text(json.dumps(payload, indent=2, default=_jsonable))
        return md


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
