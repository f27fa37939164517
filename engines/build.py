"""TensorRT engine builds from a pose ONNX, through the engine cache.

Written against the TensorRT 10/11 Python API: explicit-batch networks parsed by `OnnxParser`,
one optimisation profile over the batch axis (`BatchProfile`), FP16 by builder flag, INT8 with an
entropy calibrator whose cache is kept beside the engines (implicit calibration is deprecated
since TensorRT 10.1; a TensorRT without it is reported as such). `build_serialized_network` gives the plan;
`EngineCache` stores it under the key of engines.cache. tensorrt and pycuda are imported lazily:
without them everything here except the build itself (keys, profiles, calibration data, the
logged signature) still works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError, ModelError

from .cache import PRECISIONS, BatchProfile, EngineCache, EngineKey
from .runner import BackendUnavailable
from .signature import POSE_INPUTS, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildConfig:
    """`camerapose build` options: precision, batch profile, INT8 calibration, cache, workspace."""

    precision: str = "fp16"  # fp32 | fp16 | int8 (int8 keeps fp16 enabled for layers INT8 cannot run)
    profile: BatchProfile = field(default_factory=BatchProfile)
    calib_dir: str | None = None  # INT8: *.npz files holding `kp2d` (N,17,2) and `conf` (N,17) arrays
    calib_batch: int = 256
    workspace_mb: int = 1024
    cache_dir: str | None = None  # default: <asset cache>/engines

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.precision == "int8" and not self.calib_dir:
            raise InputError("INT8 needs calibration data: --calib DIR with .npz files of kp2d/conf")


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as err:
        raise BackendUnavailable(f"TensorRT is not installed ({err}); install the `tensorrt` extra "
                                 "(on a Jetson: the JetPack python3-libnvinfer)") from None
    return trt


def import_pycuda() -> Any:
    try:
        import pycuda.driver as cuda
    except ImportError as err:
        raise BackendUnavailable(f"pycuda is not available ({err}); it builds from source where a "
                                 "CUDA driver and toolkit exist") from None
    return cuda


def gpu_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of a CUDA device, through pycuda."""
    cuda = import_pycuda()
    cuda.init()
    if cuda.Device.count() <= device:
        raise BackendUnavailable(f"no CUDA device {device} (found {cuda.Device.count()})")
    dev = cuda.Device(device)
    major, minor = dev.compute_capability()
    return dev.name(), f"{major}.{minor}"


@contextlib.contextmanager
def device_context(device: int = 0) -> Iterator[Any]:
    """Make `device`'s primary context current for the block (yields pycuda.driver).

    The primary context is the one the CUDA runtime API, and so TensorRT, uses: pushing it makes the
    builder run on `device` (the GPU the cache key names) and gives pycuda calls (the INT8
    calibrator's buffers) a current context. Nesting inside a runner that already pushed it is fine.
    """
    cuda = import_pycuda()
    cuda.init()
    ctx = cuda.Device(device).retain_primary_context()
    ctx.push()
    try:
        yield cuda
    finally:
        cuda.Context.pop()
        ctx.detach()


def calibration_files(calib_dir: str | Path) -> list[Path]:
    files = sorted(Path(calib_dir).glob("*.npz"))
    if not files:
        raise InputError(f"{calib_dir}: no .npz calibration files (each with kp2d (N,17,2) and conf (N,17))")
    return files


def calibration_sha256(calib_dir: str | Path) -> str:
    """Hash over the names and bytes of the calibration files: part of an INT8 engine's key."""
    h = hashlib.sha256()
    for f in calibration_files(calib_dir):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def calibration_batches(calib_dir: str | Path, batch: int) -> list[dict[str, np.ndarray]]:
    """The calibration data as fixed-size float32 batches {kp2d (B,17,2), conf (B,17)}; last one dropped
    if short (the calibrator binds one batch shape)."""
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in POSE_INPUTS}
    for f in calibration_files(calib_dir):
        with np.load(f) as z:
            for name, spec in POSE_INPUTS.items():
                if name not in z:
                    raise InputError(f"{f}: calibration file lacks array {name!r}")
                a = np.asarray(z[name], dtype=np.float32)
                if a.ndim != len(spec.shape) or tuple(a.shape[1:]) != spec.shape[1:]:
                    raise InputError(f"{f}: {name} has shape {a.shape}, expected {spec.describe()}")
                arrays[name].append(a)
    data = {k: np.concatenate(v) for k, v in arrays.items()}
    n = len(data["kp2d"])
    if len(data["conf"]) != n:
        raise InputError(f"{calib_dir}: kp2d and conf hold different numbers of poses")
    if n < batch:
        raise InputError(f"{calib_dir}: {n} poses, fewer than one calibration batch of {batch}")
    starts = range(0, n - batch + 1, batch)
    return [{k: np.ascontiguousarray(v[i:i + batch]) for k, v in data.items()} for i in starts]


def engine_key(onnx_sha256: str, cfg: BuildConfig, tensorrt_version: str, gpu_name: str,
               compute_capability: str) -> EngineKey:
    calib = calibration_sha256(cfg.calib_dir) if cfg.precision == "int8" and cfg.calib_dir else ""
    return EngineKey(onnx_sha256, tensorrt_version, gpu_name, compute_capability, cfg.precision,
                     cfg.profile, calib)


