"""BVH (Blender, MotionBuilder, Unity importers): a joint hierarchy over the H36M-17 skeleton and
per-frame rotations solved from the joint positions.

The skeleton. Each H36M joint is a BVH joint, with the bone to its parent as its OFFSET (the
track's median length, in a T-pose facing +z, y up, metres). A BVH joint's rotation turns all its
children together, but the pelvis and the thorax have three bones each whose angles to one another
change (hips vs spine, shoulders vs neck), so each of those bones hangs from its own zero-length
joint, named `<Parent>_<Child>` (e.g. `Pelvis_RHip`): 23 BVH joints, and every bone can point
anywhere. The pelvis (root) turns with the body (a frame from its spine and hips), the thorax with
the chest (neck and shoulders); wrists, ankles and head end the chains (End Site) and never turn.

The rotations. Each joint turns its one bone from its rest direction onto the measured one, by the
least rotation relative to its parent (no twist about the bone: positions cannot show a twist), so
the rest pose is the T-pose with every angle 0 and the angles follow the motion smoothly. Only a
bone pointing almost opposite to its rest direction makes the least rotation ill-defined (it spins
with the slightest move); from 120 degrees away from rest on, the twist goes over gradually to the
one closest to the previous frame's, and back. The joint positions are rebuilt exactly by forward
kinematics, up to the bones' constant lengths.

Channels: the root has Xposition Yposition Zposition; each joint three rotations, intrinsic, with
the bone's own axis in the middle (ZXY for bones along x, ZYX along y), so only a bone turned by
180 degrees meets gimbal lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import BONES, NUM_JOINTS, PARENTS, Joint, with_bone_lengths
from camerapose.runtime.files.kinematics import aim, euler_from_matrix, frame_from_axes, unit, unwrap_degrees
from camerapose.runtime.files.tracks import JOINT_NAMES
from camerapose.runtime.files.writers import write_file

# The T-pose: each joint's direction from its parent (unit, y up, facing +z, so the person's right is -x).
_X, _Y = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
REST_DIRECTION: dict[int, tuple[float, float, float]] = {
    Joint.RHIP: (-1.0, 0.0, 0.0), Joint.RKNEE: (0.0, -1.0, 0.0), Joint.RFOOT: (0.0, -1.0, 0.0),
    Joint.LHIP: _X, Joint.LKNEE: (0.0, -1.0, 0.0), Joint.LFOOT: (0.0, -1.0, 0.0),
    Joint.SPINE: _Y, Joint.THORAX: _Y, Joint.NECK: _Y, Joint.HEAD: _Y,
    Joint.LSHOULDER: _X, Joint.LELBOW: _X, Joint.LWRIST: _X,
    Joint.RSHOULDER: (-1.0, 0.0, 0.0), Joint.RELBOW: (-1.0, 0.0, 0.0), Joint.RWRIST: (-1.0, 0.0, 0.0),
}
# The joints with several bones, and the joints that give their frame: y toward the first,
# x from the third toward the second (so the T-pose's frame is the identity).
BODY_FRAMES: dict[int, tuple[int, int, int]] = {
    Joint.PELVIS: (Joint.SPINE, Joint.LHIP, Joint.RHIP),
    Joint.THORAX: (Joint.NECK, Joint.LSHOULDER, Joint.RSHOULDER),
}
TWIST_BLEND_DEG = (120.0, 170.0)  # from the least rotation to the previous frame's twist (see above)
END_SITE = 0.1  # an End Site's length, as a share of its joint's bone


@dataclass(frozen=True)
class BvhJoint:
    """One BVH joint. parent: index in SKELETON (-1 for the root); at: the H36M joint it sits on;
    bone: the H36M (parent, child) bone of its OFFSET (None: zero offset); aims: the H36M child
    joint its rotation points its one bone at (None: the root, a body frame or an end)."""

    name: str
    parent: int
    at: int
    bone: tuple[int, int] | None
    aims: int | None

    @property
    def order(self) -> str:
        """Rotation channel order: the bone's own axis in the middle."""
        if self.aims is None or abs(REST_DIRECTION[self.aims][0]) == 1.0:
            return "ZXY"
        return "ZYX"


def _skeleton() -> tuple[BvhJoint, ...]:
    """The BVH joints in depth-first order (the order of the hierarchy and of the channels)."""
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    out: list[BvhJoint] = []

    def add(joint: int, parent: int, bone: tuple[int, int] | None) -> None:
        kids = children[joint]
        index = len(out)
        if len(kids) == 1:
            out.append(BvhJoint(JOINT_NAMES[joint], parent, joint, bone, kids[0]))
            add(kids[0], index, (joint, kids[0]))
        else:  # the root, a body frame, or an end
            out.append(BvhJoint(JOINT_NAMES[joint], parent, joint, bone, None))
            for kid in kids:  # one zero-length joint per bone
                out.append(BvhJoint(f"{JOINT_NAMES[joint]}_{JOINT_NAMES[kid]}", index, joint, None, kid))
                add(kid, len(out) - 1, (joint, kid))

    add(Joint.PELVIS, -1, None)
    return tuple(out)


SKELETON: tuple[BvhJoint, ...] = _skeleton()


def offsets(lengths: np.ndarray) -> np.ndarray:
    """Each BVH joint's OFFSET from its parent: bone lengths (16,) in BONES order -> (23, 3) metres."""
    out = np.zeros((len(SKELETON), 3))
    for i, j in enumerate(SKELETON):
        if j.bone is not None:
            out[i] = lengths[BONES.index(j.bone)] * np.array(REST_DIRECTION[j.bone[1]])
    return out


