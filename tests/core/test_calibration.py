"""Calibration files: each format written from known cameras and read back, Qualisys geometry on a
fixture built from physical camera placements, the helpers against OpenCV, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from camerapose.core.calibration import (
    SUFFIXES,
    projection_matrix,
    read_calibration,
    read_camera,
    split_camera_spec,
    undistort_points,
)
from camerapose.core.camera import Camera, camera_to_world, project, world_to_camera
from camerapose.core.errors import InputError
from camerapose.core.rotations import rotation_vector


def look_at(centre: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R, t), OpenCV axes, for a camera at `centre` looking at `target` in a z-up
    world, image up = world up."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return R, -R @ centre


R1, T1 = look_at(np.array([1.5, -1.9, 1.9]), np.array([0.0, 0.0, 0.9]))
R2, T2 = look_at(np.array([-3.2, 2.2, 2.1]), np.array([0.1, -0.1, 0.8]))
CAMS = {
    "left": Camera(1681.2, 1681.1, 533.0, 948.1, 1088, 1920, (-0.046, 0.14, 0.0006, 0.0007, 0.0), R1, T1),
    "right": Camera(1000.0, 1010.0, 640.5, 359.5, 1280, 720, (0.1, -0.05, 0.001, -0.002, 0.01), R2, T2),
}


def assert_same_camera(got: Camera, want: Camera, dist: tuple[float, ...] | None = None) -> None:
    assert (got.width, got.height) == (want.width, want.height)
    np.testing.assert_allclose([got.fx, got.fy, got.cx, got.cy], [want.fx, want.fy, want.cx, want.cy],
                               atol=1e-9)
    np.testing.assert_allclose(got.dist, want.dist if dist is None else dist, atol=1e-12)
    np.testing.assert_allclose(got.R, want.R, atol=1e-9)
    np.testing.assert_allclose(got.t, want.t, atol=1e-9)


def rvec(R: np.ndarray) -> list[float]:
    return cv2.Rodrigues(R)[0].ravel().tolist()


def K_list(c: Camera) -> list[list[float]]:
    return c.K.tolist()


# -- writers of each format --------------------------------------------------------------------------
def write_toml(path: Path, cams: dict[str, Camera]) -> Path:
    """Pose2Sim's layout: [cam_N] tables, 4 distortion terms, a [metadata] table."""
    lines = []
    for i, (name, c) in enumerate(cams.items()):
        lines += [f"[cam_{i + 1}]", f'name = "{name}"', f"size = [ {c.width}.0, {c.height}.0,]",
                  f"matrix = {K_list(c)}", f"distortions = {list(c.dist[:4])}", f"rotation = {rvec(c.R)}",
                  f"translation = {c.t.tolist()}", "fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "error = 0.0"]
    path.write_text("\n".join(lines))
    return path


def opencv_fields(c: Camera) -> dict:
    return {"cameraMatrix": K_list(c), "distCoeffs": list(c.dist), "rvec": rvec(c.R),
            "tvec": c.t.tolist(), "image_size": [c.width, c.height]}


def write_opencv_yaml(path: Path, cams: dict[str, Camera]) -> Path:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for name, c in cams.items():
        fs.startWriteStruct(name, cv2.FileNode_MAP)
        fs.write("K", c.K)
        fs.write("distCoeffs", np.array([c.dist]))  # a 1x5 !!opencv-matrix
        fs.write("R", c.R)
        fs.write("t", c.t[:, None])
        fs.write("size", np.array([c.width, c.height]))
        fs.endWriteStruct()
    fs.release()
    return path


QUALISYS_CAMERA = """\
    <camera active="1" avg-residual="0.4" model="none" point-count="999" serial="{name}" viewrotation="0">
      <fov_marker bottom="{bottom}" left="{left}" right="{right}" top="{top}"/>
      <fov_video bottom="{bottom}" left="{left}" right="{right}" top="{top}"/>
      <transform {rot} x="{x}" y="{y}" z="{z}"/>
      <intrinsic centerPointU="{cu}" centerPointV="{cv}" focalLengthU="{fu}" focalLengthV="{fv}" \
focallength="9.3" radialDistortion1="{k1}" radialDistortion2="{k2}" radialDistortion3="{k3}" \
sensorMaxU="69568" sensorMaxV="122816" sensorMinU="0.000000" sensorMinV="0.000000" skew="0.000000" \
tangentalDistortion1="{p1}" tangentalDistortion2="{p2}"/>
    </camera>
"""


def qca_text(cams: dict[str, Camera], left: int = 0, top: int = 0) -> str:
    """A .qca.txt in Qualisys' layout, built from each camera's physical placement: the centre in
    millimetres and a matrix whose rows are the camera's Qualisys axes (right, up, backwards) in
    world coordinates; intrinsics in 1/64 pixel of a sensor whose video window starts at left, top."""
    body = []
    for name, c in cams.items():
        right_axis, down_axis, forward_axis = c.R  # OpenCV rows: the camera axes in the world
        M = np.stack([right_axis, -down_axis, -forward_axis])
        centre = (camera_to_world(c, np.zeros(3)) * 1000).tolist()
        k1, k2, p1, p2, k3 = c.dist
        rot = " ".join(f'r{i + 1}{j + 1}="{float(M[i, j])!r}"' for i in range(3) for j in range(3))
        body.append(QUALISYS_CAMERA.format(
            name=name, left=left, top=top, right=left + c.width - 1, bottom=top + c.height - 1, rot=rot,
            x=centre[0], y=centre[1], z=centre[2], fu=c.fx * 64, fv=c.fy * 64,
            cu=(c.cx + left) * 64, cv=(c.cy + top) * 64, k1=k1, k2=k2, k3=k3, p1=p1, p2=p2))
    return ("<?xml version='1.0' encoding='ASCII'?>\n<calibration source=\"test\" type=\"regular\">\n"
            '  <results min-max-diff="0." std-dev="0."/>\n  <cameras>\n' + "".join(body)
            + "  </cameras>\n</calibration>\n")


# -- round trips -------------------------------------------------------------------------------------
def test_pose2sim_toml_round_trip(tmp_path: Path) -> None:
    cams = read_calibration(write_toml(tmp_path / "Calib.toml", CAMS))
    assert list(cams) == ["left", "right"]  # the file's order, [metadata] skipped
    for name, want in CAMS.items():
        assert_same_camera(cams[name], want, dist=(*want.dist[:4], 0.0))  # TOML has no k3


def test_json_named_cameras_and_a_single_camera(tmp_path: Path) -> None:
    named = tmp_path / "rig.json"
    named.write_text(json.dumps({"left": opencv_fields(CAMS["left"]), "right": opencv_fields(CAMS["right"])}))
    cams = read_calibration(named)
    assert list(cams) == ["left", "right"]
    for name, want in CAMS.items():
        assert_same_camera(cams[name], want)
    one = tmp_path / "phone.json"
    c = CAMS["right"]
    one.write_text(json.dumps({"K": np.ravel(c.K).tolist(), "distCoeffs": [*c.dist, 0, 0, 0],  # flat, 8 terms
                               "R": c.R.tolist(), "t": c.t.tolist(), "size": [c.width, c.height]}))
    (name, got), = read_calibration(one).items()
    assert name == "phone"
    assert_same_camera(got, c)


def test_opencv_filestorage_yaml_and_plain_yaml(tmp_path: Path) -> None:
    cams = read_calibration(write_opencv_yaml(tmp_path / "rig.yml", CAMS))
    assert list(cams) == ["left", "right"]
    for name, want in CAMS.items():
        assert_same_camera(cams[name], want)
    plain = tmp_path / "cam.yaml"
    c = CAMS["left"]
    plain.write_text(f"%YAML:1.0\n---\ncameraMatrix: {K_list(c)}\ndistCoeffs: {list(c.dist[:4])}\n"
                     f"rvec: {rvec(c.R)}\ntvec: {c.t.tolist()}\n"
                     f"image_width: {c.width}\nimage_height: {c.height}\n")
    assert_same_camera(read_calibration(plain)["cam"], c, dist=(*c.dist[:4], 0.0))


def test_intrinsics_only_and_zero_distortion(tmp_path: Path) -> None:
    p = tmp_path / "k.json"
    p.write_text(json.dumps({"K": [[900, 0, 640], [0, 900, 360], [0, 0, 1]], "distCoeffs": [0, 0, 0, 0, 0]}))
    c = read_calibration(p)["k"]
    assert (c.fx, c.fy, c.cx, c.cy, c.width, c.dist, c.R, c.t) == (900, 900, 640, 360, None, (), None, None)


def test_rounded_rotation_is_made_exact(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"K": K_list(CAMS["left"]), "R": np.round(R1, 4).tolist(), "t": T1.tolist()}))
    R = read_calibration(p)["r"].R
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R, R1, atol=1e-4)


