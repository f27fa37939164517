"""`create_runner`: one call that turns a pose ONNX into a working runner on this machine.

    runner = create_runner("engines/models/pose_default.onnx")     # backend="auto"
    with runner:
        out = runner.infer({"kp2d": kp, "conf": c})

`auto` tries TensorRT > torch-CUDA > onnxruntime: a backend is taken when it is installed AND
activates (TensorRT needs tensorrt + pycuda + a CUDA device; torch-CUDA needs torch with CUDA and
the checkpoint the ONNX was exported from, found by its sha256 in the ONNX metadata). Every skip
is logged with its reason, and so is the choice. A forced backend that cannot run raises
BackendUnavailable with the reason. The ONNX is always checked first: a file that is not a
CameraPose pose model (names, shapes, metadata) is a ModelError whatever the backend.

The returned runner is already active (that is how `auto` knows it works); use it in a `with`
block or call `deactivate()` when done.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from camerapose.core.errors import InputError

from .runner import BackendUnavailable, OnnxRuntimeRunner, Runner
from .signature import check_metadata, check_signature, sha256_file
from .triton_runner import TritonTarget

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tensorrt", "torch", "onnxruntime", "triton")  # triton: only when asked for
AUTO_ORDER = ("tensorrt", "torch", "onnxruntime")
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "train" / "weights"


def inspect_onnx(model_path: str | Path) -> dict[str, str]:
    """Check that `model_path` is a CameraPose pose ONNX; return its metadata (ModelError if not)."""
    with OnnxRuntimeRunner(model_path) as ort_runner:
        check_signature(ort_runner.inputs, ort_runner.outputs, str(model_path))
        meta = ort_runner.metadata
    check_metadata(meta, str(model_path))
    return meta


def find_checkpoint(sha256: str, search: list[Path]) -> Path | None:
    """The *.pt file under `search` whose sha256 is `sha256` (the one an ONNX was exported from)."""
    for folder in search:
        for p in sorted(Path(folder).glob("*.pt")) if Path(folder).is_dir() else []:
            if sha256_file(p) == sha256:
                return p
    return None


def default_ort_providers() -> list[str | tuple[str, dict]]:
    """TensorRT EP (engines cached beside ours, fp16) > CUDA EP > CPU, keeping those installed."""
    import onnxruntime as ort

    from camerapose.assets import cache_dir

    trt_opts = {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache_dir() / "engines" / "ort-trt")}
    wanted: list[str | tuple[str, dict]] = [("TensorrtExecutionProvider", trt_opts), "CUDAExecutionProvider",
                                            "CPUExecutionProvider"]
    available = set(ort.get_available_providers())
    return [p for p in wanted if (p if isinstance(p, str) else p[0]) in available]


def _nvidia_driver_present() -> bool:
    """A cheap look for an NVIDIA driver (device nodes, Jetson's nvhost, or nvidia-smi) before
    importing torch, which alone costs seconds on a CPU-only machine."""
    import glob
    import shutil

    return bool(glob.glob("/dev/nvidia*") or glob.glob("/dev/nvhost-*") or shutil.which("nvidia-smi"))


def _cuda_torch() -> tuple[bool, str]:
    if not _nvidia_driver_present():
        return False, "no NVIDIA driver on this machine"
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    if not torch.cuda.is_available():
        return False, "torch has no CUDA device"
    return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"


def _make(backend: str, path: Path, meta: dict[str, str], opts: dict[str, Any]) -> Runner:
    if backend == "onnxruntime":
        providers = opts.get("providers")
        if providers is None:
            providers = default_ort_providers()
        return OnnxRuntimeRunner(path, providers=providers, threads=opts.get("threads"))
    if backend == "torch":
        device = opts.get("device")
        if device is None:
            ok, _ = _cuda_torch()
            device = "cuda" if ok else "cpu"
        ckpt = opts.get("checkpoint")
        if ckpt is None:
            search = [path.parent, DEFAULT_WEIGHTS_DIR, *map(Path, opts.get("checkpoint_dirs", []))]
            ckpt = find_checkpoint(meta["checkpoint_sha256"], search)
            if ckpt is None:
                sha = meta["checkpoint_sha256"][:12]
                raise BackendUnavailable(f"torch: no checkpoint with sha256 {sha}... (the one {path.name} "
                                         f"was exported from) in {[str(s) for s in search]}")
        from .torch_runner import TorchRunner

        kw = {k: opts[k] for k in ("fp16", "cuda_graphs", "buckets") if k in opts}
        return TorchRunner(ckpt, device=device, metadata=meta, **kw)
    if backend == "tensorrt":
        from .build import BuildConfig, import_pycuda, import_tensorrt
        from .tensorrt_runner import TensorRTRunner

        import_tensorrt()
        import_pycuda()
        cfg = opts.get("build_config") or BuildConfig()
        return TensorRTRunner(path, cfg, device=opts.get("gpu", 0), metadata=meta)
    raise InputError(f"unknown backend {backend!r}; choose one of {BACKENDS}")


def _triton_runner(opts: dict[str, Any]) -> Runner:
    """A TritonRunner on the server's model, held to the same contract as a local pose ONNX: the
    signature from the server's model metadata, the ONNX metadata from its config's parameters."""
    defaults = TritonTarget()
    runner = TritonTarget(opts.get("url", defaults.url), opts.get("model", defaults.model),
                          opts.get("timeout_s", defaults.timeout_s)).runner()
    runner.activate()
    try:
        check_signature(runner.inputs, runner.outputs, runner.where)
        check_metadata(runner.metadata, runner.where)
    except BaseException:
        runner.deactivate()
        raise
    log.info("backend triton (forced): %s", runner.where)
    return runner


def _provider_names(runner: Runner) -> list[str]:
    session = getattr(runner, "_session", None)
    return list(session.get_providers()) if session is not None else ["CPUExecutionProvider"]


def create_runner(model_path: str | Path, backend: str = "auto", **opts: Any) -> Runner:
    """An ACTIVE runner for a pose ONNX. opts: providers, threads (onnxruntime); checkpoint, device,
    fp16, cuda_graphs, buckets (torch); build_config, gpu (tensorrt); url, model, timeout_s (triton,
    which reads the model from the server and not `model_path`)."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "triton":
        return _triton_runner(opts)
    path = Path(model_path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    meta = inspect_onnx(path)
    if backend != "auto":
        runner = _make(backend, path, meta, opts)
        runner.activate()
        log.info("backend %s (forced)", backend)
        return runner
    for candidate in AUTO_ORDER:
        if candidate == "torch":
            ok, why = _cuda_torch()
            if not ok:
                log.info("auto: skipping torch-CUDA: %s", why)
                continue
            opts = {**opts, "device": "cuda"}
        try:
            runner = _make(candidate, path, meta, opts)
            runner.activate()
        except BackendUnavailable as err:
            log.info("auto: skipping %s: %s", candidate, err)
            continue
        except Exception as err:  # a backend that is installed but fails must not stop the fallback
            log.warning("auto: %s failed to start (%s: %s); trying the next backend", candidate,
                        type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            continue
        reason = {"tensorrt": "TensorRT and pycuda are installed and a CUDA device answers",
                  "torch": "no TensorRT, but torch has CUDA (fp16 + CUDA graphs)",
                  "onnxruntime": "no TensorRT and no CUDA torch: ONNX Runtime on "
                                 + ", ".join(_provider_names(runner))}[candidate]
        log.info("auto: using %s: %s", candidate, reason)
        return runner
    raise BackendUnavailable("no backend could run the model (see the log for each reason)")


# -- BlazePose's networks (the 2D detector): a .tflite, and the ONNX `assets fetch --onnx` makes of it --
IMAGE_RUNTIMES = ("auto", "litert", "onnxruntime", "tensorrt", "triton")  # triton: only when asked for
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def create_image_runner(tflite: str | Path, onnx: str | Path, runtime: str = "auto", threads: int = 2,
                        litert_max_batch: int | None = None, max_batch: int = 64,
                        triton: TritonTarget | None = None) -> Runner:
    """An ACTIVE runner for one BlazePose network (`detector.backend_runtime`).

    litert: the .tflite on LiteRT's CPU kernels. onnxruntime: the converted ONNX on onnxruntime's
    best installed providers (TensorRT / CUDA EP, else CPU). tensorrt: the ONNX as a TensorRT
    engine (fp16, batch 1..max_batch, through the engine cache). triton: the model `triton` names
    on a Triton server (`camerapose export ONNX --triton-repo DIR`; neither file is read here; its
    batch limit is the server's max_batch_size). auto: TensorRT, else onnxruntime on a GPU
    provider, else LiteRT (faster than onnxruntime on a CPU); the ONNX paths are taken only when
    the ONNX is in the cache; never triton.
    """
    from camerapose.core.errors import AssetError

    if runtime not in IMAGE_RUNTIMES:
        raise InputError(f"detector backend_runtime must be one of {IMAGE_RUNTIMES}, got {runtime!r}")
    if runtime == "triton":
        if triton is None:
            raise InputError("detector backend_runtime triton: no server and model given")
        runner = triton.runner()
        runner.activate()  # a BackendUnavailable line naming the server and model if it cannot
        return runner
    has_onnx = Path(onnx).is_file()
    if runtime in ("onnxruntime", "tensorrt") and not has_onnx:
        raise AssetError(f"{onnx} is missing: run `camerapose assets fetch --onnx` first (it converts "
                         "BlazePose's models to ONNX for onnxruntime and TensorRT)")
    if runtime == "auto":
        runtime = _auto_image_runtime(onnx, has_onnx)
    if runtime == "gpu":
        runner = _gpu_image_runner(onnx, threads, max_batch)
        if runner is not None:
            return runner
        runtime = "litert"
    runner = _make_image_runner(runtime, tflite, onnx, threads, litert_max_batch, max_batch)
    runner.activate()
    return runner


def _make_image_runner(runtime: str, tflite: str | Path, onnx: str | Path, threads: int,
                       litert_max_batch: int | None, max_batch: int) -> Runner:
    if runtime == "litert":
        from .litert_runner import LiteRTRunner

        return LiteRTRunner(tflite, threads=threads, max_batch=litert_max_batch)
    if runtime == "onnxruntime":  # no spinning: tracking, the person search and LiteRT share the cores
        return OnnxRuntimeRunner(onnx, providers=default_ort_providers(), threads=threads, spin=False)
    from .build import BuildConfig, import_pycuda, import_tensorrt
    from .cache import BatchProfile
    from .tensorrt_runner import TensorRTRunner

    import_tensorrt()
    import_pycuda()
    cfg = BuildConfig(profile=BatchProfile(1, min(8, max_batch), max_batch))
    return TensorRTRunner(onnx, cfg, signature=None)


def _auto_image_runtime(onnx: str | Path, has_onnx: bool) -> str:
    """-> "gpu" (try the GPU runtimes) when an NVIDIA driver and the ONNX are here, else "litert"."""
    if not has_onnx:
        if _nvidia_driver_present():
            log.warning("detector: a GPU is here but %s is not: the 2D detector runs on the CPU "
                        "(`camerapose assets fetch --onnx` makes it)", Path(onnx).name)
        return "litert"
    if not _nvidia_driver_present():
        log.info("detector auto: no NVIDIA driver: LiteRT (faster than onnxruntime on a CPU)")
        return "litert"
    return "gpu"


def _gpu_image_runner(onnx: str | Path, threads: int, max_batch: int) -> Runner | None:
    """An active TensorRT runner, else onnxruntime on a GPU provider; None when neither runs here."""
    try:
        runner = _make_image_runner("tensorrt", "", onnx, threads, None, max_batch)
        runner.activate()
        log.info("detector auto: TensorRT for %s", Path(onnx).name)
        return runner
    except Exception as err:  # not installed, or installed and failing: the next runtime is tried
        log.info("detector auto: skipping TensorRT: %s", str(err).splitlines()[0] if str(err) else err)
    if not any((p if isinstance(p, str) else p[0]) in GPU_PROVIDERS for p in default_ort_providers()):
        return None
    runner = _make_image_runner("onnxruntime", "", onnx, threads, None, max_batch)
    runner.activate()
    log.info("detector auto: onnxruntime on %s for %s", ", ".join(_provider_names(runner)), Path(onnx).name)
    return runner
