"""The pose model's signature (docs/architecture.md, "The model contract") and the metadata
every exported pose ONNX carries.

Inputs `kp2d` (batch, 17, 2) and `conf` (batch, 17); outputs `kp2d_refined` (batch, 17, 2),
`kp3d` (batch, 17, 3), `focal` (batch, 2), `center` (batch, 2), `t` (batch, 3); all float32.
Any runner can check a loaded model against it, so a file that is not one of ours fails with
one clear line instead of a shape error deep inside the runtime. No torch, no onnx needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from camerapose.core.errors import ModelError
from camerapose.core.skeleton import NUM_JOINTS

from .runner import TensorSpec

FORMAT = "pose/1"
BATCH = "batch"
F32 = np.dtype(np.float32)

POSE_INPUTS: dict[str, TensorSpec] = {
    "kp2d": TensorSpec("kp2d", F32, (BATCH, NUM_JOINTS, 2)),
    "conf": TensorSpec("conf", F32, (BATCH, NUM_JOINTS)),
}
POSE_OUTPUTS: dict[str, TensorSpec] = {
    "kp2d_refined": TensorSpec("kp2d_refined", F32, (BATCH, NUM_JOINTS, 2)),
    "kp3d": TensorSpec("kp3d", F32, (BATCH, NUM_JOINTS, 3)),
    "focal": TensorSpec("focal", F32, (BATCH, 2)),
    "center": TensorSpec("center", F32, (BATCH, 2)),
    "t": TensorSpec("t", F32, (BATCH, 3)),
}
OUTPUT_ORDER: tuple[str, ...] = tuple(POSE_OUTPUTS)

# Metadata keys written at export; the runtime reads these instead of guessing.
META_FORMAT = "camerapose.format"
META_KEYS = (META_FORMAT, "joint_format", "normalization", "model_config", "checkpoint_sha256")


def _same_shape(want: tuple, have: tuple) -> bool:
    """Static dims must match; a dynamic dim (str/None) only needs to be dynamic or > 0."""
    if len(want) != len(have):
        return False
    for w, h in zip(want, have, strict=True):
        if isinstance(w, int) and w != h:
            return False
        if not isinstance(w, int) and isinstance(h, int) and h < 1:
            return False
    return True


def check_signature(inputs: Mapping[str, TensorSpec], outputs: Mapping[str, TensorSpec], where: str) -> None:
    """Raise ModelError unless the model's inputs/outputs are the pose signature (names, dtypes, ranks)."""
    for kind, want, have in (("inputs", POSE_INPUTS, inputs), ("outputs", POSE_OUTPUTS, outputs)):
        if set(want) != set(have):
            raise ModelError(
                f"{where}: not a CameraPose pose model: {kind} are {sorted(have)}, expected {list(want)}"
            )
        for name, spec in want.items():
            got = have[name]
            if np.dtype(got.dtype) != spec.dtype or not _same_shape(spec.shape, tuple(got.shape)):
                raise ModelError(f"{where}: {kind[:-1]} {got.describe()} does not match {spec.describe()}")


def check_metadata(meta: Mapping[str, str], where: str) -> dict[str, object]:
    """Validate the export metadata; returns it with `model_config` parsed from JSON."""
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: missing CameraPose metadata {missing}; "
                         "re-export with `camerapose export`")
    if meta[META_FORMAT] != FORMAT:
        raise ModelError(f"{where}: model format {meta[META_FORMAT]!r}, this build reads {FORMAT!r}")
    out: dict[str, object] = dict(meta)
    try:
        out["model_config"] = json.loads(meta["model_config"])
    except json.JSONDecodeError as err:
        raise ModelError(f"{where}: model_config metadata is not JSON ({err})") from None
    return out


def sha256_file(path: str | Path) -> str:
    from camerapose.assets import sha256_of

    return sha256_of(Path(path))
