"""TensorRT path without TensorRT: cache keys, stale/corrupt/foreign engines, profiles, INT8
calibration data, the `build` command's errors; and on a GPU with TensorRT, the real build."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.engines.build import BuildConfig, calibration_batches, calibration_sha256, engine_key
from camerapose.engines.cache import BatchProfile, EngineCache, EngineKey
from camerapose.engines.runner import BackendUnavailable
from camerapose.engines.tensorrt_runner import TensorRTRunner


def _key(**over) -> EngineKey:
    base = dict(onnx_sha256="a" * 64, tensorrt_version="10.9.0", gpu_name="NVIDIA H100 80GB HBM3",
                compute_capability="9.0", precision="fp16", profile=BatchProfile(1, 64, 4096))
    return EngineKey(**{**base, **over})


def _trt_missing() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.mark.parametrize("field, value", [
    ("onnx_sha256", "b" * 64), ("tensorrt_version", "10.10.0"), ("gpu_name", "Orin"),
    ("compute_capability", "8.7"), ("precision", "int8"), ("profile", BatchProfile(1, 64, 1024)),
    ("calibration_sha256", "c" * 64),
])
def test_every_key_field_changes_the_cache_entry(field, value):
    assert _key().digest() == _key().digest()
    assert _key(**{field: value}).digest() != _key().digest()


@pytest.mark.parametrize("lo, opt, hi", [(0, 1, 2), (4, 2, 8), (1, 9, 8)])
def test_profile_must_be_ordered_and_positive(lo, opt, hi):
    with pytest.raises(InputError, match="min <= opt <= max"):
        BatchProfile(lo, opt, hi)


def test_profile_shapes_put_the_batch_range_first():
    assert BatchProfile(1, 64, 4096).shapes((17, 2)) == ((1, 17, 2), (64, 17, 2), (4096, 17, 2))


def test_cache_round_trip_then_a_changed_key_misses(tmp_path):
    cache = EngineCache(tmp_path)
    key = _key()
    assert cache.load(key) is None
    cache.store(key, b"plan-bytes")
    assert cache.load(key) == b"plan-bytes"
    assert cache.load(dataclasses.replace(key, gpu_name="Orin", compute_capability="8.7")) is None


def test_corrupt_engine_is_a_miss_not_a_crash(tmp_path):
    cache = EngineCache(tmp_path)
    key = _key()
    engine = cache.store(key, b"x" * 1000)
    engine.write_bytes(b"x" * 500)  # truncated copy
    assert cache.load(key) is None
    cache.paths(key)[1].write_text("{not json")
    assert cache.load(key) is None


def test_engine_copied_in_from_another_gpu_is_a_miss(tmp_path):
    """An engine + sidecar built for an Orin, renamed to this machine's key, must not load."""
    cache = EngineCache(tmp_path)
    orin = _key(gpu_name="Orin", compute_capability="8.7")
    cache.store(orin, b"orin-plan")
    here = _key()
    for src, dst in zip(cache.paths(orin), cache.paths(here), strict=True):
        src.rename(dst)
    assert cache.load(here) is None


def test_int8_needs_calibration_data(tmp_path):
    with pytest.raises(InputError, match="INT8 needs calibration"):
        BuildConfig(precision="int8")
    with pytest.raises(InputError, match=r"no \.npz calibration files"):
        calibration_batches(tmp_path, 8)


def test_calibration_batches_and_hash(tmp_path, rng):
    for i in range(2):
        np.savez(tmp_path / f"part{i}.npz", kp2d=rng.normal(size=(10, 17, 2)),
                 conf=rng.uniform(size=(10, 17)))
    batches = calibration_batches(tmp_path, 8)
    assert len(batches) == 2  # 20 poses -> two full batches of 8; the short rest is dropped
    assert batches[0]["kp2d"].dtype == np.float32 and batches[1]["conf"].shape == (8, 17)
    h = calibration_sha256(tmp_path)
    cfg = BuildConfig(precision="int8", calib_dir=str(tmp_path))
    key = engine_key("a" * 64, cfg, "10.9.0", "H100", "9.0")
    assert key.calibration_sha256 == h
    np.savez(tmp_path / "part1.npz", kp2d=rng.normal(size=(10, 17, 2)), conf=rng.uniform(size=(10, 17)))
    assert calibration_sha256(tmp_path) != h  # new data -> new INT8 engine


