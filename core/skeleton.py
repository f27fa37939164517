"""The Human3.6M 17-joint skeleton and the maps from other joint formats into it.

Every 2D or 3D pose inside CameraPose is in `Joint` order. Other formats are converted with a
`JointMap`: each H36M joint is the mean of one or more source joints (one source = copied,
several = a derived joint), so a map is a (17, N) averaging matrix, and a derived joint's
confidence is the minimum of its sources' confidences.

The maps, in one table (source joint indices; "a+b" = midpoint, "mid(pelvis, thorax)" = the
mean of the four hip and shoulder joints):

| H36M joint     | COCO-17        | MPII-16        | BlazePose-33    | 3DHP-17 | H36M-32 | SMPL-24 |
|----------------|----------------|----------------|-----------------|---------|---------|---------|
| 0 Pelvis       | 11+12          | 2+3            | 23+24           | 14      | 0       | 0       |
| 1 RHip         | 12             | 2              | 24              | 8       | 1       | 2       |
| 2 RKnee        | 14             | 1              | 26              | 9       | 2       | 5       |
| 3 RFoot        | 16             | 0              | 28              | 10      | 3       | 8       |
| 4 LHip         | 11             | 3              | 23              | 11      | 6       | 1       |
| 5 LKnee        | 13             | 4              | 25              | 12      | 7       | 4       |
| 6 LFoot        | 15             | 5              | 27              | 13      | 8       | 7       |
| 7 Spine        | mid(pel, thx)  | mid(pel, thx)  | mid(pel, thx)   | 15      | 12      | 6       |
| 8 Thorax       | 5+6            | 12+13          | 11+12           | 1       | 13      | 12      |
| 9 Neck/Nose    | 0 nose         | 8 upper neck   | 0 nose          | 16      | 14      | 12+15   |
| 10 Head        | 1+2 eyes       | 9 head top     | 2+5 eyes        | 0       | 15      | 15      |
| 11 LShoulder   | 5              | 13             | 11              | 5       | 17      | 16      |
| 12 LElbow      | 7              | 14             | 13              | 6       | 18      | 18      |
| 13 LWrist      | 9              | 15             | 15              | 7       | 19      | 20      |
| 14 RShoulder   | 6              | 12             | 12              | 2       | 25      | 17      |
| 15 RElbow      | 8              | 11             | 14              | 3       | 26      | 19      |
| 16 RWrist      | 10             | 10             | 16              | 4       | 27      | 21      |

Choices, and why:
- 2D formats (COCO, MPII, BlazePose) derive pelvis, thorax and spine the same way (mid-hips,
  mid-shoulders, their midpoint), so the refinement and lifting nets see one geometry whatever
  the detector. For MPII this means we do NOT use its hand-placed pelvis (6) and thorax (7):
  at run time the joints come from BlazePose and are derived, so training on MPII's own
  placement would teach the nets a definition they never see in deployment.
- MPII's upper neck (8) stands in for H36M's Neck/Nose and its head top (9) for Head; COCO and
  BlazePose have no head top, so Head is the midpoint of the eyes (the usual COCO->H36M
  convention); their nose is Neck/Nose.
- MPI-INF-3DHP (test-set `univ_annot3`, 17 joints) and the 32-joint Human3.6M mocap skeleton are
  3D skeletons built on the same anatomical definitions as H36M-17, so their pelvis, spine and
  neck joints are copied, not derived: that is what the published 3DHP and H36M numbers use.
- Joints that H36M does not have (ears, hands, feet tips, heels...) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np

from .shapes import array_namespace, check_shape


class Joint(IntEnum):
    """Human3.6M 17-joint order."""

    PELVIS = 0
    RHIP = 1
    RKNEE = 2
    RFOOT = 3
    LHIP = 4
    LKNEE = 5
    LFOOT = 6
    SPINE = 7
    THORAX = 8
    NECK = 9  # "Neck/Nose" in Human3.6M
    HEAD = 10
    LSHOULDER = 11
    LELBOW = 12
    LWRIST = 13
    RSHOULDER = 14
    RELBOW = 15
    RWRIST = 16


NUM_JOINTS = len(Joint)

# PARENTS[j] is the joint that j hangs from; the pelvis is the root.
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

# (parent, child) for every bone, in joint order of the child.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)

LEFT_JOINTS: tuple[Joint, ...] = (
    Joint.LHIP, Joint.LKNEE, Joint.LFOOT, Joint.LSHOULDER, Joint.LELBOW, Joint.LWRIST,
)
RIGHT_JOINTS: tuple[Joint, ...] = (
    Joint.RHIP, Joint.RKNEE, Joint.RFOOT, Joint.RSHOULDER, Joint.RELBOW, Joint.RWRIST,
)


def _mirror_permutation() -> tuple[int, ...]:
    perm = list(range(NUM_JOINTS))
    for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS, strict=True):
        perm[left], perm[right] = int(right), int(left)
    return tuple(perm)


# pose[..., MIRROR, :] swaps left and right joints (combine with negating x to mirror a pose).
MIRROR: tuple[int, ...] = _mirror_permutation()

# Pairs of bone indices (into BONES) that are left/right counterparts and share a length.
SYMMETRIC_BONES: tuple[tuple[int, int], ...] = tuple(
    (BONES.index((PARENTS[lj], int(lj))), BONES.index((PARENTS[rj], int(rj))))
    for lj, rj in zip(LEFT_JOINTS, RIGHT_JOINTS, strict=True)
)


def bone_vectors(pose: Any) -> Any:
    """Child minus parent for every bone. (..., 17, D) -> (..., 16, D); numpy or torch."""
    check_shape("pose", pose, (..., NUM_JOINTS, "D"))
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return pose[..., children, :] - pose[..., parents, :]


def bone_lengths(pose: Any) -> Any:
    """Euclidean length of every bone. (..., 17, D) -> (..., 16); numpy or torch."""
    v = bone_vectors(pose)
    return array_namespace(v).sqrt((v * v).sum(-1))


# The average adult's bone lengths in this skeleton (Human3.6M's subjects, about 1.72 m), metres, in
# BONES order: a prior for a body whose own lengths are not known yet.
MEAN_BONE_LENGTHS: tuple[float, ...] = (0.133, 0.443, 0.454, 0.133, 0.443, 0.454, 0.233, 0.257, 0.121,
                                        0.115, 0.151, 0.279, 0.252, 0.151, 0.279, 0.252)


def with_bone_lengths(pose: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The pose rebuilt from the pelvis outwards with every bone's direction kept and its length set.

    pose (..., 17, 3), lengths (..., 16) -> (..., 17, 3), pelvis unchanged. A bone of zero length
    (no direction) stays zero.
    """
    check_shape("pose", pose, (..., NUM_JOINTS, 3))
    check_shape("lengths", lengths, (*pose.shape[:-2], len(BONES)))
    vec = bone_vectors(pose)
    norm = np.linalg.norm(vec, axis=-1, keepdims=True)
    vec = np.where(norm > 0, vec / np.where(norm > 0, norm, 1.0), 0.0) * lengths[..., None]
    out = np.empty_like(pose)
    out[..., 0, :] = pose[..., 0, :]
    for b, (parent, child) in enumerate(BONES):  # parents come before children
        out[..., child, :] = out[..., parent, :] + vec[..., b, :]
    return out


