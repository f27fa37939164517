"""The CameraPose networks: RefineNet -> lifter -> camera branch (PoseModel), and the pose augmentor.

Every network is built from a frozen config dataclass; `checkpoint.py` stores the configs so a
checkpoint rebuilds its model without the training script.

Widths: the paper uses 512 (RefineNet, camera branch) and 1024 (lifter). The shipped default
preset uses 256 / 512 / 256 (about 1.2M parameters in PoseModel) so the committed weights stay
small and one refine+lift+camera call on 2 CPU cores takes well under 0.5 ms; the paper preset
(`configs/paper.toml`) restores the paper's widths.

Shapes: kp2d (B, 17, 2) normalised screen coordinates (`core.camera.normalize_screen`); conf
(B, 17) in [0, 1]; kp3d (B, 17, 3) metres, root-relative, camera frame; focal/center (B, 2) in
the normalised screen frame; t (B, 3) metres, the pelvis in the camera frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from camerapose.core.skeleton import BONES, NUM_JOINTS, PARENTS, SYMMETRIC_BONES, Joint

J = NUM_JOINTS
ROOT = int(Joint.PELVIS)


# ---------------------------------------------------------------------------------------------
# Building blocks


class ResidualBlock(nn.Module):
    """Martinez et al.'s block: 2 x (Linear, BN, ReLU, Dropout) with a skip. (B, W) -> (B, W)."""

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualMLP(nn.Module):
    """Linear in -> `blocks` residual blocks -> Linear out. (B, n_in) -> (B, n_out)."""

    def __init__(self, n_in: int, n_out: int, width: int, blocks: int, dropout: float) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(n_in, width), nn.BatchNorm1d(width), nn.ReLU(),
                                 nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[ResidualBlock(width, dropout) for _ in range(blocks)])
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(x)))


def pose_features(kp2d: torch.Tensor) -> torch.Tensor:
    """Root-relative, size-normalised 2D pose plus its root position and log size. (B,17,2) -> (B,37).

    Translation and scale in the image are nuisance for the 3D shape but carry perspective and
    distance; splitting them keeps the MLP's input well conditioned at any position in the frame.
    """
    root = kp2d[:, ROOT : ROOT + 1]
    rel = kp2d - root
    # (B, 1) RMS radius; the floor (0.01 screen units, ~10 px) stays a normal number in fp16 (>= 6e-5)
    # so a collapsed pose cannot divide by zero in an fp16 engine.
    size = rel.pow(2).sum(-1).mean(-1, keepdim=True).clamp_min(1e-4).sqrt()
    shape = rel / size[:, :, None]
    return torch.cat([shape.flatten(1), root.flatten(1), size.log()], 1)


N_FEATURES = 2 * J + 3


# ---------------------------------------------------------------------------------------------
# PoseModel: refine -> lift -> camera


@dataclass(frozen=True)
class RefineConfig:
    width: int = 256
    blocks: int = 2
    dropout: float = 0.1


@dataclass(frozen=True)
class LifterConfig:
    kind: str = "martinez"  # the key into LIFTERS
    width: int = 512
    blocks: int = 2
    dropout: float = 0.25


@dataclass(frozen=True)
class CameraConfig:
    width: int = 256
    blocks: int = 2
    dropout: float = 0.1
    focal_prior: float = 1.5  # normalised focal (2 f / w) that a zero output means: ~67 deg HFOV
    depth_prior: float = 5.0  # metres that a zero depth output means


