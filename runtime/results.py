"""Results objects: what `camerapose.estimate` yields and `camerapose.track` returns.

    results = camerapose.track("clip.mp4")          # every frame, in this process
    for r in results:                                # r: a Result, one per frame
        for p in r.persons:                          # p: a Person
            print(r.frame, p.id, p.kp3d[0], p.camera["fx"])
    tracks = results.tracks()                        # {id: Track}: per-id arrays over its frames
    results.save("clip.bvh")                         # any `convert` format (runtime/files)

A `Result` IS the decoded pose message (docs/schema.md), a dict: `r["persons"][0]["kp3d"]` works as
it always did, and so do `json`, `pickle` and `{**r}`; the attributes are read-only views of its
keys. `Person` is the same for one entry of `persons`. `Results` is a list of `Result`s.

A message of the world stream (`run --calibration`; `r.is_world`) is a Result too: `r.cameras` are
the calibrated cameras, and its persons are `WorldPerson`s: kp3d in the calibration's world frame,
`views`, `reproj_px`, `single_view`, `tracks` (stream -> that camera's track id), and no 2D or camera
(asking for them says where they are: each camera's own stream).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError


class Person(dict):
    """One person of a message (a dict: "id", "kp2d", "conf", "kp3d", "camera", "box", "score", ...).

    kp3d (17, 3) metres, camera frame (x right, y down, z forward); kp2d (17, 2) pixels; conf (17,);
    camera {"fx", "fy", "cx", "cy", "t", ...}; id: the track id, stable over frames."""

    @property
    def id(self) -> int:
        return int(self["id"])

    @property
    def kp3d(self) -> np.ndarray:
        return self["kp3d"]

    @property
    def kp2d(self) -> np.ndarray:
        return self["kp2d"]

    @property
    def conf(self) -> np.ndarray:
        return self["conf"]

    @property
    def camera(self) -> dict[str, Any]:
        return self["camera"]

    @property
    def box(self) -> np.ndarray | None:
        return self.get("box")

    @property
    def score(self) -> float | None:
        return self.get("score")


class WorldPerson(Person):
    """One person of the world stream (a dict: "id", "score", "kp3d", "views", "reproj_px",
    "single_view", "tracks").

    kp3d (17, 3) metres in the calibration's world frame; views (17,) how many cameras each joint was
    triangulated from (0: filled from a monocular pose); reproj_px (17,) their reprojection error in
    pixels; single_view: one camera alone saw them; tracks: {stream: that camera's track id}; id: the
    world id, stable over frames. No kp2d, conf or camera: those are per camera, in each camera's
    stream (`tracks` names the person there)."""

    @property
    def views(self) -> np.ndarray:
        return self["views"]

    @property
    def reproj_px(self) -> np.ndarray:
        return self["reproj_px"]

    @property
    def single_view(self) -> bool:
        return bool(self["single_view"])

    @property
    def tracks(self) -> dict[str, int]:
        return self["tracks"]

    def _per_camera(self, name: str) -> Any:
        raise AttributeError(f"a world person has no {name}: it is per camera, in each camera's stream "
                             f"(this person's track ids there: {self['tracks']})")

    @property
    def kp2d(self) -> np.ndarray:
        return self._per_camera("kp2d")

    @property
    def conf(self) -> np.ndarray:
        return self._per_camera("conf")

    @property
    def camera(self) -> dict[str, Any]:
        return self._per_camera("camera")

    @property
    def box(self) -> None:
        return None


class Result(dict):
    """One frame's decoded pose message (a dict, docs/schema.md) with attribute access; a message of
    the world stream (`is_world`) has `WorldPerson`s and `cameras`."""

    def __init__(self, msg: dict[str, Any]) -> None:
        super().__init__(msg)
        kind = WorldPerson if self.is_world else Person
        self["persons"] = [p if isinstance(p, kind) else kind(p) for p in msg.get("persons", ())]

    @property
    def is_world(self) -> bool:
        """A message of the world stream (several calibrated cameras fused), not of one camera."""
        return self.get("kind") == "world"

    @property
    def cameras(self) -> list[dict[str, Any]] | None:
        """The world stream's cameras ({"name", "stream", "K" (4,) fx, fy, cx, cy, "R" (3, 3), "t" (3,):
        x_cam = R x_world + t, "size" (w, h)}); None for a camera's message."""
        return self.get("cameras")

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of a camera's frame; None for the world stream (no image)."""
        return self.get("image_size")

    @property
    def persons(self) -> list[Person]:
        return self["persons"]

    @property
    def frame(self) -> int:
        return int(self["frame"])

    @property
    def stream(self) -> str:
        return self["stream"]

    def plot(self, frame: np.ndarray, view3d: bool = True) -> np.ndarray:
        """This message's overlay on its HxWx3 uint8 BGR `frame` (a copy): the drawing of
        `run --annotate` (runtime/draw/video.py `render`): skeletons, boxes, ids, the 3D inset."""
        from camerapose.runtime.draw.video import render

        if self.is_world:
            raise InputError("plot: a world message has no image; plot each camera's message on its frame")
        image = np.asarray(frame)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"plot: frame must be an HxWx3 uint8 BGR image, got {image.dtype} {image.shape}")
        return render(self, image, view3d)

    def to_dict(self) -> dict[str, Any]:
        """The plain decoded message (dicts and lists, arrays shared), as `estimate` gave before."""
        return {**self, "persons": [dict(p) for p in self["persons"]]}


