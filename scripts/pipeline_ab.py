"""A/B of the live pipeline: `camerapose run` on the demo video with settings variants, run in turn.

    .venv/bin/python scripts/pipeline_ab.py --reps 4 \
        --variant "sync=detector.person_search=sync" --variant "async=" \
        --out benchmarks/results/pipeline_person_search_ab.md

Each variant is `NAME=KEY=VALUE[,KEY=VALUE...]` (`--set`s of `camerapose run`; empty for the
defaults). Runs alternate between the variants (A B A B ...), so slow drifts of a shared machine's
load hit all of them alike; the table has every run and each variant's median. Besides latency
(glass-to-publish, as `camerapose bench --suite pipeline` measures it), recall: the share of the
published frames from frame 40 on (both demo people are in view from about frame 36) that carry at
least two persons.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from camerapose.assets import asset_path
from camerapose.benchmarks.pipeline import run_runtime
from camerapose.benchmarks.report import latency_stats, machine_info

BOTH_IN_VIEW_FROM = 40
COLUMNS = ["frames", "fps", "p50", "p95", "p99", "persons / frame", "both people (frames 40+)"]


def measure(settings: tuple[str, ...]) -> dict[str, float]:
    """One live run with these `--set`s -> its figures (COLUMNS)."""
    res = run_runtime(asset_path("demo.mp4"), None, settings=settings)
    msgs, recv = res["msgs"], res["recv"]
    lat = latency_stats([m["timings"]["total"] for m in msgs])
    late = [m for m in msgs if m["frame"] >= BOTH_IN_VIEW_FROM]
    return {"frames": len(msgs), "fps": (len(msgs) - 1) / (recv[-1] - recv[0]),
            "p50": lat["p50"], "p95": lat["p95"], "p99": lat["p99"],
            "persons / frame": float(np.mean([len(m["persons"]) for m in msgs])),
            "both people (frames 40+)": float(np.mean([len(m["persons"]) >= 2 for m in late]))}


def parse_variant(text: str) -> tuple[str, tuple[str, ...]]:
    name, _, sets = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE...]")
    return name, tuple(s for s in sets.split(",") if s)


def table(runs: list[tuple[int, str, dict[str, float]]], names: list[str]) -> str:
    def fmt(v: float) -> str:
        if float(v).is_integer():
            return str(int(v))
        return f"{v:.3g}" if v < 10 else f"{v:.1f}"

    lines = ["| run | variant | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for rep, name, r in runs:
        lines.append(f"| {rep} | {name} | " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |")
    for name in names:
        mine = [r for _, n, r in runs if n == name]
        med = {c: statistics.median(r[c] for r in mine) for c in COLUMNS}
        lines.append(f"| median | {name} | " + " | ".join(fmt(med[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", type=parse_variant, action="append", required=True,
                    help="NAME=KEY=VALUE[,KEY=VALUE...]: `camerapose run --set`s of one variant")
    ap.add_argument("--reps", type=int, default=3, help="runs of each variant (default 3)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here (default: print it)")
    args = ap.parse_args()
    runs = []
    for rep in range(1, args.reps + 1):
        for name, sets in args.variant:
            runs.append((rep, name, measure(sets)))
            figures = ", ".join(f"{k} {v:.3g}" for k, v in runs[-1][2].items())
            print(f"run {rep} {name}: {figures}", flush=True)
    info = machine_info()
    settings = "; ".join(f"{n}: `{' '.join(s) or 'defaults'}`" for n, s in args.variant)
    text = (f"Machine: {info['cpu']}, {info['cores']} cores; commit {info['commit']}; {info['date']}.\n"
            f"Variants ({settings}), {args.reps} runs each, alternating. Latency in ms, glass-to-publish.\n\n"
            + table(runs, [n for n, _ in args.variant]) + "\n")
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