class RefineNet(nn.Module):
    """Refines detector keypoints using their confidences. (B,17,2), (B,17) -> (B,17,2).

    Predicts a residual on the input, so an untrained net starts as the identity.
    """

    def __init__(self, cfg: RefineConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = ResidualMLP(N_FEATURES + J, 2 * J, cfg.width, cfg.blocks, cfg.dropout)
        nn.init.zeros_(self.mlp.out.weight)
        nn.init.zeros_(self.mlp.out.bias)

    def forward(self, kp2d: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
        feats = pose_features(kp2d)
        size = feats[:, -1:].exp()  # residual in units of the pose's own size
        delta = self.mlp(torch.cat([feats, conf], 1)).view(-1, J, 2)
        return kp2d + delta * size[:, :, None]


class Lifter(nn.Module):
    """Interface of a 2D->3D backbone: forward(kp2d (B,17,2)) -> kp3d (B,17,3) root-relative metres."""

    def forward(self, kp2d: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class MartinezLifter(Lifter):
    """Martinez et al. 2017 residual MLP (Linear, BN, ReLU, dropout; residual blocks)."""

    def __init__(self, cfg: LifterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = ResidualMLP(N_FEATURES, 3 * J, cfg.width, cfg.blocks, cfg.dropout)
        with torch.no_grad():
            self.mlp.out.weight.mul_(0.1)  # start near a zero pose, not at +-1 m noise

    def forward(self, kp2d: torch.Tensor) -> torch.Tensor:
        out = self.mlp(pose_features(kp2d)).view(-1, J, 3)
        return out - out[:, ROOT : ROOT + 1]  # pelvis exactly at 0


LIFTERS: dict[str, type[Lifter]] = {"martinez": MartinezLifter}


class CameraBranch(nn.Module):
    """Intrinsics and root translation from the 2D pose and its 3D lift.

    (B,17,2), (B,17,3) -> focal (B,2), center (B,2) [normalised screen frame], t (B,3) metres.
    Focal and depth are predicted as log-offsets from priors, so they stay positive.
    """

    def __init__(self, cfg: CameraConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = ResidualMLP(N_FEATURES + 3 * J, 7, cfg.width, cfg.blocks, cfg.dropout)
        nn.init.zeros_(self.mlp.out.weight)  # start at the priors: centred, focal_prior, depth_prior
        nn.init.zeros_(self.mlp.out.bias)

    def forward(
        self, kp2d: torch.Tensor, kp3d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.mlp(torch.cat([pose_features(kp2d), kp3d.flatten(1)], 1))
        focal = self.cfg.focal_prior * out[:, 0:2].clamp(-4, 4).exp()
        center = out[:, 2:4]
        tz = self.cfg.depth_prior * out[:, 6:7].clamp(-5, 5).exp()
        t = torch.cat([out[:, 4:6] * tz, tz], 1)  # x, y scale with depth: predicted as x/z, y/z
        return focal, center, t


@dataclass(frozen=True)
class PoseModelConfig:
    refine: RefineConfig = RefineConfig()
    lifter: LifterConfig = LifterConfig()
    camera: CameraConfig = CameraConfig()


class PoseModel(nn.Module):
    """RefineNet -> lifter -> camera branch (contract 1).

    forward(kp2d (B,17,2), conf (B,17)) -> (kp2d_refined (B,17,2), kp3d (B,17,3), focal (B,2),
    center (B,2), t (B,3)).
    """

    OUTPUT_NAMES = ("kp2d_refined", "kp3d", "focal", "center", "t")

    def __init__(self, cfg: PoseModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.refine = RefineNet(cfg.refine)
        if cfg.lifter.kind not in LIFTERS:
            raise ValueError(f"lifter.kind: unknown {cfg.lifter.kind!r}; known: {sorted(LIFTERS)}")
        self.lifter = LIFTERS[cfg.lifter.kind](cfg.lifter)
        self.camera = CameraBranch(cfg.camera)

    def forward(
        self, kp2d: torch.Tensor, conf: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        refined = self.refine(kp2d, conf)
        kp3d = self.lifter(refined)
        focal, center, t = self.camera(refined, kp3d)
        return refined, kp3d, focal, center, t


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Pose augmentor (PoseAug-style): generator and KCS discriminators


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
    joints: list[torch.Tensor] = [torch.zeros_like(vec[:, 0])]
    for child in range(1, J):
        joints.append(joints[PARENTS[child]] + vec[:, child - 1])  # BONES are in child order
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
        vec = kp3d[:, [c for _, c in BONES]] - kp3d[:, [p for p, _ in BONES]]
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
    return tuple(int(c) - 1 for c in children)  # bone index = child joint - 1


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
    vec = pose[:, [c for _, c in BONES]] - pose[:, [p for p, _ in BONES]]
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
        size = rel.pow(2).sum(-1).mean(-1).clamp_min(1e-8).sqrt()
        return self.head(kcs(rel / size[:, None, None]).flatten(1))[:, 0]
