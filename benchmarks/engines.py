"""Engine benchmark: refine + lift + camera latency (p50/p95) and poses/s vs batch (1 .. 4096) for
every backend that runs here, and the kernels' numpy references (and CUDA kernels on a GPU).

    camerapose bench --suite engines
    -> benchmarks/results/engines.md, engines.json, engines_latency.png

The model is the shipped default (engines/models/pose_default.onnx + train/weights/default.pt)
when both exist, else a randomly initialised default-preset PoseModel exported on the fly (same
graph, same cost). Latency is the wall time of `runner.infer(...)`, feed checks included.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from camerapose.benchmarks.report import RESULTS_DIR, Report, latency_stats, pyplot
from camerapose.core.errors import CameraPoseError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ONNX = REPO / "engines" / "models" / "pose_default.onnx"
DEFAULT_CKPT = REPO / "train" / "weights" / "default.pt"
BATCHES = tuple(2**i for i in range(13))  # 1 .. 4096
QUICK_BATCHES = (1, 16, 256)
# Repeats per point: (min seconds, min repeats, max repeats), after 2 warm-up calls.
TIMING, QUICK_TIMING = (1.0, 50, 5000), (0.05, 3, 20)
TARGETS = {  # what the engines must reach: label -> (target, backend measured at batch 1)
    "onnxruntime b=1 p50 (2 CPU cores)": ("< 0.5 ms", "onnxruntime"),
    "torch-cuda fp16 graph b=1 p50": ("< 0.1 ms", "torch-cuda"),
}


def time_call(fn: Callable[[], Any], min_time_s: float, min_reps: int, max_reps: int) -> list[float]:
    """Wall times (ms) of `fn()` after 2 warm-up calls; repeats until min_time_s and min_reps."""
    for _ in range(2):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max_reps and (len(samples) < min_reps or time.perf_counter() - start < min_time_s):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def _model_files(tmp: Path) -> tuple[Path, Any, str]:
    """(onnx path, torch model or None without torch, description)."""
    what = f"shipped default ({DEFAULT_ONNX.relative_to(REPO)})"
    if DEFAULT_ONNX.is_file():
        try:
            from camerapose.models.checkpoint import load_pose_model
        except ImportError:  # a runtime-only install (e.g. a Jetson without torch): ONNX backends only
            return DEFAULT_ONNX, None, what + "; torch not installed"
        if DEFAULT_CKPT.is_file():
            return DEFAULT_ONNX, load_pose_model(DEFAULT_CKPT)[0], what
    try:
        import torch
    except ImportError:
        raise CameraPoseError(f"{DEFAULT_ONNX} is missing and torch is not installed to make one") from None

    from camerapose.engines.export import export_pose_model, pose_metadata
    from camerapose.models.pose import PoseModel, PoseModelConfig

    torch.manual_seed(0)
    model = PoseModel(PoseModelConfig()).eval()
    path = export_pose_model(model, tmp / "pose_random.onnx", pose_metadata("h36m17", "screen_long", {}, "0"))
    return path, model, "randomly initialised default-preset PoseModel (no shipped weights yet)"


def _runners(onnx_path: Path, model: Any, backend: str) -> dict[str, Callable[[], Any]]:
    """name -> factory of an (inactive) runner, for every backend that can run here."""
    from camerapose.engines.runner import OnnxRuntimeRunner
    from camerapose.engines.torch_runner import TorchRunner

    out: dict[str, Callable[[], Any]] = {"onnxruntime": lambda: OnnxRuntimeRunner(onnx_path)}
    if model is not None:
        import torch

        out["torch-cpu"] = lambda: TorchRunner(model, device="cpu")
        if torch.cuda.is_available():
            out["torch-cuda"] = lambda: TorchRunner(model, device="cuda")
    try:
        import pycuda.driver  # noqa: F401
        import tensorrt  # noqa: F401

        from camerapose.engines.tensorrt_runner import TensorRTRunner

        out["tensorrt"] = lambda: TensorRTRunner(onnx_path)
    except ImportError:
        pass
    if backend not in ("auto", "all"):
        out = {k: v for k, v in out.items() if k.split("-")[0] == backend}
        if not out:
            raise CameraPoseError(f"engines bench: backend {backend!r} cannot run here (not installed, or "
                                  "no checkpoint for torch)")
    return out


def _bench_backends(report: Report, runners: dict[str, Callable[[], Any]], batches: tuple[int, ...],
                    quick: bool) -> dict[str, dict[int, dict[str, float]]]:
    from camerapose.engines.export import random_pose_inputs

    results: dict[str, dict[int, dict[str, float]]] = {}
    for name, make in runners.items():
        try:
            runner = make()
            runner.activate()
        except Exception as err:  # a backend that cannot start is reported, not fatal
            log.warning("engines bench: %s unavailable: %s", name, err)
            report.data.setdefault("skipped", {})[name] = str(err)
            continue
        per: dict[int, dict[str, float]] = {}
        with runner:
            for b in tqdm(batches, desc=name, leave=False):
                if runner.max_batch is not None and b > runner.max_batch:
                    continue
                feed = random_pose_inputs(b, seed=b)
                call = lambda feed=feed, runner=runner: runner.infer(feed)  # noqa: E731
                samples = time_call(call, *(QUICK_TIMING if quick else TIMING))
                stats = latency_stats(samples)
                stats["poses_per_s"] = b / (stats["p50"] / 1e3)
                per[b] = stats
        results[name] = per
    return results


def _bench_kernels(quick: bool) -> list[list[Any]]:
    """Numpy references (and CUDA kernels where pycuda + a GPU + the fatbin exist) at batch 256."""
    from camerapose.core.skeleton import BLAZEPOSE33
    from camerapose.engines import kernels as K

    rng = np.random.default_rng(0)
    b = 256
    hm = rng.random((b, 17, 64, 64), dtype=np.float32)
    conf = rng.random((b, 17), dtype=np.float32)
    uv = rng.uniform(0, 1900, (b, 17, 2)).astype(np.float32)
    size = np.tile(np.float32([1920, 1080]), (b, 1))
    p33 = rng.uniform(0, 1000, (b, 33, 2)).astype(np.float32)
    c33 = rng.random((b, 33), dtype=np.float32)
    src = BLAZEPOSE33.padded_sources
    calls = {
        "decode_heatmaps (256x17x64x64)": lambda k: k.decode_heatmaps(hm),
        "normalize_confidence (256x17)": lambda k: k.normalize_confidence(conf),
        "normalize_keypoints (256x17x2)": lambda k: k.normalize_keypoints(uv, size),
        "remap_joints blazepose33 (256x33)": lambda k: k.remap_joints(p33, c33, src),
    }
    gpu = None
    try:
        gpu = K.CudaKernels()
    except Exception as err:  # no pycuda / GPU / fatbin: the references alone are timed
        log.info("engines bench: CUDA kernels not timed: %s", err)
    rows = []
    budget = 0.05 if quick else 0.3
    on_device = _DeviceInputs(gpu) if gpu is not None else None
    for name, call in calls.items():
        ref = latency_stats(time_call(lambda call=call: call(K), budget, 3, 500))
        row: list[Any] = [name, ref["p50"], ref["p95"], ref["p99"]]
        if gpu is not None:
            copies = latency_stats(time_call(lambda call=call: call(gpu), budget, 3, 500))
            resident = latency_stats(time_call(lambda call=call: on_device.synced(call), budget, 3, 2000))
            row += [copies["p50"], resident["p50"], ref["p50"] / resident["p50"]]
        else:
            row += ["n/a (no GPU)", "n/a (no GPU)", "n/a"]
        rows.append(row)
    if gpu is not None:
        gpu.close()
    return rows


class _DeviceInputs:
    """Wraps CudaKernels so every numpy argument goes to the device once (cached), then is reused:
    the call then times the kernel launch + sync alone."""

    def __init__(self, gpu: Any) -> None:
        self.gpu, self.cache = gpu, {}

    def _dev(self, a: Any) -> Any:
        if not isinstance(a, np.ndarray) or a.dtype != np.float32:
            return a
        key = id(a)
        if key not in self.cache:
            import pycuda.gpuarray as gpuarray

            self.cache[key] = gpuarray.to_gpu(np.ascontiguousarray(a))
        return self.cache[key]

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.gpu, name)
        return lambda *args: fn(*[self._dev(a) for a in args])

    def synced(self, call: Callable[[Any], Any]) -> None:
        call(self)
        self.gpu.synchronize()


def _plot(results: dict[str, dict[int, dict[str, float]]]) -> Any:
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, per in results.items():
        bs = sorted(per)
        p50 = [per[b]["p50"] for b in bs]
        p95 = [per[b]["p95"] for b in bs]
        line, = ax1.plot(bs, p50, marker="o", label=f"{name} p50")
        ax1.fill_between(bs, p50, p95, color=line.get_color(), alpha=0.2)
        ax2.plot(bs, [per[b]["poses_per_s"] for b in bs], marker="o", label=name)
    ax1.axhline(0.5, color="grey", ls="--", lw=1, label="0.5 ms target (b=1, CPU)")
    for ax, ylabel in ((ax1, "latency per call (ms); band = p50..p95"), (ax2, "poses / s (at p50)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch (persons per call)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_title("refine + lift + camera latency vs batch")
    ax2.set_title("throughput vs batch")
    fig.tight_layout()
    return fig


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, backend: str = "auto") -> Report:
    """Measure every available backend and the kernels; returns the Report (the caller writes it)."""
    report = Report("engines", "Engines: refine + lift + camera latency and throughput")
    batches = QUICK_BATCHES if quick else BATCHES
    with tempfile.TemporaryDirectory(prefix="camerapose-bench-") as tmp:
        onnx_path, model, what = _model_files(Path(tmp))
        runners = _runners(onnx_path, model, backend)
        timing = f"at least {TIMING[1]} repeats and {TIMING[0]:g} s (at most {TIMING[2]} repeats)"
        report.add_text(f"Model: {what}. Latency = wall time of one `runner.infer` call (input checks "
                        f"included), {'quick run: few repeats' if quick else timing}"
                        f" per point after 2 warm-up calls. Backends measured: {', '.join(runners)}. "
                        "On a shared machine the p95/p99 tails (and large batches, which run for tens of ms) "
                        "include other processes' load; `min` shows the undisturbed cost.")
        results = _bench_backends(report, runners, batches, quick)
    for name, per in results.items():
        rows = [[b, s["p50"], s["p95"], s["p99"], s["min"], s["poses_per_s"], s["n"]]
                for b, s in sorted(per.items())]
        report.add_table(f"{name}: latency vs batch",
                         ["batch", "p50 ms", "p95 ms", "p99 ms", "min ms", "poses/s (p50)", "n"], rows)
    target_rows = []
    for label, (target, name) in TARGETS.items():
        v = results.get(name, {}).get(1, {}).get("p50")
        target_rows.append([label, target, "not measured here" if v is None else f"{v:.4f} ms"])
    best = max(((n, b, s["poses_per_s"]) for n, per in results.items() for b, s in per.items()),
               key=lambda x: x[2], default=None)
    if best:
        target_rows.append(["peak poses/s (>= 10M on H100/H200 torch-cuda)", ">= 1e7 (GPU)",
                            f"{best[2]:,.0f} ({best[0]}, batch {best[1]})"])
    report.add_table("targets", ["what", "target", "measured"], target_rows)
    report.add_table("kernels at batch 256: numpy reference vs CUDA",
                     ["kernel", "numpy p50 ms", "numpy p95 ms", "numpy p99 ms", "cuda p50 ms (incl. copies)",
                      "cuda p50 ms (device-resident)", "speed-up (device-resident)"],
                     _bench_kernels(quick))
    report.add_plot("engines_latency.png", _plot(results))
    report.data["results"] = {n: {str(b): s for b, s in per.items()} for n, per in results.items()}
    report.data["quick"] = quick
    return report
