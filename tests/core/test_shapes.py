"""Shape checks: named dimensions, batch dimensions, and messages that say what was expected."""

import numpy as np
import pytest

from camerapose.core.shapes import array_namespace, check_finite, check_shape


def test_named_dimensions_bind_and_must_agree_across_calls():
    dims = check_shape("X", np.zeros((4, 17, 3)), (..., "J", 3))
    assert dims == {"J": 17}
    with pytest.raises(ValueError, match=r"conf: expected shape \(\.\.\., J\) with J=17, got \(4, 16\)"):
        check_shape("conf", np.zeros((4, 16)), (..., "J"), dims)


def test_exact_rank_without_ellipsis():
    check_shape("K", np.eye(3), (3, 3))
    with pytest.raises(ValueError, match=r"K: expected shape \(3, 3\), got \(1, 3, 3\)"):
        check_shape("K", np.eye(3)[None], (3, 3))


def test_ellipsis_admits_no_batch_dimension():
    check_shape("x", np.zeros(3), (..., 3))
    with pytest.raises(ValueError):
        check_shape("x", np.float64(1.0), (..., 3))


def test_check_finite_counts_bad_values():
    with pytest.raises(ValueError, match="kp: 2 non-finite"):
        check_finite("kp", np.array([1.0, np.nan, np.inf]))


def test_array_namespace_is_numpy_for_numpy_and_torch_for_tensors():
    assert array_namespace(np.zeros(2)) is np
    torch = pytest.importorskip("torch")
    assert array_namespace(np.zeros(2), torch.zeros(2)) is torch
