"""A Triton Inference Server model repository for a pose ONNX (`camerapose export ... --triton-repo DIR`).

    DIR/README.md                                   what each variant is for, how to serve and build
    DIR/python/<name>/config.pbtxt                  Python backend: onnxruntime inside Triton's stub
    DIR/python/<name>/1/model.py, 1/model.onnx      (what `camerapose serve DIR` and the bundled
                                                     tritonserver of nvidia-pytriton can run)
    DIR/onnxruntime/<name>/config.pbtxt, 1/model.onnx   platform onnxruntime_onnx (the official
                                                     server image, CPU or GPU)
    DIR/tensorrt/<name>/config.pbtxt                platform tensorrt_plan (GPU): 1/model.plan is
                                                     built on the GPU host (README.md says how)

Each variant is a repository of its own with the same model name, so a client (`lift.triton_url`,
`lift.triton_model`) does not care which one serves it. Every config.pbtxt has dynamic batching
(preferred sizes, a max queue delay), `max_batch_size`, the inputs' and outputs' dims read from the
ONNX, and the ONNX's metadata_props as `parameters` (string values): the Triton runner reads them
from the server's model config, so a runtime host needs no copy of the ONNX.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError, ModelError, write_failed

from .runner import TensorSpec
from .triton_runner import DEFAULT_MODEL

VARIANTS = ("python", "onnxruntime", "tensorrt")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MODEL_PY = Path(__file__).with_name("triton_model.py")
_TYPES = {np.dtype(np.float32): "TYPE_FP32", np.dtype(np.float16): "TYPE_FP16",
          np.dtype(np.float64): "TYPE_FP64", np.dtype(np.int64): "TYPE_INT64",
          np.dtype(np.int32): "TYPE_INT32", np.dtype(np.uint8): "TYPE_UINT8", np.dtype(np.bool_): "TYPE_BOOL"}


@dataclass(frozen=True)
class RepoConfig:
    """name: the model's name on the server; max_batch: rows per execution (and per request);
    preferred: batch sizes the batcher runs at once when it has them; queue_delay_us: how long a
    request may wait for others to batch with (the latency a lone runtime pays at most);
    onnxruntime_threads: intra-op threads of the Python backend's session (0 = onnxruntime's choice)."""

    name: str = DEFAULT_MODEL
    max_batch: int = 1024
    preferred: tuple[int, ...] = (16, 64)
    queue_delay_us: int = 1000
    onnxruntime_threads: int = 0

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise InputError(f"Triton model name {self.name!r}: letters, digits, '_', '.', '-' only")
        check_ranges("triton repo", self, max_batch=(1, 1 << 20), queue_delay_us=(0, 10_000_000),
                     onnxruntime_threads=(0, 256))
        bad = [p for p in self.preferred if not 1 <= p <= self.max_batch]
        if bad:
            raise InputError(f"preferred batch sizes {bad} are outside 1..{self.max_batch} (max_batch)")


def _quote(text: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _tensors(kind: str, specs: dict[str, TensorSpec]) -> str:
    """`input [...]` / `output [...]` blocks; dims without the batch axis (Triton adds it)."""
    blocks = []
    for spec in specs.values():
        dims = spec.shape[1:]
        if not spec.shape or isinstance(spec.shape[0], int) or not all(isinstance(d, int) for d in dims):
            raise ModelError(f"{spec.describe()}: Triton batching needs a dynamic first axis, static others")
        if np.dtype(spec.dtype) not in _TYPES:
            raise ModelError(f"{spec.describe()}: no Triton data type for {np.dtype(spec.dtype).name}")
        blocks.append(f"  {{\n    name: {_quote(spec.name)}\n    data_type: {_TYPES[np.dtype(spec.dtype)]}\n"
                      f"    dims: [ {', '.join(map(str, dims))} ]\n  }}")
    return f"{kind} [\n" + ",\n".join(blocks) + "\n]\n"


def _parameters(params: dict[str, str]) -> str:
    return "".join(f"parameters {{\n  key: {_quote(k)}\n  value: {{ string_value: {_quote(v)} }}\n}}\n"
                   for k, v in params.items())


_HEADS = {
    "python": 'backend: "python"\n',
    "onnxruntime": 'platform: "onnxruntime_onnx"\n',
    "tensorrt": 'platform: "tensorrt_plan"\n',
}
# Where instances run: the Python backend's onnxruntime session on the CPU; onnxruntime_onnx left to
# Triton (one instance per GPU, else on the CPU); a TensorRT plan on the GPU only.
_INSTANCES = {"python": "instance_group [ { count: 1 kind: KIND_CPU } ]\n", "onnxruntime": "",
              "tensorrt": "instance_group [ { count: 1 kind: KIND_GPU } ]\n"}


def config_pbtxt(variant: str, cfg: RepoConfig, inputs: dict[str, TensorSpec],
                 outputs: dict[str, TensorSpec], metadata: dict[str, str]) -> str:
    """The config.pbtxt of one variant ("python" | "onnxruntime" | "tensorrt")."""
    if variant not in VARIANTS:
        raise InputError(f"unknown Triton variant {variant!r}; one of {VARIANTS}")
    preferred = f"  preferred_batch_size: [ {', '.join(map(str, cfg.preferred))} ]\n" if cfg.preferred else ""
    params = dict(sorted(metadata.items()))
    if variant == "python":
        params["onnxruntime_threads"] = str(cfg.onnxruntime_threads)
    return (f"name: {_quote(cfg.name)}\n{_HEADS[variant]}max_batch_size: {cfg.max_batch}\n"
            + _tensors("input", inputs) + _tensors("output", outputs)
            + f"dynamic_batching {{\n{preferred}  max_queue_delay_microseconds: {cfg.queue_delay_us}\n}}\n"
            + _INSTANCES[variant] + _parameters(params))


def write_repo(onnx_path: str | Path, out_dir: str | Path, cfg: RepoConfig = RepoConfig()) -> Path:
    """Write the three variants and README.md for the pose ONNX `onnx_path` into `out_dir`; -> out_dir."""
    from .runner import OnnxRuntimeRunner
    from .select import inspect_onnx

    onnx_path, out = Path(onnx_path), Path(out_dir)
    meta = inspect_onnx(onnx_path)  # a ModelError unless it is one of ours
    with OnnxRuntimeRunner(onnx_path) as ort_runner:
        inputs, outputs = ort_runner.inputs, ort_runner.outputs
    try:
        for variant in VARIANTS:
            folder = out / variant / cfg.name
            (folder / "1").mkdir(parents=True, exist_ok=True)
            (folder / "config.pbtxt").write_text(config_pbtxt(variant, cfg, inputs, outputs, meta))
            if variant != "tensorrt":
                shutil.copyfile(onnx_path, folder / "1" / "model.onnx")
            if variant == "python":
                shutil.copyfile(MODEL_PY, folder / "1" / "model.py")
        (out / "README.md").write_text(readme(cfg, onnx_path.name))
    except OSError as err:
        raise write_failed(out, err) from None
    return out


def _shapes(batch: int) -> str:
    """trtexec's shape argument for the pose inputs at `batch` rows."""
    return f"kp2d:{batch}x17x2,conf:{batch}x17"


