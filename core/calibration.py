"""Camera calibration files -> `Camera`s (pixels, OpenCV axes, world->camera extrinsics in metres).

    cams = read_calibration("Calib.qca.txt")      # {"cam01": Camera, ...}, in file order
    name, cam = read_camera("calib.toml:cam02")   # one camera: "FILE" (of one camera) or "FILE:NAME"

Every camera comes out in `camera.py`'s conventions: X_cam = R @ X_world + t, x right, y down,
z forward, t in metres, distortion (k1, k2, p1, p2, k3) or () when the file has none (or all zeros).
The suffix picks the format (SUFFIXES):

- `.qca.txt`  Qualisys QTM XML. Per `<camera serial=...>`: `<intrinsic>` focalLengthU/V and
  centerPointU/V in 1/64 pixel of the full sensor: divided by 64, then the `<fov_video>` window's
  left/top subtracted from cx, cy; the image is that window, (right - left + 1) x (bottom - top + 1).
  radialDistortion1..3 and tangentalDistortion1..2 are (k1, k2, k3, p1, p2) as they are (0 when
  absent). `<transform>`: x, y, z, the camera centre C in the world, millimetres; r11..r33, written
  row by row, a matrix M that maps world axes onto the camera's Qualisys axes (x right, y up, looking
  down -z). So R = diag(1, -1, -1) @ M (to OpenCV axes) and t = -R @ C / 1000.
  Verified on Pose2Sim's Demo_MultiPerson/calibration/Calib.qca.txt (4 portrait 1088x1920 cameras,
  f ~ 1681 px, two people near the z-up world origin): with that mapping the origin projects, in
  front of every camera, to pixels (720, 1504), (474, 1387), (207, 1080), (731, 983), and the
  point 1 m above it to (892, 987), (441, 859), (155, 706), (579, 638), all inside the images, and
  world up points up in every image; the three other readings (M^T, or no flip) put the origin
  behind the cameras or thousands of pixels outside. The centre -R^T t equals x, y, z / 1000.
  `viewrotation`, binning and marker-only windows are not read: the video window is the image.
- `.toml`  Pose2Sim's calibration: one table per camera with `name` (else the table's key), `size`
  [w, h], `matrix` 3x3, `distortions` [k1, k2, p1, p2], `rotation` (Rodrigues vector, world->camera)
  and `translation` (metres); a `[metadata]` table is skipped; `fisheye = true` is refused.
- `.json`, `.yml`, `.yaml`  OpenCV style: `cameraMatrix` or `K` 3x3, `distCoeffs` (none, or 4, 5 or
  more values: k1, k2, p1, p2, k3 are kept, higher-order terms dropped), `rvec` (Rodrigues) or `R`
  (3x3), `tvec` or `t` (metres), `image_size` or `size` [w, h] (or `image_width`/`image_height`).
  Either one camera at the top (named after the file's stem) or named camera tables. Matrices may be
  nested lists, flat lists or OpenCV's `{rows, cols, data}` (`!!opencv-matrix` in YAML, which is read
  by cv2.FileStorage: no YAML library needed).

In every format the intrinsic matrix is required and the rest optional, except that a rotation
needs its translation and vice versa. Anything else is one InputError line naming the file (and
the camera): unknown suffix, unreadable or malformed file, missing field, non-finite number, skew,
focal <= 0, a rotation off by more than ROTATION_TOL (within it, re-orthonormalised by SVD: files
carry rounding), duplicated camera names, no camera.
"""

from __future__ import annotations

import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .camera import Camera, _extrinsics, _undistort
from .errors import InputError
from .rotations import rotation_vector
from .shapes import check_shape

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUFFIXES = (".qca.txt", ".toml", ".json", ".yml", ".yaml")
ROTATION_TOL = 1e-3  # max |R R^T - I|: rounded file values pass, a wrong matrix does not
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # camera axes: y up, looking down -z -> y down, z forward
_K_KEYS, _DIST_KEYS = ("cameraMatrix", "K"), ("distCoeffs", "dist")
_RVEC_KEYS, _R_KEYS, _T_KEYS = ("rvec",), ("R",), ("tvec", "t")
_SIZE_KEYS = ("image_size", "size")


