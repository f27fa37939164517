"""Running .tflite models on ai-edge-litert (LiteRT), and the pixel conversion their inputs share."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from camerapose.core.errors import ModelError


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


class TFLiteModel:
    """One .tflite model on ai-edge-litert whose input batch dimension follows the batch given."""

    def __init__(self, path: Path, threads: int, input_shape: tuple[int, ...],
                 outputs: dict[str, tuple[int, ...]]) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file; run `camerapose assets fetch`")
        try:
            self._it = Interpreter(model_path=str(path), num_threads=threads)
            self._it.allocate_tensors()
        except Exception as err:  # the interpreter raises ValueError/RuntimeError on bad flatbuffers
            raise ModelError(f"{path}: not a loadable TFLite model ({str(err).splitlines()[0]})") from err
        ins = self._it.get_input_details()
        if len(ins) != 1 or tuple(ins[0]["shape"][1:]) != input_shape:
            got = [tuple(d["shape"]) for d in ins]
            raise ModelError(f"{path}: expected one input (1, {', '.join(map(str, input_shape))}), got {got}")
        self._input = ins[0]["index"]
        by_name = {d["name"]: d for d in self._it.get_output_details()}
        for name, shape in outputs.items():
            if name not in by_name or tuple(by_name[name]["shape"][1:]) != shape:
                have = {n: tuple(d["shape"]) for n, d in by_name.items()}
                raise ModelError(f"{path}: expected output {name} of shape (1, {shape}), got {have}")
        self._outputs = {name: by_name[name]["index"] for name in outputs}
        self._input_shape = input_shape
        self._batch = 1
        self.path = path

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """(B, *input_shape) float32 -> {output name: (B, ...) array}."""
        if batch.shape[0] != self._batch:
            self._it.resize_tensor_input(self._input, [batch.shape[0], *self._input_shape])
            self._it.allocate_tensors()
            self._batch = batch.shape[0]
        self._it.set_tensor(self._input, np.ascontiguousarray(batch, dtype=np.float32))
        self._it.invoke()
        return {name: self._it.get_tensor(i) for name, i in self._outputs.items()}  # already copies


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
