"""Serving benchmark: one Triton server shared by 1, 4 and 16 runtimes' worth of lift requests,
against the same clients each running the pose model locally with onnxruntime.

    camerapose bench --suite serving
    -> benchmarks/results/serving.md, serving.json, serving.png

The server is `camerapose serve`'s (the tritonserver bundled with nvidia-pytriton, from its side
environment in the asset cache), serving the Python-backend variant of a repository written from
the shipped ONNX (`engines/triton_repo.py` defaults: max batch 1024, preferred 16 and 64, 1 ms
queue delay; onnxruntime on the CPU inside it). Each client is a process that sends what a lift
stage sends: one request of PERSONS persons, the next as soon as the answer is in (closed loop:
the most a runtime could ask for), over gRPC. All clients start together (a barrier) and run for
the same time; throughput is the requests answered in that window. The batches the server formed
come from its statistics (the change over the window: requests, executions, rows per execution).
The local rows run the same clients with an onnxruntime session each (1 intra-op thread, as the
lift stage). Clients, server and sessions all share this machine's cores: a GPU server on its own
host is another machine (docs/scale-out.md), and these numbers are the CPU-only floor.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

from camerapose.benchmarks.report import RESULTS_DIR, Report, free_port, latency_stats, pyplot, stats_cells
from camerapose.core.errors import CameraPoseError, InputError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ONNX = REPO / "engines" / "models" / "pose_default.onnx"
CLIENTS, QUICK_CLIENTS = (1, 4, 16), (1, 4)
PERSONS = 2  # persons per request: the demo's two people in one frame
BACKENDS = ("triton", "onnxruntime")


def _client(backend: str, target: str, seconds: float, warmup: int, start: Any, out: Any) -> None:
    """One runtime's lift requests, closed loop, for `seconds` after the barrier -> out.put(latencies ms)."""
    from camerapose.engines.export import random_pose_inputs
    from camerapose.engines.runner import OnnxRuntimeRunner
    from camerapose.engines.triton_runner import TritonRunner

    runner = TritonRunner(target) if backend == "triton" else OnnxRuntimeRunner(target, threads=1)
    feed = random_pose_inputs(PERSONS, seed=1)
    lat: list[float] = []
    with runner:
        for _ in range(warmup):
            runner.infer(feed)
        start.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            runner.infer(feed)
            lat.append((time.perf_counter() - t0) * 1e3)
    out.put(lat)


def _clients(backend: str, target: str, n: int, seconds: float, warmup: int) -> list[float]:
    """n client processes at once; every request's latency (ms)."""
    ctx = mp.get_context("spawn")  # no fork: gRPC's threads and onnxruntime's pools do not survive one
    start, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(backend, target, seconds, warmup, start, out), daemon=True)
             for _ in range(n)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120 + seconds) for _ in procs]
    except Exception as err:  # a client died (its traceback is on stderr) or hung
        why = type(err).__name__
        raise CameraPoseError(f"serving bench: a {backend} client did not finish ({why})") from None
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    return [x for r in results for x in r]


def _stats(url: str) -> dict[str, Any]:
    """The server's counters for the model: requests, executions, rows, executions per batch size."""
    import tritonclient.grpc as tc

    client = tc.InferenceServerClient(url)
    try:
        s = client.get_inference_statistics("camerapose_pose", as_json=True)["model_stats"][0]
    finally:
        client.close()
    return {"requests": int(s["inference_stats"].get("success", {}).get("count", 0)),
            "executions": int(s.get("execution_count", 0)), "rows": int(s.get("inference_count", 0)),
            "batches": {int(b["batch_size"]): int(b["compute_infer"]["count"])
                        for b in s.get("batch_stats", [])}}