# -- public ------------------------------------------------------------------------------------------
def read_calibration(path: str | Path) -> dict[str, Camera]:
    """Every camera of a calibration file, {name: Camera} in the file's order (module docstring)."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix is None:
        raise InputError(f"{path}: unknown calibration file type; use one of {', '.join(SUFFIXES)}")
    if suffix == ".qca.txt":
        cams = _read_qca(path, _read_bytes(path))
    elif suffix == ".toml":
        cams = _read_toml(path, _read_bytes(path))
    elif suffix == ".json":
        cams = _read_opencv(path, _read_json(path))
    else:
        cams = _read_opencv(path, _read_yaml(path))
    if not cams:
        raise InputError(f"{path}: no camera in this calibration file")
    return cams


def split_camera_spec(spec: str | Path) -> tuple[Path, str | None]:
    """'FILE' or 'FILE:NAME' -> (FILE, NAME or None). A whole spec naming an existing file is a
    file (so 'C:\\cams.toml' and names holding ':' stay paths); else the first known suffix
    followed by ':' ends the file name."""
    text = str(spec)
    if Path(text).is_file() or _suffix(Path(text)) is not None:
        return Path(text), None
    m = re.match(r"(.*?(?:" + "|".join(re.escape(s) for s in SUFFIXES) + r")):(.*)\Z", text, re.I | re.S)
    if m is None:
        return Path(text), None
    return Path(m.group(1)), m.group(2)


def read_camera(spec: str | Path) -> tuple[str, Camera]:
    """One camera of a calibration file: 'FILE' (a file of one camera) or 'FILE:NAME' -> (name,
    Camera). Several cameras and no name, or an unknown name, is an InputError listing the names."""
    path, name = split_camera_spec(spec)
    cams = read_calibration(path)
    names = ", ".join(cams)
    if name is None:
        if len(cams) > 1:
            raise InputError(f"{path}: holds {len(cams)} cameras ({names}); pick one with FILE:NAME")
        return next(iter(cams.items()))
    if name not in cams:
        raise InputError(f"{path}: no camera {name!r} (cameras: {names})")
    return name, cams[name]


def projection_matrix(cam: Camera) -> np.ndarray:
    """(3, 4) P = K [R | t]: world points (homogeneous, metres) to pixels, without distortion.
    ValueError for a camera without extrinsics."""
    R, t = _extrinsics(cam)
    return cam.K @ np.concatenate([R, t[:, None]], 1)


def undistort_points(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Distorted pixels -> the pixels an ideal pinhole with the same K would see. (N, 2) -> (N, 2)
    (any (..., 2)); without distortion a copy of uv."""
    check_shape("uv", uv, (..., 2))
    uv = np.asarray(uv, dtype=np.float64)
    if not cam.dist:
        return uv.copy()
    xy = _undistort((uv - cam.center) / cam.focal, cam.dist)
    return xy * cam.focal + cam.center


# -- reading files -------------------------------------------------------------------------------------
def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in SUFFIXES if name.endswith(s) and len(name) > len(s)), None)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such calibration file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a calibration file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the calibration file ({err.strerror or err})") from None


def _read_text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: malformed JSON ({err})") from None


def _read_yaml(path: Path) -> Any:
    """An OpenCV YAML file as plain dicts/lists, through cv2.FileStorage (no YAML library)."""
    _read_text(path)  # the usual one-line errors for a missing / unreadable / binary file
    import cv2

    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as err:  # cv2 raises SystemError chained to its parse error
        cause = err.__cause__ if isinstance(err, SystemError) and err.__cause__ else err
        detail = " ".join(str(cause).split())
        detail = re.sub(r"^\(-?\d+:[^)]*\)\s*", "", detail.split("error: ", 1)[-1])  # OpenCV's preamble
        raise InputError(f"{path}: malformed OpenCV YAML ({detail})") from None
    try:
        if not fs.isOpened():
            raise InputError(f"{path}: cannot open as OpenCV YAML")
        return _node(fs.root())
    finally:
        fs.release()


def _node(node: Any) -> Any:
    """A cv2.FileNode as Python values (maps -> dict, sequences -> list)."""
    if node.isMap():
        return {k: _node(node.getNode(k)) for k in node.keys()}
    if node.isSeq():
        return [_node(node.at(i)) for i in range(node.size())]
    if node.isInt():
        return int(node.real())
    if node.isReal():
        return node.real()
    if node.isString():
        return node.string()
    return None


