"""Bring-your-own ONNX keypoint models: top-down SimCC / heatmap heads, or one-stage YOLO-pose.

The layout is chosen in `OnnxModelConfig` (see `camerapose.runtime.detect.base`); the model runs on
any runner of the engines interface (onnxruntime here, TensorRT on a Jetson), one batched call per
`detect` for all persons of all frames. Decoding is pure and tested on small generated models:

- simcc: outputs (B, K, W*r), (B, K, H*r) -> argmax / r in input pixels; confidence = the smaller
  of the two maxima (clipped to [0, 1]), as RTMPose does.
- heatmap: output (B, K, h, w) -> argmax, moved a quarter cell towards the higher neighbour,
  times the stride (input / heatmap); confidence = the maximum (clipped to [0, 1]).
- yolo_pose: output (B, 5 + 3K, N) or (B, N, 5 + 3K): rows cx, cy, w, h, score, then x, y, conf
  per keypoint, in letterboxed input pixels -> score threshold, NMS, back to frame pixels.

Top-down person boxes come from the BlazePose SSD detector (every `detect_every` frames, in the
background by default: `person_search`) and, between searches, from each track's last keypoints;
or the whole frame ("full_frame").
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from camerapose.core.errors import InputError, ModelError
from camerapose.core.shapes import check_shape
from camerapose.core.skeleton import JOINT_MAPS, to_h36m
from camerapose.engines.runner import OnnxRuntimeRunner, Runner
from camerapose.runtime.detect import roi as roi_mod
from camerapose.runtime.detect import ssd
from camerapose.runtime.detect.base import Detector, DetectorConfig, OnnxModelConfig, model_path
from camerapose.runtime.detect.tracker import Observation, pose_box

log = logging.getLogger(__name__)


# -- pure decoding ---------------------------------------------------------------------------------

def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """SimCC outputs -> keypoints (B, K, 2) in input pixels and confidence (B, K) in [0, 1]."""
    dims = check_shape("simcc_x", simcc_x, ("B", "K", "X"))
    check_shape("simcc_y", simcc_y, ("B", "K", "Y"), dims)
    x = simcc_x.argmax(-1) / split_ratio
    y = simcc_y.argmax(-1) / split_ratio
    conf = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    return np.stack([x, y], -1).astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


def decode_heatmap(heatmaps: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (B, K, h, w) -> keypoints (B, K, 2) in input pixels (w, h = input_size), conf (B, K).

    A cell i stands for input pixel i * stride (the MSRA/mmpose convention); the peak moves a
    quarter cell towards its higher neighbour on each axis.
    """
    check_shape("heatmaps", heatmaps, ("B", "K", "h", "w"))
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, -1)
    idx = flat.argmax(-1)
    conf = flat.max(-1)
    py, px = np.divmod(idx, w)
    hm = heatmaps.reshape(b * k, h, w)
    fx, fy = px.reshape(-1).astype(np.float64), py.reshape(-1).astype(np.float64)
    rows = np.arange(b * k)
    ix, iy = px.reshape(-1), py.reshape(-1)
    inner_x = (ix > 0) & (ix < w - 1)
    inner_y = (iy > 0) & (iy < h - 1)
    dx = hm[rows, iy, np.clip(ix + 1, 0, w - 1)] - hm[rows, iy, np.clip(ix - 1, 0, w - 1)]
    dy = hm[rows, np.clip(iy + 1, 0, h - 1), ix] - hm[rows, np.clip(iy - 1, 0, h - 1), ix]
    fx += np.where(inner_x, 0.25 * np.sign(dx), 0.0)
    fy += np.where(inner_y, 0.25 * np.sign(dy), 0.0)
    stride = np.array([input_size[0] / w, input_size[1] / h])
    xy = np.stack([fx, fy], -1).reshape(b, k, 2) * stride
    return xy.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


