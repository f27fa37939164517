"""Seeing the output: 2D skeletons + ids (draw.annotate) and a small 3D view, to a video or a window.

The 3D view is an inset in the top-right corner: every person's absolute skeleton (metres,
camera frame) seen from above-behind the camera, so depth (z) is visible as height in the inset.

Videos are H.264 in MP4 (what browsers play) through PyAV (`av`, the `files` extra) when it is
installed; without it OpenCV writes MPEG-4 part 2 (mp4v), and a warning says so once.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import BONES
from camerapose.runtime.draw.annotate import draw_persons, id_color
from camerapose.runtime.wire.schema import is_world

log = logging.getLogger(__name__)


class VideoWriter(Protocol):
    """What `open_video` returns: cv2.VideoWriter's two methods."""

    def write(self, image: np.ndarray) -> None: ...

    def release(self) -> None: ...


_warned_mp4v = False


def open_video(path: str | Path, fps: float, size: tuple[int, int]) -> VideoWriter:
    """A writer of BGR frames of `size` (width, height) to `path` at `fps`: H.264 through PyAV when
    it is installed, else OpenCV's mp4v (with one warning per process). InputError if the file
    cannot be created."""
    global _warned_mp4v
    if not Path(path).parent.is_dir():
        raise InputError(f"{path}: folder {Path(path).parent} does not exist")
    try:
        return H264Writer(path, fps, size)
    except ImportError as err:
        if not _warned_mp4v:
            log.warning("%s: writing mp4v video, which browsers do not play; pip install av "
                        "(the `files` extra) for H.264", err)
            _warned_mp4v = True
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not w.isOpened():
        raise InputError(f"{path}: cannot write a video there (try a .mp4 path in a folder that exists)")
    return w


