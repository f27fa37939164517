"""The CUDA kernels of engines/kernels/*.cu: numpy references and the pycuda loader.

Every kernel has a numpy reference here with the same signature; `CudaKernels` (pycuda, loaded
lazily from the fatbin that CMakeLists.txt builds) exposes the same four methods, so tests and
callers switch between them freely:

    decode_heatmaps(heatmaps (..., H, W))                 -> xy (..., 2) heatmap px, conf (...)
    normalize_confidence(conf (B, J))                     -> (B, J), each row / its sum (Eq. 3)
    normalize_keypoints(uv (B, J, 2) px, size (B, 2))     -> (B, J, 2) normalised screen coords
    remap_joints(points (B, N, 2), conf (B, N), sources)  -> (B, 17, 2), (B, 17)   [into H36M-17]

Each runs as ONE launch for the whole batch. The fatbin is found at $CAMERAPOSE_KERNELS, else
build/camerapose_kernels.fatbin in the repository (`cmake -S . -B build && cmake --build build`).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.camera import normalize_screen
from camerapose.core.errors import AssetError
from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import NUM_JOINTS

REPO_ROOT = Path(__file__).resolve().parent.parent
FATBIN_NAME = "camerapose_kernels.fatbin"
DECODE_THREADS = 256  # must match DECODE_THREADS in heatmap_decode.cu (shared-memory reduction size)
THREADS = 128


# -- numpy references ------------------------------------------------------------------------------
def _parabola_offset(left: np.ndarray, c: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through (-1, left), (0, c), (1, right); 0 where the top is flat. float32."""
    d = left - np.float32(2.0) * c + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = (left - right) / (np.float32(2.0) * d)
    return np.where(d < 0, off, np.float32(0.0)).astype(np.float32)


