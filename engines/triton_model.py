"""The Triton Python-backend model that serves a CameraPose pose ONNX with onnxruntime.

`camerapose export --triton-repo DIR` copies this file as `DIR/python/<model>/1/model.py` next to
`model.onnx`. It runs inside Triton's Python-backend stub, in the side environment of
`camerapose serve` (numpy < 2, onnxruntime, nvidia-pytriton), so it imports numpy, onnxruntime and
Triton's `triton_python_backend_utils` only, never camerapose; the last two are imported when Triton
initialises the model, so this module also imports (and is tested) without them.

Dynamic batching hands `execute` several requests at once: their rows are concatenated into ONE
onnxruntime call, (sum of B_i, 17, 2) -> outputs (sum of B_i, ...), and split back per request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def parameters(config: dict[str, Any]) -> dict[str, str]:
    """A Triton model config's `parameters` (as JSON: {key: {"string_value": v}}) -> {key: v}."""
    return {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}


def run_batched(session: Any, inputs: list[str], outputs: list[str],
                feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    """One onnxruntime call for every request's rows: feeds[i][name] (B_i, ...) -> per request the
    outputs in `outputs` order, each (B_i, ...)."""
    sizes = [len(f[inputs[0]]) for f in feeds]
    batch = {n: np.concatenate([f[n] for f in feeds]) if len(feeds) > 1 else feeds[0][n] for n in inputs}
    results = session.run(outputs, batch)
    cuts = np.cumsum(sizes)[:-1]
    split = [np.split(r, cuts) for r in results]
    return [[np.ascontiguousarray(s[i]) for s in split] for i in range(len(feeds))]


class TritonPythonModel:
    """Triton's Python-backend entry points: initialize, execute, finalize."""

    def initialize(self, args: dict[str, str]) -> None:
        import onnxruntime as ort
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        config = json.loads(args["model_config"])
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(parameters(config).get("onnxruntime_threads", "0") or 0)
        opts.log_severity_level = 3
        # args["model_repository"] is this model's folder; the ONNX sits beside this file.
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self.pb
        feeds = [{n: pb.get_input_tensor_by_name(r, n).as_numpy() for n in self.inputs} for r in requests]
        per_request = run_batched(self.session, self.inputs, self.outputs, feeds)
        return [pb.InferenceResponse(output_tensors=[pb.Tensor(n, a)
                                                     for n, a in zip(self.outputs, outs, strict=True)])
                for outs in per_request]

    def finalize(self) -> None:
        self.session = None