# -- Qualisys ----------------------------------------------------------------------------------------
def test_qualisys_round_trip_with_a_cropped_video_window(tmp_path: Path) -> None:
    path = tmp_path / "Calib.qca.txt"
    path.write_text(qca_text(CAMS, left=16, top=8))
    cams = read_calibration(path)
    assert list(cams) == ["left", "right"]
    for name, want in CAMS.items():
        assert_same_camera(cams[name], want)


def test_qualisys_cameras_look_at_the_people_near_the_origin(tmp_path: Path) -> None:
    """The geometry a real .qca.txt shows (Pose2Sim's demo: portrait cameras around two people near
    the origin of a z-up world in mm): the origin and a point 1 m above it are in front of every
    camera and inside its image, world up is image up, and the centre is the written x, y, z / 1000."""
    ring = {f"cam0{i + 1}": np.array([3.5 * np.cos(a), 3.5 * np.sin(a), 1.9])
            for i, a in enumerate(np.radians([-50, 15, 145, 200]))}
    placed = {n: Camera(1681.0, 1681.0, 540.0, 960.0, 1088, 1920, (-0.046, 0.14, 0.0, 0.0, 0.0),
                        *look_at(c, np.array([0.0, 0.0, 0.8]))) for n, c in ring.items()}
    path = tmp_path / "Calib.qca.txt"
    path.write_text(qca_text(placed))
    cams = read_calibration(path)
    assert list(cams) == list(ring)
    for name, cam in cams.items():
        X = world_to_camera(cam, np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
        assert (X[:, 2] > 1.0).all(), name
        uv = project(cam, X)
        assert ((uv > 0) & (uv < [1088, 1920])).all(), (name, uv)
        assert uv[1, 1] < uv[0, 1]  # the point above the origin is higher in the image
        np.testing.assert_allclose(camera_to_world(cam, np.zeros(3)), ring[name], atol=1e-9)
        # the written centre, read straight from the XML
        x, y, z = (float(path.read_text().split(f'serial="{name}"')[1].split(f'{a}="')[1].split('"')[0])
                   for a in "xyz")
        np.testing.assert_allclose(-cam.R.T @ cam.t, np.array([x, y, z]) / 1000, atol=1e-12)


# -- choosing a camera -------------------------------------------------------------------------------
def test_read_camera_by_name_and_the_only_camera(tmp_path: Path) -> None:
    rig = write_toml(tmp_path / "rig.toml", CAMS)
    assert read_camera(f"{rig}:right")[0] == "right"
    assert_same_camera(read_camera(f"{rig}:right")[1], CAMS["right"], dist=(*CAMS["right"].dist[:4], 0.0))
    one = write_toml(tmp_path / "one.toml", {"left": CAMS["left"]})
    assert read_camera(one)[0] == "left"
    with pytest.raises(InputError, match=r"rig\.toml: holds 2 cameras \(left, right\); pick one with FILE:"):
        read_camera(rig)
    with pytest.raises(InputError, match=r"rig\.toml: no camera 'front' \(cameras: left, right\)"):
        read_camera(f"{rig}:front")


def test_split_camera_spec() -> None:
    assert split_camera_spec("a/cams.toml") == (Path("a/cams.toml"), None)
    assert split_camera_spec("a/cams.toml:cam 1") == (Path("a/cams.toml"), "cam 1")
    assert split_camera_spec("C:/x/Calib.qca.txt:cam:01") == (Path("C:/x/Calib.qca.txt"), "cam:01")
    assert split_camera_spec("notes.txt:a") == (Path("notes.txt:a"), None)


# -- helpers -----------------------------------------------------------------------------------------
def test_projection_matrix_is_K_R_t() -> None:
    cam = Camera(1000.0, 1010.0, 640.5, 359.5, R=R1, t=T1)
    X = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 1.5]])
    x = np.c_[X, np.ones(2)] @ projection_matrix(cam).T
    np.testing.assert_allclose(x[:, :2] / x[:, 2:], project(cam, world_to_camera(cam, X)), atol=1e-9)
    with pytest.raises(ValueError, match="no extrinsics"):
        projection_matrix(Camera(1000.0, 1000.0, 640.0, 360.0))