def _check_heatmap_size(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise ValueError(f"decode_heatmaps: empty heatmaps ({h}x{w})")


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max of each heatmap refined to sub-pixel, and its maximum as the confidence.

    heatmaps (..., H, W) float32 -> xy (..., 2) float32 (x, y) in heatmap pixels, conf (...) float32.
    Ties go to the first maximum in row-major order; a NaN counts as the maximum (numpy's argmax).
    """
    check_shape("heatmaps", heatmaps, (..., "H", "W"))
    hm = np.ascontiguousarray(heatmaps, dtype=np.float32)
    lead, (h, w) = hm.shape[:-2], hm.shape[-2:]
    _check_heatmap_size(h, w)
    flat = hm.reshape(-1, h * w)
    idx = flat.argmax(-1)
    rows = np.arange(flat.shape[0])
    px, py = idx % w, idx // w
    c = flat[rows, idx]
    dx = np.zeros_like(c)
    dy = np.zeros_like(c)
    inner_x = (px > 0) & (px < w - 1)
    inner_y = (py > 0) & (py < h - 1)
    if inner_x.any():
        r, i = rows[inner_x], idx[inner_x]
        dx[inner_x] = _parabola_offset(flat[r, i - 1], c[inner_x], flat[r, i + 1])
    if inner_y.any():
        r, i = rows[inner_y], idx[inner_y]
        dy[inner_y] = _parabola_offset(flat[r, i - w], c[inner_y], flat[r, i + w])
    xy = np.stack([px.astype(np.float32) + dx, py.astype(np.float32) + dy], -1)
    return xy.reshape(*lead, 2), c.reshape(lead)


def normalize_confidence(conf: np.ndarray) -> np.ndarray:
    """The paper's Eq. 3: c'_ij = c_ij / sum_j c_ij. (B, J) -> (B, J) float32; rows summing to <= 0 -> 0."""
    check_shape("conf", conf, ("B", "J"))
    c = np.asarray(conf, dtype=np.float32)
    s = c.sum(-1, keepdims=True, dtype=np.float32)
    inv = np.divide(np.float32(1.0), s, out=np.zeros_like(s), where=s > 0)
    return c * inv


def normalize_keypoints(uv: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Pixels to the normalised screen frame with each sample's own image size (width, height).

    uv (B, J, 2), size (B, 2) -> (B, J, 2) float32; the formula of core.camera.normalize_screen.
    """
    dims = check_shape("uv", uv, ("B", "J", 2))
    check_shape("size", size, ("B", 2), dims)
    s = np.asarray(size, dtype=np.float32)
    out = normalize_screen(np.asarray(uv, dtype=np.float32), s[:, None, 0:1], s[:, None, 1:2])
    return out.astype(np.float32)


def check_sources(sources: np.ndarray, n: int) -> np.ndarray:
    """A (17, 4) source table as int32: every row 1..4 indices in [0, n), padded at the END with -1
    (the kernel stops at the first -1 and does not bounds-check the indices itself)."""
    src = np.ascontiguousarray(sources, dtype=np.int32)
    valid = src >= 0
    if not valid[:, 0].all():
        raise ValueError("remap_joints: every H36M joint needs at least one source")
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        raise ValueError("remap_joints: -1 padding must come after a row's sources")
    if (src >= n).any():
        raise ValueError(f"remap_joints: source index {int(src.max())} out of range for {n} joints")
    return src


def remap_joints(points: np.ndarray, conf: np.ndarray,
                 sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map (B, N, 2) points and (B, N) confidences into H36M-17: each joint the mean of its sources
    (a row of `sources`, (17, 4) int32 padded with -1), its confidence their minimum."""
    dims = check_shape("points", points, ("B", "N", 2))
    check_shape("conf", conf, ("B", "N"), dims)
    check_shape("sources", sources, (NUM_JOINTS, 4))
    p = np.asarray(points, dtype=np.float32)
    c = np.asarray(conf, dtype=np.float32)
    src = check_sources(sources, dims["N"])
    valid = src >= 0  # (17, 4)
    safe = np.where(valid, src, 0)
    count = valid.sum(-1).astype(np.float32)  # (17,)
    # where, not a multiply by the mask: a padding slot must not turn an inf/NaN at index 0 into NaN
    pts = np.where(valid[None, :, :, None], p[:, safe], np.float32(0.0)).sum(2, dtype=np.float32)
    pts = pts * (np.float32(1.0) / count)[:, None]
    cmin = np.where(valid[None], c[:, safe], np.float32(np.inf)).min(-1)
    return pts.astype(np.float32), cmin.astype(np.float32)


# -- the fatbin --------------------------------------------------------------------------------------
def find_fatbin(path: str | Path | None = None) -> Path:
    """The kernels' fatbin: `path`, else $CAMERAPOSE_KERNELS, else <repo>/build/camerapose_kernels.fatbin."""
    candidates = [Path(path)] if path else []
    if os.environ.get("CAMERAPOSE_KERNELS"):
        candidates.append(Path(os.environ["CAMERAPOSE_KERNELS"]))
    candidates += [REPO_ROOT / "build" / FATBIN_NAME, REPO_ROOT / "engines" / "kernels" / FATBIN_NAME]
    for c in candidates:
        if c.is_file():
            return c
    raise AssetError(f"no {FATBIN_NAME} (looked in {[str(c) for c in candidates]}); "
                     "build it with `cmake -S . -B build && cmake --build build`")


def fatbin_entries(path: str | Path) -> list[tuple[str, int]]:
    """(kind, sm) of every image in a CUDA fatbin, e.g. [("elf", 87), ("ptx", 90)]; no CUDA needed.

    Layout: a 16-byte header (magic 0xBA55ED50, version u16, header size u16, payload size u64),
    then entries of (kind u16 [1 = PTX, 2 = ELF], version u16, header size u32, payload size u64,
    ..., sm u32 at byte 28).
    """
    data = Path(path).read_bytes()
    if len(data) < 16:
        raise ValueError(f"{path}: too short for a fatbin")
    magic, _, header, size = struct.unpack_from("<IHHQ", data, 0)
    if magic != 0xBA55ED50:
        raise ValueError(f"{path}: not a CUDA fatbin (magic {magic:#x})")
    out, off, end = [], header, min(header + size, len(data))
    while off + 32 <= end:
        kind, _, ehdr, payload = struct.unpack_from("<HHIQ", data, off)
        (sm,) = struct.unpack_from("<I", data, off + 28)
        out.append(({1: "ptx", 2: "elf"}.get(kind, f"kind{kind}"), int(sm)))
        off += ehdr + payload
    return out


class CudaKernels:
    """The kernels on a CUDA device through pycuda; same methods and results as the references.

    Numpy inputs are copied to the device and the results copied back. pycuda GPUArray inputs stay
    on the device: the results are GPUArrays too (no copies, for chaining and for timing the
    kernels alone). Use `with` or close().
    """

    def __init__(self, fatbin: str | Path | None = None, device: int = 0) -> None:
        from .build import import_pycuda

        cuda = import_pycuda()
        self._cuda = cuda
        cuda.init()
        self._ctx = cuda.Device(device).retain_primary_context()
        self._ctx.push()
        try:
            import pycuda.gpuarray as gpuarray

            self._gpuarray = gpuarray
            self._module = cuda.module_from_file(str(find_fatbin(fatbin)))
            self._fn = {name: self._module.get_function(name) for name in
                        ("decode_heatmaps", "normalize_confidence", "normalize_keypoints", "remap_joints")}
        except BaseException:
            cuda.Context.pop()
            self._ctx.detach()
            raise
        self._sources: dict[bytes, Any] = {}  # device copies of joint maps' source tables

    def close(self) -> None:
        if self._ctx is not None:
            # Drop everything that lives in the context while it is current, before releasing it.
            self._sources.clear()
            self._fn.clear()
            self._module = None
            self._cuda.Context.pop()
            self._ctx.detach()
            self._ctx = None

    def __enter__(self) -> CudaKernels:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def synchronize(self) -> None:
        self._cuda.Context.synchronize()

    # -- plumbing: numpy in -> copy in/out; GPUArray in -> stay on the device ----------------------
    def _on_device(self, *arrays: Any) -> bool:
        return all(isinstance(a, self._gpuarray.GPUArray) for a in arrays)

    def _to_device(self, a: Any, dtype: Any = np.float32) -> Any:
        if isinstance(a, self._gpuarray.GPUArray):
            if a.dtype != dtype or not a.flags.c_contiguous:
                raise ValueError(f"device arrays must be C-contiguous {np.dtype(dtype).name}, got {a.dtype}")
            return a
        return self._gpuarray.to_gpu(np.ascontiguousarray(a, dtype=dtype))

    def _run(self, name: str, n_threads: int, block: int, args: list[Any], grid: int | None = None) -> None:
        g = grid if grid is not None else (n_threads + block - 1) // block
        if g > 0:
            self._fn[name](*[a.gpudata if isinstance(a, self._gpuarray.GPUArray) else a for a in args],
                           block=(block, 1, 1), grid=(g, 1))

    def _result(self, device_mode: bool, *outs: Any) -> Any:
        res = tuple(o if device_mode else o.get() for o in outs)
        return res if len(res) > 1 else res[0]

    # -- the kernels ------------------------------------------------------------------------------
    def decode_heatmaps(self, heatmaps: Any) -> tuple[Any, Any]:
        check_shape("heatmaps", heatmaps, (..., "H", "W"))
        dev = self._on_device(heatmaps)
        hm = self._to_device(heatmaps)
        lead, (h, w) = tuple(hm.shape[:-2]), tuple(hm.shape[-2:])
        _check_heatmap_size(h, w)
        m = int(np.prod(lead, dtype=np.int64))
        xy = self._gpuarray.empty((*lead, 2), np.float32)
        conf = self._gpuarray.empty(lead, np.float32)
        self._run("decode_heatmaps", m, DECODE_THREADS, [hm, np.int32(m), np.int32(h), np.int32(w), xy, conf],
                  grid=m)
        return self._result(dev, xy, conf)

    def normalize_confidence(self, conf: Any) -> Any:
        check_shape("conf", conf, ("B", "J"))
        dev = self._on_device(conf)
        c = self._to_device(conf)
        b, j = c.shape
        out = self._gpuarray.empty((b, j), np.float32)
        self._run("normalize_confidence", b, THREADS, [c, np.int32(b), np.int32(j), out])
        return self._result(dev, out)

    def normalize_keypoints(self, uv: Any, size: Any) -> Any:
        dims = check_shape("uv", uv, ("B", "J", 2))
        check_shape("size", size, ("B", 2), dims)
        dev = self._on_device(uv, size)
        u, s = self._to_device(uv), self._to_device(size)
        b, j = u.shape[:2]
        out = self._gpuarray.empty((b, j, 2), np.float32)
        self._run("normalize_keypoints", b * j, THREADS, [u, s, np.int32(b), np.int32(j), out])
        return self._result(dev, out)

    def remap_joints(self, points: Any, conf: Any, sources: np.ndarray) -> tuple[Any, Any]:
        dims = check_shape("points", points, ("B", "N", 2))
        check_shape("conf", conf, ("B", "N"), dims)
        check_shape("sources", sources, (NUM_JOINTS, 4))
        dev = self._on_device(points, conf)
        p, c = self._to_device(points), self._to_device(conf)
        table = check_sources(sources, dims["N"])  # the kernel trusts the table: no reads past N
        src = self._sources.get(table.tobytes())
        if src is None:
            src = self._sources[table.tobytes()] = self._gpuarray.to_gpu(table)
        b, n = c.shape
        pts = self._gpuarray.empty((b, NUM_JOINTS, 2), np.float32)
        cf = self._gpuarray.empty((b, NUM_JOINTS), np.float32)
        self._run("remap_joints", b * NUM_JOINTS, THREADS, [p, c, src, np.int32(b), np.int32(n), pts, cf])
        return self._result(dev, pts, cf)
