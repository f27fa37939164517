"""MediaPipe's own pose pipeline, the peer our suites compare against. A standalone script: it runs
inside a side venv (mediapipe 0.10.21 pins numpy<2), so it imports nothing of camerapose.

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe==0.10.21 opencv-python-headless
    PY=/tmp/mpvenv/bin/python
    $PY benchmarks/mediapipe_worker.py frames VIDEO 3,7,12      # per-frame timing, driven over stdin
    $PY benchmarks/mediapipe_worker.py live VIDEO LIMIT         # paced live run -> one JSON line
    $PY benchmarks/mediapipe_worker.py reference VIDEO FRAMES > tests/data/mediapipe_reference.json

`frames` (benchmarks/detector.py): decodes the listed frames, prints "ready", then answers each stdin
line: "reset" -> a fresh tracker ("ok"); a frame index -> "MS FOUND X0 Y0 ... X32 Y32" (pixels).
`live` (benchmarks/pipeline.py): a reader thread paces the video at its fps, newest frame wins,
and the pose graph takes what is newest; prints glass-to-output latencies, frames, drops.
`reference` (tests/runtime/test_detect_blazepose.py's parity data): landmarks of the first frames,
smoothing off, so the reference is the models' own output.
"""

import json
import sys
import threading
import time

import cv2  # mediapipe itself is imported where used: importing this file must not need it

FULL_MODEL = 1  # model_complexity 1 = pose_landmark_full, the landmark model CameraPose ships


def _pose(smooth: bool):
    import mediapipe as mp

    return mp.solutions.pose.Pose(static_image_mode=False, model_complexity=FULL_MODEL,
                                  smooth_landmarks=smooth, enable_segmentation=False)


def frames(video: str, wanted_text: str) -> None:
    wanted = sorted({int(i) for i in wanted_text.split(",")})
    cap, decoded, i = cv2.VideoCapture(video), {}, 0
    while i <= wanted[-1]:
        ok, f = cap.read()
        if not ok:
            break
        if i in wanted:
            decoded[i] = cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
        i += 1
    pose = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "reset":
            if pose is not None:
                pose.close()
            pose = _pose(smooth=True)
            print("ok", flush=True)
            continue
        rgb = decoded[int(cmd)]
        t0 = time.perf_counter()
        res = pose.process(rgb)
        ms = (time.perf_counter() - t0) * 1e3
        h, w = rgb.shape[:2]
        lms = res.pose_landmarks.landmark if res.pose_landmarks is not None else []
        xy = " ".join(f"{p.x * w:.2f} {p.y * h:.2f}" for p in lms)
        print(f"{ms:.4f} {int(bool(lms))} {xy}".strip(), flush=True)


def live(video: str, limit_text: str) -> None:
    limit = int(limit_text)
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    slot, cond, state = [None], threading.Condition(), {"done": False, "drops": 0}

    def reader() -> None:
        nxt, i = time.monotonic(), 0
        while i < limit:
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            nxt += 1.0 / fps
            ok, f = cap.read()
            if not ok:
                break
            with cond:
                state["drops"] += slot[0] is not None  # the older frame is replaced, never processed
                slot[0] = (time.monotonic(), f)
                cond.notify()
            i += 1
        with cond:
            state["done"] = True
            cond.notify()

    pose = _pose(smooth=True)
    pose.process(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB))  # warm up, then rewind
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    threading.Thread(target=reader, daemon=True).start()
    latency, t_first, t_last = [], None, None
    while True:
        with cond:
            while slot[0] is None and not state["done"]:
                cond.wait()
            if slot[0] is None:
                break
            t_grab, f = slot[0]
            slot[0] = None
        pose.process(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        now = time.monotonic()
        latency.append((now - t_grab) * 1e3)
        t_first, t_last = t_first or now, now
    print(json.dumps({"latency_ms": latency, "frames": len(latency), "dropped": state["drops"],
                      "seconds": (t_last - t_first) if latency else 0.0}))


def reference(video: str, count_text: str) -> None:
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        sys.exit(f"{video}: cannot open")
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = []
    with _pose(smooth=False) as pose:
        for _ in range(int(count_text)):
            ok, frame = cap.read()
            if not ok:
                break
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            lms = res.pose_landmarks.landmark if res.pose_landmarks is not None else None
            out.append(None if lms is None else {
                "xy": [[round(p.x * width, 1), round(p.y * height, 1)] for p in lms],
                "visibility": [round(p.visibility, 3) for p in lms],
            })
    import mediapipe as mp

    print(json.dumps({"source": f"mediapipe=={mp.__version__} mp.solutions.pose, model_complexity=1, "
                      "smooth_landmarks=False", "video": "demo.mp4 (sports2d==0.8.34)", "width": width,
                      "height": height, "joint_format": "blazepose33", "frames": out},
                     separators=(",", ":")))


MODES = {"frames": frames, "live": live, "reference": reference}

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in MODES:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(MODES)}}} VIDEO ARG")
    MODES[sys.argv[1]](sys.argv[2], sys.argv[3])
