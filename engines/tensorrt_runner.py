"""The TensorRT runner (pycuda): a cached engine, one execution context, one stream.

Activation gets the engine from the cache (or builds it), deserialises it (a plan that fails to
deserialise is evicted and rebuilt once), checks its tensors against the pose signature, and
allocates pinned host buffers and device buffers for the profile's max batch. `infer` copies n
rows in, sets each input's shape (`set_input_shape`) and every tensor's address
(`set_tensor_address`), runs `execute_async_v3` on the stream and copies n rows out, with one
synchronise per call. A batch outside the profile is refused before anything reaches TensorRT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError, ModelError

from .build import BuildConfig, get_engine, import_pycuda, import_tensorrt, trt_logger
from .cache import EngineCache
from .runner import HeldSpecsRunner, TensorSpec
from .signature import check_signature

log = logging.getLogger(__name__)


class TensorRTRunner(HeldSpecsRunner):
    """Run an ONNX (a pose model unless told otherwise) through a TensorRT engine built (or loaded
    from the cache) for this GPU."""

    backend = "tensorrt"

    def __init__(self, onnx_path: str | Path, cfg: BuildConfig | None = None, device: int = 0,
                 metadata: dict[str, str] | None = None,
                 signature: Callable[..., None] | None = check_signature) -> None:
        """signature(inputs, outputs, where=...) checks the engine's tensors (the pose model's by
        default; None for a model whose caller checks them, e.g. BlazePose's networks)."""
        super().__init__()
        self.signature = signature
        self.onnx_path = Path(onnx_path)
        self.cfg = cfg or BuildConfig()
        self.device_index = device
        self.metadata = dict(metadata or {})
        self._ctx = self._runtime = self._engine = self._context = self._stream = None
        self._host: dict[str, np.ndarray] = {}
        self._dev: dict[str, Any] = {}

    def _activate(self) -> None:
        trt, cuda = import_tensorrt(), import_pycuda()
        cuda.init()
        self._ctx = cuda.Device(self.device_index).retain_primary_context()
        ok = False
        self._ctx.push()
        try:
            self._load(trt, cuda)
            ok = True
        finally:
            if not ok:
                self._free()
            cuda.Context.pop()
            if not ok:
                self._ctx.detach()
                self._ctx = None

    def _load(self, trt: Any, cuda: Any) -> None:
        data, key, cached = get_engine(self.onnx_path, self.cfg, self.device_index)
        # Kept for the engine's lifetime: TensorRT reports "Destroying a runtime before destroying
        # deserialized engines created by the runtime leads to undefined behavior".
        self._runtime = runtime = trt.Runtime(trt_logger(trt))
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None and cached:
            log.warning("cached engine does not deserialise here; evicting and rebuilding")
            EngineCache(self.cfg.cache_dir).evict(key)
            data, key, _ = get_engine(self.onnx_path, self.cfg, self.device_index)
            engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise ModelError(f"{self.onnx_path}: TensorRT could not deserialise the engine it built")
        self._engine = engine
        self._specs = self._engine_specs(trt, engine)
        if self.signature is not None:
            self.signature(*self._specs, where=f"{self.onnx_path} (TensorRT engine)")
        self.max_batch = self.cfg.profile.max
        self._context = engine.create_execution_context()
        if self._context is None:
            raise ModelError(f"{self.onnx_path}: TensorRT could not create an execution context "
                             "(out of GPU memory?)")
        self._stream = cuda.Stream()
        for spec in [*self._specs[0].values(), *self._specs[1].values()]:
            shape = (self.max_batch, *spec.shape[1:])
            self._host[spec.name] = cuda.pagelocked_empty(shape, spec.dtype)
            self._dev[spec.name] = cuda.mem_alloc(self._host[spec.name].nbytes)
            self._context.set_tensor_address(spec.name, int(self._dev[spec.name]))

    @staticmethod
    def _engine_specs(trt: Any, engine: Any) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        ins: dict[str, TensorSpec] = {}
        outs: dict[str, TensorSpec] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple("batch" if d < 0 else int(d) for d in engine.get_tensor_shape(name))
            spec = TensorSpec(name, np.dtype(trt.nptype(engine.get_tensor_dtype(name))), shape)
            (ins if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outs)[name] = spec
        return ins, outs

    def _deactivate(self) -> None:
        if self._ctx is None:
            return
        self._ctx.push()
        try:
            self._free()
        finally:
            import_pycuda().Context.pop()
            self._ctx.detach()
            self._ctx = None

    def _free(self) -> None:
        for buf in self._dev.values():
            buf.free()
        self._dev.clear()
        self._host.clear()
        # Destroy in reverse order of creation (context, engine, runtime) while the CUDA context is
        # current; chained assignment binds left to right.
        self._context = self._engine = self._runtime = self._stream = None
        self._specs = None

    def check_feed(self, feed: dict[str, np.ndarray]) -> None:
        """The base checks (names, dtypes, shapes, batch <= the profile's max) plus the profile's min,
        which TensorRT would otherwise refuse in set_input_shape."""
        super().check_feed(feed)
        n = next(iter(feed.values())).shape[0]
        if n < self.cfg.profile.min:
            raise InputError(f"{self.backend}: batch {n} is outside {self.cfg.profile.min}..{self.max_batch} "
                             "(the engine's optimisation profile)")

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cuda = import_pycuda()
        ins, outs = self._held()
        n = next(iter(feed.values())).shape[0]
        self._ctx.push()
        try:
            for name, spec in ins.items():
                host = self._host[name]
                host[:n] = feed[name]
                # host[:n] is a view into the pinned buffer, so the copy stays asynchronous.
                cuda.memcpy_htod_async(self._dev[name], host[:n], self._stream)
                if not self._context.set_input_shape(name, (n, *spec.shape[1:])):
                    raise ModelError(f"TensorRT refused input shape {name}{(n, *spec.shape[1:])}")
            if not self._context.execute_async_v3(self._stream.handle):
                raise ModelError("TensorRT: execute_async_v3 failed (see the TensorRT log)")
            for name in outs:
                cuda.memcpy_dtoh_async(self._host[name][:n], self._dev[name], self._stream)
            self._stream.synchronize()
        finally:
            cuda.Context.pop()
        return {name: self._host[name][:n].copy() for name in outs}
