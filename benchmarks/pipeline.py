"""Pipeline benchmark: the whole runtime in LIVE mode on the demo video, beside MediaPipe's own pipeline.

    camerapose bench --suite pipeline
    -> benchmarks/results/pipeline.md, pipeline.json, pipeline_latency.png (per frame),
       pipeline_stage_cdf.png (latency CDF per stage), pipeline_fps.png (fps and CPU over time)

`camerapose run --source demo.mp4` (live: the file is paced at its 30 fps, newest frame wins) with
the default model on the auto backend (onnxruntime on a CPU machine), read by a subscriber in this
process. Reported: sustained fps processed (published messages / time from first to last), frames
dropped (of the 230), glass-to-publish latency (`t_publish - t_capture`, both CLOCK_MONOTONIC)
p50/p95/p99, glass-to-subscriber (this process's receive time), every stage's time from the
message `timings`, and the CPU share and resident memory of every runtime process (supervisor,
capture, detect, lift, publish), sampled every 0.25 s from /proc (psutil where there is no /proc)
while messages flowed, so model loading is not counted. Quick mode runs a 2-second clip.

A second run follows one person (`--set detector.max_persons=1`): MediaPipe's workload, for a
like-for-like comparison (the default follows everyone, two people on the demo).

MediaPipe's own pipeline (`mp.solutions.pose`, model_complexity=1: the same BlazePose models, one
person by design, 2D + its own world landmarks, no camera, no transport) runs the same video the
same way: a thread paces frames at 30 fps keeping only the newest, the main loop processes;
latency = result time - capture time. MediaPipe pins numpy<2, so it runs in a side virtual
environment (CAMERAPOSE_MEDIAPIPE_PYTHON, default /tmp/mpvenv/bin/python) and is reported as
"not installed" without it. Targets: p50 glass-to-publish < 50 ms with two persons and
>= 20 fps on 2 cores.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from camerapose.benchmarks import mediapipe_peer, procs
from camerapose.benchmarks.report import (
    RESULTS_DIR,
    Report,
    free_port,
    latency_stats,
    pyplot,
    stats_cells,
)
from camerapose.core.errors import CameraPoseError, ModelError
from camerapose.runtime.protocol import LATENCY_ORDER

log = logging.getLogger(__name__)
STAGES = LATENCY_ORDER  # the message timings, in pipeline order
SAMPLE_EVERY_S = 0.25
ONE_PERSON = ("detector.max_persons=1",)  # MediaPipe's workload: its solution follows one person
QUICK_CLIP = (70, 130)  # quick mode: frames of the video cut into a 2-second clip (both people in view)

class ProcSampler:
    """CPU seconds and RSS of the runtime's processes (the supervisor and its stage children), sampled
    from a thread every `every` s. samples: (t monotonic, name, pid, cpu s, rss MB).

    /proc on Linux; psutil elsewhere when installed; else no samples (`how` says why)."""

    def __init__(self, root: int, every: float = SAMPLE_EVERY_S) -> None:
        self.root, self.every = root, every
        self.samples: list[tuple[float, str, int, float, float]] = []
        self.how = "/proc" if procs.has_proc() else "psutil" if _have_psutil() else ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProcSampler:
        if self.how:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        procs = {self.root: "supervisor", **self._stages()}
        for pid, name in procs.items():
            got = self._read(pid)
            if got is not None:
                self.samples.append((now, name, pid, *got))

    def _stages(self) -> dict[int, str]:
        """Children of the supervisor by stage name (from `python -m camerapose.runtime.stages NAME`)."""
        if self.how == "psutil":
            import psutil

            try:
                kids = [(c.pid, c.cmdline()) for c in psutil.Process(self.root).children()]
            except psutil.Error:
                return {}
        else:
            kids = [(pid, procs.cmdline(pid)) for pid in procs.children(self.root)]
        out = {}
        for pid, argv in kids:
            if "camerapose.runtime.stages" in argv:
                i = argv.index("camerapose.runtime.stages")
                out[pid] = argv[i + 1] if i + 1 < len(argv) else "stage"
        return out

    def _read(self, pid: int) -> tuple[float, float] | None:
        """(CPU seconds used so far, RSS MB) of one process, None once it is gone."""
        if self.how == "psutil":
            import psutil

            try:
                p = psutil.Process(pid)
                t = p.cpu_times()
                return t.user + t.system, p.memory_info().rss / 2**20
            except psutil.Error:
                return None
        return procs.cpu_rss(pid)

    def summary(self, t0: float, t1: float) -> dict[str, dict[str, float]]:
        """Per process over [t0, t1]: mean CPU % (of one core), p50/p95 of the per-interval CPU %,
        median and peak RSS MB."""
        by: dict[tuple[str, int], list[tuple[float, float, float]]] = defaultdict(list)
        for t, name, pid, cpu, rss in self.samples:
            if t0 <= t <= t1:
                by[(name, pid)].append((t, cpu, rss))
        out: dict[str, dict[str, float]] = {}
        for (name, pid), rows in sorted(by.items(), key=lambda kv: (_rank(kv[0][0]), kv[0][0])):
            if len(rows) < 2:
                continue
            t, cpu, rss = (np.array(c) for c in zip(*rows, strict=True))
            pct = np.diff(cpu) / np.diff(t) * 100
            key = name if name not in out else f"{name} (pid {pid})"  # a restarted stage
            out[key] = {"pid": pid, "cpu_pct_mean": float((cpu[-1] - cpu[0]) / (t[-1] - t[0]) * 100),
                        "cpu_pct_p50": float(np.percentile(pct, 50)),
                        "cpu_pct_p95": float(np.percentile(pct, 95)),
                        "rss_mb_p50": float(np.median(rss)), "rss_mb_peak": float(rss.max())}
        return out

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """name -> (t, CPU % over each sampling interval), for the plot."""
        by: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for t, name, _, cpu, _ in self.samples:
            by[name].append((t, cpu))
        out = {}
        for name, rows in sorted(by.items(), key=lambda kv: (_rank(kv[0]), kv[0])):
            if len(rows) > 1:
                t, cpu = (np.array(c) for c in zip(*rows, strict=True))
                out[name] = (t[1:], np.diff(cpu) / np.diff(t) * 100)
        return out


def _rank(name: str) -> int:
    """Processes in pipeline order: supervisor, capture..., detect, lift, publish, annotate."""
    order = ("supervisor", "capture", "detect", "lift", "publish", "annotate")
    return next((i for i, k in enumerate(order) if name.startswith(k)), len(order))


def _have_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def run_runtime(video: Path, model: Path | None, seconds_limit: float = 120.0, backend: str = "auto",
                port: int = 0, settings: tuple[str, ...] = ()) -> dict:
    """One live run over the whole video; the messages, their receive times and the process samples.
    port: where the runtime publishes (127.0.0.1; 0: a free port); settings: `--set KEY=VALUE`s."""
    endpoint = f"tcp://127.0.0.1:{port or free_port()}"
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.setsockopt(zmq.RCVHWM, 100000)
    sub.connect(endpoint)
    cmd = [sys.executable, "-m", "camerapose", "run", "--source", str(video), "--publish", endpoint,
           "--wait-subscriber", "30", "--stats-every", "0", "-q"]
    if model is not None:
        cmd += ["--model", str(model)]
    if backend in ("tensorrt", "torch", "onnxruntime"):
        cmd += ["--backend", backend]
    for kv in settings:
        cmd += ["--set", kv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    msgs, recv = [], []
    deadline = time.monotonic() + seconds_limit
    try:
        with ProcSampler(proc.pid) as sampler:
            while time.monotonic() < deadline:
                if sub.poll(100):
                    payload = sub.recv_multipart()[1]
                    recv.append(time.monotonic())
                    msgs.append(msgpack.unpackb(payload, raw=False))
                elif proc.poll() is not None:
                    break
        out = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close(0)
    if proc.returncode != 0:
        raise CameraPoseError(f"camerapose run failed: {out.strip().splitlines()[-1:]}")
    if not msgs:
        raise CameraPoseError("camerapose run published no message")
    return {"msgs": msgs, "recv": recv, "sampler": sampler, "endpoint": endpoint}


def quick_clip(video: Path, out: Path, frames: tuple[int, int] = QUICK_CLIP) -> Path:
    """Frames [start, stop) of `video` as a short mp4 (mp4v) at the same fps."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = None
    for i in range(frames[1]):
        ok, frame = cap.read()
        if not ok:
            break
        if i >= frames[0]:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            writer.write(frame)
    cap.release()
    if writer is None:
        raise CameraPoseError(f"{video}: fewer than {frames[0] + 1} frames")
    writer.release()
    return out


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, source: Path | None = None,
        backend: str = "auto", port: int = 0) -> Report:
    """One live run of `camerapose run` on the video (a 2-second clip of it in quick mode); `backend`
    is the lift stage's (auto: the runtime's own choice)."""
    from camerapose.assets import asset_path
    from camerapose.runtime.lift_engine import DEFAULT_MODEL

    video = Path(source) if source else asset_path("demo.mp4")
    if not Path(DEFAULT_MODEL).is_file():
        raise ModelError(f"{DEFAULT_MODEL} is missing: export the default model first (`camerapose export`)")
    with tempfile.TemporaryDirectory(prefix="cp-pipeline-") as tmp:
        clip = quick_clip(video, Path(tmp) / "clip.mp4") if quick else video
        res = run_runtime(clip, None, backend=backend, port=port)
        one = run_runtime(clip, None, backend=backend, port=port, settings=ONE_PERSON)
        mp_res = mediapipe_peer.run_live(clip, 10**6)
    return _report(res, one, mp_res, video, quick, backend if backend != "all" else "auto")