def test_calibration_file_with_wrong_shape_is_refused(tmp_path, rng):
    np.savez(tmp_path / "bad.npz", kp2d=rng.normal(size=(10, 33, 2)), conf=rng.uniform(size=(10, 33)))
    with pytest.raises(InputError, match=r"kp2d has shape \(10, 33, 2\)"):
        calibration_batches(tmp_path, 4)


@pytest.mark.skipif(not _trt_missing(), reason="TensorRT is installed here")
def test_runner_without_tensorrt_raises_backend_unavailable(exported_onnx):
    with pytest.raises(BackendUnavailable, match="TensorRT is not installed"), TensorRTRunner(exported_onnx):
        pass


@pytest.mark.skipif(not _trt_missing(), reason="TensorRT is installed here")
def test_build_command_logs_the_signature_then_fails_in_one_line(exported_onnx, capsys, caplog, tmp_path):
    caplog.set_level("INFO")
    code = main(["build", str(exported_onnx), "--max-batch", "256", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.strip().count("\n") == 0 and "TensorRT is not installed" in err
    assert "input  kp2d: float32[batch, 17, 2]" in caplog.text
    assert "output t: float32[batch, 3]" in caplog.text


def test_build_command_refuses_a_bad_profile(exported_onnx, capsys):
    assert main(["build", str(exported_onnx), "--min-batch", "8", "--max-batch", "4"]) != 0
    assert "min <= opt <= max" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.parametrize("precision, atol", [("fp32", 1e-4), ("fp16", 3e-2)])
def test_tensorrt_engine_matches_onnxruntime_and_is_cached(exported_onnx, tmp_path, precision, atol):
    pytest.importorskip("tensorrt")
    pytest.importorskip("pycuda.driver")
    from camerapose.engines.export import random_pose_inputs
    from camerapose.engines.runner import OnnxRuntimeRunner

    cfg = BuildConfig(precision=precision, profile=BatchProfile(1, 16, 256), cache_dir=str(tmp_path))
    with TensorRTRunner(exported_onnx, cfg) as trt_runner, OnnxRuntimeRunner(exported_onnx) as ort_runner:
        for batch in (1, 7, 256):
            feed = random_pose_inputs(batch, seed=batch)
            got, want = trt_runner.infer(feed), ort_runner.infer(feed)
            for name, ref in want.items():
                np.testing.assert_allclose(got[name], ref, rtol=0, atol=atol * (np.abs(ref).max() + 1))
        with pytest.raises(InputError, match=r"outside 1\.\.256"):
            trt_runner.infer(random_pose_inputs(257))
    assert len(list(tmp_path.glob("*.engine"))) == 1
    engine = next(tmp_path.glob("*.engine"))
    engine.write_bytes(b"garbage")  # corrupt: must be rebuilt, not loaded
    with TensorRTRunner(exported_onnx, cfg) as again:
        again.infer(random_pose_inputs(3))
    assert engine.stat().st_size > 100


def test_build_command_checks_int8_calibration_data_first(exported_onnx, tmp_path, capsys):
    assert main(["build", str(exported_onnx), "--int8"]) != 0
    assert "INT8 needs calibration data" in capsys.readouterr().err
    assert main(["build", str(exported_onnx), "--int8", "--calib", str(tmp_path)]) != 0
    assert "no .npz calibration files" in capsys.readouterr().err


def test_network_flags_ask_for_explicit_batch_only_before_tensorrt_10():
    from types import SimpleNamespace

    from camerapose.engines.build import network_flags

    flag = SimpleNamespace(EXPLICIT_BATCH=0)  # TensorRT's enum value for the bit (documented as 0)
    assert network_flags(SimpleNamespace(__version__="10.3.0", NetworkDefinitionCreationFlag=flag)) == 0
    assert network_flags(SimpleNamespace(__version__="8.6.2", NetworkDefinitionCreationFlag=flag)) == 1


class _FakeTensor:
    def __init__(self, name, shape):
        self.name, self.shape, self.dtype = name, shape, "FLOAT"


class _FakeProfile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi):
        self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))


class _FakeConfig:
    def __init__(self):
        self.flags, self.profiles, self.calibration_profile, self.int8_calibrator = set(), [], None, None

    def set_memory_pool_limit(self, pool, size):
        self.workspace = size

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def set_flag(self, flag):
        self.flags.add(flag)

    def set_calibration_profile(self, profile):
        self.calibration_profile = profile


