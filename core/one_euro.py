"""The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) over arrays, with real timestamps (pure).

Each element is filtered independently: a low-pass whose cutoff rises with the (low-passed) speed,
    cutoff = min_cutoff + beta * |dx/dt|,   alpha(cutoff, dt) = 1 / (1 + 1 / (2 pi cutoff dt)),
so a still signal is smoothed hard (jitter gone) and a fast one follows with little lag. Speeds are
divided by `scale` when given (e.g. the person's height in pixels), so `beta` means the same for a
person near the camera and far from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    """min_cutoff (Hz): smoothing of a still signal; beta: speed coefficient (per scale-unit/s);
    d_cutoff (Hz): low-pass on the speed estimate."""

    min_cutoff: float = 1.0
    beta: float = 10.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"One-Euro: need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self}")


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Exponential smoothing factor of a first-order low-pass at `cutoff` Hz over `dt` seconds."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Stateful filter for arrays of one fixed shape; call with (value, timestamp in seconds)."""

    def __init__(self, cfg: OneEuroConfig = OneEuroConfig()) -> None:
        self.cfg = cfg
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample. x: any shape (fixed across calls); t: seconds. -> filtered x, float64.

        A timestamp that does not move forward (dt <= 0) returns the last output unchanged.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return self._x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"One-Euro: sample shape {x.shape} != {self._x.shape}")
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.copy()
        dx = (x - self._x) / dt / max(scale, 1e-9)
        a_d = smoothing_factor(self.cfg.d_cutoff, dt)
        self._dx = self._dx + a_d * (dx - self._dx)
        cutoff = self.cfg.min_cutoff + self.cfg.beta * np.abs(self._dx)
        a = smoothing_factor(cutoff, dt)
        self._x = self._x + a * (x - self._x)  # this form keeps a constant exactly constant
        self._t = float(t)
        return self._x.copy()