def _report(res: dict, one: dict, mp_res: dict | None, video: Path, quick: bool, backend: str) -> Report:
    """res: the default run (every person); one: the run following one person, like MediaPipe."""
    msgs, recv = res["msgs"], np.array(res["recv"])
    rep = Report("pipeline", "Pipeline: live mode, glass-to-publish, on the demo video")
    n = len(msgs)
    total_frames = msgs[-1]["frame"] + 1
    row, g2p, g2p2, fps = _live_row("CameraPose (2D + 3D + camera + ZeroMQ)", msgs, recv)
    row1, g2p_one, _, _ = _live_row("CameraPose following 1 person (max_persons = 1)", one["msgs"],
                                    np.array(one["recv"]))
    g2s = latency_stats((recv - np.array([m["t_capture"] for m in msgs])) * 1e3)
    stages = {k: latency_stats(v) for k in STAGES
              if (v := [m["timings"][k] for m in msgs if k in m["timings"]])}
    procs = res["sampler"].summary(recv[0], recv[-1])
    rep.data.update(endpoint=res["endpoint"],
                    frames_published=n, frames_in_video=total_frames, dropped=total_frames - n, fps=fps,
                    glass_to_publish=g2p, glass_to_publish_two_persons=g2p2, glass_to_subscriber=g2s,
                    persons_per_frame=float(np.mean([len(m["persons"]) for m in msgs])), stages=stages,
                    one_person={"glass_to_publish": g2p_one, "frames_published": len(one["msgs"]),
                                "settings": list(ONE_PERSON)},
                    processes=procs, process_sampling=res["sampler"].how or "unavailable", quick=quick)
    clip = f" (quick: frames {QUICK_CLIP[0]}-{QUICK_CLIP[1] - 1} as a clip)" if quick else ""
    rep.add_text(f"`camerapose run --source {video.name}`{clip} in live mode (30 fps pacing, newest frame "
                 f"wins), default model on the {backend} backend, {n} messages received; then the same "
                 f"with `--set {ONE_PERSON[0]}`, MediaPipe's workload; then MediaPipe, one run after the "
                 "other.")
    rows = [row, row1]
    if mp_res:
        st = latency_stats(mp_res["latency_ms"])
        rows.append(["MediaPipe Pose (2D, 1 person)", mp_res["frames"], mp_res["dropped"],
                     (mp_res["frames"] - 1) / mp_res["seconds"], 1.0, *stats_cells(st), float("nan")])
        rep.data["mediapipe"] = {**st, "frames": mp_res["frames"], "dropped": mp_res["dropped"]}
    else:
        rep.add_text("MediaPipe: not installed (set CAMERAPOSE_MEDIAPIPE_PYTHON to a venv with it).")
    rep.add_table("Live mode (latency in ms)",
                  ["pipeline", "frames processed", "dropped", "fps", "persons / frame", "p50", "p95", "p99",
                   "p50 (2 persons)"], rows)
    if mp_res:
        rep.add_table("Against MediaPipe (glass-to-publish, ms)",
                      ["measure", "CameraPose", "MediaPipe", "at most MediaPipe's"],
                      _against(g2p, g2p_one, rep.data["mediapipe"]))
    rep.add_table("Per stage (ms, from each message's timings)", ["stage", "p50", "p95", "p99", "mean"],
                  [[k, *stats_cells(st), st["mean"]] for k, st in stages.items()])
    if procs:
        rows = [[k, v["cpu_pct_mean"], v["cpu_pct_p50"], v["cpu_pct_p95"], v["rss_mb_p50"], v["rss_mb_peak"]]
                for k, v in procs.items()]
        rep.add_text("RSS counts the pages a process shares with others (libraries, frame rings) in each "
                     "of them, so the total overstates the memory the runtime takes.")
        rep.add_table(f"Per process while messages flowed (CPU % of one core; sampled every {SAMPLE_EVERY_S}"
                      f" s from {res['sampler'].how})",
                      ["process", "CPU % mean", "CPU % p50", "CPU % p95", "RSS MB median", "RSS MB peak"],
                      [*rows, _runtime_total(procs)])
    else:
        rep.add_text("CPU and memory per process: not measured (no /proc and psutil not installed).")
    rep.add_text(f"Glass-to-subscriber (received in this process): p50 {g2s['p50']:.1f} ms, p95 "
                 f"{g2s['p95']:.1f} ms, p99 {g2s['p99']:.1f} ms. Targets: p50 glass-to-publish < 50 ms with "
                 "two persons, >= 20 fps.")
    rep.add_plot("pipeline_latency.png", _plot_frames(msgs))
    rep.add_plot("pipeline_stage_cdf.png", _plot_cdf(msgs))
    rep.add_plot("pipeline_fps.png", _plot_fps(msgs, res["sampler"]))
    return rep


