"""Transport benchmark: encode + ZeroMQ PUB/SUB + decode per pose message, over ipc and tcp.

    camerapose bench --suite transport          # or: python -m camerapose.benchmarks.transport
    -> benchmarks/results/transport.md, transport.json, transport_latency.png

One message = what the runtime publishes for a frame with 1, 2 or 4 persons (schema v1). For each
message, one at a time (no pipelining, so each sample is one message's full trip): time.perf_counter
before `schema.pack`, then XPUB send, SUB receive and the strict `schema.decode` into numpy arrays,
then the clock again, in one process (publisher and subscriber threads share the same 2 cores the
runtime would). Target (issue 6): < 0.2 ms p50 per message.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from camerapose.benchmarks.report import RESULTS_DIR, Report, latency_stats
from camerapose.runtime import schema

log = logging.getLogger(__name__)
TARGET_P50_MS = 0.2


def message(persons: int, rng: np.random.Generator) -> dict:
    ps = [
        schema.person(
            i,
            0.9,
            rng.random(4) * 500,
            rng.random((17, 2)) * 1000,
            rng.random(17),
            rng.random((17, 3)) + [0, 0, 3],
            1400.0,
            1400.0,
            884.0,
            497.0,
            np.array([0.1, 0.2, 3.0]),
        )
        for i in range(persons)
    ]
    return {
        "schema": 1,
        "stream": "0",
        "frame": 0,
        "t_capture": 0.0,
        "t_publish": 0.0,
        "t_wall": 0.0,
        "image_size": [1768, 994],
        "dropped": 0,
        "timings": {k: 1.0 for k in ("capture", "wait_detect", "detect", "wait_lift", "lift", "total")},
        "persons": ps,
    }


def measure(endpoint: str, msg: dict, n: int) -> tuple[np.ndarray, int]:
    """Per-message ms (encode -> send -> receive -> decode) and the payload size in bytes."""
    ctx = zmq.Context()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    for s in (pub, sub):
        s.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
    sub.connect(endpoint)
    topic = schema.topic("0")
    probe = schema.pack(msg)
    while not sub.poll(10):  # wait out the slow-joiner period
        pub.send_multipart([topic, probe])
    while sub.poll(0):
        sub.recv_multipart()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        pub.send_multipart([topic, schema.pack(msg)])
        _, payload = sub.recv_multipart()
        schema.decode(payload)
        out[i] = (time.perf_counter() - t0) * 1e3
    pub.close()
    sub.close()
    ctx.term()
    return out, len(probe)


def run(quick: bool = False, out_dir: Path = RESULTS_DIR) -> Report:
    n = 300 if quick else 5000
    rng = np.random.default_rng(0)
    rep = Report("transport", "Transport: encode + ZeroMQ + decode per pose message")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for persons in (1, 2, 4):
            msg = message(persons, rng)
            for name, ep in (("ipc", f"ipc://{tmp}/bench.sock"), ("tcp", "tcp://127.0.0.1:0")):
                if name == "tcp":  # a free port
                    import socket

                    with socket.socket() as s:
                        s.bind(("127.0.0.1", 0))
                        ep = f"tcp://127.0.0.1:{s.getsockname()[1]}"
                samples, size = measure(ep, msg, n)
                st = latency_stats(samples[n // 10 :])  # first 10 % = warm-up
                results[f"{name}/{persons}"] = {"bytes": size, **st}
                rows.append(
                    [
                        name,
                        persons,
                        size,
                        st["p50"],
                        st["p95"],
                        st["p99"],
                        st["mean"],
                        "yes" if st["p50"] < TARGET_P50_MS else "NO",
                    ]
                )
                log.info("%s %d persons: p50 %.3f ms", name, persons, st["p50"])
    rep.add_text(
        f"Each sample: one message packed, sent, received and strictly decoded ({n} per row, "
        f"first 10 % dropped as warm-up). Target: p50 < {TARGET_P50_MS} ms."
    )
    rep.add_table(
        "Per-message latency (ms)",
        ["transport", "persons", "bytes", "p50", "p95", "p99", "mean", "p50 < 0.2 ms"],
        rows,
    )
    rep.data["results"] = results
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"{r[0]}\n{r[1]}p" for r in rows]
        ax.bar(labels, [r[3] for r in rows], label="p50")
        ax.scatter(labels, [r[5] for r in rows], color="k", marker="_", s=200, label="p99", zorder=3)
        ax.axhline(TARGET_P50_MS, color="r", ls="--", label="target p50")
        ax.set_ylabel("ms per message")
        ax.legend()
        rep.add_plot("transport_latency.png", fig)
    except ImportError:
        rep.add_text("(matplotlib not installed: no plot)")
    return rep


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(run().write())
