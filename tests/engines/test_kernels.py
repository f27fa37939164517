"""CUDA kernels: the numpy references on hand-computed cases, the CMake fatbin build, and (on a GPU)
the kernels against the references on random inputs of awkward sizes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from camerapose.core.camera import normalize_screen
from camerapose.core.skeleton import BLAZEPOSE33, COCO17, H36M17, JOINT_MAPS
from camerapose.engines import kernels as K

REPO = Path(__file__).resolve().parents[2]


def test_decode_heatmaps_peak_subpixel_and_confidence():
    hm = np.zeros((1, 3, 5, 6), np.float32)
    # joint 0: peak 1.0 at (x=3, y=2), left 0.5, right 0.25, up 0.2, down 0.6
    hm[0, 0, 2, 3], hm[0, 0, 2, 2], hm[0, 0, 2, 4], hm[0, 0, 1, 3], hm[0, 0, 3, 3] = 1.0, 0.5, 0.25, 0.2, 0.6
    hm[0, 1, 0, 5] = 0.7  # joint 1: corner peak -> no refinement
    hm[0, 2, 4, 1] = hm[0, 2, 4, 2] = 0.3  # joint 2: tie -> first in row-major order, (1, 4); bottom row
    xy, conf = K.decode_heatmaps(hm)
    # x: (l - r) / (2 (l - 2c + r)) = 0.25 / (2 * -1.25) = -0.1; y: (0.2 - 0.6) / (2 * -1.2) = +1/6
    np.testing.assert_allclose(xy[0, 0], [2.9, 2 + 1 / 6], atol=1e-6)
    np.testing.assert_allclose(xy[0, 1], [5.0, 0.0])
    # tie at x=1,2: peak x=1; right neighbour equals the peak -> offset (0 - 0.3)/(2 * (0 - 0.6 + 0.3)) = 0.5
    np.testing.assert_allclose(xy[0, 2], [1.5, 4.0], atol=1e-6)
    np.testing.assert_allclose(conf, [[1.0, 0.7, 0.3]])
    assert xy.dtype == np.float32 and xy.shape == (1, 3, 2) and conf.shape == (1, 3)


def test_normalize_confidence_is_eq3_and_safe_on_zero_rows():
    c = np.array([[1.0, 1.0, 2.0], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(K.normalize_confidence(c), [[0.25, 0.25, 0.5], [0, 0, 0]])


def test_normalize_keypoints_per_sample_size_matches_core():
    uv = np.array([[[0, 0], [1768, 994]], [[320, 240], [0, 480]]], np.float32)
    size = np.array([[1768, 994], [640, 480]], np.float32)
    out = K.normalize_keypoints(uv, size)
    np.testing.assert_allclose(out[0], [[-1, -994 / 1768], [1, 994 / 1768]], atol=1e-6)
    np.testing.assert_allclose(out[1], [[0, 0], [-1, 0.75]], atol=1e-6)
    np.testing.assert_allclose(out[1], normalize_screen(uv[1], 640, 480), atol=1e-6)


def test_remap_joints_mean_of_sources_min_confidence():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (2, 17, 2)).astype(np.float32)
    conf = rng.uniform(size=(2, 17)).astype(np.float32)
    out, c = K.remap_joints(pts, conf, COCO17.padded_sources)
    # pelvis = mid-hips (COCO 11, 12); spine = mean of shoulders and hips; nose copied
    np.testing.assert_allclose(out[:, 0], (pts[:, 11] + pts[:, 12]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[:, 7], pts[:, [5, 6, 11, 12]].mean(1), rtol=1e-6)
    np.testing.assert_allclose(out[:, 9], pts[:, 0])
    np.testing.assert_allclose(c[:, 7], conf[:, [5, 6, 11, 12]].min(1))
    same, same_c = K.remap_joints(pts, conf, H36M17.padded_sources)
    np.testing.assert_array_equal(same, pts)
    np.testing.assert_array_equal(same_c, conf)


@pytest.mark.parametrize("fmt", sorted(JOINT_MAPS))
def test_remap_reference_agrees_with_core_joint_maps(fmt):
    jm = JOINT_MAPS[fmt]
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 500, (3, jm.num_source_joints, 2)).astype(np.float32)
    conf = rng.uniform(size=(3, jm.num_source_joints)).astype(np.float32)
    want_p, want_c = jm(pts, conf)
    got_p, got_c = K.remap_joints(pts, conf, jm.padded_sources)
    np.testing.assert_allclose(got_p, want_p, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got_c, want_c)


def test_remap_source_tables_are_checked_before_any_kernel_reads_them():
    """The kernel stops at the first -1 and trusts the indices, so bad tables never reach it."""
    pts, conf = np.zeros((2, 17, 2), np.float32), np.ones((2, 17), np.float32)
    table = H36M17.padded_sources.copy()
    for bad, match in [(np.where(table == 16, 17, table), "out of range for 17 joints"),
                       (table[:, [1, 0, 2, 3]], "every H36M joint needs"),
                       (np.concatenate([table[:, :1], np.full((17, 1), -1), table[:, :1], table[:, 3:]], 1),
                        "padding must come after")]:
        with pytest.raises(ValueError, match=match):
            K.remap_joints(pts, conf, bad)
        with pytest.raises(ValueError, match=match):
            K.check_sources(bad, 17)


def test_remap_padding_never_turns_an_inf_into_nan():
    pts = np.zeros((1, 17, 2), np.float32)
    pts[0, 0] = np.inf  # index 0 is also what the reference reads for padding slots
    out, _ = K.remap_joints(pts, np.ones((1, 17), np.float32), H36M17.padded_sources)
    assert np.isinf(out[0, 0]).all() and np.isfinite(out[0, 1:]).all()


def test_decode_edge_cases_the_kernel_must_match():
    """All -inf, NaN and empty heatmaps: numpy's argmax semantics, which the kernel reproduces."""
    hm = np.full((3, 4, 5), -np.inf, np.float32)
    hm[1, 2, 3] = np.nan
    hm[1, 3, 4] = np.nan
    xy, conf = K.decode_heatmaps(hm)
    np.testing.assert_array_equal(xy[0], [0, 0])  # all -inf: the first pixel, no refinement
    np.testing.assert_array_equal(xy[1], [3, 2])  # first NaN wins
    assert np.isneginf(conf[0]) and np.isnan(conf[1])
    with pytest.raises(ValueError, match="empty heatmaps"):
        K.decode_heatmaps(np.zeros((2, 0, 5), np.float32))