def _live_row(name: str, msgs: list[dict], recv: np.ndarray) -> tuple[list[Any], dict, dict | None, float]:
    """One pipeline's row of the live table, its glass-to-publish stats (all frames, 2-person
    frames) and its fps (published messages / time from the first to the last)."""
    total_frames = msgs[-1]["frame"] + 1
    g2p = latency_stats([m["timings"]["total"] for m in msgs])
    two = [m["timings"]["total"] for m in msgs if len(m["persons"]) >= 2]
    g2p2 = latency_stats(two) if two else None
    fps = (len(msgs) - 1) / (recv[-1] - recv[0]) if len(msgs) > 1 else 0.0
    persons = float(np.mean([len(m["persons"]) for m in msgs]))
    row = [name, len(msgs), total_frames - len(msgs), fps, persons, *stats_cells(g2p),
           g2p2["p50"] if g2p2 else float("nan")]
    return row, g2p, g2p2, fps


def _against(ours: dict, one: dict, mp: dict) -> list[list[Any]]:
    """The targets beside MediaPipe: our p50 and p95 at most its, as run (every person) and
    following one person like it."""
    out = []
    for label, st in (("every person", ours), ("1 person", one)):
        for q in ("p50", "p95"):
            out.append([f"{q}, {label}", st[q], mp[q], "yes" if st[q] <= mp[q] else "no"])
    return out