def _batching(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the server did between two `_stats`: requests, executions, their ratio, rows per execution."""
    d = {k: after[k] - before[k] for k in ("requests", "executions", "rows")}
    sizes = {b: n - before["batches"].get(b, 0) for b, n in after["batches"].items()}
    sizes = {b: n for b, n in sorted(sizes.items()) if n > 0}
    return {**d, "requests_per_execution": d["requests"] / max(d["executions"], 1),
            "rows_per_execution": d["rows"] / max(d["executions"], 1),
            "largest_batch": max(sizes, default=0), "batch_sizes": sizes}


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, port: int = 0) -> Report:
    """Every client count against the server, then locally; 1.5 s per point quick, 10 s full.
    port: the server's HTTP, gRPC and metrics ports are port, port+1, port+2 (0: free ports)."""
    from camerapose.engines.serve import ServeConfig, TritonServer
    from camerapose.engines.triton_repo import write_repo

    clients, seconds, warmup = (QUICK_CLIENTS, 1.5, 5) if quick else (CLIENTS, 10.0, 50)
    if port > 65533:
        raise InputError(f"--port {port}: the serving suite uses N, N+1 and N+2; expected at most 65533")
    ports = (port, port + 1, port + 2) if port else (free_port(), free_port(), free_port())
    if len(set(ports)) < 3:
        raise InputError("serving bench: could not find three free ports; pick them with --port N")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cp-serving-") as tmp:
        repo = write_repo(DEFAULT_ONNX, Path(tmp) / "repo")
        cfg = ServeConfig(http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2])
        with TritonServer(repo, cfg) as srv:
            for n in clients:
                before = _stats(srv.grpc_url)
                lat = _clients("triton", srv.grpc_url, n, seconds, warmup)
                results[f"triton/{n}"] = _point("triton", n, lat, seconds) | {
                    "server": _batching(before, _stats(srv.grpc_url))}
                log.info("triton, %d clients: %.0f requests/s", n, results[f"triton/{n}"]["requests_per_s"])
        for n in clients:
            lat = _clients("onnxruntime", str(DEFAULT_ONNX), n, seconds, warmup)
            results[f"onnxruntime/{n}"] = _point("onnxruntime", n, lat, seconds)
    return _report(results, clients, seconds, quick)


def _point(backend: str, n: int, lat: list[float], seconds: float) -> dict[str, Any]:
    return {"backend": backend, "clients": n, "requests": len(lat), "requests_per_s": len(lat) / seconds,
            "poses_per_s": len(lat) * PERSONS / seconds, **latency_stats(lat)}


def _report(results: dict[str, dict[str, Any]], clients: tuple[int, ...], seconds: float,
            quick: bool) -> Report:
    rep = Report("serving", "Serving: many runtimes' lift requests on one Triton server vs local onnxruntime")
    rep.add_text(
        f"Each client is a process sending what a runtime's lift stage sends: one request of {PERSONS} "
        f"persons (kp2d (2,17,2), conf (2,17)), the next once the answer is in, for {seconds:g} s after "
        "all clients started together. **triton**: one server (the tritonserver bundled with "
        "nvidia-pytriton 0.7.0, Python backend, onnxruntime on the CPU inside it; max batch 1024, "
        "preferred 16/64, 1 ms queue delay), over gRPC. **onnxruntime**: each client runs the model "
        "itself (1 thread, as the lift stage). The server, its clients and the local sessions share "
        "this machine's cores, so this is the CPU-only floor, not a GPU server's figure."
        + (" QUICK run: rough numbers." if quick else ""))
    rows = [[r["backend"], r["clients"], r["requests"], r["requests_per_s"], r["poses_per_s"],
             *stats_cells(r)] for r in results.values()]
    rep.add_table("Throughput and latency per request (ms)",
                  ["backend", "clients", "requests", "requests/s", "poses/s", "p50", "p95", "p99"], rows)
    rows = []
    for n in clients:
        s = results[f"triton/{n}"]["server"]
        top = sorted(s["batch_sizes"].items(), key=lambda kv: -kv[1])[:4]
        rows.append([n, s["requests"], s["executions"], s["requests_per_execution"], s["rows_per_execution"],
                     s["largest_batch"], ", ".join(f"{b}: {c}" for b, c in top)])
    rep.add_table("Batches the server formed (its statistics over the window, warm-up requests included)",
                  ["clients", "requests", "executions", "requests per execution", "rows per execution",
                   "largest batch (rows)", "most frequent batch sizes (rows: executions)"], rows)
    rep.data.update({"results": results, "persons_per_request": PERSONS, "seconds": seconds, "quick": quick})
    rep.add_plot("serving.png", _plot(results, clients))
    return rep


def _plot(results: dict[str, dict[str, Any]], clients: tuple[int, ...]) -> Any:
    """poses/s and p50/p95 per request against the number of clients, per backend."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for backend, colour in zip(BACKENDS, ("C0", "C1"), strict=True):
        rs = [results[f"{backend}/{n}"] for n in clients]
        a.plot(clients, [r["poses_per_s"] for r in rs], "o-", color=colour, label=backend)
        b.plot(clients, [r["p50"] for r in rs], "o-", color=colour, label=f"{backend} p50")
        b.plot(clients, [r["p95"] for r in rs], "s--", color=colour, label=f"{backend} p95")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(clients, [str(n) for n in clients])
        ax.set_xlabel("concurrent clients (runtimes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a.set_ylabel("poses/s, all clients")
    b.set_ylabel("ms per request")
    b.set_yscale("log")
    fig.suptitle(f"{PERSONS} persons per request, closed loop")
    fig.tight_layout()
    return fig
