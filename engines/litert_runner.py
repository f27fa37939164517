"""The LiteRT runner: a .tflite model on ai-edge-litert's CPU kernels (XNNPACK), behind the Runner
interface every backend shares.

The interpreter's batch dimension is resized to each call's batch (a resize re-plans the graph:
cheap next to a BlazePose network, and a runtime's batch rarely changes). `max_batch` bounds what
one call may take, for graphs that cannot batch (BlazePose's person detector flattens its batch
into the anchor axis: give it 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from camerapose.core.errors import ModelError

from .runner import BackendUnavailable, HeldSpecsRunner, TensorSpec


class LiteRTRunner(HeldSpecsRunner):
    """A .tflite file on LiteRT. `reference_kernels` runs TFLite's builtin kernels without the
    default XNNPACK delegate (slow; the baseline the ONNX conversion is checked against)."""

    backend = "litert"

    def __init__(self, model: str | Path, threads: int = 2, max_batch: int | None = None,
                 reference_kernels: bool = False) -> None:
        super().__init__()
        self.model = Path(model)
        self.threads = threads
        self.reference_kernels = reference_kernels
        self.max_batch = max_batch
        self.metadata: dict[str, str] = {}  # a .tflite carries no ONNX metadata
        self._it = None
        self._batch = 1

    def _activate(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as err:
            raise BackendUnavailable(f"LiteRT is not installed ({err}); pip install ai-edge-litert") from None
        if not self.model.is_file():
            raise ModelError(f"{self.model}: no such model file; run `camerapose assets fetch`")
        kw = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} \
            if self.reference_kernels else {}
        try:
            it = Interpreter(model_path=str(self.model), num_threads=self.threads, **kw)
            it.allocate_tensors()
        except Exception as err:  # the interpreter raises ValueError/RuntimeError on bad flatbuffers
            why = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelError(f"{self.model}: not a loadable TFLite model ({why})") from err
        self._it, self._batch = it, 1
        self._specs = (_specs(it.get_input_details()), _specs(it.get_output_details()))

    def _deactivate(self) -> None:
        self._it = self._specs = None

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        it = self._it
        ins = it.get_input_details()
        n = next(iter(feed.values())).shape[0]
        if n != self._batch:
            for d in ins:
                it.resize_tensor_input(d["index"], [n, *d["shape"][1:]])
            it.allocate_tensors()
            self._batch = n
        for d in ins:
            it.set_tensor(d["index"], np.ascontiguousarray(feed[d["name"]]))
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}  # copies


def _specs(details: list[dict]) -> dict[str, TensorSpec]:
    """LiteRT tensor details -> specs with a dynamic first (batch) dimension."""
    return {d["name"]: TensorSpec(d["name"], np.dtype(d["dtype"]), ("batch", *map(int, d["shape"][1:])))
            for d in details}
