"""`camerapose calibrate`: camera extrinsics from the people in synchronised videos, no checkerboard.

    camerapose calibrate --source A.mp4 --source B.mp4 --source C.mp4 --out calib.toml
    camerapose calibrate --source A.mp4 --source B.mp4 --out calib.toml --intrinsics lab.toml --height 1.75

The runtime's own 2D detector (BlazePose, default settings, offline) runs on every frame of every
video (or every --stride'th, up to --max-frames); the people's joints then place the cameras
(`core/autocalib.py`: essential matrices, PnP, a bundle adjustment, metric scale from bone lengths,
a floor-aligned world) and a Pose2Sim calibration `.toml` is written (`core.calibration.
write_calibration_toml`), one table per video named after its file stem. docs/calibrate.md has the
method, the measured accuracy and the limits.

Intrinsics: `--intrinsics FILE[:CAMERA]` (any file `read_calibration` reads), once for every video
or once per video in --source order; a FILE of several cameras without :CAMERA gives each video the
camera whose name is its file stem or ends it (cam01 for pose2sim_multi_cam01.mp4). Without a file:
the principal point at the image centre, no distortion and a focal of --focal pixels or spanning
--fov degrees across the long side (default 65), refined by the bundle adjustment (one factor for
all such cameras: --refine-focal).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from camerapose.cli import Command, number
from camerapose.core.errors import InputError

log = logging.getLogger(__name__)

REFINE_CHOICES = ("auto", "shared", "each", "none")


def configure(parser: argparse.ArgumentParser) -> None:
    from camerapose.core import autocalib

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = "\n\n".join(textwrap.fill(p, 100) for p in (
        "Camera extrinsics (and, without --intrinsics, focal lengths) from the people filmed by several "
        "synchronised cameras: no checkerboard. Frame i of every video must be the same instant.",
        "Steps: 2D keypoints of every person in every video (the runtime's BlazePose detector); which "
        "track is which person in each pair of views, and their relative pose (essential matrix, "
        "RANSAC); the other cameras by PnP; a bundle adjustment of all cameras and the 3D joints; metric "
        "scale from the people's bone lengths; a floor-aligned world (z up, origin on the floor under "
        "the people). Writes a Pose2Sim calibration .toml (one table per video, named after its file "
        "stem) and prints per camera its reprojection error and position. docs/calibrate.md has the "
        "measured accuracy and the limits."))
    parser.epilog = (
        "examples:\n"
        "  camerapose calibrate --source cam1.mp4 --source cam2.mp4 --source cam3.mp4 --out calib.toml\n"
        "  camerapose calibrate --source a.mp4 --source b.mp4 --out calib.toml --intrinsics lab.qca.txt\n"
        "  camerapose calibrate --source a.mp4 --source b.mp4 --out calib.toml --fov 90 --height 1.80\n")
    parser.add_argument("--source", action="append", default=[], type=Path, metavar="VIDEO", required=True,
                        help="a synchronised video (repeat: 2 or more); its file stem names the camera")
    parser.add_argument("--out", type=Path, required=True, metavar="CALIB.toml",
                        help="the calibration to write (Pose2Sim .toml; `read_calibration` reads it)")
    parser.add_argument("--intrinsics", action="append", default=[], metavar="FILE[:CAMERA]",
                        help="known intrinsics (a .toml, .qca.txt, .json or .yml calibration): once for all "
                             "videos or once per video, in --source order; a FILE of several cameras "
                             "without :CAMERA is matched to the videos by name. These stay as they are")
    parser.add_argument("--focal", action="append", default=[], type=number(1.0, 1e6), metavar="PX",
                        help="focal length guess in pixels for the videos without --intrinsics (once for "
                             "all or once per video)")
    parser.add_argument("--fov", type=number(10.0, 170.0), default=autocalib.DEFAULT_FOV_DEG, metavar="DEG",
                        help="field of view across the long side, degrees, for the videos with neither "
                             "--intrinsics nor --focal (default %(default)g: phones and webcams are 60-75)")
    parser.add_argument("--refine-focal", choices=REFINE_CHOICES, default="auto",
                        help="which focal lengths the bundle adjustment may change: shared (one factor for "
                             "all guessed cameras: one camera model), each (one per guessed camera), none; "
                             "auto (default) = shared. Focal lengths from --intrinsics never change")
    parser.add_argument("--height", type=number(0.5, 2.5), default=None, metavar="M",
                        help="the people's mean height in metres, for the metric scale (default: an average "
                             "adult's bone lengths, as the detector's own 3D estimates them)")
    parser.add_argument("--world", choices=autocalib.WORLDS, default="z-up",
                        help="world frame: z-up (default; x right and y forward of the first camera, origin "
                             "on the floor under the people), y-up (Y up, Z towards the first camera), or "
                             "first-camera (the first video's camera frame, OpenCV axes)")
    parser.add_argument("--max-frames", type=number(1, 10**9, int), default=None, metavar="N",
                        help="read at most N frames of each video (default: all)")
    parser.add_argument("--stride", type=number(1, 10**6, int), default=1, metavar="N",
                        help="detect every N-th frame only (faster; the tracker then sees bigger steps)")
    parser.add_argument("--compare", action="append", default=[], metavar="FILE[:CAMERA]",
                        help="also print how far the result is from a reference calibration of the same "
                             "cameras (matched like --intrinsics): per camera the rotation and position "
                             "error after the best similarity transform, and the scale error")


@dataclass
class Video:
    path: Path
    name: str
    frames: int
    fps: float
    size: tuple[int, int]


# -- inputs ------------------------------------------------------------------------------------------
def _open_videos(paths: list[Path]) -> list[Video]:
    import cv2

    from camerapose.runtime.sources.base import path_problem

    if len(paths) < 2:
        raise InputError(f"calibration needs at least 2 --source videos, got {len(paths)}")
    seen: dict[Path, Path] = {}
    for p in paths:
        problem = path_problem(p, missing="no such video file")
        if problem is not None or p.is_dir():
            raise InputError(f"{p}: {problem or 'is a folder, not a video file'}")
        key = p.resolve()
        if key in seen:
            raise InputError(f"{p}: given twice as --source")
        seen[key] = p
    out = []
    for p in paths:
        cap = cv2.VideoCapture(str(p))
        try:
            if not cap.isOpened():
                raise InputError(f"{p}: cannot open as a video")
            ok, img = cap.read()
            if not ok or img is None or img.size == 0:
                raise InputError(f"{p}: the video gives no frames (unreadable or truncated?)")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        finally:
            cap.release()
        rate = fps if 1.0 <= fps <= 1000.0 else 0.0
        out.append(Video(p, _name(p), count, rate, (img.shape[1], img.shape[0])))
    names = [v.name for v in out]
    for v in out:
        if names.count(v.name) > 1:
            v.name = _name(v.path, with_folder=True)
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"two videos would name the same camera {dup[0]!r} (the file stem names it): "
                         "rename one")
    counts = {v.frames for v in out}
    if len(counts) > 1:
        log.warning("the videos differ in length (%s frames): frame i of each is taken as the same instant, "
                    "up to the shortest", ", ".join(str(v.frames) for v in out))
    rates = {round(v.fps, 3) for v in out}
    if len(rates) > 1:
        log.warning("the videos differ in frame rate (%s fps): they are paired frame by frame, which is "
                    "only right if they were recorded frame-synchronised",
                    ", ".join(f"{v.fps:g}" for v in out))
    return out


def _name(path: Path, with_folder: bool = False) -> str:
    def text(s: str) -> str:  # undecodable bytes in a file name: shown, not written as surrogates
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    stem = path.stem
    return text(f"{path.parent.name}_{stem}" if with_folder and path.parent.name else stem)


def _match_camera(spec_path: Path, cams: dict, video: Video, flag: str) -> tuple[str, object]:
    """The camera of a several-camera file that belongs to a video: its name is the video's name or
    ends it (or the other way round); exactly one must."""
    if video.name in cams:
        return video.name, cams[video.name]
    hits = [n for n in cams if video.name.endswith(n) or n.endswith(video.name)]
    if len(hits) == 1:
        return hits[0], cams[hits[0]]
    names = ", ".join(cams)
    why = "several match" if hits else "none matches"
    raise InputError(f"{flag} {spec_path}: {why} the video {video.name!r} (cameras: {names}); "
                     f"give {flag} FILE:CAMERA once per video")


def _cameras_from(specs: list[str], videos: list[Video], flag: str) -> list[tuple[str, object] | None]:
    """Per video the (name, Camera) a --intrinsics / --compare list gives it, or None."""
    from camerapose.core.calibration import read_calibration, split_camera_spec

    if not specs:
        return [None] * len(videos)
    if len(specs) not in (1, len(videos)):
        raise InputError(f"give {flag} once for all videos or once per video ({len(videos)}), "
                         f"got {len(specs)}")
    out = []
    for i, video in enumerate(videos):
        spec = specs[0] if len(specs) == 1 else specs[i]
        path, name = split_camera_spec(spec)
        cams = read_calibration(path)
        if name is not None:
            if name not in cams:
                raise InputError(f"{path}: no camera {name!r} (cameras: {', '.join(cams)})")
            out.append((name, cams[name]))
        elif len(cams) == 1:
            out.append(next(iter(cams.items())))
        else:
            out.append(_match_camera(path, cams, video, flag))
    return out


def _fit_size(name: str, cam, video: Video, flag: str):
    """The camera for the video's image size: as it is, or scaled when the file is for the same
    picture at another resolution (same aspect ratio); an InputError otherwise."""
    if cam.width is None or cam.height is None or (cam.width, cam.height) == video.size:
        return cam
    w, h = video.size
    sx, sy = w / cam.width, h / cam.height
    if abs(sx / sy - 1) > 0.01:
        raise InputError(f"{flag}: camera {name!r} is for {cam.width}x{cam.height} images, the video "
                         f"{video.path} is {w}x{h}")
    log.warning("%s: camera %r is for %dx%d images, the video is %dx%d: its intrinsics are scaled by %.4g",
                flag, name, cam.width, cam.height, w, h, sx)
    return replace(cam, fx=cam.fx * sx, fy=cam.fy * sy, cx=cam.cx * sx, cy=cam.cy * sy, width=w, height=h)


# -- detection ---------------------------------------------------------------------------------------
def _detect(video: Video, max_frames: int | None, stride: int, n_frames: int):
    """The runtime's 2D detector on every stride'th frame: ({id: (frames, uv, conf)}, [det3d...],
    frames read)."""
    import cv2
    import numpy as np

    from camerapose.runtime.detect.base import DetectorConfig
    from camerapose.runtime.detect.registry import create_detector

    fps = video.fps or 30.0
    store: dict[int, tuple[list, list, list]] = {}
    det3d: list = []
    cap = cv2.VideoCapture(str(video.path))
    total = n_frames if max_frames is None else min(n_frames, max_frames)
    index = 0
    try:
        bar = tqdm(total=total or None, desc=video.name, unit="frame", disable=None, file=sys.stderr)
        with create_detector(DetectorConfig()) as det, bar:
            while index < total if total else True:
                if index % stride:
                    if not cap.grab():
                        break
                else:
                    ok, img = cap.read()
                    if not ok or img is None:
                        break
                    for p in det.detect([img], [index / fps])[0]:
                        f, uv, c = store.setdefault(int(p.id), ([], [], []))
                        f.append(index)
                        uv.append(np.asarray(p.kp2d, np.float64))
                        c.append(np.asarray(p.conf, np.float64))
                        if p.det3d is not None:
                            det3d.append(np.asarray(p.det3d, np.float64))
                index += 1
                bar.update()
    finally:
        cap.release()
    tracks = {tid: (np.asarray(f), np.stack(uv), np.stack(c)) for tid, (f, uv, c) in store.items()}
    return tracks, det3d, index


# -- the command -------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from camerapose.core import autocalib
    from camerapose.core.calibration import SUFFIXES, write_calibration_toml

    if args.out.suffix.lower() != ".toml":
        raise InputError(f"--out {args.out}: the calibration is written as Pose2Sim .toml; name it *.toml "
                         f"(read_calibration also reads {', '.join(s for s in SUFFIXES if s != '.toml')})")
    if args.out.is_dir():
        raise InputError(f"--out {args.out}: is a folder")
    videos = _open_videos(list(args.source))
    given = _cameras_from(list(args.intrinsics), videos, "--intrinsics")
    reference = _cameras_from(list(args.compare), videos, "--compare")
    if args.compare and any(c is not None and c[1].R is None for c in reference):
        raise InputError("--compare: the reference calibration has no extrinsics for every camera")
    if len(args.focal) not in (0, 1, len(videos)):
        raise InputError(f"give --focal once for all videos or once per video ({len(videos)}), "
                         f"got {len(args.focal)}")
    cameras, guessed = [], []
    for i, video in enumerate(videos):
        if given[i] is not None:
            name, cam = given[i]
            cameras.append(replace(_fit_size(name, cam, video, "--intrinsics"), R=None, t=None))
            guessed.append(False)
        else:
            focal = args.focal[0] if len(args.focal) == 1 else (args.focal[i] if args.focal else None)
            cameras.append(autocalib.guess_intrinsics(*video.size, fov_deg=args.fov, focal=focal))
            guessed.append(True)
    mode = "shared" if args.refine_focal == "auto" else args.refine_focal
    refine = [g and mode != "none" for g in guessed]

    n_frames = min(v.frames for v in videos) if all(v.frames > 0 for v in videos) else 0
    tracks, det3d = [], []
    for video in videos:
        t, d, read = _detect(video, args.max_frames, args.stride, n_frames)
        if read == 0:
            raise InputError(f"{video.path}: no frame could be decoded")
        tracks.append(t)
        det3d += d
        log.info("%s: %d frames read, %d track(s)", video.name, read, len(t))
    empty = [v.name for v, t in zip(videos, tracks, strict=True) if not t]
    if empty:
        raise InputError(f"no person was found in {', '.join(empty)}: every camera must see the people")
    cal = autocalib.calibrate(cameras, tracks, [v.name for v in videos], refine_focal=refine,
                              height=args.height, world=args.world, share_focal=mode == "shared",
                              bone_reference=autocalib.detector_bone_lengths(det3d))
    write_calibration_toml(args.out, {v.name: c for v, c in zip(videos, cal.cameras, strict=True)})
    _summary(args, videos, cal, given, refine)
    if args.compare:
        _print_comparison(videos, cal, [c[1] for c in reference])
    return 0


def _summary(args: argparse.Namespace, videos: list[Video], cal, given: list, refine: list[bool]) -> None:
    import numpy as np

    from camerapose.core.autocalib import camera_centre

    width = max(len("camera"), *(len(v.name) for v in videos))
    world = {"z-up": "z up, origin on the floor under the people",
             "y-up": "y up, origin on the floor under the people",
             "first-camera": f"the camera frame of {videos[0].name}"}[cal.world]
    scale = f"the people's height {args.height:g} m" if args.height else "an average adult's bone lengths"
    n_obs = sum(len(e) for e in cal.errors_px)
    print(f"{args.out}: {len(videos)} cameras from {len(cal.groups)} person(s), {len(cal.poses)} "
          f"person-frames, {n_obs} joint observations; world: {world}; metric scale from {scale}")
    print(f"{'camera':<{width}}  reproj px (median)  position x, y, z (m)     focal px")
    for v, cam, err, g, r in zip(videos, cal.cameras, cal.errors_px, given, refine, strict=True):
        c = camera_centre(cam.R, cam.t)
        med = f"{np.median(err):.1f}" if len(err) else "-"
        how = "from file" if g is not None else ("refined" if r else "guessed")
        print(f"{v.name:<{width}}  {med:>18}  {c[0]:7.2f} {c[1]:7.2f} {c[2]:7.2f}    {cam.fx:.0f} ({how})")


def _print_comparison(videos: list[Video], cal, reference: list) -> None:
    from camerapose.core.autocalib import compare

    cmp = compare(cal, reference)
    width = max(len("camera"), *(len(v.name) for v in videos))
    print(f"against --compare (aligned by the similarity that maps our triangulated joints onto the "
          f"reference's; scale error {100 * (1 / cmp['scale'] - 1):+.1f} %):")
    print(f"{'camera':<{width}}  rotation deg  position m  % of distance  (camera-centre alignment: %, deg)"
          "  reference reproj px")
    for i, v in enumerate(videos):
        ref_err = cmp["reference_error_px"][i]
        ref_med = f"{float(sorted(ref_err)[len(ref_err) // 2]):.1f}" if len(ref_err) else "-"
        print(f"{v.name:<{width}}  {cmp['rotation_deg'][i]:12.2f}  {cmp['position_m'][i]:10.3f}  "
              f"{cmp['position_pct'][i]:13.1f}  ({cmp['centres_position_pct'][i]:.1f} %, "
              f"{cmp['centres_rotation_deg'][i]:.1f} deg){'':>17}{ref_med}")
    if math.isfinite(cmp["up_deg"]):
        o = cmp["origin"]
        print(f"world: our up axis is {cmp['up_deg']:.1f} deg from the reference's z axis; our origin is at "
              f"({o[0]:.2f}, {o[1]:.2f}, {o[2]:.2f}) m in the reference's frame")


COMMANDS = {"calibrate": Command(configure, run)}