@dataclass(frozen=True)
class JointMap:
    """How one joint format maps into H36M-17.

    `sources[j]` lists the source joints whose mean is H36M joint j.
    """

    name: str
    num_source_joints: int
    sources: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.sources) != NUM_JOINTS:
            raise ValueError(f"{self.name}: need {NUM_JOINTS} entries, got {len(self.sources)}")
        for j, src in enumerate(self.sources):
            if not src or any(not 0 <= s < self.num_source_joints for s in src):
                raise ValueError(f"{self.name}: bad sources {src} for joint {Joint(j).name}")

    @cached_property
    def matrix(self) -> np.ndarray:
        """(17, N) float64 averaging matrix: h36m = matrix @ source."""
        m = np.zeros((NUM_JOINTS, self.num_source_joints))
        for j, src in enumerate(self.sources):
            for s in src:
                m[j, s] += 1.0 / len(src)
        return m

    @cached_property
    def padded_sources(self) -> np.ndarray:
        """(17, 4) int32 source indices, padded with -1: the layout the CUDA remap kernel reads."""
        out = np.full((NUM_JOINTS, 4), -1, dtype=np.int32)
        for j, src in enumerate(self.sources):
            out[j, : len(src)] = src
        return out

    def __call__(
        self, points: np.ndarray, confidence: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Map poses into H36M-17.

        points (..., N, D) -> (..., 17, D); confidence (..., N) -> (..., 17), each joint the
        minimum over its sources.
        """
        check_shape(f"{self.name} points", points, (..., self.num_source_joints, "D"))
        mapped = np.einsum("jn,...nd->...jd", self.matrix.astype(points.dtype), points)
        if confidence is None:
            return mapped, None
        check_shape(f"{self.name} confidence", confidence, points.shape[:-1])
        conf = np.stack([confidence[..., list(src)].min(-1) for src in self.sources], -1)
        return mapped, conf


_PEL_THX_COCO = (5, 6, 11, 12)
_PEL_THX_MPII = (2, 3, 12, 13)
_PEL_THX_BLAZE = (11, 12, 23, 24)

COCO17 = JointMap("coco17", 17, (
    (11, 12), (12,), (14,), (16,), (11,), (13,), (15,), _PEL_THX_COCO, (5, 6), (0,), (1, 2),
    (5,), (7,), (9,), (6,), (8,), (10,),
))
MPII16 = JointMap("mpii16", 16, (
    (2, 3), (2,), (1,), (0,), (3,), (4,), (5,), _PEL_THX_MPII, (12, 13), (8,), (9,),
    (13,), (14,), (15,), (12,), (11,), (10,),
))
BLAZEPOSE33 = JointMap("blazepose33", 33, (
    (23, 24), (24,), (26,), (28,), (23,), (25,), (27,), _PEL_THX_BLAZE, (11, 12), (0,), (2, 5),
    (11,), (13,), (15,), (12,), (14,), (16,),
))
MPI_INF_3DHP17 = JointMap("3dhp17", 17, (
    (14,), (8,), (9,), (10,), (11,), (12,), (13,), (15,), (1,), (16,), (0,),
    (5,), (6,), (7,), (2,), (3,), (4,),
))
H36M32 = JointMap("h36m32", 32, (
    (0,), (1,), (2,), (3,), (6,), (7,), (8,), (12,), (13,), (14,), (15,),
    (17,), (18,), (19,), (25,), (26,), (27,),
))
# 3DPW's SMPL joints: spine2 (6) is Spine, neck (12) Thorax, Neck/Nose the neck-head midpoint.
SMPL24 = JointMap("smpl24", 24, (
    (0,), (2,), (5,), (8,), (1,), (4,), (7,), (6,), (12,), (12, 15), (15,),
    (16,), (18,), (20,), (17,), (19,), (21,),
))
H36M17 = JointMap("h36m17", 17, tuple((j,) for j in range(NUM_JOINTS)))

JOINT_MAPS: dict[str, JointMap] = {
    m.name: m for m in (H36M17, H36M32, COCO17, MPII16, BLAZEPOSE33, MPI_INF_3DHP17, SMPL24)
}


def to_h36m(
    points: np.ndarray, fmt: str, confidence: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Map (..., N, D) poses in format `fmt` (a key of JOINT_MAPS) into H36M-17."""
    try:
        joint_map = JOINT_MAPS[fmt]
    except KeyError:
        raise ValueError(f"unknown joint format {fmt!r}; known: {sorted(JOINT_MAPS)}") from None
    return joint_map(points, confidence)
