"""The detector suite's runtime comparison: BlazePose's networks on LiteRT against onnxruntime (and
TensorRT where it runs), on the same frames, interleaved.

Two measurements, each runtime in turn on every step so they share the machine's load:
- the networks alone: the landmark model on 1, 2 and 4 real person-sized crops of the demo in one
  call, and the person detector on the 1 or 4 views of a frame (`detector_views`: the whole frame,
  plus tiles of a wide frame), p50/p95 per call;
- the whole 2D stage: `detect` offline on the demo's 2-person window with each runtime, per-frame
  p50/p95, and how far each runtime's 2D lands from LiteRT's (median joint distance in pixels over
  the persons both found, matched by id), and whether the same persons were found.
A runtime that cannot run here (no ONNX in the cache, no GPU) is reported with its reason.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from camerapose.benchmarks.report import Report, latency_stats
from camerapose.core.errors import CameraPoseError

log = logging.getLogger(__name__)

RUNTIMES = ("litert", "onnxruntime", "tensorrt")
CROPS = (1, 2, 4)


def open_detectors(runtimes: tuple[str, ...] = RUNTIMES
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Per runtime that can run here: a BlazePose detector (the whole 2D stage) and a person detector
    (the SSD alone). -> ({runtime: detector}, {runtime: person detector}, {runtime: why not})."""
    from camerapose.runtime.detect.base import DetectorConfig, model_path
    from camerapose.runtime.detect.person_detector import PersonDetector
    from camerapose.runtime.detect.registry import create_detector

    dets, ssds, skipped = {}, {}, {}
    for rt in runtimes:
        cfg = DetectorConfig(backend_runtime=rt, person_search="sync")
        try:
            dets[rt] = create_detector(cfg)
            ssds[rt] = PersonDetector(model_path(cfg.detector_model, "BlazePose detector model"), cfg.threads,
                                      onnx=cfg.detector_onnx, runtime=rt)
        except CameraPoseError as err:
            skipped[rt] = str(err).splitlines()[0]
            log.info("detector runtimes: %s skipped: %s", rt, skipped[rt])
            if rt in dets:
                dets.pop(rt).close()
    return dets, ssds, skipped


def network_latency(dets: dict[str, Any], ssds: dict[str, Any], frame: np.ndarray, reps: int
                    ) -> dict[str, dict[str, dict]]:
    """Each network alone on each runtime, interleaved. -> {call: {runtime: latency stats}}."""
    from camerapose.runtime.detect import roi as roi_mod
    from camerapose.runtime.detect.networks import to_rgb_float
    from camerapose.runtime.detect.person_detector import DETECTOR_SIZE, detector_views

    h, w = frame.shape[:2]
    side = min(h, w) // 2  # person-sized upright squares along the frame's middle
    rois = np.array([[x, h / 2, side, side, 0.0] for x in np.linspace(side / 2, w - side / 2, max(CROPS))])
    crops = to_rgb_float(roi_mod.warp_crops(frame, roi_mod.crop_to_frame(rois, 256), 256), 1 / 255, 0)
    det_in = to_rgb_float(roi_mod.warp_crops(frame, detector_views(w, h, "on"), DETECTOR_SIZE), 2 / 255, -1)
    calls = {f"landmark model, {n} crop{'s' * (n > 1)}": (lambda rt, x=crops[:n]: dets[rt].landmark_model(x))
             for n in CROPS}
    calls.update({f"person detector, {n} view{'s' * (n > 1)}": (lambda rt, x=det_in[:n]: ssds[rt](x, 4))
                  for n in sorted({1, len(det_in)})})
    samples: dict[str, dict[str, list[float]]] = {c: {rt: [] for rt in dets} for c in calls}
    for rep in range(reps + 2):  # 2 warm-up rounds (first calls allocate, TensorRT binds shapes)
        for call, fn in calls.items():
            for rt in dets:
                t0 = time.perf_counter()
                fn(rt)
                if rep >= 2:
                    samples[call][rt].append((time.perf_counter() - t0) * 1e3)
    return {c: {rt: latency_stats(v) for rt, v in by.items()} for c, by in samples.items()}


