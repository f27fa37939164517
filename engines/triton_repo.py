"""A Triton Inference Server model repository (`camerapose export ... --triton-repo DIR`): the pose
(lift) ONNX, and any other batched ONNX such as BlazePose's two networks (`detector.backend_runtime =
"triton"`). Several exports into one DIR add models to it, each under its own name (`--triton-model`);
one of the same name is replaced, the others are kept, and README.md gets a section per model.

    DIR/README.md                                   what each variant is for, how to serve and build
    DIR/python/<name>/config.pbtxt                  Python backend: onnxruntime inside Triton's stub
    DIR/python/<name>/1/model.py, 1/model.onnx      (what `camerapose serve DIR` and the bundled
                                                     tritonserver of nvidia-pytriton can run)
    DIR/onnxruntime/<name>/config.pbtxt, 1/model.onnx   platform onnxruntime_onnx (the official
                                                     server image, CPU or GPU)
    DIR/tensorrt/<name>/config.pbtxt                platform tensorrt_plan (GPU): 1/model.plan is
                                                     built on the GPU host (README.md says how)

Each variant is a repository of its own with the same model names, so a client (`lift.triton_url`,
`lift.triton_model`) does not care which one serves it. Every config.pbtxt has dynamic batching
(preferred sizes, a max queue delay), `max_batch_size`, the inputs' and outputs' dims read from the
ONNX, and the ONNX's metadata_props as `parameters` (string values): the Triton runner reads them
from the server's model config, so a runtime host needs no copy of the ONNX. A pose ONNX must carry
CameraPose's metadata (ModelError otherwise); another ONNX's metadata is copied as it is, if any.
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


Specs = dict[str, TensorSpec]


def read_onnx(onnx_path: str | Path) -> tuple[Specs, Specs, dict[str, str], bool]:
    """-> (inputs, outputs, metadata, is_pose): a model with the pose signature must also have the pose
    metadata (ModelError if not); any other model is taken with its metadata_props as they are."""
    from .runner import OnnxRuntimeRunner
    from .signature import check_metadata, check_signature

    with OnnxRuntimeRunner(onnx_path) as ort_runner:
        inputs, outputs, meta = ort_runner.inputs, ort_runner.outputs, dict(ort_runner.metadata)
    try:
        check_signature(inputs, outputs, str(onnx_path))
    except ModelError:
        return inputs, outputs, meta, False
    check_metadata(meta, str(onnx_path))
    return inputs, outputs, meta, True


def write_repo(onnx_path: str | Path, out_dir: str | Path, cfg: RepoConfig = RepoConfig()) -> Path:
    """Write the three variants of the ONNX `onnx_path` as model `cfg.name` into `out_dir` (the other
    models already there are kept) and its section of README.md; -> out_dir."""
    onnx_path, out = Path(onnx_path), Path(out_dir)
    inputs, outputs, meta, _ = read_onnx(onnx_path)
    config_pbtxt("python", cfg, inputs, outputs, meta)  # a ModelError before anything is written
    try:
        for variant in VARIANTS:
            folder = out / variant / cfg.name
            (folder / "1").mkdir(parents=True, exist_ok=True)
            text = config_pbtxt(variant, cfg, inputs, outputs, meta)
            (folder / "config.pbtxt").write_text(text)
            if variant != "tensorrt":
                shutil.copyfile(onnx_path, folder / "1" / "model.onnx")
            if variant == "python":
                shutil.copyfile(MODEL_PY, folder / "1" / "model.py")
        old = (out / "README.md").read_text() if (out / "README.md").is_file() else ""
        (out / "README.md").write_text(readme(cfg, onnx_path.name, inputs, outputs, old))
    except OSError as err:
        raise write_failed(out, err) from None
    return out


def _shapes(inputs: dict[str, TensorSpec], batch: int) -> str:
    """trtexec's shape argument for the model's inputs at `batch` rows (e.g. kp2d:64x17x2,conf:64x17)."""
    return ",".join(f"{s.name}:{'x'.join(map(str, (batch, *s.shape[1:])))}" for s in inputs.values())


def _describe(specs: dict[str, TensorSpec]) -> str:
    return ", ".join(f"`{s.name}` ({', '.join(map(str, ('batch', *s.shape[1:])))})" for s in specs.values())


SECTION = "<!-- model: {} -->"
SECTION_RE = re.compile(r"^<!-- model: (\S+) -->$", re.M)


def readme(cfg: RepoConfig, source: str, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec],
           old: str = "") -> str:
    """DIR/README.md: how to serve the repository, then one section per model, this one's replacing
    its earlier section in `old` (the README a previous export wrote) and the others' kept."""
    parts = SECTION_RE.split(old)
    sections = {name: text for name, text in zip(parts[1::2], parts[2::2], strict=True)}
    sections[cfg.name] = _model_section(cfg, source, inputs, outputs)
    return _HEADER + "".join(SECTION.format(n) + sections[n] for n in sorted(sections))