def readme(cfg: RepoConfig, source: str) -> str:
    """DIR/README.md: the layout and how to serve each variant."""
    n, mb, opt = cfg.name, cfg.max_batch, (cfg.preferred[-1] if cfg.preferred else 64)
    return f"""# Triton model repository for {source}

Three repositories, one per Triton backend, each serving the model `{n}` (inputs `kp2d`
(batch,17,2), `conf` (batch,17); outputs `kp2d_refined`, `kp3d`, `focal`, `center`, `t`; float32;
max batch {mb}, dynamic batching with preferred sizes {list(cfg.preferred)} and a
{cfg.queue_delay_us} us queue delay). The ONNX metadata is in each config.pbtxt's `parameters`.

- `python/`: Python backend, onnxruntime on the CPU; `camerapose serve DIR` runs it (the
  tritonserver bundled with nvidia-pytriton).
- `onnxruntime/`: platform `onnxruntime_onnx`, CPU or GPU; the official image runs it:

      docker run --gpus all --rm -p 127.0.0.1:8001:8001 -v $PWD/onnxruntime:/models \\
        nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models

- `tensorrt/`: platform `tensorrt_plan`, GPU; the official image too, once
  `tensorrt/{n}/1/model.plan` is built (below).

Clients: `camerapose run --set lift.backend=triton --set lift.triton_url=HOST:8001`
(and `--set lift.triton_model={n}` for another name than the default).

## Building the TensorRT plan (on the GPU server)

A plan only runs with the TensorRT version and the GPU model it was built with, so build it inside
the same `nvcr.io/nvidia/tritonserver:<yy.mm>-py3` image that serves it, on that GPU:

    docker run --gpus all --rm -v $PWD:/repo nvcr.io/nvidia/tritonserver:<yy.mm>-py3 \\
      /usr/src/tensorrt/bin/trtexec --onnx=/repo/onnxruntime/{n}/1/model.onnx \\
      --saveEngine=/repo/tensorrt/{n}/1/model.plan --fp16 \\
      --minShapes={_shapes(1)} --optShapes={_shapes(opt)} --maxShapes={_shapes(mb)}

(or `camerapose build onnxruntime/{n}/1/model.onnx --fp16 --max-batch {mb}` with the same TensorRT
version, then copy the printed engine to `tensorrt/{n}/1/model.plan`). The profile's max batch must
be at least `max_batch_size` ({mb}). FP16 results differ from onnxruntime's in the third decimal.
"""
