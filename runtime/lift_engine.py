"""The lift stage's engine: pure preprocessing around ONE batched pose-model call per tick, then
the steps every pose goes through after the model (`core.lift_steps`: fusion with the detector's
3D, root solve, steady camera, per-track smoothing and bone lengths).

    lifter = LiftEngine(LiftConfig(model="engines/models/pose_default.onnx"))
    poses = lifter.lift([LiftItem(stream, frame, t, (w, h), id, person2d, conf, det3d), ...])

preprocess  pixels -> the normalisation the weights declare (ONNX metadata "normalization"; only
            "screen_long", `core.camera.normalize_screen`, exists in pose/1), stacked over all persons
            of all streams: kp2d (B, 17, 2), conf (B, 17)
infer       refine -> lift -> camera in one engine call
steps       `core.lift_steps.LiftSteps` (the evaluation of the `real` set runs the same steps)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.camera import normalize_screen
from camerapose.core.config import check_ranges
from camerapose.core.errors import InputError, ModelError
from camerapose.core.lift_steps import LiftItem, LiftSteps, Pose3D, PostConfig
from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import NUM_JOINTS
from camerapose.engines.triton_runner import TritonTarget, parse_url

log = logging.getLogger(__name__)

DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "engines" / "models" / "pose_default.onnx")
NORMALIZATIONS = ("screen_long",)


@dataclass(frozen=True)
class LiftConfig(PostConfig):
    """model: pose ONNX (docs/architecture.md); backend: auto | tensorrt | torch | onnxruntime | triton;
    threads: ORT intra-op threads (0 = ORT's choice); triton_url / triton_model / triton_timeout_s:
    with backend "triton", the server's gRPC HOST:PORT (or http://HOST:PORT), the model's name there
    and the time a call may take (docs/scale-out.md; `model` is not read then); the rest: what
    happens after the model (`core.lift_steps.PostConfig`)."""

    model: str = DEFAULT_MODEL
    backend: str = "auto"
    threads: int = 1
    triton_url: str = TritonTarget.url
    triton_model: str = TritonTarget.model
    triton_timeout_s: float = TritonTarget.timeout_s

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges("lift", self, threads=(0, 256), triton_timeout_s=(0.01, 3600))
        parse_url(self.triton_url)  # a malformed URL fails when the config is read, not in the stage


def preprocess(items: list[LiftItem]) -> dict[str, np.ndarray]:
    """Persons -> model feed {"kp2d": (B, 17, 2) normalised, "conf": (B, 17)} float32."""
    kp = np.stack([i.kp2d for i in items]).astype(np.float32)
    check_shape("kp2d", kp, (len(items), NUM_JOINTS, 2))
    wh = np.array([i.size for i in items], dtype=np.float32)
    kp_n = normalize_screen(kp, wh[:, 0, None, None], wh[:, 1, None, None])
    conf = np.clip(np.stack([i.conf for i in items]).astype(np.float32), 0.0, 1.0)
    return {"kp2d": np.ascontiguousarray(kp_n, dtype=np.float32), "conf": np.ascontiguousarray(conf)}


class LiftEngine:
    """Owns the pose runner; `lift` = preprocess -> one runner call -> `LiftSteps` (fusion, root
    solve, steady camera, per-track smoothing and bone lengths)."""

    def __init__(self, cfg: LiftConfig,
                 stream_intrinsics: dict[str, tuple[float, float, float, float]] | None = None) -> None:
        """stream_intrinsics: each calibrated stream's (fx, fy, cx, cy) (`LiftSteps`)."""
        from camerapose.engines.select import create_runner

        self.cfg = cfg
        remote = cfg.backend == "triton"  # the server holds the model: no local file is read
        if not remote and not Path(cfg.model).is_file():
            raise InputError(f"pose model {cfg.model} is missing (export one with `camerapose export`)")
        opts: dict[str, Any] = {"threads": cfg.threads} if cfg.threads else {}
        if remote:
            opts = {"url": cfg.triton_url, "model": cfg.triton_model, "timeout_s": cfg.triton_timeout_s}
        # auto looks for an NVIDIA driver before importing torch, so a CPU host starts fast.
        self.runner = create_runner(cfg.model, cfg.backend, **opts)
        meta = self.runner.metadata  # every runner carries the ONNX metadata create_runner checked
        if meta.get("normalization") not in NORMALIZATIONS or meta.get("joint_format") != "h36m17":
            where = f"Triton model {cfg.triton_model} at {cfg.triton_url}" if remote else cfg.model
            raise ModelError(
                f"{where}: normalization {meta.get('normalization')!r} / joint format "
                f"{meta.get('joint_format')!r}; this runtime feeds 'screen_long' / 'h36m17'"
            )
        self.metadata = dict(meta)
        self.steps = LiftSteps(cfg, stream_intrinsics=stream_intrinsics)
        self.last_infer_ms = 0.0

    def lift(self, items: list[LiftItem]) -> list[Pose3D]:
        if not items:
            return []
        # One engine call for the whole tick; more than an engine's largest batch (TensorRT profiles)
        # is split into as few calls as that allows.
        step = self.runner.max_batch or len(items)
        outs, self.last_infer_ms = [], 0.0
        for i in range(0, len(items), step):
            outs.append(self.runner.infer(preprocess(items[i : i + step])))
            self.last_infer_ms += self.runner.last_inference_ms or 0.0
        out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
        return self.steps(items, out)

    def stream_state(self, stream: str) -> dict[str, Any]:
        """What the lifter remembers of one stream (`LiftSteps.stream_state`)."""
        return self.steps.stream_state(stream)

    def restore_stream(self, stream: str, state: dict[str, Any]) -> None:
        """Go on from a `stream_state` of `stream`."""
        self.steps.restore_stream(stream, state)

    def close(self) -> None:
        self.runner.deactivate()
