"""Builds the training and test sets a `DataConfig` names (each loader is imported when used)."""

from __future__ import annotations

import numpy as np

from camerapose.core.errors import InputError

from .base import PoseSet, concat
from .synthetic import SyntheticSpec, generate, withhold_3d

# The held-out split draws from another seed stream than training (seed + this offset).
TEST_SEED_OFFSET = 1_000_003
KNOWN_3D = "mix, synthetic, h36m"
KNOWN_2D_ONLY = "synthetic, mix, mpii, coco"
KNOWN_TEST = "synthetic, mix, mocap, real, h36m, 3dhp, 3dpw"


def _need(path: str, key: str) -> str:
    if not path:
        raise InputError(f"data.{key}: no path configured (set it in the config or --set data.{key}=...)")
    return path


def mix(cfg: object, n: int, seed: int, noise: bool, name: str = "mix") -> PoseSet:
    """n samples of the "mix" source: motion library, joint-angle prior and trainable real clips in
    the shares of `cfg.mix` (a DataConfig). Deterministic for seed."""
    shares = np.array([cfg.mix.motions, cfg.mix.prior, cfg.mix.mocap], dtype=np.float64)
    if np.any(shares < 0) or shares.sum() <= 0:
        raise InputError(f"data.mix: shares must be >= 0 and not all 0, got {shares.tolist()}")
    counts = np.floor(n * shares / shares.sum()).astype(int)
    counts[int(np.argmax(shares))] += n - counts.sum()
    parts: list[PoseSet] = []
    if counts[0]:
        from .motions import sample_motion_poses
        from .render import draw

        parts.append(draw(np.random.default_rng(seed), sample_motion_poses, int(counts[0]), "motions",
                          noise, lean=False))
    if counts[1]:
        parts.append(generate(SyntheticSpec(int(counts[1]), seed + 1, noise), "prior"))
    if counts[2]:
        from . import mocap, mocap_sets

        parts.append(mocap_sets.train_set(mocap.load_all(splits=("train",)), int(counts[2]), seed + 2, noise))
    return concat(name, parts)


def train_sets(cfg: object) -> tuple[PoseSet, PoseSet | None]:
    """(2D-3D training set, 2D-only training set or None) for a DataConfig."""
    syn = cfg.synthetic
    if cfg.train_3d == "synthetic":
        train = generate(SyntheticSpec(syn.n_train, syn.seed, syn.noise))
    elif cfg.train_3d == "mix":
        train = mix(cfg, syn.n_train, syn.seed, syn.noise)
    elif cfg.train_3d == "h36m":
        from .h36m import load_h36m

        train = load_h36m(_need(cfg.h36m_3d, "h36m_3d"), cfg.h36m_2d or None, split="train")
    else:
        raise InputError(f"data.train_3d: unknown {cfg.train_3d!r}; known: {KNOWN_3D}")
    if cfg.detections:
        from .detections import apply_detections

        train = apply_detections(train, cfg.detections)
    only: list[PoseSet] = []
    for name in cfg.train_2d_only:
        if name in ("synthetic", "mix"):
            if syn.n_2d_only > 0:
                seed = syn.seed + 7 if name == "mix" else syn.seed + 1
                drawn = (mix(cfg, syn.n_2d_only, seed, syn.noise) if name == "mix"
                         else generate(SyntheticSpec(syn.n_2d_only, seed, syn.noise)))
                only.append(withhold_3d(drawn))
        elif name == "mpii":
            from .mpii import load_mpii

            only.append(load_mpii(_need(cfg.mpii, "mpii")))
        elif name == "coco":
            from .coco import load_coco

            only.append(load_coco(_need(cfg.coco, "coco")))
        else:
            raise InputError(f"data.train_2d_only: unknown {name!r}; known: {KNOWN_2D_ONLY}")
    if cfg.teacher:
        from .teacher import load_teacher

        only.append(load_teacher(cfg.teacher, cfg.teacher_repeat))
    return train, (concat("2d-only", only) if only else None)


def test_sets(cfg: object) -> dict[str, object]:
    """Every configured test set by name: a PoseSet each ("mocap" adds one "mocap/<group>" set per
    clip group), and for "real" a `real.RealSet`."""
    out: dict[str, PoseSet] = {}
    syn = cfg.synthetic
    for name in cfg.test:
        if name == "synthetic":
            out[name] = generate(SyntheticSpec(syn.n_test, syn.seed + TEST_SEED_OFFSET, syn.noise))
        elif name == "mix":
            out[name] = mix(cfg, syn.n_test, syn.seed + TEST_SEED_OFFSET, syn.noise)
        elif name == "mocap":
            from . import mocap, mocap_sets

            out.update(mocap_sets.test_sets(mocap.load_all(splits=("val",)), syn.seed + TEST_SEED_OFFSET,
                                            cfg.mocap_cameras, syn.noise))
        elif name == "real":
            from .real import load_real

            out[name] = load_real()
        elif name == "h36m":
            from .h36m import load_h36m

            out[name] = load_h36m(_need(cfg.h36m_3d, "h36m_3d"), cfg.h36m_2d or None, split="test")
        elif name == "3dhp":
            from .threedhp import load_3dhp

            if not cfg.mpi_inf_3dhp:
                raise InputError("data.mpi_inf_3dhp: no annot_data.mat files configured")
            out[name] = concat("3dhp", [load_3dhp(p) for p in cfg.mpi_inf_3dhp])
        elif name == "3dpw":
            from .threedpw import load_3dpw

            out[name] = load_3dpw(_need(cfg.threedpw, "threedpw"))
        else:
            raise InputError(f"data.test: unknown {name!r}; known: {KNOWN_TEST}")
    return out
