"""Training throughput (samples/s) of each step of the schedule, on CPU and on a GPU when present.

    camerapose bench --suite training                   # full: the default preset's model, batch 1024
    run(quick=True)                                     # tiny model, a few iterations (tests)

Step 1 trains RefineNet; steps 2 and 3 run, per iteration, the discriminator and generator
updates and the PoseModel update on real + augmented pairs (step 3 also a 2D-only batch), so
their samples/s count the 2D-3D batch samples an iteration consumes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from camerapose.benchmarks.report import RESULTS_DIR, Report

log = logging.getLogger(__name__)


def _measure(device: str, quick: bool, threads: int) -> list[dict[str, float]]:
    import torch

    from camerapose.train import distributed as ddp
    from camerapose.train.config import CONFIG_DIR, load_config
    from camerapose.train.data.synthetic import SyntheticSpec, generate, withhold_3d
    from camerapose.train.loop import (
        Carry,
        TrainData,
        build_nets,
        make_optimizers,
        run_epoch,
        seed_everything,
        set_trainable,
        to_tensors,
    )
    from camerapose.train.schedule import schedule

    batch, iters = (64, 3) if quick else (1024, 20)
    torch.set_num_threads(threads)
    preset = "tiny.toml" if quick else "default.toml"
    over = [f"step{s}.batch_size={batch}" for s in (1, 2, 3)] + \
           [f"step{s}.max_iters_per_epoch={iters}" for s in (1, 2, 3)] + ["run.log_every=1000000"]
    cfg = load_config(CONFIG_DIR / preset, over)
    seed_everything(0)
    dev = torch.device(device)
    n = batch * iters
    data = TrainData(to_tensors(generate(SyntheticSpec(n, 1)), dev),
                     to_tensors(withhold_3d(generate(SyntheticSpec(n, 2))), dev))
    nets, info, carry = build_nets(cfg, dev), ddp.DistInfo(device=dev), Carry()
    rows = []
    for phase in schedule(cfg):
        step = phase.step
        set_trainable(nets.model, phase)
        opt = make_optimizers(nets, phase)
        _, carry = run_epoch(nets, data, cfg, phase, 0, opt, carry, info)  # warm-up (allocator, kernels)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        _, carry = run_epoch(nets, data, cfg, phase, 1, opt, carry, info)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        samples = batch * iters  # every step is capped at `iters` batches
        rows.append({"device": device, "threads": threads, "step": step, "batch": batch, "iterations": iters,
                     "seconds": dt, "samples_per_s": samples / dt, "ms_per_iter": 1000 * dt / iters})
        log.info("%s step %d: %.0f samples/s", device, step, samples / dt)
    return rows


def run(quick: bool = False, out_dir: Path = RESULTS_DIR, threads: int = 1) -> Report:
    """The report (the caller writes it, as for every suite). threads: torch CPU threads (1, as
    the synthetic preset: on a shared machine more threads oversubscribe the cores and run slower)."""
    import torch  # training is the one suite that needs the train extra

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rep = Report("training", "Training throughput per step")
    before = torch.get_num_threads()
    try:
        rows = [r for d in devices for r in _measure(d, quick, threads)]
    finally:
        torch.set_num_threads(before)
    rep.add_text(f"torch {torch.__version__}, {threads} CPU thread(s); "
                 f"{'quick (tiny model)' if quick else 'the synthetic preset model (1.68M parameters)'}. "
                 "Samples/s = 2D-3D samples consumed per second (steps 2-3 also run the augmentor "
                 "and, in step 3, one 2D-only batch per iteration).")
    rep.add_table("Throughput", ["device", "step", "batch", "ms/iter", "samples/s"],
                  [[r["device"], r["step"], r["batch"], f"{r['ms_per_iter']:.1f}",
                    f"{r['samples_per_s']:.0f}"] for r in rows])
    rep.data["rows"] = rows
    rep.data["quick"] = quick
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for d in devices:
        sel = [r for r in rows if r["device"] == d]
        ax.bar([f"{d}\nstep {r['step']}" for r in sel], [r["samples_per_s"] for r in sel], label=d)
    ax.set_ylabel("samples / s")
    ax.set_title("Training throughput per step")
    fig.tight_layout()
    rep.add_plot("training_throughput.png", fig)
    return rep