def solve_rotations(positions: np.ndarray) -> np.ndarray:
    """Local rotations of every BVH joint: positions (F, 17, 3) y up -> (F, 23, 3, 3).

    World rotation of joint i = world rotation of its parent @ local rotation of i; the root's
    local rotation is its world rotation."""
    check_shape("positions", positions, (..., NUM_JOINTS, 3))
    n = len(positions)
    world = np.zeros((n, len(SKELETON), 3, 3))
    local = np.zeros_like(world)
    for i, j in enumerate(SKELETON):
        parent = world[:, j.parent] if j.parent >= 0 else np.broadcast_to(np.eye(3), (n, 3, 3))
        if j.aims is not None:
            rest = np.array(REST_DIRECTION[j.aims])
            target = unit(positions[:, j.aims] - positions[:, j.at])
            local[:, i] = _aim_track(rest, np.einsum("fji,fj->fi", parent, target))
        elif j.at in BODY_FRAMES:
            up, left, right = BODY_FRAMES[j.at]
            frame = frame_from_axes(positions[:, up] - positions[:, j.at],
                                    positions[:, left] - positions[:, right])
            local[:, i] = np.swapaxes(parent, -1, -2) @ frame
        else:
            local[:, i] = np.eye(3)
        world[:, i] = parent @ local[:, i]
    return local


def _aim_track(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per frame, rest (3,) onto target (F, 3) -> (F, 3, 3): the least rotation, except near the
    opposite of rest, where that spins with the slightest move of the bone: from TWIST_BLEND_DEG[0]
    to [1] away from rest the twist goes over gradually to the one closest to the previous frame's."""
    rot = aim(rest, target)
    away = np.degrees(np.arccos(np.clip(target @ rest, -1, 1)))
    start, end = TWIST_BLEND_DEG
    keep = np.clip((away - start) / (end - start), 0, 1)  # the previous frame's share
    for f in np.flatnonzero(keep > 0):
        if f > 0:
            rot[f] = aim(rest, target[f], keep[f] * rot[f - 1] + (1 - keep[f]) * np.eye(3))
    return rot


def forward_kinematics(root: np.ndarray, local: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """Joint positions back from a BVH motion: root (F, 3), local (F, 23, 3, 3), offsets (23, 3)
    -> (F, 17, 3) positions of the H36M joints."""
    n = len(root)
    world = np.zeros_like(local)
    pos = np.zeros((n, len(SKELETON), 3))
    out = np.zeros((n, NUM_JOINTS, 3))
    for i, j in enumerate(SKELETON):
        if j.parent < 0:
            world[:, i], pos[:, i] = local[:, i], root
        else:
            world[:, i] = world[:, j.parent] @ local[:, i]
            pos[:, i] = pos[:, j.parent] + world[:, j.parent] @ offs[i]
        out[:, j.at] = pos[:, i]
    return out


def bvh_text(positions: np.ndarray, lengths: np.ndarray, frame_time: float) -> str:
    """The whole file: positions (F, 17, 3) metres y up (no gaps), lengths (16,) the bones' lengths."""
    check_shape("positions", positions, (..., NUM_JOINTS, 3))
    fitted = with_bone_lengths(positions, np.broadcast_to(lengths, (len(positions), len(BONES))))
    local = solve_rotations(fitted)
    offs = offsets(lengths)
    angles = np.stack([euler_from_matrix(local[:, i], j.order) for i, j in enumerate(SKELETON)], axis=1)
    angles = unwrap_degrees(angles)  # (F, 23, 3)
    lines = ["HIERARCHY"]
    _hierarchy(lines, 0, offs, 0)
    lines += ["MOTION", f"Frames: {len(positions)}", f"Frame Time: {frame_time:.8f}"]
    for f in range(len(positions)):
        values = [*fitted[f, Joint.PELVIS], *angles[f].ravel()]
        lines.append(" ".join(f"{v:.6f}" for v in values))
    return "\n".join(lines) + "\n"


def _hierarchy(lines: list[str], i: int, offs: np.ndarray, depth: int) -> None:
    j, pad = SKELETON[i], "  " * depth
    lines.append(f"{pad}{'ROOT' if j.parent < 0 else 'JOINT'} {j.name}")
    lines.append(pad + "{")
    lines.append(f"{pad}  OFFSET {offs[i, 0]:.6f} {offs[i, 1]:.6f} {offs[i, 2]:.6f}")
    rotations = " ".join(f"{axis}rotation" for axis in j.order)
    if j.parent < 0:
        lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rotations}")
    else:
        lines.append(f"{pad}  CHANNELS 3 {rotations}")
    kids = [k for k, other in enumerate(SKELETON) if other.parent == i]
    for k in kids:
        _hierarchy(lines, k, offs, depth + 1)
    if not kids:  # an end: a short tip along its bone
        end = END_SITE * offs[i]
        lines += [f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}",
                  pad + "  }"]
    lines.append(pad + "}")


def write_bvh(path: Path, positions: np.ndarray, lengths: np.ndarray, frame_time: float) -> None:
    """Write `bvh_text` to path (see there for the arrays)."""
    text = bvh_text(positions, lengths, frame_time)
    write_file(path, text)