def _built_fatbin(tmp: Path) -> Path:
    build = tmp / "build"
    subprocess.run(["cmake", "-S", str(REPO), "-B", str(build)], check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True)
    return build / K.FATBIN_NAME


@pytest.fixture(scope="session")
def fatbin(tmp_path_factory) -> Path:
    if shutil.which("cmake") is None or shutil.which("nvcc") is None:
        pytest.skip("cmake or nvcc not on PATH")
    return _built_fatbin(tmp_path_factory.mktemp("cmake"))


@pytest.mark.slow
def test_cmake_builds_a_fatbin_for_orin_ada_and_hopper(fatbin):
    assert fatbin.is_file()
    entries = K.fatbin_entries(fatbin)
    assert {sm for kind, sm in entries if kind == "elf"} == {87, 89, 90}
    assert ("ptx", 90) in entries  # forward compatibility: newer GPUs JIT the PTX
    if shutil.which("cuobjdump"):
        listing = subprocess.run(["cuobjdump", "--list-elf", str(fatbin)], capture_output=True,
                                 text=True).stdout
        for sm in ("sm_87", "sm_89", "sm_90"):
            assert sm in listing


def test_fatbin_parser_rejects_other_files(tmp_path):
    p = tmp_path / "x.fatbin"
    p.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(ValueError, match="not a CUDA fatbin"):
        K.fatbin_entries(p)


@pytest.mark.gpu
@pytest.mark.parametrize("batch", [1, 7, 256, 1000])
def test_cuda_kernels_match_the_references(fatbin, batch):
    pytest.importorskip("pycuda.driver")
    rng = np.random.default_rng(batch)
    hm = rng.random((batch, 17, 48, 37), dtype=np.float32)  # W not a multiple of any block size
    conf = rng.uniform(size=(batch, 17)).astype(np.float32)
    uv = rng.uniform(0, 1900, (batch, 17, 2)).astype(np.float32)
    size = rng.choice([[1920.0, 1080.0], [640.0, 480.0]], batch).astype(np.float32)
    pts33 = rng.uniform(0, 1000, (batch, 33, 2)).astype(np.float32)
    conf33 = rng.uniform(size=(batch, 33)).astype(np.float32)
    edge = np.full((batch, 3, 9, 40), -np.inf, np.float32)  # all -inf, NaN peaks, a tied row
    edge[:, 1, 4, 17] = edge[:, 1, 6, 2] = np.nan
    edge[:, 2, 3, :] = 1.0
    with K.CudaKernels(fatbin) as gpu:
        for got, want in (
            (gpu.decode_heatmaps(hm), K.decode_heatmaps(hm)),
            (gpu.decode_heatmaps(edge), K.decode_heatmaps(edge)),
            ((gpu.normalize_confidence(conf),), (K.normalize_confidence(conf),)),
            ((gpu.normalize_keypoints(uv, size),), (K.normalize_keypoints(uv, size),)),
            (gpu.remap_joints(pts33, conf33, BLAZEPOSE33.padded_sources),
             K.remap_joints(pts33, conf33, BLAZEPOSE33.padded_sources)),
        ):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        import pycuda.gpuarray as gpuarray  # device-resident inputs give device-resident results

        on_device = gpu.decode_heatmaps(gpuarray.to_gpu(hm))
        assert isinstance(on_device[0], gpuarray.GPUArray)
        np.testing.assert_allclose(on_device[0].get(), K.decode_heatmaps(hm)[0], rtol=1e-5, atol=1e-5)


def test_cuda_kernels_without_pycuda_or_fatbin_fail_clearly(tmp_path, monkeypatch):
    from camerapose.core.errors import AssetError
    from camerapose.engines.runner import BackendUnavailable

    monkeypatch.delenv("CAMERAPOSE_KERNELS", raising=False)
    monkeypatch.setattr(K, "REPO_ROOT", tmp_path)  # no build/ folder there
    with pytest.raises(AssetError, match=r"cmake -S \. -B build"):
        K.find_fatbin()
    try:
        import pycuda.driver  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="pycuda is not available"):
            K.CudaKernels(tmp_path / "missing.fatbin")