def get_engine(onnx_path: str | Path, cfg: BuildConfig, device: int = 0) -> tuple[bytes, EngineKey, bool]:
    """The serialized engine for this ONNX on this GPU: (bytes, key, came_from_cache)."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise InputError(f"{onnx_path}: no such ONNX file")
    trt = import_tensorrt()
    name, cc = gpu_identity(device)
    key = engine_key(sha256_file(onnx_path), cfg, trt.__version__, name, cc)
    cache = EngineCache(cfg.cache_dir)
    data = cache.load(key)
    if data is not None:
        log.info("engine cache hit: %s", cache.paths(key)[0])
        return data, key, True
    log.info("building TensorRT %s engine for %s on %s (sm %s), batch %d..%d (opt %d)", cfg.precision,
             onnx_path.name, name, cc, cfg.profile.min, cfg.profile.max, cfg.profile.opt)
    with device_context(device):
        data = build_serialized(onnx_path, cfg, trt)
    path = cache.store(key, data)
    log.info("engine cached at %s (%.1f MB)", path, len(data) / 1e6)
    return data, key, False


@functools.cache
def trt_logger(trt: Any) -> Any:
    """One logger for builder and runtime (TensorRT warns when they differ)."""
    return trt.Logger(trt.Logger.WARNING)


def network_flags(trt: Any) -> int:
    """0 on TensorRT 10+ (every network is explicit-batch); the EXPLICIT_BATCH bit before it
    (TensorRT 8.6 of JetPack 6.0), where a 0 would make an implicit-batch network ONNX can't fill."""
    if int(trt.__version__.split(".")[0]) >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def build_serialized(onnx_path: Path, cfg: BuildConfig, trt: Any) -> bytes:
    """Parse the ONNX, log every input/output, set the profile and precision, build the plan.

    Needs a current CUDA context for INT8 (the calibrator's buffers): `get_engine` provides one.
    """
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    # `path` is the model FILE (TensorRT resolves external weights relative to it), not its folder.
    if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{onnx_path}: TensorRT cannot parse it: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_mb << 20)
    profile = builder.create_optimization_profile()
    tails: dict[str, tuple[int, ...]] = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        log.info("input  %-14s %s %s", t.name, t.dtype, tuple(t.shape))
        tails[t.name] = tuple(int(d) for d in tuple(t.shape)[1:])
        if any(d < 0 for d in tails[t.name]):
            raise ModelError(f"{onnx_path}: input {t.name} has dynamic non-batch dims {tuple(t.shape)}")
        profile.set_shape(t.name, *cfg.profile.shapes(tails[t.name]))
    for i in range(network.num_outputs):
        t = network.get_output(i)
        log.info("output %-14s %s %s", t.name, t.dtype, tuple(t.shape))
    config.add_optimization_profile(profile)
    calibrator = None
    if cfg.precision == "int8":  # the calibrator first: it says clearly when INT8 calibration is gone
        calibrator = make_calibrator(trt, cfg, _calib_cache_path(cfg, onnx_path))
    if cfg.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    try:
        if calibrator is not None:
            config.set_flag(trt.BuilderFlag.INT8)
            if hasattr(config, "set_calibration_profile"):  # deprecated since 10.1, with implicit INT8
                # Calibration runs at the calibration profile's OPT shape ("MIN and MAX values will be
                # overwritten by OPT"; without one, profile 0's OPT is used), so OPT must be the batch
                # the calibrator feeds, or TensorRT reads a different number of rows than we copied.
                calib = builder.create_optimization_profile()
                for name, tail in tails.items():
                    calib.set_shape(name, *BatchProfile(cfg.calib_batch, cfg.calib_batch,
                                                        cfg.calib_batch).shapes(tail))
                config.set_calibration_profile(calib)
            config.int8_calibrator = calibrator  # `calibrator` stays referenced until the build ends
        plan = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if plan is None:
        raise ModelError(f"{onnx_path}: TensorRT build failed (see the TensorRT log above)")
    return bytes(plan)


def _calib_cache_path(cfg: BuildConfig, onnx_path: Path) -> Path:
    root = EngineCache(cfg.cache_dir).root
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{sha256_file(onnx_path)[:16]}-{calibration_sha256(cfg.calib_dir or '')[:16]}.calib"


def make_calibrator(trt: Any, cfg: BuildConfig, cache_path: Path) -> Any:
    """An IInt8EntropyCalibrator2 over the calibration batches, reusing `cache_path` when present."""
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise BackendUnavailable(f"TensorRT {trt.__version__} has no implicit INT8 calibration; "
                                 "quantize the ONNX explicitly (Q/DQ) or use TensorRT 10")
    cuda = import_pycuda()
    batches = calibration_batches(cfg.calib_dir or "", cfg.calib_batch)

    class _Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.index = 0
            self.device = {k: cuda.mem_alloc(v.nbytes) for k, v in batches[0].items()}

        def get_batch_size(self) -> int:
            return cfg.calib_batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            """Device pointers (ints), one per name in `names`' order; None when the data is used up."""
            if self.index >= len(batches):
                return None
            for k, v in batches[self.index].items():
                cuda.memcpy_htod(self.device[k], v)
            self.index += 1
            return [int(self.device[n]) for n in names]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_path.write_bytes(bytes(cache))
            log.info("INT8 calibration cache written to %s", cache_path)

        def free(self) -> None:
            """Release the device buffers now, while the build's CUDA context is still current."""
            for buf in self.device.values():
                buf.free()
            self.device.clear()

    return _Calibrator()
