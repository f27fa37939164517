"""Export a pose model (RefineNet -> lifter -> camera branch) to ONNX with CameraPose metadata.

One fused graph, not one file per network: the runtime makes ONE batched call per tick, the
refined 2D feeds the lifter directly (no host round trip between networks), and TensorRT can fuse
across the boundary. The graph still outputs `kp2d_refined` so nothing the split would give is lost.

    camerapose export train/weights/default.pt --out engines/models   # -> pose_default.onnx

The file has fixed input/output names (engines.signature), a dynamic batch axis named "batch",
opset >= 17, ir_version <= 10 (what onnxruntime 1.x and TensorRT 10 read) and metadata keys
`camerapose.format`, `joint_format`, `normalization`, `model_config` (JSON) and
`checkpoint_sha256`. After writing, the export is reloaded in onnxruntime and compared against
torch on random inputs, so a bad export never lands on disk.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError, ModelError
from camerapose.core.skeleton import NUM_JOINTS

from .signature import BATCH, FORMAT, META_FORMAT, OUTPUT_ORDER, POSE_INPUTS, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    """How `export_pose_model` writes the ONNX file."""

    opset: int = 18  # >= 17 (contract); 18 is what torch's exporter emits natively (no down-conversion)
    ir_version: int = 10  # onnx 1.23 writes IR 14; onnxruntime 1.31 reads <= 13, TensorRT 10 <= 10
    max_batch: int = 65536  # upper bound of the dynamic batch axis seen by the exporter
    verify_batches: tuple[int, ...] = (1, 7)  # torch vs onnxruntime check right after writing
    atol: float = 1e-4


def pose_metadata(joint_format: str, normalization: str, model_config: Any,
                  checkpoint_sha256: str) -> dict[str, str]:
    """The metadata dict written into every pose ONNX (values are strings, as ONNX stores them)."""
    return {
        META_FORMAT: FORMAT,
        "joint_format": str(joint_format),
        "normalization": str(normalization),
        "model_config": json.dumps(model_config, sort_keys=True, default=str),
        "checkpoint_sha256": str(checkpoint_sha256),
    }


def random_pose_inputs(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible random inputs: kp2d (B,17,2) in (-1,1), conf (B,17) in (0,1); float32."""
    rng = np.random.default_rng(seed)
    return {
        "kp2d": rng.uniform(-0.9, 0.9, (batch, NUM_JOINTS, 2)).astype(np.float32),
        "conf": rng.uniform(0.05, 1.0, (batch, NUM_JOINTS)).astype(np.float32),
    }


def torch_forward(model: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a pose nn.Module on numpy inputs; outputs by name, float32 numpy."""
    import torch

    with torch.inference_mode():
        out = model(torch.from_numpy(feed["kp2d"]), torch.from_numpy(feed["conf"]))
    if len(out) != len(OUTPUT_ORDER):
        raise ModelError(f"pose model returned {len(out)} outputs, expected {OUTPUT_ORDER}")
    return {n: o.detach().float().cpu().numpy() for n, o in zip(OUTPUT_ORDER, out, strict=True)}


def export_pose_model(model: Any, out_path: str | Path, metadata: dict[str, str],
                      cfg: ExportConfig = ExportConfig()) -> Path:
    """Write `model` (a pose nn.Module, docs/architecture.md) as one ONNX graph at `out_path`."""
    import onnx
    import torch

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # A copy: .float()/.eval() work in place. fp16 checkpoints are exported (and compared) in fp32;
    # TensorRT picks its own precision.
    model = copy.deepcopy(model).float().eval()
    example = tuple(torch.from_numpy(a) for a in random_pose_inputs(2).values())
    batch = torch.export.Dim(BATCH, min=1, max=cfg.max_batch)
    with tempfile.TemporaryDirectory(prefix="camerapose-export-") as tmp, _quiet_exporter():
        raw = Path(tmp) / "raw.onnx"
        try:
            torch.onnx.export(
                model, example, str(raw), input_names=list(POSE_INPUTS), output_names=list(OUTPUT_ORDER),
                opset_version=cfg.opset, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={name: {0: batch} for name in _forward_arg_names(model)},
            )
        except Exception as err:  # the exporter raises many types; the user needs the first line
            raise ModelError(f"ONNX export failed: {str(err).splitlines()[0]}") from err
        proto = onnx.load(str(raw))
    _finish(proto, metadata, cfg)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    os.close(fd)
    try:
        onnx.save(proto, tmp_name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600; the model is a normal shared file
        _verify(model, Path(tmp_name), cfg)
        os.replace(tmp_name, out_path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    log.info("wrote %s (%.1f kB, opset %d, ir %d)", out_path, out_path.stat().st_size / 1e3,
             _opset(proto), proto.ir_version)
    return out_path


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The dynamo exporter prints progress to stdout and logs every optimisation pass: keep the
    command's output to the one path it prints."""
    names = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def _forward_arg_names(model: Any) -> list[str]:
    import inspect

    names = list(inspect.signature(model.forward).parameters)[:2]
    return names if len(names) == 2 else list(POSE_INPUTS)


def _finish(proto: Any, metadata: dict[str, str], cfg: ExportConfig) -> None:
    """Pin the IR version, name every dynamic axis "batch", attach the metadata, and check the graph."""
    import onnx

    proto.ir_version = cfg.ir_version
    for vi in [*proto.graph.input, *proto.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "camerapose"
    if _opset(proto) < 17:
        raise ModelError(f"export produced opset {_opset(proto)}; CameraPose needs >= 17")
    onnx.checker.check_model(proto)


def _opset(proto: Any) -> int:
    return max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _verify(model: Any, path: Path, cfg: ExportConfig) -> None:
    """Reload in onnxruntime and compare with torch: a bad export must not be written."""
    from .runner import OnnxRuntimeRunner
    from .signature import check_signature

    with OnnxRuntimeRunner(path) as runner:
        check_signature(runner.inputs, runner.outputs, "export")
        for b in cfg.verify_batches:
            feed = random_pose_inputs(b, seed=b)
            want, got = torch_forward(model, feed), runner.infer(feed)
            for name in OUTPUT_ORDER:
                err = float(np.max(np.abs(want[name] - got[name])))
                if not err <= cfg.atol:
                    raise ModelError(f"export parity failed: {name} differs by {err:.2e} at batch {b}")


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, cfg: ExportConfig = ExportConfig(),
                      name: str | None = None) -> Path:
    """`camerapose export`: load a training checkpoint and write `<out_dir>/pose_<stem>.onnx`."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise InputError(f"{checkpoint}: no such checkpoint")
    try:
        from camerapose.models.checkpoint import load_pose_model
    except ImportError as err:
        raise ModelError(f"export needs torch ({err})") from None
    model, info = load_pose_model(checkpoint)
    meta = pose_metadata(info.get("joint_format", "h36m17"), info.get("normalization", "screen_long"),
                         _config_of(info), info.get("sha256") or sha256_file(checkpoint))
    return export_pose_model(model, Path(out_dir) / (name or f"pose_{checkpoint.stem}.onnx"), meta, cfg)


def _config_of(info: dict[str, Any]) -> Any:
    """The model configs from a checkpoint's info dict, whatever key the trainer used."""
    for key in ("model_config", "config", "configs"):
        if key in info:
            return info[key]
    return {k: v for k, v in info.items() if k.endswith("config") or k.endswith("configs")}
