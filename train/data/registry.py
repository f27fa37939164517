"""Builds the training and test sets a `DataConfig` names (each loader is imported when used)."""

from __future__ import annotations

from camerapose.core.errors import InputError

from .base import PoseSet, concat
from .synthetic import SyntheticSpec, generate, withhold_3d

# The held-out split draws from another seed stream than training (seed + this offset).
TEST_SEED_OFFSET = 1_000_003


def _need(path: str, key: str) -> str:
    if not path:
        raise InputError(f"data.{key}: no path configured (set it in the config or --set data.{key}=...)")
    return path


def train_sets(cfg: object) -> tuple[PoseSet, PoseSet | None]:
    """(2D-3D training set, 2D-only training set or None) for a DataConfig."""
    syn = cfg.synthetic
    if cfg.train_3d == "synthetic":
        train = generate(SyntheticSpec(syn.n_train, syn.seed, syn.noise))
    elif cfg.train_3d == "h36m":
        from .h36m import load_h36m

        train = load_h36m(_need(cfg.h36m_3d, "h36m_3d"), cfg.h36m_2d or None, split="train")
    else:
        raise InputError(f"data.train_3d: unknown {cfg.train_3d!r}; known: synthetic, h36m")
    if cfg.detections:
        from .detections import apply_detections

        train = apply_detections(train, cfg.detections)
    only: list[PoseSet] = []
    for name in cfg.train_2d_only:
        if name == "synthetic":
            if syn.n_2d_only > 0:
                only.append(withhold_3d(generate(SyntheticSpec(syn.n_2d_only, syn.seed + 1, syn.noise))))
        elif name == "mpii":
            from .mpii import load_mpii

            only.append(load_mpii(_need(cfg.mpii, "mpii")))
        elif name == "coco":
            from .coco import load_coco

            only.append(load_coco(_need(cfg.coco, "coco")))
        else:
            raise InputError(f"data.train_2d_only: unknown {name!r}; known: synthetic, mpii, coco")
    return train, (concat("2d-only", only) if only else None)


def test_sets(cfg: object) -> dict[str, PoseSet]:
    """Every configured test set by name."""
    out: dict[str, PoseSet] = {}
    syn = cfg.synthetic
    for name in cfg.test:
        if name == "synthetic":
            out[name] = generate(SyntheticSpec(syn.n_test, syn.seed + TEST_SEED_OFFSET, syn.noise))
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
            raise InputError(f"data.test: unknown {name!r}; known: synthetic, h36m, 3dhp, 3dpw")
    return out