def stage_latency(dets: dict[str, Any], frames: dict[int, np.ndarray], window: range, lead: range
                  ) -> tuple[dict[str, dict], dict[str, dict]]:
    """`detect` offline on every frame of `window` (after an untimed `lead`) per runtime, interleaved.
    -> ({runtime: latency stats}, {runtime: agreement with LiteRT})."""
    for det in dets.values():
        for i in lead:
            det.detect([frames[i]], [i / 30.0])
    times: dict[str, list[float]] = {rt: [] for rt in dets}
    poses: dict[str, list[dict[int, np.ndarray]]] = {rt: [] for rt in dets}
    for i in window:
        for rt, det in dets.items():
            t0 = time.perf_counter()
            persons = det.detect([frames[i]], [i / 30.0])[0]
            times[rt].append((time.perf_counter() - t0) * 1e3)
            poses[rt].append({p.id: np.asarray(p.kp2d, np.float64) for p in persons})
    return {rt: latency_stats(v) for rt, v in times.items()}, agreement(poses)


def agreement(poses: dict[str, list[dict[int, np.ndarray]]]) -> dict[str, dict]:
    """Each runtime's 2D against LiteRT's, frame by frame: persons matched by id. -> {runtime: {"median_px",
    "p95_px", "max_px", "frames_same_persons", "frames"}}."""
    if "litert" not in poses:
        return {}
    out = {}
    for rt, seq in poses.items():
        if rt == "litert":
            continue
        dist, same = [], 0
        for ref, got in zip(poses["litert"], seq, strict=True):
            same += set(ref) == set(got)
            for tid in set(ref) & set(got):
                dist.extend(np.linalg.norm(ref[tid] - got[tid], axis=-1).tolist())
        d = np.asarray(dist) if dist else np.full(1, np.nan)
        out[rt] = {"median_px": float(np.median(d)), "p95_px": float(np.quantile(d, 0.95)),
                   "max_px": float(d.max()), "frames_same_persons": same, "frames": len(seq)}
    return out


def measure(frames: dict[int, np.ndarray], window: range, lead: range, quick: bool) -> dict[str, Any]:
    """Everything the report's runtime section shows."""
    dets, ssds, skipped = open_detectors()
    try:
        nets = network_latency(dets, ssds, frames[window.start], 5 if quick else 40)
        stage, agree = stage_latency(dets, frames, window, lead)
    finally:
        for det in [*dets.values(), *ssds.values()]:
            det.close()
    return {"runtimes": list(dets), "skipped": skipped, "networks": nets, "stage": stage,
            "agreement": agree, "window": [window.start, window.stop - 1]}


def add_to_report(rep: Report, res: dict[str, Any]) -> None:
    w = res["window"]
    trt = " vs TensorRT" if "tensorrt" in res["runtimes"] else ""
    title = (f"Runtimes: BlazePose's networks on LiteRT vs onnxruntime{trt} on the same inputs (ms; "
             "interleaved; `detector.backend_runtime`)")
    rows = [[call, rt, s["n"], s["p50"], s["p95"]]
            for call, by in res["networks"].items() for rt, s in by.items()]
    rows += [[f"whole 2D stage, frames {w[0]}-{w[1]} (offline)", rt, s["n"], s["p50"], s["p95"]]
             for rt, s in res["stage"].items()]
    rows += [["(not run)", rt, why, "", ""] for rt, why in res["skipped"].items()]
    rep.add_table(title, ["call", "runtime", "calls", "p50", "p95"], rows)
    if res["agreement"]:
        rep.add_table("2D of each runtime against LiteRT's, same frames (persons matched by id; px)",
                      ["runtime", "median px", "p95 px", "max px", "frames with the same persons"],
                      [[rt, a["median_px"], a["p95_px"], a["max_px"], f"{a['frames_same_persons']} of "
                        f"{a['frames']}"] for rt, a in res["agreement"].items()])
    rep.data["runtimes"] = res