class H264Writer:
    """BGR frames -> H.264 (yuv420p, CRF 23) through PyAV, moov atom first so browsers can stream it.
    An odd width or height is padded by one edge pixel (yuv420p needs even sizes).
    ImportError when PyAV or its libx264 encoder is missing."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        try:
            import av
        except ImportError:
            raise ImportError("PyAV is not installed") from None
        if "libx264" not in av.codecs_available:
            raise ImportError("this PyAV build has no libx264 encoder")
        self.av, self.path = av, path
        try:
            self.container = av.open(str(path), mode="w", options={"movflags": "faststart"})
        except (OSError, av.FFmpegError) as err:
            raise InputError(f"{path}: cannot write a video there ({err})") from None
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = size[0] + size[0] % 2, size[1] + size[1] % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "23", "preset": "veryfast"}

    def write(self, image: np.ndarray) -> None:
        height, width = self.stream.height, self.stream.width
        image = image[:height, :width]  # a frame of another size is cut or padded to the video's
        pad = ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0))
        if any(p[1] for p in pad):
            image = np.pad(image, pad, mode="edge")
        self._mux(self.av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24"))

    def release(self) -> None:
        if self.container is not None:
            self._mux(None)  # flush the encoder's delayed frames
            self.container.close()
            self.container = None

    def _mux(self, frame: Any) -> None:
        if self.container is None:
            return
        try:  # the file itself is only created when the first packet comes out of the encoder
            self.container.mux(self.stream.encode(frame))
        except (OSError, self.av.FFmpegError) as err:
            self.container = None  # nothing more can go to that file
            raise InputError(f"{self.path}: cannot write a video there ({err})") from None


class _P:
    """Adapter: a decoded wire person as what draw_persons expects."""

    def __init__(self, p: dict[str, Any]) -> None:
        self.id, self.kp2d, self.conf = p["id"], p["kp2d"], p["conf"]
        self.box = p.get("box", np.zeros(4, np.float32))
        self.score = p["score"]


def draw_3d(
    persons: list[dict[str, Any]], size: int, yaw_deg: float = 35.0, span_m: float = 5.0
) -> np.ndarray:
    """A size x size BGR image of the absolute 3D skeletons, seen from the camera turned by `yaw_deg`
    about the vertical axis through the people's centre (so depth shows as sideways offset) and
    tilted down, `span_m` metres across, over a 1 m floor grid at the lowest foot."""
    img = np.full((size, size, 3), 24, np.uint8)
    cv2.putText(
        img, f"3D (yaw {yaw_deg:.0f} deg)", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1
    )
    pts = np.concatenate([p["kp3d"] for p in persons]) if persons else np.zeros((0, 3))
    finite = pts[np.isfinite(pts).all(1)]
    if len(finite) == 0:
        return img
    centre = np.median(finite, axis=0)
    a = np.deg2rad(yaw_deg)
    b = np.deg2rad(20.0)  # and looking 20 degrees down, so the floor grid shows
    yaw = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    R = pitch @ yaw
    scale = size / span_m

    def to_px(X: np.ndarray) -> np.ndarray:
        Y = (X - centre) @ R.T
        return np.stack([Y[:, 0] * scale + size / 2, Y[:, 1] * scale + size / 2], 1)

    floor = float(np.max(finite[:, 1]))
    for x in np.arange(-3.0, 3.01, 1.0):  # a 1 m floor grid under the people
        ends = np.array([[centre[0] + x, floor, centre[2] - 3], [centre[0] + x, floor, centre[2] + 3]])
        q = to_px(ends).astype(int)
        cv2.line(img, tuple(q[0]), tuple(q[1]), (60, 60, 60), 1)
        ends = np.array([[centre[0] - 3, floor, centre[2] + x], [centre[0] + 3, floor, centre[2] + x]])
        q = to_px(ends).astype(int)
        cv2.line(img, tuple(q[0]), tuple(q[1]), (60, 60, 60), 1)
    for p in persons:
        uv = to_px(p["kp3d"])
        color = id_color(int(p["id"]))
        for a_, b_ in BONES:
            if np.isfinite(uv[[a_, b_]]).all():
                cv2.line(
                    img,
                    (int(uv[a_, 0]), int(uv[a_, 1])),
                    (int(uv[b_, 0]), int(uv[b_, 1])),
                    color,
                    2,
                    cv2.LINE_AA,
                )
        if np.isfinite(uv[10]).all():
            cv2.putText(
                img,
                f"#{p['id']} z {p['camera']['t'][2]:.1f} m",
                (int(uv[10, 0]) - 20, int(uv[10, 1]) - 8),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                color,
                1,
            )
    return img


def render(msg: dict[str, Any], frame: np.ndarray, view3d: bool = True) -> np.ndarray:
    """One annotated frame (a copy) for a decoded message of a camera's stream and its image (a
    world message has no image: InputError)."""
    if is_world(msg):
        raise InputError("a message of the world stream has no image to draw on")
    out = draw_persons(frame, [_P(p) for p in msg["persons"]])
    if view3d:
        size = max(120, min(out.shape[0], out.shape[1]) // 3)
        out[:size, -size:] = draw_3d(msg["persons"], size)
    t = msg["timings"].get("total", 0.0)
    cv2.putText(
        out,
        f"{msg['stream']} #{msg['frame']}  {len(msg['persons'])} persons  {t:.0f} ms",
        (10, 28),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.8,
        (255, 255, 255),
        2,
    )
    return out


def check_folder(path: str | Path) -> None:
    """InputError (one line) unless the folder an output file is to be written in exists."""
    if path and not Path(path).parent.exists():
        raise InputError(f"{path}: folder {Path(path).parent} does not exist")


class Annotator:
    """Annotated frames to a video (first stream: PATH, others PATH-<stream>.mp4) and/or a window,
    and/or the frames with their skeletons to a rerun recording (`rerun`: a .rrd path). The world
    stream has no image: its messages (`add(msg, None)`) go to the rerun recording only."""

    def __init__(self, path: str, show: bool, view3d: bool, rerun: str = "") -> None:
        self.path, self.show, self.view3d = path, show, view3d
        self.rerun = None
        if rerun:
            from camerapose.runtime.draw.rerun_log import RerunLog

            self.rerun = RerunLog(rerun)
        self.writers: dict[str, VideoWriter] = {}
        self.fps = 30.0
        if show:
            try:
                cv2.namedWindow("camerapose", cv2.WINDOW_NORMAL)
            except cv2.error:
                raise InputError(
                    "--show needs an OpenCV build with a GUI (pip install opencv-python) and a display"
                ) from None
        check_folder(path)
        check_folder(rerun)

    def _writer(self, stream: str, size: tuple[int, int]) -> VideoWriter:
        if stream not in self.writers:
            path = Path(self.path)
            if self.writers:  # second stream onwards: its own file beside the first
                path = path.with_name(f"{path.stem}-{stream}{path.suffix}")
            w = open_video(path, self.fps, size)
            log.info("annotated video for stream %s: %s", stream, path)
            self.writers[stream] = w
        return self.writers[stream]

    def add(self, msg: dict[str, Any], frame: np.ndarray | None) -> None:
        if is_world(msg):
            if self.rerun is not None:
                self.rerun.add_world(msg)
            return
        if frame is None:
            raise ValueError(f"stream {msg['stream']}: a camera's message needs its frame")
        if self.rerun is not None:
            self.rerun.add(msg, frame)
        if not (self.path or self.show):
            return
        img = render(msg, frame, self.view3d)
        if self.path:
            self._writer(msg["stream"], (img.shape[1], img.shape[0])).write(img)
        if self.show:
            cv2.imshow(f"camerapose {msg['stream']}", img)
            cv2.waitKey(1)

    def close(self) -> None:
        for w in self.writers.values():
            w.release()
        self.writers.clear()
        if self.rerun is not None:
            self.rerun.close()
            self.rerun = None
        if self.show:
            cv2.destroyAllWindows()
