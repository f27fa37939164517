"""BlazePose's networks behind any engines Runner (LiteRT, onnxruntime, TensorRT, Triton), and the pixel
conversion their inputs share.

`Network(runner, ...)` checks the runner's signature once against what the detector expects (one
NHWC float32 input of the network's size, the named outputs and their shapes, any batch), then
feeds each batch in the chunks the runner takes (LiteRT runs the person detector one image at a
time). `open_network` picks the runner from `detector.backend_runtime`
(`engines.select.create_image_runner`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from camerapose.core.errors import ModelError
from camerapose.engines.runner import Runner
from camerapose.engines.triton_runner import TritonTarget


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


class Network:
    """One BlazePose network: (B, *input_shape) float32 -> {output name: (B, ...) array}."""

    def __init__(self, runner: Runner, where: str, input_shape: tuple[int, ...],
                 outputs: dict[str, tuple[int, ...]]) -> None:
        self.runner, self.where = runner, where
        ins = list(runner.inputs.values())
        if len(ins) != 1 or ins[0].dtype != np.float32 or tuple(ins[0].shape[1:]) != input_shape:
            want = ", ".join(map(str, input_shape))
            raise ModelError(f"{where}: expected one float32 input (batch, {want}), "
                             f"got {[s.describe() for s in ins]}")
        have = runner.outputs
        for name, shape in outputs.items():
            if name not in have or tuple(have[name].shape[1:]) != shape:
                got = {n: s.describe() for n, s in have.items()}
                raise ModelError(f"{where}: expected output {name} of shape (batch, {shape}), got {got}")
        self._input = ins[0].name
        self._outputs = tuple(outputs)

    @property
    def backend(self) -> str:
        return self.runner.backend

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, *input_shape) float32 -> {output name: (B, ...) array}, in chunks of the runner's max."""
        step = self.runner.max_batch or len(batch)
        parts = [self.runner.infer({self._input: np.ascontiguousarray(batch[i:i + step], np.float32)})
                 for i in range(0, len(batch), step)]
        if len(parts) == 1:
            return {n: parts[0][n] for n in self._outputs}
        return {n: np.concatenate([p[n] for p in parts]) for n in self._outputs}

    def close(self) -> None:
        self.runner.deactivate()


def open_network(tflite: str, onnx: str, runtime: str, threads: int, what: str,
                 input_shape: tuple[int, ...], outputs: dict[str, tuple[int, ...]],
                 litert_max_batch: int | None = None, triton: TritonTarget | None = None) -> Network:
    """The network `what` on the runner `runtime` picks (auto | litert | onnxruntime | tensorrt |
    triton: the server and model `triton` names)."""
    from camerapose.engines.select import create_image_runner

    runner = create_image_runner(tflite, onnx, runtime, threads=threads, litert_max_batch=litert_max_batch,
                                 triton=triton)
    try:
        if runner.backend == "triton":
            return Network(runner, f"{what} on the {runner.where}", input_shape, outputs)
        path = onnx if runner.backend != "litert" else tflite
        return Network(runner, f"{what} {Path(path).name} ({runner.backend})", input_shape, outputs)
    except BaseException:
        runner.deactivate()
        raise


def to_rgb_float(bgr: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """(N, h, w, 3) uint8 BGR -> float32 RGB * scale + offset (swapped in place: ~6x faster than
    a strided [..., ::-1] copy, which matters at ~0.2 ms per crop)."""
    for img in bgr:
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)
    x = bgr.astype(np.float32)
    x *= np.float32(scale)
    if offset:
        x += np.float32(offset)
    return x