class Results(list):
    """The `Result`s of a run, in order (a list). `Results(messages)` wraps any decoded messages
    (`estimate`'s, `subscribe`'s, a file's read back)."""

    def __init__(self, messages: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(m if isinstance(m, Result) else Result(m) for m in messages)

    def tracks(self, stream: str | None = None) -> dict[int, Any]:
        """{id: Track} (runtime/files/tracks.py): per id, its frames (T,), t (T,) seconds, kp3d
        (T, 17, 3) metres, kp2d (T, 17, 2), conf (T, 17), camera (T, 4) fx, fy, cx, cy, at the T
        frames it was seen. Messages of several streams need `stream`; `stream="world"` gives the
        world ids' tracks (`Track.is_world`: views, reproj_px, single_view, tracks instead of 2D)."""
        from camerapose.runtime.files.tracks import group_tracks

        stream = self._stream(stream)
        return {t.id: t for t in group_tracks(self, stream)}

    def save(self, path: str | Path, fmt: str | None = None, world: bool = False,
             fps: float | None = None) -> list[Path]:
        """Write the run in any `camerapose convert` format (default: the path's suffix) -> the paths
        written. csv, jsonl, npz: every message into `path` (a CSV's world stream into
        `<stem>_world.csv`, docs/files.md). bvh, trc, c3d: one file per track,
        `<stem>_<stream>_id<id>.<fmt>` beside `path`, as convert names them. `world`: with the world
        stream, one file per world id in the calibration's frame (as `convert --world`); else the
        floor's axes (y up, floor at 0); `fps`: the motion files' rate (default: the messages' source
        rate)."""
        from camerapose.runtime.files import convert as cv
        from camerapose.runtime.files.tracks import check_gaps, group_tracks

        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt not in cv.FORMATS:
            raise InputError(f"{path}: cannot save as {fmt!r} (choose {', '.join(cv.FORMATS)})")
        if not path.parent.is_dir():
            raise InputError(f"{path}: folder {path.parent} does not exist")
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise InputError(f"save: fps must be a positive number, got {fps}")
        if fmt in cv.MESSAGE_FORMATS and not world:
            from camerapose.runtime.files.csv import CsvWriter
            from camerapose.runtime.files.save import open_writer

            with open_writer(path, fmt) as w:
                for msg in self:
                    w.write(msg)
            side = w.world.path if isinstance(w, CsvWriter) and w.world is not None else None
            return [path] if side is None else [path, side]
        if fmt == "c3d":
            from camerapose.runtime.files.c3d import require_ezc3d

            require_ezc3d()
        tracks = group_tracks(self)
        if not tracks:
            raise InputError(f"{path}: {len(self)} message(s) but nobody in them: nothing to save")
        tracks = cv.select_tracks(tracks, world, None, str(path))
        if fmt in cv.MOTION_FORMATS:
            for track in tracks:
                check_gaps(track)
        written = []
        for s in sorted({t.stream for t in tracks}):
            mine = [t for t in tracks if t.stream == s]
            axes = cv.stream_axes(s, mine, fmt, world)
            for track in mine:
                out = path.parent / cv.output_name(path, track, fmt)
                cv.write_track(track, fmt, out, axes, cv.axes_name(track, world), fps)
                written.append(out)
        return written

    def _stream(self, stream: str | None) -> str | None:
        streams = sorted({m["stream"] for m in self})
        if stream is None and len(streams) > 1:
            raise InputError(f"tracks: messages of {len(streams)} streams ({', '.join(streams)}): "
                             "give stream=")
        return stream
