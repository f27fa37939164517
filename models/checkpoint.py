"""Checkpoints that rebuild the pose model without the training script.

A checkpoint is a torch file holding only plain types and tensors (loads with weights_only=True):
    format "camerapose-checkpoint/1", joint_format "h36m17", normalization "screen_long",
    model_config (PoseModelConfig as a dict), model (state dict), and for training checkpoints
    train_config, augmentor/discriminator states, optimiser states, step and epoch (for --resume).

    model, info = load_pose_model("train/weights/default.pt")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from camerapose.assets import sha256_of
from camerapose.core.config import from_dict
from camerapose.core.errors import InputError, ModelError

from .pose import PoseModel, PoseModelConfig

FORMAT = "camerapose-checkpoint/1"
JOINT_FORMAT = "h36m17"
NORMALIZATION = "screen_long"


def save_checkpoint(path: str | Path, model: PoseModel, extra: dict[str, Any] | None = None,
                    half: bool = False) -> Path:
    """Write the model (fp16 tensors when `half`) and its config, plus `extra` (plain types)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "joint_format": JOINT_FORMAT, "normalization": NORMALIZATION,
               "model_config": dataclasses.asdict(model.cfg), "model": state, **(extra or {})}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, checked for the format; ModelError when it is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise ModelError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelError(f"{path}: not a CameraPose checkpoint (expected format {FORMAT!r})")
    for key in ("model_config", "model", "joint_format", "normalization"):
        if key not in ckpt:
            raise ModelError(f"{path}: checkpoint lacks {key!r}")
    if ckpt["normalization"] != NORMALIZATION:  # its 2D inputs would be scaled another way
        raise ModelError(f"{path}: trained on {ckpt['normalization']!r} inputs; this version feeds "
                         f"{NORMALIZATION!r} (retrain it, or use the version that trained it)")
    return ckpt


def load_pose_model(path: str | Path) -> tuple[PoseModel, dict[str, Any]]:
    """Rebuild the PoseModel (float32, eval mode) from a checkpoint alone.

    info: joint_format, normalization, model_config (dict), configs (dict: model and, for
    training checkpoints, train), sha256, metrics and mean_pose (the training set's mean 3D pose,
    (17,3) lists; when the trainer stored them), path.
    """
    ckpt = read_checkpoint(path)
    try:
        model = PoseModel(from_dict(PoseModelConfig, ckpt["model_config"], f"{path}: model_config"))
    except InputError as err:  # a key or type this version does not have: the file, not the user, is wrong
        raise ModelError(str(err)) from None
    except ValueError as err:  # e.g. a lifter kind this version does not have
        raise ModelError(f"{path}: {err}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelError(f"{path}: weights do not fit the stored model config ({err})") from None
    model.eval()
    info = {
        "joint_format": ckpt["joint_format"],
        "normalization": ckpt["normalization"],
        "model_config": ckpt["model_config"],
        "configs": {"model": ckpt["model_config"], **({"train": ckpt["train_config"]}
                                                     if "train_config" in ckpt else {})},
        "metrics": ckpt.get("metrics", {}),
        "mean_pose": ckpt.get("mean_pose"),
        "sha256": sha256_of(Path(path)),
        "path": str(path),
    }
    return model, info