# -- Qualisys ------------------------------------------------------------------------------------------
def _read_qca(path: Path, data: bytes) -> dict[str, Camera]:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise InputError(f"{path}: malformed Qualisys XML ({err})") from None
    cameras = root.find("cameras")
    if cameras is None:
        raise InputError(f"{path}: not a Qualisys calibration (no <cameras> element)")
    out: dict[str, Camera] = {}
    for i, el in enumerate(cameras.findall("camera")):
        name = el.get("serial") or ""
        where = f"{path}: camera {name!r}" if name else f"{path}: camera #{i + 1}"
        if not name:
            raise InputError(f"{where}: no serial attribute")
        fov, intr, tr = (_child(el, tag, where) for tag in ("fov_video", "intrinsic", "transform"))
        left, top, right, bottom = (_attr(fov, a, where, "fov_video") for a in ("left", "top", "right",
                                                                                 "bottom"))
        size = (right - left + 1, bottom - top + 1)
        fx, fy, cx, cy = (_attr(intr, a, where, "intrinsic") / 64
                          for a in ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV"))
        if _attr(intr, "skew", where, "intrinsic", 0.0) != 0:
            raise InputError(f"{where}: intrinsic skew is not supported (pinhole without skew)")
        k1, k2, k3, p1, p2 = (_attr(intr, a, where, "intrinsic", 0.0) for a in (
            "radialDistortion1", "radialDistortion2", "radialDistortion3",
            "tangentalDistortion1", "tangentalDistortion2"))
        M = np.array([[_attr(tr, f"r{r}{c}", where, "transform") for c in "123"] for r in "123"])
        centre = np.array([_attr(tr, a, where, "transform") for a in "xyz"]) / 1000.0
        R = QUALISYS_TO_OPENCV @ _rotation(M, where, "transform r11..r33")
        _add(out, name, where, _camera(where, (fx, fy, cx - left, cy - top), size,
                                        (k1, k2, p1, p2, k3), R, -R @ centre))
    return out


def _child(el: ET.Element, tag: str, where: str) -> ET.Element:
    found = el.find(tag)
    if found is None:
        raise InputError(f"{where}: missing <{tag}>")
    return found


def _attr(el: ET.Element, name: str, where: str, tag: str, default: float | None = None) -> float:
    text = el.get(name)
    if text is None:
        if default is None:
            raise InputError(f"{where}: <{tag}> has no {name} attribute")
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: <{tag}> {name}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: <{tag}> {name}={text!r} is not a finite number")
    return value


# -- Pose2Sim TOML -------------------------------------------------------------------------------------
def _read_toml(path: Path, data: bytes) -> dict[str, Camera]:
    try:
        tables = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: malformed TOML ({err})") from None
    out: dict[str, Camera] = {}
    for key, table in tables.items():
        if key == "metadata" or not isinstance(table, dict):
            continue
        name = table.get("name", key)
        where = f"{path}: camera {name!r}"
        if not isinstance(name, str) or not name:
            raise InputError(f"{path}: [{key}] name must be a non-empty string, got {name!r}")
        if table.get("fisheye", False) is not False:
            raise InputError(f"{where}: fisheye calibrations are not supported (pinhole only)")
        fields = {"K": ("matrix",), "dist": ("distortions",), "rvec": ("rotation",), "R": (),
                  "t": ("translation",), "size": ("size",)}
        _add(out, name, where, _from_fields(where, table, fields))
    return out


# -- OpenCV JSON / YAML --------------------------------------------------------------------------------
def _read_opencv(path: Path, data: Any) -> dict[str, Camera]:
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object of camera fields or of named cameras")
    fields = {"K": _K_KEYS, "dist": _DIST_KEYS, "rvec": _RVEC_KEYS, "R": _R_KEYS, "t": _T_KEYS,
              "size": _SIZE_KEYS}
    if any(k in data for k in _K_KEYS):  # one camera at the top
        name = path.name[: -len(_suffix(path) or "")]
        return {name: _from_fields(f"{path}", data, fields)}
    out: dict[str, Camera] = {}
    for name, table in data.items():
        if name == "metadata" or not isinstance(table, dict):
            continue
        where = f"{path}: camera {name!r}"
        _add(out, name, where, _from_fields(where, table, fields))
    return out


# -- shared checks -------------------------------------------------------------------------------------
def _from_fields(where: str, table: dict[str, Any], keys: dict[str, tuple[str, ...]]) -> Camera:
    """A camera from one table; `keys` maps each field (K, dist, rvec, R, t, size) to the keys
    that may hold it in this format, first found wins."""
    def get(field: str) -> tuple[str, Any] | None:
        return next(((k, table[k]) for k in keys[field] if k in table), None)

    k = get("K")
    if k is None:
        raise InputError(f"{where}: missing {' or '.join(keys['K'])} (the 3x3 intrinsic matrix)")
    K = _numbers(where, *k, (3, 3))
    skew = max(abs(K[0, 1]) / max(abs(K[0, 0]), 1e-300), abs(K[1, 0]) / max(abs(K[1, 1]), 1e-300))
    if skew > 1e-6 or np.abs(K[2] - [0, 0, 1]).max() > 1e-9:
        raise InputError(f"{where}: {k[0]} must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew)")
    dist = get("dist")
    d = _numbers(where, *dist, None) if dist is not None else np.zeros(0)
    if 0 < d.size < 4:
        raise InputError(f"{where}: {dist[0]} needs k1, k2, p1, p2 (4 or more values), got {d.size}")
    d = np.concatenate([d, np.zeros(5)])[:5] if d.size else d
    R, t = _pose(where, get("rvec"), get("R"), get("t"))
    return _camera(where, (K[0, 0], K[1, 1], K[0, 2], K[1, 2]), _size(where, table, get("size")),
                   tuple(d), R, t)


def _pose(where: str, rvec: tuple[str, Any] | None, rmat: tuple[str, Any] | None,
          tvec: tuple[str, Any] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    if rvec is not None and rmat is not None:
        raise InputError(f"{where}: give {rvec[0]} or {rmat[0]}, not both")
    rot = rvec if rvec is not None else rmat
    if (rot is None) != (tvec is None):
        given, missing = (rot, "translation (tvec or t)") if tvec is None else (tvec, "rotation (rvec or R)")
        raise InputError(f"{where}: {given[0]} without its {missing}")  # type: ignore[index]
    if rot is None or tvec is None:
        return None, None
    if rvec is not None:
        R = rotation_vector(_numbers(where, *rvec, (3,)))
    else:
        R = _rotation(_numbers(where, *rot, (3, 3)), where, rot[0])
    return R, _numbers(where, *tvec, (3,))


def _size(where: str, table: dict[str, Any], found: tuple[str, Any] | None) -> tuple[float, float] | None:
    if found is None and "image_width" in table and "image_height" in table:
        found = ("image_width, image_height", [table["image_width"], table["image_height"]])
    return None if found is None else tuple(_numbers(where, *found, (2,)))  # type: ignore[return-value]


def _numbers(where: str, key: str, value: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    """A field as a finite float64 array of `shape` (None: any length); a flat list of the right
    count is reshaped; OpenCV's {rows, cols, data} / {sizes, data} matrices are unwrapped."""
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {key} must be numbers, got {value!r}"[:200]) from None
    if shape is None:
        if a.ndim > 2 or (a.ndim == 2 and 1 not in a.shape):
            raise InputError(f"{where}: {key} must be a list of numbers, got shape {a.shape}")
        a = a.reshape(-1)
    elif a.size == math.prod(shape):
        a = a.reshape(shape)
    else:
        want = "x".join(map(str, shape))
        raise InputError(f"{where}: {key} must be {want} numbers, got {a.size}")
    if not np.isfinite(a).all():
        raise InputError(f"{where}: {key} holds a non-finite number")
    return a


def _rotation(M: np.ndarray, where: str, key: str) -> np.ndarray:
    """M, checked to be a rotation within ROTATION_TOL, as the nearest exact rotation (SVD)."""
    err = float(np.abs(M @ M.T - np.eye(3)).max())
    if err > ROTATION_TOL or np.linalg.det(M) <= 0:
        raise InputError(f"{where}: {key} is not a rotation matrix (orthonormal with det +1; "
                         f"|R R^T - I| = {err:.2g}, det = {np.linalg.det(M):.3g})")
    U, _, Vt = np.linalg.svd(M)
    return U @ Vt


def _camera(where: str, k: tuple[float, float, float, float], size: tuple[float, float] | None,
            dist: tuple[float, ...], R: np.ndarray | None, t: np.ndarray | None) -> Camera:
    fx, fy, cx, cy = (float(v) for v in k)
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy, *dist)):
        raise InputError(f"{where}: non-finite intrinsics or distortion")
    if not (fx > 0 and fy > 0):
        raise InputError(f"{where}: focal lengths must be positive, got fx={fx:g} fy={fy:g}")
    width = height = None
    if size is not None:
        if not all(s >= 1 and float(s).is_integer() for s in size):
            raise InputError(f"{where}: image size must be two whole numbers >= 1, got {list(size)}")
        width, height = int(size[0]), int(size[1])
    return Camera(fx, fy, cx, cy, width, height, tuple(float(v) for v in dist) if any(dist) else (), R, t)


def _add(out: dict[str, Camera], name: str, where: str, cam: Camera) -> None:
    if name in out:
        raise InputError(f"{where}: the camera name appears twice")
    out[name] = cam


# -- writing Pose2Sim TOML -----------------------------------------------------------------------------
def write_calibration_toml(path: str | Path, cams: dict[str, Camera]) -> Path:
    """Write cameras as a Pose2Sim calibration `.toml` (the layout `read_calibration` reads back, and
    Pose2Sim's own): one table per camera, in the dict's order, with `name`, `size` [w, h] (when
    known), `matrix` (K, 3x3), `distortions` [k1, k2, p1, p2] (and k3 when it is not 0),
    `rotation` (Rodrigues vector, world -> camera) and `translation` (metres) (when the camera has
    extrinsics), `fisheye = false`; then `[metadata]` with `adjusted = false`, `error = 0.0`, as
    Pose2Sim writes it. Numbers are written with all their digits (repr), so reading the file back
    gives the same cameras (the rotation to ~1e-15). A table is keyed by the camera's name when that
    is a bare TOML key (letters, digits, _ and -), else quoted; a camera named "metadata" is keyed
    `cam_metadata` (its `name` stays). The file is written whole or not at all (a temporary file in
    the same folder, renamed). ValueError for no camera, an empty name or a non-finite number;
    InputError naming the path when it cannot be written."""
    import os
    import tempfile

    from .errors import write_failed

    if not cams:
        raise ValueError("write_calibration_toml: no camera")
    path = Path(path)
    lines: list[str] = []
    keys: set[str] = {"metadata"}
    for name, cam in cams.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"write_calibration_toml: camera names must be non-empty strings, got {name!r}")
        key = name if name != "metadata" else "cam_metadata"
        while key in keys:
            key = f"cam_{key}"
        keys.add(key)
        header = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)
        lines += [f"[{header}]", f"name = {_toml_string(name)}"]
        if cam.width is not None and cam.height is not None:
            lines.append(f"size = {_toml_floats([cam.width, cam.height])}")
        lines.append("matrix = [" + ", ".join(_toml_floats(row) for row in cam.K) + "]")
        dist = list(cam.dist) if cam.dist else [0.0] * 5
        lines.append(f"distortions = {_toml_floats(dist[:4] if dist[4] == 0 else dist)}")
        if cam.R is not None and cam.t is not None:
            lines.append(f"rotation = {_toml_floats(_rotation_vector_of(cam.R))}")
            lines.append(f"translation = {_toml_floats(cam.t)}")
        lines += ["fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    text = "\n".join(lines)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise write_failed(path, err) from None
    return path


def _toml_floats(values: Any) -> str:
    out = []
    for v in np.asarray(values, dtype=np.float64).reshape(-1):
        if not math.isfinite(v):
            raise ValueError(f"write_calibration_toml: non-finite number {v}")
        out.append(repr(float(v)))
    return "[" + ", ".join(out) + "]"


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"write_calibration_toml: {text!r} holds a lone surrogate (not UTF-8 text)")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _rotation_vector_of(R: np.ndarray) -> np.ndarray:
    """A rotation matrix -> OpenCV's rotation vector (axis x angle), the inverse of `rotation_vector`."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_rotvec()
