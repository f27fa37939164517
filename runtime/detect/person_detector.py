"""BlazePose's person detector (`pose_detection.tflite`, an SSD) on ai-edge-litert.

`PersonDetector(batch)`: 224x224 RGB views in [-1, 1], one call per view (this graph cannot batch,
see there), SSD decoding + weighted NMS, boxes and the 4 alignment keypoints (0 hip centre, 1 a
point above the head giving the body radius, 2 shoulder centre, 3 upper-body radius point).
`PersonDetector.find(frames)`: the views of each frame (`detector_views`: the whole frame
letterboxed, plus square tiles of a wide frame, where people look 1.8x larger) and one detection
per person. The runtime runs it on a worker thread beside tracking (`person_search.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camerapose.engines.triton_runner import TritonTarget
from camerapose.runtime.detect import roi as roi_mod
from camerapose.runtime.detect import ssd
from camerapose.runtime.detect.networks import open_network, to_rgb_float

DETECTOR_SIZE = 224


@dataclass(frozen=True)
class PersonBoxes:
    """Persons found in one frame, by descending score; all in the detector's normalised input."""

    boxes: np.ndarray  # (M, 4) x0, y0, x1, y1
    scores: np.ndarray  # (M,)
    keypoints: np.ndarray  # (M, 4, 2)


class PersonDetector:
    """BlazePose's SSD person detector: (B, 224, 224, 3) float32 RGB in [-1, 1] -> detections."""

    def __init__(self, path: Path, threads: int = 2, min_score: float = 0.5, nms_iou: float = 0.3,
                 onnx: str | Path = "", runtime: str = "litert", triton: TritonTarget | None = None) -> None:
        """path: the .tflite; onnx: its ONNX copy; runtime: `detector.backend_runtime`; triton: the
        server and model with runtime "triton" (`DetectorConfig.triton_target`)."""
        self.anchors = ssd.generate_anchors(ssd.AnchorConfig())
        n = self.anchors.shape[0]
        # The .tflite graph concatenates its heads after flattening the batch into the anchor axis (a
        # batch of B gives (1, B*2254, 12)), so LiteRT runs one view per call; the ONNX copy's
        # reshapes were patched to keep the batch, so all views of a frame are one call there (and in
        # one request to a Triton server that serves it).
        self._model = open_network(str(path), str(onnx), runtime, threads, "BlazePose detector model",
                                   (DETECTOR_SIZE, DETECTOR_SIZE, 3),
                                   {"Identity": (n, 12), "Identity_1": (n, 1)}, litert_max_batch=1,
                                   triton=triton)
        self.min_score = min_score
        self.nms_iou = nms_iou

    @property
    def backend(self) -> str:
        return self._model.backend

    def close(self) -> None:
        self._model.close()

    def __call__(self, batch: np.ndarray, max_persons: int) -> list[PersonBoxes]:
        out = self._model(batch)
        return [self.postprocess(raw, logits, max_persons)
                for raw, logits in zip(out["Identity"], out["Identity_1"], strict=True)]

    def find(self, frames: list[np.ndarray], max_persons: int, tiles: str = "off"
             ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Persons in BGR frames, each seen whole and, per `tiles`, in square tiles (`detector_views`).

        -> per frame: alignment keypoints (M, 4, 2) in frame pixels and scores (M,) (`locate`).
        """
        out = []
        for f in frames:
            maps = detector_views(f.shape[1], f.shape[0], tiles)
            out.append(self.locate(maps, roi_mod.warp_crops(f, maps, DETECTOR_SIZE), max_persons))
        return out

    def locate(self, maps: np.ndarray, crops: np.ndarray, max_persons: int) -> tuple[np.ndarray, np.ndarray]:
        """Persons in the views of one frame: crop -> frame maps (V, 2, 3) and the 224x224 BGR views
        (V, 224, 224, 3) uint8 (turned to RGB in place).

        -> alignment keypoints (M, 4, 2) float32 in frame pixels and scores (M,); one person seen in
        several views is kept once: from a tile when a tile saw them (the finer view places the hip
        and the body radius better: whole-frame ROIs of the same person run up to 1.4x larger and
        fail the landmark model more often), else from the whole frame. Tile detections come
        first, each group by descending score.
        """
        dets = self(to_rgb_float(crops, 2.0 / 255.0, -1.0), max_persons)  # RGB in [-1, 1]
        kp = np.concatenate([_to_frame(m, d.keypoints) for m, d in zip(maps, dets, strict=True)])
        sc = np.concatenate([d.scores for d in dets])
        rank = sc + np.repeat(np.arange(len(maps)) > 0, [len(d.scores) for d in dets])  # tiles first
        keep = roi_mod.distinct_persons(roi_mod.roi_from_alignment(kp[:, 0], kp[:, 1]), rank, max_persons)
        return kp[keep].astype(np.float32), sc[keep]

    def postprocess(self, raw: np.ndarray, logits: np.ndarray, max_persons: int) -> PersonBoxes:
        """raw (2254, 12), logits (2254, 1) of one image -> PersonBoxes after weighted NMS."""
        scores = ssd.sigmoid_scores(logits)
        keep = scores >= self.min_score
        boxes, kps = ssd.decode(raw[keep], self.anchors[keep], 4, (DETECTOR_SIZE, DETECTOR_SIZE))
        b, s, k = ssd.weighted_nms(boxes, scores[keep], kps, self.nms_iou, max_persons)
        return PersonBoxes(b, s, k)


def _to_frame(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Normalised detector points (N, K, 2) through its crop -> frame map m (2, 3). -> (N, K, 2) px."""
    return roi_mod.apply_affine(np.repeat(m[None], len(points), 0), points * DETECTOR_SIZE)


# Tiling pays from this aspect ratio on: at 16:9 tiles show people 1.8x larger than the letterbox
# (on the demo video the detector then finds both people on 76 of 126 frames instead of 4); at 4:3
# only 1.33x, for 3x the detector time.
AUTO_TILE_ASPECT = 1.5


def detector_views(width: int, height: int, tiles: str = "auto") -> np.ndarray:
    """The detector's views of a frame: the whole frame letterboxed, then (unless `tiles` is "off",
    or "auto" on a frame narrower than AUTO_TILE_ASPECT) square tiles of its short side that overlap
    by at least half a side (`roi.square_tiles`). -> (V, 2, 3) crop -> frame maps of 224x224 crops.
    """
    full = roi_mod.letterbox(width, height, DETECTOR_SIZE)[None]
    aspect = max(width, height) / max(min(width, height), 1)
    if tiles == "off" or aspect <= 1.0 or (tiles == "auto" and aspect < AUTO_TILE_ASPECT):
        return full
    return np.concatenate([full, roi_mod.crop_to_frame(roi_mod.square_tiles(width, height), DETECTOR_SIZE)])
