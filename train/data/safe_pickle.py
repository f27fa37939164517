"""Reading the pickles some datasets ship (3DPW's sequence files, the object arrays inside
VideoPose3D's .npz files) without running code from them.

A pickle can call any importable function. `NumpyUnpickler` resolves only what a pickled numpy
array needs (its reconstructor, ndarray, dtype, numpy scalars, the bytes codec) and OrderedDict; anything else
stops the load with a one-line InputError. Dicts, lists, strings and numbers need no lookup.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from camerapose.core.errors import InputError

# (module, name) a numpy-only pickle may reference; numpy 1 pickles name numpy.core, numpy 2 numpy._core.
_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED = frozenset({
    *((m, n) for m in _MULTIARRAY for n in ("_reconstruct", "scalar")),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 rebuild bytes with it
})


class NumpyUnpickler(pickle.Unpickler):
    """An Unpickler that builds numpy arrays, dicts, lists and scalars, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy data is read")
        return super().find_class(module, name)


def load(fp: IO[bytes], encoding: str = "latin1") -> Any:
    """The object of a numpy-only pickle stream (Python 2 pickles need latin1, as numpy's do)."""
    return NumpyUnpickler(fp, encoding=encoding).load()


def npz_object(path: Path, key: str) -> Any:
    """Array `key` of an .npz file; an object array (np.save pickles those) through NumpyUnpickler.

    Raises KeyError when the file has no such array; zipfile/OSError/ValueError on a corrupt file.
    """
    with zipfile.ZipFile(path) as zf:
        with zf.open(f"{key}.npy") as fp:
            version = np.lib.format.read_magic(fp)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            dtype = read_header(fp)[2]
            if dtype.hasobject:
                try:
                    return load(fp)
                except (pickle.UnpicklingError, EOFError) as err:
                    raise InputError(f"{path}: {key!r}: {err}") from None
    with np.load(path, allow_pickle=False) as f:
        return f[key]


def npz_keys(path: Path) -> list[str]:
    """The array names of an .npz file."""
    with zipfile.ZipFile(path) as zf:
        return [n.removesuffix(".npy") for n in zf.namelist() if n.endswith(".npy")]
