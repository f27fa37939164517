"""The paper's losses (equation numbers of the CameraPose paper) and the augmentor's regularisers.

Shapes: B samples, 17 joints. Every loss returns a scalar tensor. Per-sample masks (has_3d,
has_camera) select which samples a term sees; a term over no samples is an exact 0 that carries
no gradient, so a 2D-only batch never touches the 3D loss.
"""

from __future__ import annotations

import torch

from camerapose.core.camera import reproject
from camerapose.core.errors import InputError

MIN_DEPTH = 0.1  # metres


def _masked_mean(per_sample: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B,) values over mask (B,) bool; 0 when the mask is empty."""
    if mask is None:
        return per_sample.mean()
    if not bool(mask.any()):
        return per_sample.new_zeros(())
    return per_sample[mask].mean()


def confidence_weights(conf: torch.Tensor) -> torch.Tensor:
    """Eq. 4: c'_ij = c_ij / ||C_i||_1. (B,17) -> (B,17); each row sums to 1."""
    return conf / conf.sum(1, keepdim=True).clamp_min(1e-8)


def refine_loss(refined: torch.Tensor, target: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Eq. 3: L_ref = 1/N sum_i sum_j c'_ij ||x^_ij - x_ij||^2. (B,17,2), (B,17,2), (B,17) -> ()."""
    sq = (refined - target).pow(2).sum(-1)
    return (confidence_weights(conf) * sq).sum(1).mean()


def reprojection_loss(
    kp3d: torch.Tensor, focal: torch.Tensor, center: torch.Tensor, t: torch.Tensor, target2d: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 7: L_2D = mean ||K^(X^ + t^) - x||^2 per joint. -> ().

    Joints that a bad prediction puts closer than MIN_DEPTH (or behind the camera) are held at
    MIN_DEPTH, so the perspective divide cannot blow the loss up early in training.
    """
    z = torch.maximum(kp3d[..., 2:], MIN_DEPTH - t[..., None, 2:])
    uv = reproject(torch.cat([kp3d[..., :2], z], -1), focal, center, t)
    per_sample = (uv - target2d).pow(2).sum(-1).mean(-1)
    return _masked_mean(per_sample, mask)


def camera_loss(
    focal: torch.Tensor, center: torch.Tensor, t: torch.Tensor,
    focal_gt: torch.Tensor, center_gt: torch.Tensor, t_gt: torch.Tensor, mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 8: L_cam = ||K - K^||^2 + ||t - t^||^2 (K as its four entries fx, fy, cx, cy). -> ()."""
    per_sample = (focal - focal_gt).pow(2).sum(-1) + (center - center_gt).pow(2).sum(-1) \
        + (t - t_gt).pow(2).sum(-1)
    return _masked_mean(per_sample, mask)


def pose3d_loss(kp3d: torch.Tensor, kp3d_gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 9: L_3D = MSE over joints and coordinates (sum over xyz, mean over joints). -> ()."""
    per_sample = (kp3d - kp3d_gt).pow(2).sum(-1).mean(-1)
    return _masked_mean(per_sample, mask)


# A teacher's 3D (BlazePose's world landmarks) defines the head as the eyes' midpoint, not H36M's
# head top: that joint is left out of the teacher term.
TEACHER_JOINTS = [j for j in range(17) if j != 10]


def teacher_loss(kp3d: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Weak 3D target on 2D-only real frames: MSE to another model's root-relative 3D over every joint
    but the head, after scaling the teacher to the prediction's size (least squares, no gradient):
    the teacher's shape is what we want from it, its metric scale (BlazePose's bones run ~10 %
    short) is not. (B,17,3), (B,17,3), (B,) bool -> ()."""
    p, q = kp3d[:, TEACHER_JOINTS], teacher[:, TEACHER_JOINTS]
    with torch.no_grad():
        scale = (p * q).sum((1, 2)) / q.pow(2).sum((1, 2)).clamp_min(1e-8)
    per_sample = (p - scale[:, None, None] * q).pow(2).sum(-1).mean(-1)
    return _masked_mean(per_sample, mask)


def combined_loss(
    out: tuple[torch.Tensor, ...], batch: dict[str, torch.Tensor], lam: object, refine: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 16 on samples with 3D (ref + cam + 2D,phi + 3D), Eq. 17 on 2D-only samples (ref + 2D,phi'),
    plus the teacher term on 2D-only samples that carry a teacher's 3D (`has_teacher`).

    out = PoseModel output; batch holds kp2d_gt, conf, kp3d, focal, center, t, has_3d, has_camera;
    lam: a LossConfig. Returns (total, {term: value}).
    """
    refined, kp3d, focal, center, t = out
    has3d, hascam = batch["has_3d"], batch["has_camera"]
    teach = batch.get("has_teacher")
    terms = {
        "ref": refine_loss(refined, batch["kp2d_gt"], batch["conf"]) if refine else refined.new_zeros(()),
        "cam": camera_loss(focal, center, t, batch["focal"], batch["center"], batch["t"], hascam),
        "2d": reprojection_loss(kp3d, focal, center, t, batch["kp2d_gt"], has3d),
        "2d_only": reprojection_loss(kp3d, focal, center, t, batch["kp2d_gt"], ~has3d),
        "3d": pose3d_loss(kp3d, batch["kp3d"], has3d),
        "teacher": (teacher_loss(kp3d, batch["kp3d"], teach) if teach is not None and lam.lambda_teacher > 0
                    else kp3d.new_zeros(())),
    }
    total = (lam.lambda_ref * terms["ref"] + lam.lambda_cam * terms["cam"] + lam.lambda_2d * terms["2d"]
             + lam.lambda_2d_only * terms["2d_only"] + lam.lambda_3d * terms["3d"]
             + lam.lambda_teacher * terms["teacher"])
    return total, {k: float(v.detach()) for k, v in terms.items()}


# --- LS-GAN (Eq. 12-15) ----------------------------------------------------------------------


def lsgan_d_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """Discriminator: 1/2 E[(D(real) - 1)^2] + 1/2 E[D(fake)^2]. (B,), (B,) -> ()."""
    return 0.5 * (real_score - 1).pow(2).mean() + 0.5 * fake_score.pow(2).mean()


def lsgan_g_loss(fake_score: torch.Tensor) -> torch.Tensor:
    """Generator: 1/2 E[(D(fake) - 1)^2]. (B,) -> ()."""
    return 0.5 * (fake_score - 1).pow(2).mean()


def augmentor_regularizer(aug: dict[str, torch.Tensor]) -> torch.Tensor:
    """Keeps augmentations plausible: mean squared bone-angle change (rad), log length ratio and
    rotation (normalised units). The generator's bounds cap them; this pulls towards small
    changes so the discriminators are not the only brake (PoseAug's feedback in spirit)."""
    return (aug["d_angle"].pow(2).sum(-1).mean() + aug["ratio"].log().pow(2).mean()
            + 0.1 * aug["rotation"].pow(2).sum(-1).mean())


# --- PoseAug's hardness feedback ---------------------------------------------------------------

MAX_FEEDBACK_EXPONENT = 10.0  # metres above the target; exp(10) ~ 2e4 stays finite even in fp16


def hardness_feedback_loss(err_aug: torch.Tensor, err_orig: torch.Tensor, beta: float) -> torch.Tensor:
    """PoseAug's feedback: mean_i |1 - exp(e_aug,i - beta * e_orig,i)|. (B,), (B,) metres -> ().

    e_aug / e_orig: the lifter's per-sample 3D error on the augmented / the original pose; beta > 1
    is the target hardness. The loss is 0 exactly where the augmented pose is beta times as hard
    as its original, so the generator is steered to a controlled difficulty, not to the largest
    error it can cause. That is what bounds it: too easy (d = e_aug - beta e_orig < 0) costs at
    most 1 with a slope e^d <= 1, while overshooting costs e^d - 1 and grows exponentially, so
    implausibly hard poses are pushed back harder than easy ones are pulled up. The exponent is
    capped at MAX_FEEDBACK_EXPONENT so a diverged lifter cannot overflow it. err_orig should
    carry no gradient (the generator does not shape the original pose).
    """
    if err_aug.ndim != 1 or err_aug.shape != err_orig.shape:
        raise InputError(f"hardness_feedback_loss: expected two (B,) errors, got {tuple(err_aug.shape)} "
                         f"and {tuple(err_orig.shape)}")
    if not beta > 0:
        raise InputError(f"hardness_feedback_loss: beta must be > 0, got {beta}")
    gap = (err_aug - beta * err_orig).clamp_max(MAX_FEEDBACK_EXPONENT)
    return (1 - gap.exp()).abs().mean()
