"""The torch runner: the pose nn.Module on the CPU, or on CUDA in fp16 with captured CUDA graphs.

On CUDA, one graph is captured per batch bucket (1, 2, 4, ... max_batch) at activation; a call
with n rows copies them into the smallest bucket >= n (rows past n keep whatever they held: the
model is in eval mode, so rows never mix and the padding cannot change the first n results),
replays that bucket's graph and copies n rows back. Host staging buffers are pinned so the copies
are asynchronous on the one stream, with a single synchronise per call.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np

from camerapose.core.errors import InputError, ModelError

from .runner import BackendUnavailable, Runner, TensorSpec
from .signature import OUTPUT_ORDER, POSE_INPUTS, POSE_OUTPUTS

log = logging.getLogger(__name__)

DEFAULT_BUCKETS: tuple[int, ...] = tuple(2**i for i in range(13))  # 1 .. 4096


def bucket_for(n: int, buckets: tuple[int, ...]) -> int:
    """Smallest bucket >= n (buckets ascending); InputError when n exceeds the largest."""
    for b in buckets:
        if b >= n:
            return b
    raise InputError(f"torch: batch {n} is over the largest CUDA-graph bucket {buckets[-1]}")


class TorchRunner(Runner):
    """Run a pose nn.Module (or a checkpoint, loaded with camerapose.models.checkpoint.load_pose_model)."""

    backend = "torch"

    def __init__(self, model: Any, device: str = "cpu", fp16: bool | None = None, cuda_graphs: bool = True,
                 buckets: tuple[int, ...] = DEFAULT_BUCKETS, metadata: dict[str, str] | None = None) -> None:
        super().__init__()
        self.model_source = model
        self.device = device
        self.fp16 = device.startswith("cuda") if fp16 is None else fp16
        self.cuda_graphs = cuda_graphs and device.startswith("cuda")
        self.buckets = tuple(sorted(set(buckets)))
        if not self.buckets or self.buckets[0] < 1:
            raise InputError(f"torch: batch buckets must be positive, got {buckets}")
        self.metadata = dict(metadata or {})
        self._model = None
        self._graphs: dict[int, tuple[Any, list[Any], list[Any]]] = {}
        self._pinned_in: dict[int, list[Any]] = {}
        self._pinned_out: dict[int, list[Any]] = {}

    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return dict(POSE_INPUTS)

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return dict(POSE_OUTPUTS)

    def _activate(self) -> None:
        import torch

        model = self.model_source
        if isinstance(model, (str, Path)):
            from camerapose.models.checkpoint import load_pose_model

            model, _ = load_pose_model(model)
        elif isinstance(model, torch.nn.Module):
            model = copy.deepcopy(model)  # .to()/.half() below work in place: leave the caller's model alone
        else:
            raise ModelError(f"torch: expected an nn.Module or a checkpoint path, got {type(model).__name__}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("torch: CUDA requested but torch.cuda.is_available() is False")
        model = model.to(self.device).eval()
        model = model.half() if self.fp16 else model.float()
        self._model = model
        if self.cuda_graphs:
            self.max_batch = self.buckets[-1]
            # Largest first: later (smaller) graphs reuse the memory pool of the first capture.
            # torch's notes call a shared pool safe when graphs replay in capture order and never
            # concurrently; we replay in any order, which stays safe (as in vLLM) because replays
            # are serialised on one stream and each call copies its outputs out before the next
            # replay can overwrite pool memory. So: one thread per runner, never concurrent calls.
            with torch.cuda.device(self.device):  # streams and pool on OUR device, not cuda:0
                pool = torch.cuda.graph_pool_handle()
                for b in reversed(self.buckets):
                    self._capture(b, pool)
            log.info("torch: captured %d CUDA graphs (batch buckets %s, fp16=%s)", len(self.buckets),
                     self.buckets, self.fp16)

    def _dtype(self) -> Any:
        import torch

        return torch.float16 if self.fp16 else torch.float32

    def _capture(self, b: int, pool: Any) -> None:
        import torch

        static_in = [torch.zeros((b, *s.shape[1:]), dtype=self._dtype(), device=self.device)
                     for s in POSE_INPUTS.values()]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # warm-up on a side stream, as torch.cuda.graph requires
                self._model(*static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph, pool=pool):
            static_out = list(self._model(*static_in))
        self._graphs[b] = (graph, static_in, static_out)
        self._pinned_in[b] = [torch.empty(tuple(t.shape), dtype=torch.float32, pin_memory=True)
                              for t in static_in]
        self._pinned_out[b] = [torch.empty(tuple(t.shape), dtype=torch.float32, pin_memory=True)
                               for t in static_out]

    def _deactivate(self) -> None:
        self._graphs.clear()
        self._pinned_in.clear()
        self._pinned_out.clear()
        self._model = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self.cuda_graphs:
            return self._infer_graph(feed)
        with torch.inference_mode():
            args = [torch.from_numpy(feed[name]).to(self.device, self._dtype()) for name in POSE_INPUTS]
            out = self._model(*args)
        return {n: o.float().cpu().numpy() for n, o in zip(OUTPUT_ORDER, out, strict=True)}

    def _infer_graph(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        n = next(iter(feed.values())).shape[0]
        b = bucket_for(n, self.buckets)
        graph, static_in, static_out = self._graphs[b]
        with torch.cuda.device(self.device):  # current_stream() below is this device's
            for name, pinned, dev in zip(POSE_INPUTS, self._pinned_in[b], static_in, strict=True):
                pinned.numpy()[:n] = feed[name]  # safe: the previous call synchronised
                dev[:n].copy_(pinned[:n], non_blocking=True)  # fp32 -> fp16 on the device
            graph.replay()  # on the current stream, after the copies
            for pinned, dev in zip(self._pinned_out[b], static_out, strict=True):
                pinned[:n].copy_(dev[:n], non_blocking=True)
            torch.cuda.current_stream().synchronize()
        return {name: pinned.numpy()[:n].copy()
                for name, pinned in zip(OUTPUT_ORDER, self._pinned_out[b], strict=True)}
