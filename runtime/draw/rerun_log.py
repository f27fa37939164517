"""A rerun recording of a run (`run --rerun FILE.rrd`, `output.rerun`): per stream the frame, the 2D
skeletons on it, the 3D skeletons in the camera's frame and the estimated camera as a frustum, on
the source's time (timeline `media`, seconds) and frame index (timeline `frame`).

Entities, per stream S and track id N:
    S                       the camera: Pinhole (fx, fy, cx, cy, image size), axes x right, y down,
                            z forward (RDF), so the 3D below sits in front of it as published
    S/image                 the frame (JPEG), and S/image/skeleton/N its 2D bones (LineStrips2D)
    S/persons/N/joints      kp3d (Points3D, metres), S/persons/N/bones its bones (LineStrips3D)

The world stream (`run --calibration`: no image) in a space of its own, `world`, with the
calibration's axes (its up axis from the cameras, `files.ground.world_up`: Qualisys is z up):
    world/cameras/NAME      each calibrated camera: Transform3D (camera -> world) and Pinhole (K,
                            image size), as calibrated; logged once
    world/persons/N/joints  kp3d of world id N (Points3D, metres), world/persons/N/bones its bones;
                            an id no longer there is cleared
Needs the rerun-sdk package (the `rerun` extra); the file opens in the rerun viewer (`rerun FILE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camerapose.core.errors import InputError
from camerapose.core.skeleton import BONES

_BONES = np.array(BONES)  # (16, 2) parent, child


def _rerun() -> Any:
    try:
        import rerun
    except ImportError:
        raise InputError("--rerun needs the rerun-sdk package: pip install 'camerapose[rerun]'") from None
    return rerun


def bone_strips(joints: np.ndarray) -> np.ndarray:
    """The bones of a skeleton as segments. (17, D) -> (16, 2, D)."""
    return np.stack([joints[_BONES[:, 0]], joints[_BONES[:, 1]]], axis=1)


class RerunLog:
    """`add(msg, frame)` per published message (decoded, docs/schema.md) and its BGR frame, then
    `close()`."""

    def __init__(self, path: str | Path, jpeg_quality: int = 80) -> None:
        rr = _rerun()  # its folder is checked by the caller (`video.check_folder`)
        self.rr, self.path, self.quality = rr, Path(path), jpeg_quality
        self.rec = rr.RecordingStream("camerapose")
        self.rec.save(str(self.path))
        self.streams: set[str] = set()
        self.world_ids: set[int] | None = None  # the world ids on show; None: no world message yet

    def add(self, msg: dict[str, Any], frame: np.ndarray) -> None:
        rr, rec, s = self.rr, self.rec, msg["stream"]
        rec.set_time("frame", sequence=int(msg["frame"]))
        rec.set_time("media", duration=float(msg.get("t_media", msg["frame"] / 30.0)))
        if s not in self.streams:
            self.streams.add(s)
            rec.log(s, rr.ViewCoordinates.RDF, static=True)
        h, w = frame.shape[:2]
        cam = msg["persons"][0]["camera"] if msg["persons"] else None
        if cam is not None:  # the stream's camera, as the persons were placed with it
            rec.log(s, rr.Pinhole(focal_length=[cam["fx"], cam["fy"]], principal_point=[cam["cx"], cam["cy"]],
                                  resolution=[w, h], camera_xyz=rr.ViewCoordinates.RDF))
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if ok:
            rec.log(f"{s}/image", rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))
        for p in msg["persons"]:
            n = int(p["id"])
            rec.log(f"{s}/image/skeleton/{n}", rr.LineStrips2D(bone_strips(np.asarray(p["kp2d"]))))
            kp3d = np.asarray(p["kp3d"], dtype=np.float32)
            rec.log(f"{s}/persons/{n}/joints", rr.Points3D(kp3d, radii=0.02))
            rec.log(f"{s}/persons/{n}/bones", rr.LineStrips3D(bone_strips(kp3d)))

    def add_world(self, msg: dict[str, Any]) -> None:
        """One message of the world stream (decoded, `schema.is_world`): its persons in the world
        space, and the cameras with the first message."""
        rr, rec = self.rr, self.rec
        rec.set_time("frame", sequence=int(msg["frame"]))
        rec.set_time("media", duration=float(msg.get("t_media", msg["frame"] / 30.0)))
        if self.world_ids is None:
            self.world_ids = set()
            self._world_frame(msg)
        ids = {int(p["id"]) for p in msg["persons"]}
        for gone in sorted(self.world_ids - ids):
            rec.log(f"world/persons/{gone}", rr.Clear(recursive=True))
        self.world_ids = ids
        for p in msg["persons"]:
            kp3d = np.asarray(p["kp3d"], dtype=np.float32)
            rec.log(f"world/persons/{int(p['id'])}/joints", rr.Points3D(kp3d, radii=0.02))
            rec.log(f"world/persons/{int(p['id'])}/bones", rr.LineStrips3D(bone_strips(kp3d)))

    def _world_frame(self, msg: dict[str, Any]) -> None:
        """The world space's axes and its cameras (static: they do not move)."""
        from camerapose.runtime.files.ground import world_up

        rr, rec = self.rr, self.rec
        axis, sign = world_up(msg["cameras"])
        coords = getattr(rr.ViewCoordinates, f"RIGHT_HAND_{'XYZ'[axis]}_{'UP' if sign > 0 else 'DOWN'}")
        rec.log("world", coords, static=True)
        for c in msg["cameras"]:
            R, t = np.asarray(c["R"], np.float64), np.asarray(c["t"], np.float64)
            fx, fy, cx, cy = (float(v) for v in c["K"])
            path = f"world/cameras/{c['name']}"
            rec.log(path, rr.Transform3D(translation=-R.T @ t, mat3x3=R.T), static=True)
            w, h = c["size"] if all(c["size"]) else (round(2 * cx), round(2 * cy))
            pinhole = rr.Pinhole(focal_length=[fx, fy], principal_point=[cx, cy], resolution=[w, h],
                                 camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=0.5)
            rec.log(path, pinhole, static=True)

    def close(self) -> None:
        self.rec.flush()
