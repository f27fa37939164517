"""Human3.6M as VideoPose3D prepares it, with the standard cameras written down as data.

Files (VideoPose3D's `prepare_data_h36m.py` output):
- `data_3d_h36m.npz`: `positions_3d` = {subject: {action: (F, 32, 3) float, metres, world frame}};
- `data_2d_h36m_<name>.npz` (optional): `positions_2d` = {subject: {action: [4 x (F, 17, 2)]}}
  pixels, one array per camera in the order of CAMERA_IDS, and `metadata` (a dict with
  `layout_name`, `keypoints_symmetry`...). Ground truth ("gt") or a detector's output. Without it
  the 2D is the pinhole projection of the 3D (distortion included, through core.camera).

Train subjects S1, S5, S6, S7, S8; test S9, S11. The 32-joint mocap skeleton is mapped with
core.skeleton's "h36m32" map; 2D files already hold the 17 joints (VideoPose3D's layout equals
Joint order).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from camerapose.core.camera import Camera, extrinsics_from_pose, project, world_to_camera
from camerapose.core.errors import InputError
from camerapose.core.skeleton import to_h36m

from . import safe_pickle
from .base import PoseSet, concat, from_pixels

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

# Intrinsics per camera (pixels): fx, fy, cx, cy, (k1, k2, p1, p2, k3) in OpenCV order, width, height.
INTRINSICS = {
    "54138969": (1145.0494384765625, 1143.7811279296875, 512.54150390625, 515.4514770507812,
                 (-0.20709891617298126, 0.24777518212795258, -0.0009756988729350269, -0.00142447161488235,
                  -0.0030751503072679043), 1000, 1002),
    "55011271": (1149.6756591796875, 1147.5916748046875, 508.8486328125, 508.0649108886719,
                 (-0.1942136287689209, 0.2404085397720337, -0.0016190266469493508, -0.0027408944442868233,
                  0.006819975562393665), 1000, 1000),
    "58860488": (1149.1407470703125, 1148.7989501953125, 519.8158569335938, 501.40264892578125,
                 (-0.2083381861448288, 0.25548800826072693, 0.0014843869721516967, -0.0007599993259645998,
                  -0.0024604974314570427), 1000, 1000),
    "60457274": (1145.5113525390625, 1144.77392578125, 514.9682006835938, 501.88201904296875,
                 (-0.198384091258049, 0.21832367777824402, -0.0005872055771760643, -0.0018133620033040643,
                  -0.008947807364165783), 1000, 1002),
}

# Extrinsics per subject and camera: orientation quaternion (w, x, y, z, camera -> world) and the
# camera centre in the world (millimetres), as Human3.6M ships them.
EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
            (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
           ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
            (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
           ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
            (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
           ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
            (-1794.7896728515625, -3722.698974609375, 1574.8927001953125))),
    "S5": (((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
            (2097.3916015625, 4880.94482421875, 1605.732421875)),
           ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
            (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
           ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
            (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
           ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
            (-1637.1737060546875, -3867.3173828125, 1547.033203125))),
    "S6": (((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
            (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
           ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
            (1969.803955078125, -5128.73876953125, 1632.77880859375)),
           ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
            (-1769.596435546875, 5185.361328125, 1476.993408203125)),
           ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
            (-1721.668701171875, -3884.13134765625, 1540.4879150390625))),
    "S7": (((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
            (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
           ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
            (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
           ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
            (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
           ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
            (-1734.7105712890625, -3832.42138671875, 1548.5830078125))),
    "S8": (((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
            (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
           ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
            (2219.965576171875, -5148.453125, 1613.0440673828125)),
           ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
            (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
           ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
            (-1476.913330078125, -3896.7412109375, 1547.97216796875))),
    "S9": (((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
            (2044.45849609375, 4935.1171875, 1481.2275390625)),
           ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
            (1990.959716796875, -5123.810546875, 1568.8048095703125)),
           ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
            (-1670.9921875, 5211.98583984375, 1528.387939453125)),
           ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
            (-1696.04345703125, -3827.099853515625, 1591.4127197265625))),
    "S11": (((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
             (2098.440185546875, 4926.5546875, 1500.278564453125)),
            ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
             (2083.182373046875, -4912.1728515625, 1561.07861328125)),
            ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
             (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
            ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
             (-1590.738037109375, -3854.1689453125, 1578.017578125))),
}


def camera(subject: str, index: int) -> Camera:
    """The standard camera `index` (0-3) of `subject`, extrinsics in metres."""
    if subject not in EXTRINSICS:
        raise InputError(f"Human3.6M: no camera for subject {subject!r} (known: {sorted(EXTRINSICS)})")
    fx, fy, cx, cy, dist, w, h = INTRINSICS[CAMERA_IDS[index]]
    q, pos = EXTRINSICS[subject][index]
    R, t = extrinsics_from_pose(np.array(q), np.array(pos) / 1000.0)
    return Camera(fx, fy, cx, cy, width=w, height=h, dist=dist, R=R, t=t)


def _load_dict(path: Path, key: str) -> dict:
    """The dict stored as object array `key` (read without running code: `safe_pickle`)."""
    try:
        keys = safe_pickle.npz_keys(path)
        if key not in keys:
            raise InputError(f"{path}: no key {key!r} (has {keys}); is this a VideoPose3D file?")
        value = np.asarray(safe_pickle.npz_object(path, key))
    except FileNotFoundError:
        raise InputError(f"Human3.6M file not found: {path}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a readable .npz ({err})") from None
    obj = value.item() if value.dtype == object and value.shape == () else None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {key!r} must be a dict subject -> action -> array")
    return obj


def load_h36m(path_3d: str | Path, path_2d: str | Path | None = None, split: str = "train",
              subjects: tuple[str, ...] | None = None, stride: int = 1) -> PoseSet:
    """All (subject, action, camera) frames of a split as one PoseSet (camera known, 3D known)."""
    path_3d = Path(path_3d)
    if subjects is None:
        if split not in ("train", "test"):
            raise InputError(f"Human3.6M split must be 'train' or 'test', got {split!r}")
        subjects = TRAIN_SUBJECTS if split == "train" else TEST_SUBJECTS
    pos3d = _load_dict(path_3d, "positions_3d")
    pos2d = _load_dict(Path(path_2d), "positions_2d") if path_2d else None
    sets: list[PoseSet] = []
    for subject in subjects:
        if subject not in pos3d:
            raise InputError(f"{path_3d}: positions_3d has no subject {subject!r}")
        for action, world in sorted(pos3d[subject].items()):
            world = np.asarray(world, dtype=np.float64)
            if world.ndim != 3 or world.shape[1:] != (32, 3):
                raise InputError(f"{path_3d}: positions_3d[{subject}][{action}] has shape {world.shape}, "
                                 "expected (F, 32, 3)")
            if not np.all(np.isfinite(world)):
                raise InputError(f"{path_3d}: positions_3d[{subject}][{action}] holds NaN or inf")
            world17, _ = to_h36m(world[::stride], "h36m32")
            for c in range(4):
                cam = camera(subject, c)
                X = world_to_camera(cam, world17)
                uv = _camera_2d(pos2d, path_2d, subject, action, c, len(world), stride)
                if uv is None:
                    uv = project(cam, X)
                n = len(X)
                size = np.tile([cam.width, cam.height], (n, 1))
                sets.append(from_pixels(
                    f"h36m/{subject}/{action}/{c}", uv, size, kp3d=X,
                    focal_px=np.tile(cam.focal, (n, 1)), center_px=np.tile(cam.center, (n, 1)),
                    t=X[:, 0]))
    return concat(f"h36m-{split}", sets)


def _camera_2d(pos2d: dict | None, path: str | Path | None, subject: str, action: str, c: int,
               frames: int, stride: int) -> np.ndarray | None:
    if pos2d is None:
        return None
    try:
        arr = np.asarray(pos2d[subject][action][c], dtype=np.float64)
    except (KeyError, IndexError, TypeError):
        raise InputError(f"{path}: positions_2d[{subject}][{action}][{c}] is missing") from None
    # VideoPose3D's 2D files may be a few frames longer than the mocap; trim to the 3D.
    if arr.ndim != 3 or arr.shape[1:] != (17, 2) or len(arr) < frames:
        raise InputError(f"{path}: positions_2d[{subject}][{action}][{c}] has shape {arr.shape}, "
                         f"expected ({frames}+, 17, 2)")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: positions_2d[{subject}][{action}][{c}] holds NaN or inf")
    return arr[:frames:stride]
