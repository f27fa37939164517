"""The one interface every inference backend implements.

    with OnnxRuntimeRunner("lift.onnx") as runner:
        out = runner.infer({"kp2d": x, "conf": c})   # {name: np.ndarray}
        print(runner.last_inference_ms)

A runner is a context manager: entering it loads the model (session, engine, CUDA graph...),
leaving it frees what it holds. `infer` checks the feed against the model's declared inputs
(names, dtypes, ranks, static dimensions, and the batch range where the backend has one) and
says exactly what it expected, then calls the backend's `_infer` and times it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import numpy as np

from camerapose.core.errors import CameraPoseError, InputError, ModelError


class BackendUnavailable(CameraPoseError):
    """A backend that is not installed or cannot run here (no tensorrt, no pycuda, no CUDA device)."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output. A dimension that is a str (or None) is dynamic."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {np.dtype(self.dtype).name}[{dims}]"


class Runner(ABC):
    """Base class of every backend runner; subclasses fill in the abstract members."""

    backend: ClassVar[str] = "abstract"
    # The ONNX metadata_props (key -> value) the model was exported with: onnxruntime reads them
    # from its session, the other backends are handed the dict create_runner checked.
    metadata: dict[str, str]

    def __init__(self) -> None:
        self.last_inference_ms: float | None = None
        self._active = False
        self.max_batch: int | None = None  # largest batch the loaded model accepts, if bounded

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self._active:
            self._activate()
            self._active = True

    def deactivate(self) -> None:
        if self._active:
            self._deactivate()
            self._active = False

    @property
    def is_active(self) -> bool:
        return self._active

    # -- the model's signature -------------------------------------------------------------
    @property
    @abstractmethod
    def inputs(self) -> dict[str, TensorSpec]:
        """Input specs by name (available once active)."""

    @property
    @abstractmethod
    def outputs(self) -> dict[str, TensorSpec]:
        """Output specs by name (available once active)."""

    # -- inference ---------------------------------------------------------------------------
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on one batch: {input name: array} -> {output name: array}."""
        if not self._active:
            raise RuntimeError(f"{type(self).__name__}: use `with runner:` (or activate()) first")
        self.check_feed(feed)
        start = time.perf_counter()
        out = self._infer(feed)
        self.last_inference_ms = (time.perf_counter() - start) * 1e3
        return out

    def check_feed(self, feed: dict[str, np.ndarray]) -> None:
        """Raise InputError unless `feed` matches the inputs exactly (names, dtype, shape)."""
        expected = self.inputs
        if set(feed) != set(expected):
            want = "; ".join(s.describe() for s in expected.values())
            raise InputError(f"{self.backend}: inputs must be exactly {{{want}}}, got {sorted(feed)}")
        batch = None
        for name, spec in expected.items():
            a = feed[name]
            if not isinstance(a, np.ndarray) or a.dtype != spec.dtype or a.ndim != len(spec.shape):
                got = f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
                raise InputError(f"{self.backend}: expected {spec.describe()}, got {got}")
            for want, have in zip(spec.shape, a.shape, strict=True):
                if isinstance(want, int) and want != have:
                    raise InputError(f"{self.backend}: expected {spec.describe()}, got {list(a.shape)}")
            if spec.shape and not isinstance(spec.shape[0], int):
                if batch is not None and a.shape[0] != batch:
                    raise InputError(f"{self.backend}: inputs disagree on the batch size")
                batch = a.shape[0]
        if batch is not None and (batch < 1 or (self.max_batch is not None and batch > self.max_batch)):
            raise InputError(f"{self.backend}: batch {batch} is outside 1..{self.max_batch or 'inf'}")

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _deactivate(self) -> None: ...

    @abstractmethod
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class HeldSpecsRunner(Runner):
    """A runner that reads its model's specs once, when it activates, into `_specs`."""

    _specs: tuple[dict[str, TensorSpec], dict[str, TensorSpec]] | None = None  # (inputs, outputs)

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return dict(self._held()[0])

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return dict(self._held()[1])

    def _held(self) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
        if self._specs is None:
            raise RuntimeError(f"{type(self).__name__}: not active; use `with runner:` first")
        return self._specs


_ORT_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8, "tensor(bool)": np.bool_,
}


class OnnxRuntimeRunner(Runner):
    """ONNX Runtime on the CPU, or on the CUDA / TensorRT execution providers when installed."""

    backend = "onnxruntime"

    def __init__(self, model: str | Path | bytes, providers: list[str | tuple[str, dict]] | None = None,
                 threads: int | None = None, spin: bool = True) -> None:
        """spin: whether idle intra-op threads spin-wait for the next call (onnxruntime's default; off
        where other work shares the cores between calls, e.g. the 2D detector's LiteRT and tracking)."""
        super().__init__()
        self.model = model
        self.providers = providers or ["CPUExecutionProvider"]
        self.threads = threads
        self.spin = spin
        self._session = None

    def _activate(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        if not self.spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        source = self.model if isinstance(self.model, bytes) else str(self.model)
        if not isinstance(self.model, bytes) and not Path(self.model).is_file():
            raise InputError(f"{self.model}: no such model file")
        available = set(ort.get_available_providers())
        # A provider is a name or (name, options), as onnxruntime takes them; absent ones are dropped.
        providers = [p for p in self.providers if (p if isinstance(p, str) else p[0]) in available]
        providers = providers or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(source, sess_options=opts, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            where = "model bytes" if isinstance(self.model, bytes) else str(self.model)
            raise ModelError(f"{where}: not a loadable ONNX model ({str(err).splitlines()[0]})") from err

    def _deactivate(self) -> None:
        self._session = None

    @staticmethod
    def _specs(args) -> dict[str, TensorSpec]:
        specs = {}
        for a in args:
            if a.type not in _ORT_DTYPES:
                raise ModelError(f"onnxruntime: tensor {a.name} has unsupported type {a.type}")
            shape = tuple(d if isinstance(d, int) else (d or None) for d in a.shape)
            specs[a.name] = TensorSpec(a.name, np.dtype(_ORT_DTYPES[a.type]), shape)
        return specs

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return self._specs(self._require_session().get_inputs())

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return self._specs(self._require_session().get_outputs())

    @property
    def metadata(self) -> dict[str, str]:
        """The model's custom metadata (key -> value strings), as written at export."""
        return dict(self._require_session().get_modelmeta().custom_metadata_map)

    def _require_session(self):
        if self._session is None:
            raise RuntimeError("OnnxRuntimeRunner: not active; use `with runner:` first")
        return self._session

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._require_session()
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feed), strict=True))
