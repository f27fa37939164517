"""Marker sets of TRC and C3D files: which H36M joints are written, under which names.

- `h36m` (default): the 17 joints under their own names (`JOINT_NAMES`).
- `pose2sim`: the names of Pose2Sim's OpenSim marker sets (`Markers_Halpe26.xml`, its default
  HALPE_26 body model, and `Markers_Coco17.xml`), so its scaling and IK setups apply to the file.
  Pelvis is Pose2Sim's mid-hip `Hip`, Thorax its mid-shoulder `Neck`, H36M's Neck/Nose its `Nose`,
  the ankles `RAnkle`/`LAnkle`; Spine has no Pose2Sim marker and is left out (16 markers).
  Halpe26's toe and heel markers have no H36M joint and are absent (docs/files.md, TRC).
"""

from __future__ import annotations

from camerapose.core.errors import InputError
from camerapose.core.skeleton import Joint
from camerapose.runtime.files.tracks import JOINT_NAMES

_POSE2SIM: tuple[tuple[Joint, str], ...] = (
    (Joint.PELVIS, "Hip"),
    (Joint.RHIP, "RHip"),
    (Joint.RKNEE, "RKnee"),
    (Joint.RFOOT, "RAnkle"),
    (Joint.LHIP, "LHip"),
    (Joint.LKNEE, "LKnee"),
    (Joint.LFOOT, "LAnkle"),
    (Joint.THORAX, "Neck"),
    (Joint.NECK, "Nose"),
    (Joint.HEAD, "Head"),
    (Joint.LSHOULDER, "LShoulder"),
    (Joint.LELBOW, "LElbow"),
    (Joint.LWRIST, "LWrist"),
    (Joint.RSHOULDER, "RShoulder"),
    (Joint.RELBOW, "RElbow"),
    (Joint.RWRIST, "RWrist"),
)

# name -> (joint indices (M,), marker names (M,)), in the order the file's markers are written
MARKER_SETS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "h36m": (tuple(int(j) for j in Joint), JOINT_NAMES),
    "pose2sim": (tuple(int(j) for j, _ in _POSE2SIM), tuple(n for _, n in _POSE2SIM)),
}
DEFAULT_MARKERS = "h36m"


def marker_set(name: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(joint indices (M,), marker names (M,)) of a marker set; one InputError line for an unknown name."""
    if name not in MARKER_SETS:
        raise InputError(f"unknown marker set {name!r} (choose {', '.join(MARKER_SETS)})")
    return MARKER_SETS[name]