def test_undistort_points_inverts_the_distortion_like_opencv() -> None:
    cam = CAMS["right"]
    X = np.array([[0.0, 0.0, 3.0], [1.0, 0.5, 3.0], [-0.8, 0.3, 2.0]])
    distorted = project(cam, X)
    ideal = project(Camera(cam.fx, cam.fy, cam.cx, cam.cy), X)
    np.testing.assert_allclose(undistort_points(cam, distorted), ideal, atol=1e-6)
    ocv = cv2.undistortPoints(distorted[:, None], cam.K, np.array(cam.dist), P=cam.K)[:, 0]
    np.testing.assert_allclose(undistort_points(cam, distorted), ocv, atol=1e-3)
    np.testing.assert_array_equal(undistort_points(Camera(900.0, 900.0, 1.0, 1.0), distorted), distorted)


@pytest.mark.parametrize("r", [[0.0, 0.0, 0.0], [1e-14, 0, 0], [0.3, -1.2, 0.5], [0.0, np.pi, 0.0]])
def test_rodrigues_matches_opencv(r: list[float]) -> None:
    np.testing.assert_allclose(rotation_vector(np.array(r)), cv2.Rodrigues(np.array(r))[0], atol=1e-12)


# -- errors: one line, the file (and the camera) named -----------------------------------------------
K = [[900, 0, 640], [0, 900, 360], [0, 0, 1]]
BAD_JSON = {
    "no camera": ({"metadata": {"a": 1}}, "no camera in this calibration file"),
    "missing K": ({"a": {"distCoeffs": [0, 0, 0, 0]}}, "camera 'a': missing cameraMatrix or K"),
    "K shape": ({"a": {"K": [[1, 2], [3, 4]]}}, "camera 'a': K must be 3x3 numbers, got 4"),
    "K text": ({"a": {"K": [["x"] * 3] * 3}}, "camera 'a': K must be numbers"),
    "skew": ({"K": [[900, 5, 640], [0, 900, 360], [0, 0, 1]]}, r"must be \[\[fx, 0, cx\]"),
    "focal": ({"a": {"K": [[-900, 0, 640], [0, 900, 360], [0, 0, 1]]}}, "focal lengths must be positive"),
    "nan": ({"a": {"K": K, "distCoeffs": [float("nan"), 0, 0, 0]}}, "distCoeffs holds a non-finite number"),
    "dist": ({"a": {"K": K, "distCoeffs": [0.1, 0.2]}}, r"needs k1, k2, p1, p2 \(4 or more values\), got 2"),
    "not R": ({"a": {"K": K, "R": [[1, 0, 0], [0, 1, 0], [0, 0.1, 1]], "t": [0, 0, 1]}}, "R is not a rot"),
    "mirror": ({"a": {"K": K, "R": [[1, 0, 0], [0, 1, 0], [0, 0, -1]], "t": [0, 0, 1]}}, "det = -1"),
    "no t": ({"a": {"K": K, "rvec": [0, 0, 0]}}, r"camera 'a': rvec without its translation \(tvec or t\)"),
    "no R": ({"a": {"K": K, "tvec": [0, 0, 1]}}, r"tvec without its rotation \(rvec or R\)"),
    "both": ({"a": {"K": K, "rvec": [0, 0, 0], "R": np.eye(3).tolist(), "t": [0, 0, 0]}}, "not both"),
    "size": ({"a": {"K": K, "size": [1280.5, 720]}}, "image size must be two whole numbers"),
    "list": ([K], "expected an object of camera fields or of named cameras"),
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_bad_json_is_one_line_naming_file_and_camera(tmp_path: Path, case: str) -> None:
    data, match = BAD_JSON[case]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    check_error(p, match)


def check_error(path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        read_calibration(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


BAD_TEXT = {
    "calib.txt": ("K: 1", r"unknown calibration file type; use one of \.qca\.txt, \.toml, \.json, \.yml"),
    "bad.json": ("{", r"malformed JSON"),
    "bad.toml": ("[a\nb = ", r"malformed TOML"),
    "fish.toml": (f"[c]\nmatrix = {K}\nfisheye = true\n", "camera 'c': fisheye calibrations are not"),
    "dup.toml": (f'[a]\nname = "x"\nmatrix = {K}\n[b]\nname = "x"\nmatrix = {K}\n', "'x': the camera name"),
    "meta.toml": ("[metadata]\nerror = 0.0\n", "no camera in this calibration file"),
    "bad.yml": ("%YAML:1.0\nK: [[900, 0, 640], [0, 900, 360\n  bad: : :\n", "malformed OpenCV YAML"),
    "bad.qca.txt": ("<calibration><cameras>", "malformed Qualisys XML"),
    "none.qca.txt": ("<calibration/>", r"not a Qualisys calibration \(no <cameras> element\)"),
    "empty.qca.txt": ("<calibration><cameras/></calibration>", "no camera in this calibration file"),
}


@pytest.mark.parametrize("name", list(BAD_TEXT))
def test_bad_files_are_one_line_naming_the_file(tmp_path: Path, name: str) -> None:
    text, match = BAD_TEXT[name]
    p = tmp_path / name
    p.write_text(text)
    check_error(p, match)


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    check_error(tmp_path / "absent.toml", "no such calibration file")
    (tmp_path / "dir.json").mkdir()
    check_error(tmp_path / "dir.json", "is a folder, not a calibration file")
    (tmp_path / "bin.yml").write_bytes(b"\xff\xfe\x00K")
    check_error(tmp_path / "bin.yml", "not a UTF-8 text file")
    assert ".qca.txt" in SUFFIXES


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace(' focalLengthU="', ' focalLengthX="', 1), "'left': <intrinsic> has no focalLengthU"),
    (lambda t: t.replace(' x="', ' x="mm', 1), r"camera 'left': <transform> x='mm.*' is not a number"),
    (lambda t: t.replace(' r11="', ' r11="nan" q="', 1), r"<transform> r11='nan' is not a finite number"),
    (lambda t: t.replace(' r11="', ' r11="2" q="', 1), "camera 'left': transform r11..r33 is not a rotation"),
    (lambda t: t.replace('serial="right"', 'serial="left"'), "camera 'left': the camera name appears twice"),
    (lambda t: t.replace('serial="left"', 'serial=""'), "camera #1: no serial attribute"),
    (lambda t: t.replace("<fov_video ", "<fov_other ", 1), "camera 'left': missing <fov_video>"),
    (lambda t: t.replace('skew="0.000000"', 'skew="0.5"', 1), "skew is not supported"),
    (lambda t: t.replace(' focalLengthU="', ' focalLengthU="-', 1), "focal lengths must be positive"),
])
def test_bad_qualisys_files(tmp_path: Path, edit, match: str) -> None:
    p = tmp_path / "Calib.qca.txt"
    p.write_text(edit(qca_text(CAMS)))
    check_error(p, match)
