"""Every dataset loader on small files written here in the real formats, and its errors."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from camerapose.core.camera import normalize_screen, project, world_to_camera
from camerapose.core.errors import InputError
from camerapose.core.skeleton import Joint
from camerapose.train.data import h36m
from camerapose.train.data.coco import load_coco
from camerapose.train.data.detections import apply_detections, save_detections
from camerapose.train.data.mpii import load_mpii
from camerapose.train.data.threedhp import load_3dhp
from camerapose.train.data.threedpw import load_3dpw


def _world_poses(rng, frames: int) -> np.ndarray:
    """(F, 32, 3) metres around the middle of the Human3.6M capture room, 1 m above the floor."""
    return rng.normal(0, 0.3, (frames, 32, 3)) + np.array([0.0, 0.0, 1.0])


def _write_h36m(tmp_path, rng, subjects=("S9", "S11"), frames=5):
    pos3d = {s: {"Walking": _world_poses(rng, frames), "Eating 2": _world_poses(rng, frames)}
             for s in subjects}
    p3 = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(p3, positions_3d=pos3d)
    return p3, pos3d


def test_h36m_standard_cameras_see_the_capture_volume():
    for subject in h36m.EXTRINSICS:
        for c in range(4):
            cam = h36m.camera(subject, c)
            X = world_to_camera(cam, np.array([[0.0, 0.0, 1.0]]))
            assert 3.0 < X[0, 2] < 7.5  # the room centre is in front, a few metres away
            uv = project(cam, X)
            assert np.all((uv > 0) & (uv < 1000))


def test_h36m_loader_projects_through_core_camera(tmp_path, rng):
    p3, pos3d = _write_h36m(tmp_path, rng)
    poses = h36m.load_h36m(p3, split="test")
    assert len(poses) == 2 * 2 * 4 * 5 and poses.has_3d.all() and poses.has_camera.all()
    assert np.all(poses.kp3d[:, Joint.PELVIS] == 0)
    # first sample: subject S9 (the split's order), action "Eating 2" (sorted), camera 0
    cam = h36m.camera("S9", 0)
    X = world_to_camera(cam, pos3d["S9"]["Eating 2"][0][[0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25,
                                                         26, 27]])
    uv = normalize_screen(project(cam, X), 1000, 1002)
    assert np.allclose(poses.kp2d[0], uv, atol=1e-5)
    assert np.allclose(poses.t[0], X[0], atol=1e-5)


def test_h36m_loader_reads_a_2d_file(tmp_path, rng):
    p3, pos3d = _write_h36m(tmp_path, rng, subjects=("S9",))
    pos2d = {"S9": {a: [rng.uniform(0, 1000, (7, 17, 2)) for _ in range(4)] for a in pos3d["S9"]}}
    p2 = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(p2, positions_2d=pos2d, metadata={"layout_name": "h36m"})
    poses = h36m.load_h36m(p3, p2, subjects=("S9",))
    first = pos2d["S9"]["Eating 2"][0][0]
    assert np.allclose(poses.kp2d[0], normalize_screen(first, 1000, 1002), atol=1e-5)


def test_h36m_bad_files_name_the_key(tmp_path, rng):
    bad = tmp_path / "bad.npz"
    np.savez(bad, positions=np.zeros(3))
    with pytest.raises(InputError, match="no key 'positions_3d'"):
        h36m.load_h36m(bad, split="test")
    p3 = tmp_path / "shape.npz"
    np.savez(p3, positions_3d={"S9": {"Walking": np.zeros((4, 17, 3))}})
    with pytest.raises(InputError, match=r"positions_3d\[S9\]\[Walking\].*\(F, 32, 3\)"):
        h36m.load_h36m(p3, subjects=("S9",))
    nan = _world_poses(rng, 3)
    nan[1, 4, 2] = np.nan
    np.savez(p3, positions_3d={"S9": {"Walking": nan}})
    with pytest.raises(InputError, match="NaN"):
        h36m.load_h36m(p3, subjects=("S9",))
    np.savez(p3, positions_3d={"S9": {"Walking": _world_poses(rng, 3)}})
    with pytest.raises(InputError, match="no subject 'S11'"):
        h36m.load_h36m(p3, split="test")
    with pytest.raises(InputError, match="no camera for subject 'S2'"):
        h36m.camera("S2", 0)
    with pytest.raises(InputError, match="not found"):
        h36m.load_h36m(tmp_path / "nope.npz")


def test_mpii_json_keeps_fully_visible_people(tmp_path, rng):
    people = []
    for i in range(4):
        joints = rng.uniform(100, 400, (16, 2))
        vis = np.ones(16)
        if i == 3:
            vis[5] = 0  # one hidden ankle: filtered out
        people.append({"image": f"{i:09d}.jpg", "joints": joints.tolist(), "joints_vis": vis.tolist(),
                       "center": [250.0, 250.0], "scale": 1.5})
    path = tmp_path / "train.json"
    path.write_text(json.dumps(people))
    poses = load_mpii(path)
    assert len(poses) == 3 and not poses.has_3d.any() and not poses.has_camera.any()
    j = np.asarray(people[0]["joints"])
    side = 2 * 200 * 1.5
    pelvis_px = (j[2] + j[3]) / 2 - 250.0 + side / 2
    assert np.allclose(poses.kp2d[0, Joint.PELVIS], normalize_screen(pelvis_px, side, side), atol=1e-5)
    path.write_text(json.dumps([{"joints": [[0, 0]] * 15, "joints_vis": [1] * 15, "center": [0, 0],
                                 "scale": 1}]))
    with pytest.raises(InputError, match=r"entry 0.*\(16, 2\)"):
        load_mpii(path)
    path.write_text(json.dumps([{"joints": [[0, 0]] * 16}]))
    with pytest.raises(InputError, match="lacks key 'joints_vis'"):
        load_mpii(path)


def test_coco_json_maps_full_body_people(tmp_path, rng):
    kps = rng.uniform(10, 600, (3, 17, 2))
    anns = []
    for i in range(3):
        kp = np.concatenate([kps[i], np.full((17, 1), 2.0)], 1)
        if i == 2:
            kp[15, 2] = 0  # an unlabelled ankle: filtered
        anns.append({"id": i, "image_id": 7, "iscrowd": 0, "keypoints": kp.ravel().tolist(),
                     "num_keypoints": 17})
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps({"images": [{"id": 7, "width": 640, "height": 480}], "annotations": anns}))
    poses = load_coco(path)
    assert len(poses) == 2
    thorax = (kps[0, 5] + kps[0, 6]) / 2
    assert np.allclose(poses.kp2d[0, Joint.THORAX], normalize_screen(thorax, 640, 480), atol=1e-5)
    assert np.allclose(poses.image_size[0], [640, 480])
    path.write_text(json.dumps({"annotations": []}))
    with pytest.raises(InputError, match="no 'images'"):
        load_coco(path)


def _3dhp_arrays(rng, frames: int):
    """annot2/annot3/univ_annot3/valid_frame in (F, 1, 17, C) layout, annot2 = K annot3."""
    X = rng.normal(0, 300, (frames, 1, 17, 3)) + np.array([0, 0, 4000.0])
    f, c = np.array([1500.0, 1498.0]), np.array([1020.0, 1040.0])
    uv = f * X[..., :2] / X[..., 2:3] + c
    valid = np.ones(frames)
    valid[1] = 0
    return uv, X, X * 0.95, valid


def test_3dhp_v5_mat_via_scipy(tmp_path, rng):
    from scipy.io import savemat

    uv, X, univ, valid = _3dhp_arrays(rng, 4)
    ts = tmp_path / "TS1"
    ts.mkdir()
    # MATLAB stores (C, 17, 1, F): what scipy writes from arrays transposed that way
    savemat(ts / "annot_data.mat", {"annot2": uv.transpose(3, 2, 1, 0), "annot3": X.transpose(3, 2, 1, 0),
                                    "univ_annot3": univ.transpose(3, 2, 1, 0), "valid_frame": valid[None]})
    poses = load_3dhp(ts / "annot_data.mat")
    assert len(poses) == 3
    pelvis = univ[0, 0, 14] / 1000
    head = univ[0, 0, 0] / 1000
    assert np.allclose(poses.kp3d[0, Joint.HEAD], head - pelvis, atol=1e-5)
    assert np.allclose(poses.focal[0] * 2048 / 2, [1500.0, 1498.0], rtol=1e-6)
    assert np.allclose(poses.t[0], X[0, 0, 14] / 1000, atol=1e-6)


def test_3dhp_v73_mat_via_h5py(tmp_path, rng):
    h5py = pytest.importorskip("h5py")
    uv, X, univ, valid = _3dhp_arrays(rng, 3)
    path = tmp_path / "annot_data.mat"
    with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB v7.3 = HDF5 with a 512-byte header
        for k, v in {"annot2": uv, "annot3": X, "univ_annot3": univ, "valid_frame": valid[:, None]}.items():
            f[k] = v  # h5py writes C order: MATLAB reads the dims reversed, as it stores them
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 "
                b"HDF5 schema 1.00 .")
    poses = load_3dhp(path)
    assert len(poses) == 2
    assert np.allclose(poses.kp3d[1, Joint.RWRIST], (univ[2, 0, 4] - univ[2, 0, 14]) / 1000, atol=1e-5)


def test_3dhp_bad_file(tmp_path):
    from scipy.io import savemat

    path = tmp_path / "annot_data.mat"
    savemat(path, {"annot2": np.zeros((2, 17, 1, 3))})
    with pytest.raises(InputError, match="lacks"):
        load_3dhp(path)
    savemat(path, {"annot2": np.zeros((2, 16, 1, 3)), "annot3": np.zeros((3, 17, 1, 3)),
                   "univ_annot3": np.zeros((3, 17, 1, 3)), "valid_frame": np.ones((1, 3))})
    with pytest.raises(InputError, match="annot2 has shape"):
        load_3dhp(path)


def test_3dpw_pickle(tmp_path, rng):
    frames = 4
    joints = rng.normal(0, 0.3, (frames, 24, 3)) + np.array([0, 0, 0.0])
    cam_poses = np.tile(np.eye(4), (frames, 1, 1))
    cam_poses[:, 2, 3] = 4.0  # the camera 4 m away
    seq = {"jointPositions": [joints.reshape(frames, 72)], "cam_poses": cam_poses,
           "cam_intrinsics": np.array([[1960.0, 0, 540], [0, 1969, 960], [0, 0, 1]]),
           "campose_valid": [np.array([1, 1, 0, 1])], "sequence": "downtown_test_00"}
    d = tmp_path / "sequenceFiles" / "test"
    d.mkdir(parents=True)
    with open(d / "downtown_test_00.pkl", "wb") as f:
        pickle.dump(seq, f, protocol=2)
    poses = load_3dpw(d)
    assert len(poses) == 3
    assert np.allclose(poses.kp3d[0, Joint.LWRIST], joints[0, 20] - joints[0, 0], atol=1e-5)
    assert np.allclose(poses.t[0], joints[0, 0] + [0, 0, 4], atol=1e-5)
    seq.pop("cam_poses")
    with open(d / "downtown_test_00.pkl", "wb") as f:
        pickle.dump(seq, f)
    with pytest.raises(InputError, match="lacks"):
        load_3dpw(d)


def test_detections_file_replaces_the_2d_input(tmp_path, rng):
    p3, _ = _write_h36m(tmp_path, rng, subjects=("S9",), frames=2)
    poses = h36m.load_h36m(p3, subjects=("S9",))
    n = len(poses)
    kp = rng.uniform(0, 1000, (n, 17, 2))
    conf = rng.uniform(0, 1, (n, 17))
    det = tmp_path / "det.npz"
    save_detections(det, kp, conf, "h36m17")
    swapped = apply_detections(poses, det)
    want = normalize_screen(kp, 1000, poses.image_size[:, 1, None, None])
    assert np.allclose(swapped.kp2d, want, atol=1e-4)
    assert np.array_equal(swapped.kp2d_gt, poses.kp2d_gt) and np.array_equal(swapped.kp3d, poses.kp3d)
    save_detections(det, kp[:3], conf[:3], "h36m17")
    with pytest.raises(InputError, match="3 detections"):
        apply_detections(poses, det)
    save_detections(det, kp, conf, "openpose25")
    with pytest.raises(InputError, match="joint_format 'openpose25' unknown"):
        apply_detections(poses, det)


class _Planted:
    """A pickle payload: unpickling it would create `marker` (a file) — it must never run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return Path.touch, (Path(self.marker),)


def test_planted_pickle_code_never_runs_in_3dpw_or_h36m_files(tmp_path):
    marker = tmp_path / "ran"
    pkl = tmp_path / "evil.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"jointPositions": [_Planted(marker)]}, f, protocol=2)
    with pytest.raises(InputError, match="refusing to load") as err:
        load_3dpw(pkl)
    assert "\n" not in str(err.value)
    npz = tmp_path / "evil.npz"
    np.savez(npz, positions_3d=np.array({"S9": _Planted(marker)}, dtype=object))
    with pytest.raises(InputError, match="refusing to load"):
        h36m.load_h36m(npz, subjects=("S9",))
    assert not marker.exists()
