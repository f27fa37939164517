"""One-Euro filter: a constant stays constant, a step is followed with the configured lag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from camerapose.core.one_euro import OneEuroConfig, OneEuroFilter, smoothing_factor


def test_constant_signal_stays_constant() -> None:
    f = OneEuroFilter(OneEuroConfig(min_cutoff=0.5, beta=5.0))
    x = np.array([[3.0, -7.5], [1e3, 0.0]])
    for i in range(50):
        assert np.array_equal(f(x, i / 30), x)


def test_step_is_followed_with_the_first_order_lag_of_min_cutoff() -> None:
    # With beta = 0 the filter is a first-order low-pass at min_cutoff: after n samples of a unit
    # step the output is 1 - (1 - a)^n, a = 1 / (1 + tau / dt), tau = 1 / (2 pi min_cutoff);
    # about 63% (1 - 1/e) after one time constant.
    cfg = OneEuroConfig(min_cutoff=2.0, beta=0.0, d_cutoff=1.0)
    f, dt = OneEuroFilter(cfg), 1 / 120
    f(np.zeros(3), 0.0)
    tau = 1 / (2 * math.pi * cfg.min_cutoff)
    a = 1 / (1 + tau / dt)
    n_tau = round(tau / dt)
    out = [f(np.ones(3), (i + 1) * dt)[0] for i in range(n_tau)]
    expected = [1 - (1 - a) ** (i + 1) for i in range(n_tau)]
    assert np.allclose(out, expected, atol=1e-12)
    assert out[-1] == pytest.approx(1 - math.exp(-1), abs=0.02)


def test_beta_shortens_the_lag_of_a_fast_move() -> None:
    slow = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    fast = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=1.0))
    for f in (slow, fast):
        f(np.zeros(1), 0.0)
    ts = np.arange(1, 11) / 30
    ys = 100.0 * ts  # a ramp at 100 units / s
    s = [slow(np.array([y]), t)[0] for y, t in zip(ys, ts, strict=True)]
    q = [fast(np.array([y]), t)[0] for y, t in zip(ys, ts, strict=True)]
    assert ys[-1] - q[-1] < 0.5 * (ys[-1] - s[-1])


def test_real_timestamps_matter_and_stale_ones_are_ignored() -> None:
    cfg = OneEuroConfig(min_cutoff=1.0, beta=0.0)
    a, b = OneEuroFilter(cfg), OneEuroFilter(cfg)
    for f in (a, b):
        f(np.zeros(1), 0.0)
    ya = a(np.ones(1), 0.01)[0]
    yb = b(np.ones(1), 0.5)[0]
    assert ya == pytest.approx(smoothing_factor(1.0, 0.01))
    assert yb == pytest.approx(smoothing_factor(1.0, 0.5)) and yb > ya
    assert a(np.full(1, 9.0), 0.01)[0] == ya  # dt = 0: unchanged


def test_scale_makes_beta_size_independent() -> None:
    near, far = OneEuroFilter(OneEuroConfig(beta=2.0)), OneEuroFilter(OneEuroConfig(beta=2.0))
    near(np.zeros(1), 0.0)
    far(np.zeros(1), 0.0)
    # The same motion in body heights per second, seen at 10x the pixel size.
    y_near = near(np.array([100.0]), 0.1, scale=100.0)[0]
    y_far = far(np.array([10.0]), 0.1, scale=10.0)[0]
    assert y_near == pytest.approx(10 * y_far)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)
    f = OneEuroFilter()
    f(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="shape"):
        f(np.zeros(3), 1.0)