def decode_yolo_pose(out: np.ndarray, num_keypoints: int, min_score: float, nms_iou: float,
                     max_persons: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image's YOLO-pose output (5+3K, N) or (N, 5+3K) -> persons after NMS, input pixels.

    -> boxes (M, 4) x0, y0, x1, y1; scores (M,); keypoints (M, K, 2); confidence (M, K).
    """
    width = 5 + 3 * num_keypoints
    if out.ndim != 2 or width not in out.shape:
        raise ModelError(f"yolo_pose: expected an output (5+3K={width}, N) or (N, {width}), got {out.shape}")
    rows = out if out.shape[1] == width and out.shape[0] != width else out.T
    rows = rows[rows[:, 4] >= min_score]
    cxcy, wh = rows[:, 0:2], rows[:, 2:4]
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], -1)
    keep = ssd.nms(boxes, rows[:, 4], nms_iou, max_persons)
    kp = rows[keep, 5:].reshape(-1, num_keypoints, 3)
    return (boxes[keep].astype(np.float32), rows[keep, 4].astype(np.float32),
            kp[..., :2].astype(np.float32), np.clip(kp[..., 2], 0, 1).astype(np.float32))


def add_new_persons(tracked: list[np.ndarray], found: list[np.ndarray], aspect: float,
                    max_persons: int) -> list[np.ndarray]:
    """The boxes (4,) of `found` that frame someone not in `tracked` (nor in an earlier found box),
    up to max_persons in all: the BlazePose backend's rule (`roi.same_person`, centres closer than
    0.4 of a side), not box IoU, which calls a person's tight and loose boxes two people."""
    kept: list[np.ndarray] = []
    for b in found:
        if len(tracked) + len(kept) >= max_persons:
            break
        known = [*tracked, *kept]
        if known and roi_mod.same_person(box_to_roi(b[None], aspect, 1.0)[0],
                                         box_to_roi(np.stack(known), aspect, 1.0)).any():
            continue
        kept.append(b)
    return kept


def box_to_roi(boxes: np.ndarray, aspect: float, padding: float) -> np.ndarray:
    """Person boxes (N, 4) -> upright ROIs (N, 5) with the model's aspect (w / h), enlarged."""
    check_shape("boxes", boxes, ("N", 4))
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    w = (boxes[:, 2] - boxes[:, 0]) * padding
    h = (boxes[:, 3] - boxes[:, 1]) * padding
    w, h = np.maximum(w, h * aspect), np.maximum(h, w / aspect)
    return np.column_stack([c, w, h, np.zeros(len(boxes))]).astype(np.float32)


# -- the backend -----------------------------------------------------------------------------------

