"""The pose augmentor (PoseAug-style): a generator that changes 3D poses, and KCS discriminators.

The generator changes bone angles, then bone lengths (left and right alike), then the global
rotation and translation, each within a bound of its config; the discriminators judge 3D poses
per body part and 2D poses as a whole on their kinematic chain space (bone vectors' Gram matrix).
Training only: nothing here is exported or run by the runtime.

Shapes: kp3d (B, 17, 3) metres, root-relative, camera frame; t (B, 3) metres; kp2d (B, 17, 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from camerapose.core.skeleton import BONES, NUM_JOINTS, PARENTS, SYMMETRIC_BONES, Joint, bone_vectors
from camerapose.models.pose import ROOT, pose_size

J = NUM_JOINTS


@dataclass(frozen=True)
class AugmentorConfig:
    width: int = 256
    noise_dim: int = 16
    max_angle_deg: float = 25.0  # largest change of one bone's direction
    bone_scale: float = 0.2  # bone lengths stay within (1 +- bone_scale) x the original
    max_rotation_deg: float = 30.0  # global rotation about each axis
    max_shift: float = 0.5  # x/y translation (metres) and log-depth change bound
    min_depth: float = 1.5  # metres; augmented roots never come closer


@dataclass(frozen=True)
class DiscriminatorConfig:
    width: int = 128


def _mlp(n_in: int, n_out: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                         nn.LeakyReLU(0.2), nn.Linear(width, n_out))


def bones_to_pose(directions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Rebuild a root-relative pose from unit bone directions and lengths. (B,16,3),(B,16) -> (B,17,3)."""
    vec = directions * lengths[..., None]
    joints: list[torch.Tensor] = [torch.zeros_like(vec[:, 0])]  # the root
    for b, (parent, _) in enumerate(BONES):  # BONES are in child order: joint b + 1 is bone b's child
        joints.append(joints[parent] + vec[:, b])
    return torch.stack(joints, 1)


def axis_angle_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rodrigues: axis-angle vectors to rotation matrices. (..., 3) -> (..., 3, 3)."""
    angle = v.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    k = v / angle
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    K = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).view(*v.shape[:-1], 3, 3)
    s, c = angle.sin()[..., None], angle.cos()[..., None]
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


class Generator(nn.Module):
    """Augments a 3D pose: bone angles, then bone lengths (symmetric), then rotation + translation.

    forward(kp3d (B,17,3) root-relative, t (B,3)) -> dict with kp3d (B,17,3) root-relative,
    t (B,3) with t_z >= min_depth, and the raw changes the regularisers read.
    """

    def __init__(self, cfg: AugmentorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_in = 3 * J + cfg.noise_dim
        self.angle = _mlp(n_in, 3 * len(BONES), cfg.width)
        self.length = _mlp(n_in, len(BONES) - len(SYMMETRIC_BONES), cfg.width)
        self.rigid = _mlp(n_in, 6, cfg.width)
        # Which free length parameter each bone uses: left/right counterparts share one.
        partner = {a: b for pair in SYMMETRIC_BONES for a, b in (pair, pair[::-1])}
        assigned: dict[int, int] = {}
        for b in range(len(BONES)):
            assigned[b] = assigned.get(partner.get(b, -1), len(set(assigned.values())))
        index = [assigned[b] for b in range(len(BONES))]
        self.register_buffer("length_index", torch.tensor(index), persistent=False)

    def _input(self, kp3d: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(kp3d.shape[0], self.cfg.noise_dim, device=kp3d.device, dtype=kp3d.dtype)
        return torch.cat([kp3d.flatten(1), noise], 1)

    def forward(self, kp3d: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        vec = bone_vectors(kp3d)
        lengths = vec.norm(dim=-1).clamp_min(1e-6)
        dirs = vec / lengths[..., None]
        # 1. bone angles: rotate each bone by a bounded axis-angle
        max_a = math.radians(cfg.max_angle_deg)
        d_angle = max_a * torch.tanh(self.angle(self._input(kp3d))).view(-1, len(BONES), 3) / math.sqrt(3)
        dirs = (axis_angle_matrix(d_angle) @ dirs[..., None])[..., 0]
        pose = bones_to_pose(dirs, lengths)
        # 2. bone lengths: symmetric ratios in (1 - s, 1 + s)
        ratio_free = 1 + cfg.bone_scale * torch.tanh(self.length(self._input(pose)))
        ratio = ratio_free[:, self.length_index]
        pose = bones_to_pose(dirs, lengths * ratio)
        # 3. rotation about the root and translation with positive depth
        rig = torch.tanh(self.rigid(self._input(pose)))
        rot = axis_angle_matrix(rig[:, :3] * math.radians(cfg.max_rotation_deg))
        pose = pose @ rot.transpose(1, 2)
        tz = (t[:, 2:3] * (rig[:, 5:6] * cfg.max_shift).exp()).clamp_min(cfg.min_depth)
        txy = t[:, :2] + rig[:, 3:5] * cfg.max_shift
        return {"kp3d": pose, "t": torch.cat([txy, tz], 1), "d_angle": d_angle, "ratio": ratio,
                "rotation": rig[:, :3]}


# Body parts for the part-aware 3D KCS discriminator, as bone indices (into BONES).
def _part(*children: Joint) -> tuple[int, ...]:
    """The bones (indices into BONES) that end at these joints."""
    return tuple(BONES.index((PARENTS[c], int(c))) for c in children)


BODY_PARTS: dict[str, tuple[int, ...]] = {
    "torso": _part(Joint.RHIP, Joint.LHIP, Joint.SPINE, Joint.THORAX, Joint.NECK, Joint.HEAD,
                   Joint.LSHOULDER, Joint.RSHOULDER),
    "left_arm": _part(Joint.LSHOULDER, Joint.LELBOW, Joint.LWRIST),
    "right_arm": _part(Joint.RSHOULDER, Joint.RELBOW, Joint.RWRIST),
    "left_leg": _part(Joint.LHIP, Joint.LKNEE, Joint.LFOOT),
    "right_leg": _part(Joint.RHIP, Joint.RKNEE, Joint.RFOOT),
}


def kcs(pose: torch.Tensor, bones: tuple[int, ...] | None = None) -> torch.Tensor:
    """Kinematic chain space Psi = B B^T of the (selected) bone vectors. (B,17,D) -> (B,n,n).

    Diagonal = squared bone lengths, off-diagonal = dot products (angles between bones).
    """
    vec = bone_vectors(pose)
    if bones is not None:
        vec = vec[:, list(bones)]
    return vec @ vec.transpose(1, 2)


class KCSDiscriminator3D(nn.Module):
    """Part-aware KCS discriminator: one MLP per body part on its Psi. (B,17,3) -> (B,) score."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.heads = nn.ModuleDict({
            name: _mlp(len(b) ** 2, 1, cfg.width) for name, b in BODY_PARTS.items()
        })

    def forward(self, kp3d: torch.Tensor) -> torch.Tensor:
        scores = [head(kcs(kp3d, BODY_PARTS[name]).flatten(1)) for name, head in self.heads.items()]
        return torch.cat(scores, 1).mean(1)


class KCSDiscriminator2D(nn.Module):
    """KCS of the 2D pose (normalised to unit size, so distance is not a cue). (B,17,2) -> (B,)."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.head = _mlp(len(BONES) ** 2, 1, cfg.width)

    def forward(self, kp2d: torch.Tensor) -> torch.Tensor:
        rel = kp2d - kp2d[:, ROOT : ROOT + 1]
        size = pose_size(rel, 1e-8)
        return self.head(kcs(rel / size[:, None, None]).flatten(1))[:, 0]