def _runtime_total(procs: dict[str, dict[str, float]]) -> list[Any]:
    v = procs.values()
    return ["runtime total", sum(p["cpu_pct_mean"] for p in v), "", "", sum(p["rss_mb_p50"] for p in v),
            sum(p["rss_mb_peak"] for p in v)]


def _plot_frames(msgs: list[dict]) -> Any:
    plt = pyplot()
    frames = [m["frame"] for m in msgs]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(frames, [m["timings"]["total"] for m in msgs], ".", ms=3, label="glass-to-publish")
    ax.plot(frames, [m["timings"]["detect"] for m in msgs], ".", ms=3, label="detect")
    ax.axhline(50, color="r", ls="--", label="50 ms target")
    ax.set_xlabel("frame")
    ax.set_ylabel("ms")
    ax.legend()
    fig.tight_layout()
    return fig


def _plot_cdf(msgs: list[dict]) -> Any:
    """Empirical CDF of every stage's time, log x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in STAGES:
        v = np.sort([m["timings"][k] for m in msgs if k in m["timings"]])
        if v.size:
            ax.step(np.maximum(v, 1e-3), np.arange(1, v.size + 1) / v.size, where="post",
                    lw=2.2 if k == "total" else 1.2, label="glass-to-publish (total)" if k == "total" else k)
    for q in (0.5, 0.95, 0.99):
        ax.axhline(q, color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("ms")
    ax.set_ylabel("fraction of frames")
    ax.set_title("latency CDF per stage (dotted: p50, p95, p99)")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _plot_fps(msgs: list[dict], sampler: ProcSampler, window: int = 15) -> Any:
    """Published fps (over the last `window` messages) and each process's CPU % on one time axis."""
    plt = pyplot()
    t_pub = np.array([m["t_publish"] for m in msgs])
    start = t_pub[0]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8.5, 5.5), sharex=True)
    if t_pub.size > window:
        fps = window / np.maximum(t_pub[window:] - t_pub[:-window], 1e-9)
        ax1.plot(t_pub[window:] - start, fps, lw=1.2, label=f"published fps (last {window} messages)")
    ax1.axhline(20, color="r", ls="--", lw=1, label="20 fps target")
    ax1.set_ylabel("frames / s")
    ax1.set_ylim(bottom=0)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax1.set_title("fps and CPU over time (t = 0: first publish)")
    for name, (t, pct) in sampler.series().items():
        keep = (t >= start - 1) & (t <= t_pub[-1] + 1)
        ax2.plot(t[keep] - start, pct[keep], lw=1, label=name)
    ax2.set_xlabel("s")
    ax2.set_ylabel("CPU % (of one core)")
    ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