def _fake_tensorrt(seen: dict):
    """Just enough of the TensorRT 10 Python API for build_serialized, recording what it is given."""
    from types import SimpleNamespace

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            ins = [_FakeTensor("kp2d", (-1, 17, 2)), _FakeTensor("conf", (-1, 17))]
            return SimpleNamespace(num_inputs=2, get_input=ins.__getitem__, num_outputs=1,
                                   get_output=[_FakeTensor("t", (-1, 3))].__getitem__)

        def create_builder_config(self):
            seen["config"] = _FakeConfig()
            return seen["config"]

        def create_optimization_profile(self):
            return _FakeProfile()

        def build_serialized_network(self, network, config):
            calib = config.int8_calibrator
            if calib is not None:  # what TensorRT does with it: batches until None
                while (ptrs := calib.get_batch(["kp2d", "conf"])) is not None:
                    seen.setdefault("batches", []).append(ptrs)
            return b"plan"

    class OnnxParser:
        def __init__(self, network, logger):
            pass

        def parse(self, data, path):
            seen["parse_path"] = path
            return True

    class Calibrator:
        def __init__(self):
            pass

    return SimpleNamespace(__version__="10.9.0", Builder=Builder, OnnxParser=OnnxParser,
                           MemoryPoolType=SimpleNamespace(WORKSPACE="ws"),
                           BuilderFlag=SimpleNamespace(FP16="fp16", INT8="int8"),
                           IInt8EntropyCalibrator2=Calibrator)


def test_build_sets_profile_calibration_profile_and_frees_the_calibrator(exported_onnx, tmp_path, rng,
                                                                         monkeypatch):
    """build_serialized against a recording fake of the TensorRT API (the real one is not installable
    here): the parser gets the model FILE, the profile covers both inputs, INT8 calibrates at the
    calibration batch (OPT of its own profile), and the calibrator's device buffers are freed."""
    from types import SimpleNamespace

    from camerapose.engines import build

    freed, allocs = [], []

    class _Alloc(int):  # a device pointer that casts to int, as pycuda's DeviceAllocation does
        def free(self):
            freed.append(int(self))

    def mem_alloc(nbytes):
        allocs.append(nbytes)
        return _Alloc(nbytes)

    fake_cuda = SimpleNamespace(mem_alloc=mem_alloc, memcpy_htod=lambda dst, src: None)
    monkeypatch.setattr(build, "import_pycuda", lambda: fake_cuda)
    monkeypatch.setattr(build, "trt_logger", lambda trt: None)
    np.savez(tmp_path / "calib.npz", kp2d=rng.normal(size=(40, 17, 2)), conf=rng.uniform(size=(40, 17)))
    cfg = BuildConfig(precision="int8", calib_dir=str(tmp_path), calib_batch=16,
                      profile=BatchProfile(1, 64, 256), cache_dir=str(tmp_path / "cache"))
    seen: dict = {}
    assert build.build_serialized(exported_onnx, cfg, _fake_tensorrt(seen)) == b"plan"
    assert seen["parse_path"] == str(exported_onnx)
    config = seen["config"]
    assert config.flags == {"fp16", "int8"} and config.workspace == 1024 << 20
    (profile,) = config.profiles
    assert profile.shapes == {"kp2d": ((1, 17, 2), (64, 17, 2), (256, 17, 2)),
                              "conf": ((1, 17), (64, 17), (256, 17))}
    assert config.calibration_profile.shapes["kp2d"] == ((16, 17, 2),) * 3
    assert len(seen["batches"]) == 2 and all(len(p) == 2 for p in seen["batches"])  # 40 poses -> 2 x 16
    assert sorted(freed) == sorted(allocs) == sorted([16 * 17 * 2 * 4, 16 * 17 * 4])


def test_tensorrt_runner_refuses_a_batch_under_the_profile_minimum(exported_onnx):
    from camerapose.engines.export import random_pose_inputs
    from camerapose.engines.signature import POSE_INPUTS, POSE_OUTPUTS

    r = TensorRTRunner(exported_onnx, BuildConfig(precision="fp32", profile=BatchProfile(4, 16, 64)))
    r._specs, r.max_batch = (dict(POSE_INPUTS), dict(POSE_OUTPUTS)), 64  # as _load leaves them
    r.check_feed(random_pose_inputs(4))
    with pytest.raises(InputError, match=r"batch 3 is outside 4\.\.64"):
        r.check_feed(random_pose_inputs(3))
    with pytest.raises(InputError, match=r"outside 1\.\.64"):
        r.check_feed(random_pose_inputs(65))