class OnnxKeypointDetector(Detector):
    """The "onnx" backend: your keypoint model on any engines Runner, batched over persons."""

    STREAM_STATE = (*Detector.STREAM_STATE, "_boxes", "_frames")

    def __init__(self, cfg: DetectorConfig, runner: Runner | None = None) -> None:
        super().__init__(cfg)
        m = cfg.onnx
        if m.keypoint_format not in JOINT_MAPS:
            raise InputError(f"onnx keypoint_format {m.keypoint_format!r} unknown; "
                             f"known: {sorted(JOINT_MAPS)}")
        self.model_cfg: OnnxModelConfig = m
        self.num_keypoints = JOINT_MAPS[m.keypoint_format].num_source_joints
        if runner is None:
            if not m.model:
                raise InputError("the onnx backend needs a model: set [detector.onnx] model = PATH")
            runner = OnnxRuntimeRunner(model_path(m.model, "ONNX keypoint model"), threads=cfg.threads)
        self.runner = runner
        self.runner.activate()
        self._input = self._check_model()
        if m.layout != "yolo_pose" and m.person_boxes == "blazepose":
            from camerapose.runtime.detect.person_search import PersonSearch

            self.search = PersonSearch(cfg, background=cfg.person_search == "async")
        self._boxes: dict[str, dict[int, np.ndarray]] = {}
        self._frames: dict[str, int] = {}

    def _check_model(self) -> str:
        ins = self.runner.inputs
        if len(ins) != 1:
            raise ModelError(f"ONNX keypoint model: expected one image input, got {list(ins)}")
        name, spec = next(iter(ins.items()))
        w, h = self.model_cfg.input_size
        shape = spec.shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"ONNX keypoint model: input {spec.describe()} is not (B, 3, H, W)")
        for want, have in ((h, shape[2]), (w, shape[3])):
            if isinstance(have, int) and have != want:
                raise ModelError(f"ONNX keypoint model: input {spec.describe()} does not match "
                                 f"input_size (w, h) = {self.model_cfg.input_size}")
        outs = self.runner.outputs
        need = {"simcc": 2, "heatmap": 1, "yolo_pose": 1}[self.model_cfg.layout]
        if len(outs) < need:
            raise ModelError(f"ONNX keypoint model: layout {self.model_cfg.layout} needs {need} output(s), "
                             f"got {list(outs)}")
        return name

    def close(self) -> None:
        super().close()
        self.runner.deactivate()

    # -- preprocessing ---------------------------------------------------------------------------
    def _tensor(self, crops: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) uint8 BGR crops -> (N, 3, h, w) float32, normalised as configured."""
        m = self.model_cfg
        x = crops[..., ::-1] if m.channel_order == "rgb" else crops
        x = (x.astype(np.float32) - np.float32(m.mean)) / np.float32(m.std)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def _run(self, crops: np.ndarray) -> list[np.ndarray]:
        spec = self.runner.inputs[self._input]
        out = self.runner.infer({self._input: self._tensor(crops).astype(spec.dtype)})
        return list(out.values())

    # -- detection -----------------------------------------------------------------------------
    def _find(self, frames: list[np.ndarray], streams: list[str], timestamps: list[float], live: bool
              ) -> list[list[tuple[Observation, object]]]:
        if self.model_cfg.layout == "yolo_pose":
            return [self._one_stage(f) for f in frames]
        rois, hints = [], []
        for f, s in zip(frames, streams, strict=True):
            r, h = self._person_rois(f, s, live)
            rois.append(r)
            hints.append(h)
        return self._top_down(frames, rois, hints)

    def _person_rois(self, frame: np.ndarray, stream: str, live: bool) -> tuple[np.ndarray, list[int | None]]:
        """This frame's crops: each tracked person's last box, then persons the person search found
        (`detect_every` frames apart; `PersonSearch.step`). -> ROIs (M, 5) and their track ids."""
        m, h, w = self.model_cfg, frame.shape[0], frame.shape[1]
        aspect = m.input_size[0] / m.input_size[1]
        if m.person_boxes == "full_frame":
            return box_to_roi(np.array([[0, 0, w, h]], np.float32), aspect, 1.0), [None]
        tracked = self._boxes.get(stream, {})
        since = self._frames.get(stream, self.cfg.detect_every)  # frames since the last search began
        boxes = [tracked[i] for i in tracked][: self.cfg.max_persons]
        ids: list[int | None] = list(tracked)[: self.cfg.max_persons]
        due = not tracked or since + 1 >= self.cfg.detect_every
        kp, started = self.search.step(stream, frame, due, not tracked, live)
        for b in add_new_persons(boxes, person_boxes(kp) if kp is not None else [], aspect,
                                 self.cfg.max_persons):
            boxes.append(b)
            ids.append(None)
        self._frames[stream] = 0 if started else since + 1
        if not boxes:
            return np.zeros((0, 5), np.float32), []
        return box_to_roi(np.stack(boxes), aspect, m.box_padding), ids

    def _top_down(self, frames: list[np.ndarray], rois: list[np.ndarray], hints: list[list[int | None]]
                  ) -> list[list[tuple[Observation, object]]]:
        total = sum(len(r) for r in rois)
        if total == 0:
            return [[] for _ in frames]
        w, h = self.model_cfg.input_size
        mats = []
        crops = np.empty((total, h, w, 3), np.uint8)
        k = 0
        for f, r in zip(frames, rois, strict=True):
            m = roi_mod.crop_to_frame(r, (w, h))
            for i in range(len(r)):
                cv2.warpAffine(f, m[i], (w, h), dst=crops[k], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                k += 1
            mats.append(m)
        outs = self._run(crops)
        if self.model_cfg.layout == "simcc":
            xy, conf = decode_simcc(outs[0], outs[1], self.model_cfg.simcc_split_ratio)
        else:
            xy, conf = decode_heatmap(outs[0], self.model_cfg.input_size)
        if xy.shape[1] != self.num_keypoints:
            raise ModelError(f"ONNX keypoint model gives {xy.shape[1]} keypoints; keypoint_format "
                             f"{self.model_cfg.keypoint_format} has {self.num_keypoints}")
        frame_xy = roi_mod.apply_affine(np.concatenate(mats), xy.astype(np.float64))
        result, k = [], 0
        for m, hint in zip(mats, hints, strict=True):
            sl = slice(k, k + len(m))
            k += len(m)
            result.append(self._observations(frame_xy[sl], conf[sl], conf[sl].mean(-1), hint))
        return result

    def _one_stage(self, frame: np.ndarray) -> list[tuple[Observation, object]]:
        w, h = self.model_cfg.input_size
        side = max(w, h)
        mat = roi_mod.letterbox(frame.shape[1], frame.shape[0], side)
        crop = roi_mod.warp_crops(frame, mat[None], side)
        if (w, h) != (side, side):
            raise ModelError(f"yolo_pose: input_size must be square, got {self.model_cfg.input_size}")
        out = self._run(crop)[0]
        if out.ndim != 3 or out.shape[0] != 1:
            raise ModelError(f"yolo_pose: expected an output of shape (1, 5+3K, N), got {out.shape}")
        _, scores, kp, conf = decode_yolo_pose(out[0], self.num_keypoints, self.model_cfg.min_score,
                                               self.model_cfg.nms_iou, self.cfg.max_persons)
        xy = roi_mod.apply_affine(np.repeat(mat[None], len(scores), 0), kp.astype(np.float64))
        return self._observations(xy, conf, scores, [None] * len(scores))

    def _observations(self, xy: np.ndarray, conf: np.ndarray, scores: np.ndarray, hints: list[int | None]
                      ) -> list[tuple[Observation, object]]:
        kp17, conf17 = to_h36m(xy.astype(np.float32), self.model_cfg.keypoint_format, conf)
        out = []
        for j in range(len(xy)):
            if conf[j].mean() < self.model_cfg.min_keypoint_score:
                continue
            box = pose_box(xy[j][conf[j] >= self.model_cfg.min_keypoint_score] if
                           (conf[j] >= self.model_cfg.min_keypoint_score).sum() >= 2 else xy[j])
            obs = Observation(kp17[j], conf17[j], box, float(scores[j]), hints[j])
            out.append((obs, box))
        return out

    def _remember(self, stream: str, track_id: int, extra: object) -> None:
        self._boxes.setdefault(stream, {})[track_id] = np.asarray(extra, np.float32)

    def _forget(self, stream: str) -> None:
        self._boxes[stream] = {}


def person_boxes(keypoints: np.ndarray) -> list[np.ndarray]:
    """The person detector's alignment keypoints (M, 4, 2) -> person boxes (4,) in pixels: the box
    around the body-circle ROI, its height kept and narrowed to about half (the circle is a square
    around the person)."""
    boxes = roi_mod.roi_box(roi_mod.roi_from_alignment(keypoints[:, 0], keypoints[:, 1], 1.0))
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    half = (boxes[:, 3] - boxes[:, 1]) / 4
    return list(np.column_stack([cx - half, boxes[:, 1], cx + half, boxes[:, 3]]).astype(np.float32))