_HEADER = """# Triton model repository

Three repositories, one per Triton backend, each serving the same models (one section each below,
one per `camerapose export ... --triton-repo DIR --triton-model NAME`). Every model has dynamic
batching; its ONNX metadata, if any, is in its config.pbtxt's `parameters`.

- `python/`: Python backend, onnxruntime on the CPU; `camerapose serve DIR` runs it (the
  tritonserver bundled with nvidia-pytriton).
- `onnxruntime/`: platform `onnxruntime_onnx`, CPU or GPU; the official image runs it:

      docker run --gpus all --rm -p 127.0.0.1:8001:8001 -v $PWD/onnxruntime:/models \\
        nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models

- `tensorrt/`: platform `tensorrt_plan`, GPU; the official image too, once each model's
  `tensorrt/NAME/1/model.plan` is built (below).

A plan only runs with the TensorRT version and the GPU model it was built with, so build it inside
the same `nvcr.io/nvidia/tritonserver:<yy.mm>-py3` image that serves it, on that GPU (the command is
in each model's section; `camerapose build` works for the pose model too, with the same TensorRT
version: copy the printed engine to `tensorrt/NAME/1/model.plan`). The profile's max batch must be
at least the model's `max_batch_size`. FP16 results differ from onnxruntime's in the third decimal.

"""


def _model_section(cfg: RepoConfig, source: str, inputs: dict[str, TensorSpec],
                   outputs: dict[str, TensorSpec]) -> str:
    n, mb, opt = cfg.name, cfg.max_batch, min(cfg.preferred[-1] if cfg.preferred else 64, cfg.max_batch)
    detect = "`--set detector.backend_runtime=triton --set detector.triton_url=HOST:8001`"
    clients = {"camerapose_pose": "`--set lift.backend=triton --set lift.triton_url=HOST:8001`",
               "blazepose_detector": detect, "blazepose_landmark": detect}
    client = clients.get(n, "`lift.triton_model` or `detector.triton_detector_model` / "
                            "`detector.triton_landmark_model` name it")
    return f"""
## `{n}` (from {source})

- inputs: {_describe(inputs)}
- outputs: {_describe(outputs)}
- max batch {mb}; dynamic batching with preferred sizes {list(cfg.preferred)} and a
  {cfg.queue_delay_us} us queue delay
- clients: {client}

    docker run --gpus all --rm -v $PWD:/repo nvcr.io/nvidia/tritonserver:<yy.mm>-py3 \\
      /usr/src/tensorrt/bin/trtexec --onnx=/repo/onnxruntime/{n}/1/model.onnx \\
      --saveEngine=/repo/tensorrt/{n}/1/model.plan --fp16 \\
      --minShapes={_shapes(inputs, 1)} --optShapes={_shapes(inputs, opt)} --maxShapes={_shapes(inputs, mb)}

"""
