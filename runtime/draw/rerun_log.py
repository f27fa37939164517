"""A rerun recording of a run (`run --rerun FILE.rrd`, `output.rerun`): per stream the frame, the 2D
skeletons on it, the 3D skeletons in the camera's frame and the estimated camera as a frustum, on
the source's time (timeline `media`, seconds) and frame index (timeline `frame`).

Entities, per stream S and track id N:
    S                       the camera: Pinhole (fx, fy, cx, cy, image size), axes x right, y down,
                            z forward (RDF), so the 3D below sits in front of it as published
    S/image                 the frame (JPEG), and S/image/skeleton/N its 2D bones (LineStrips2D)
    S/persons/N/joints      kp3d (Points3D, metres), S/persons/N/bones its bones (LineStrips3D)
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

    def close(self) -> None:
        self.rec.flush()
