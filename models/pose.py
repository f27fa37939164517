"""The pose model: RefineNet -> lifter -> camera branch, composed as `PoseModel`.

Every network is built from a frozen config dataclass; `checkpoint.py` stores the configs so a
checkpoint rebuilds its model without the training script.

Widths: the paper uses 512 (RefineNet, camera branch) and 1024 (lifter). The shipped default
preset uses 256 / 512 / 256 (about 1.2M parameters in PoseModel) so the committed weights stay
small and one refine+lift+camera call on 2 CPU cores takes well under 0.5 ms; the paper preset
(`train/configs/paper.toml`) restores the paper's widths.

Shapes: kp2d (B, 17, 2) normalised screen coordinates (`core.camera.normalize_screen`); conf
(B, 17) in [0, 1]; kp3d (B, 17, 3) metres, root-relative, camera frame; focal/center (B, 2) in
the normalised screen frame; t (B, 3) metres, the pelvis in the camera frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from camerapose.core.skeleton import NUM_JOINTS, Joint

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


def pose_size(rel: torch.Tensor, min_square: float) -> torch.Tensor:
    """RMS distance of root-relative joints from the root, at least sqrt(min_square). (B,17,D) -> (B,)."""
    return rel.pow(2).sum(-1).mean(-1).clamp_min(min_square).sqrt()


def pose_features(kp2d: torch.Tensor) -> torch.Tensor:
    """Root-relative, size-normalised 2D pose plus its root position and log size. (B,17,2) -> (B,37).

    Translation and scale in the image are nuisance for the 3D shape but carry perspective and
    distance; splitting them keeps the MLP's input well conditioned at any position in the frame.
    """
    root = kp2d[:, ROOT : ROOT + 1]
    rel = kp2d - root
    # (B, 1); the floor (0.01 screen units, ~10 px) stays a normal number in fp16 (>= 6e-5) so a
    # collapsed pose cannot divide by zero in an fp16 engine.
    size = pose_size(rel, 1e-4)[:, None]
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
    """RefineNet -> lifter -> camera branch: the network the engines export and the runtime runs.

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
    """Number of scalars in the module's parameters (buffers such as BN statistics not counted)."""
    return sum(p.numel() for p in module.parameters())
