"""Shape checks and the array namespace that lets one geometry function serve numpy and torch.

A shape spec is a tuple of trailing dimensions: an int must match exactly, a str names a free
dimension (and must agree wherever the same name appears in one call), and a leading `...`
admits any batch dimensions. Errors name the argument, the expected and the actual shape.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

Spec = tuple[Any, ...]


def array_namespace(*arrays: Any) -> ModuleType:
    """`torch` if any argument is a torch tensor (torch is then already imported), else numpy."""
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(a, torch.Tensor) for a in arrays):
        return torch
    return np


def format_spec(spec: Spec) -> str:
    parts = ["..." if d is Ellipsis else str(d) for d in spec]
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def check_shape(name: str, a: Any, spec: Spec, dims: dict[str, int] | None = None) -> dict[str, int]:
    """Check `a.shape` against `spec`; return the named dimensions it bound.

    >>> check_shape("X", np.zeros((4, 17, 3)), (..., "J", 3))
    {'J': 17}
    Pass the returned dict as `dims` to a later call so that 'J' must agree across arguments.
    """
    dims = {} if dims is None else dims
    shape = tuple(getattr(a, "shape", ()))
    batched = len(spec) > 0 and spec[0] is Ellipsis
    tail = spec[1:] if batched else spec
    ok = len(shape) >= len(tail) if batched else len(shape) == len(tail)
    bound = dict(dims)
    if ok:
        actual_tail = shape[len(shape) - len(tail):] if tail else ()
        for want, got in zip(tail, actual_tail, strict=True):
            if isinstance(want, str):
                if bound.setdefault(want, got) != got:
                    ok = False
            elif want != got:
                ok = False
    if not ok:
        where = ", ".join(f"{k}={v}" for k, v in dims.items())
        hint = f" with {where}" if where else ""
        raise ValueError(f"{name}: expected shape {format_spec(spec)}{hint}, got {shape}")
    dims.update(bound)
    return dims


def check_finite(name: str, a: np.ndarray) -> None:
    """Raise ValueError naming `name` if `a` holds NaN or infinity."""
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name}: {bad} non-finite value(s) (NaN or inf)")
