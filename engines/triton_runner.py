"""`TritonRunner`: the Runner interface over a model served by NVIDIA Triton Inference Server.

    with TritonRunner("127.0.0.1:8001", "camerapose_pose") as runner:   # gRPC
        out = runner.infer({"kp2d": kp2d, "conf": conf})                 # (B,17,2), (B,17) float32

The URL picks the protocol: `HOST:PORT` or `grpc://HOST:PORT` is gRPC (tritonclient[grpc]),
`http://HOST:PORT` is HTTP (tritonclient[http]), the fallback where grpcio does not install.
Entering the runner checks, each with `timeout_s`, that the server answers, is ready and has the
model ready, then reads the model's inputs and outputs from its metadata (so `check_feed` and
`signature.check_signature` apply as to a local model) and `metadata` from its config's
`parameters` (where `camerapose export --triton-repo` puts the ONNX metadata_props). Every failure
is one `BackendUnavailable` line naming the server: unreachable, not ready, model missing, a
request that failed or timed out (the server was killed: the lift stage stops with that line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from camerapose.core.errors import InputError

from .runner import BackendUnavailable, Runner, TensorSpec

DEFAULT_URL = "127.0.0.1:8001"
DEFAULT_MODEL = "camerapose_pose"
DEFAULT_TIMEOUT_S = 2.0  # under the supervisor's heartbeat timeout: a hung server is one line, not a restart
URL_RE = re.compile(r"(?:(grpc|http)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")
_DTYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT64": np.int64,
           "INT32": np.int32, "UINT8": np.uint8, "BOOL": np.bool_}


@dataclass(frozen=True)
class TritonTarget:
    """Where a model is served: the server's URL (as `parse_url` reads it), the model's name there, and
    the timeout of connecting and of each request."""

    url: str = DEFAULT_URL
    model: str = DEFAULT_MODEL
    timeout_s: float = DEFAULT_TIMEOUT_S

    def runner(self) -> TritonRunner:
        return TritonRunner(self.url, self.model, self.timeout_s)


def parse_url(url: str) -> tuple[str, str]:
    """`[grpc://|http://]HOST:PORT` -> (protocol "grpc" | "http", "HOST:PORT"); InputError otherwise."""
    m = URL_RE.fullmatch(url.strip())
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise InputError(f"Triton URL {url!r}: expected HOST:PORT (gRPC, e.g. {DEFAULT_URL}) or "
                         "http://HOST:PORT")
    return m.group(1) or "grpc", f"{m.group(2)}:{m.group(3)}"


def _first_line(err: BaseException) -> str:
    """The first line of an exception's text (tritonclient's can run to several)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _specs(tensors: list[dict[str, Any]], batched: bool) -> dict[str, TensorSpec]:
    """Model metadata's tensors ({name, datatype, shape}) -> TensorSpecs; -1 dims are dynamic, the
    first one "batch" when the model batches."""
    out = {}
    for t in tensors:
        if t["datatype"] not in _DTYPES:
            raise BackendUnavailable(f"Triton tensor {t['name']} has unsupported type {t['datatype']}")
        dims = [int(d) for d in t["shape"]]
        shape = tuple(("batch" if i == 0 and batched else None) if d < 0 else d for i, d in enumerate(dims))
        out[t["name"]] = TensorSpec(t["name"], np.dtype(_DTYPES[t["datatype"]]), shape)
    return out


class TritonRunner(Runner):
    """A model on a Triton server, over gRPC (or HTTP); one request per `infer`."""

    backend = "triton"

    def __init__(self, url: str = DEFAULT_URL, model: str = DEFAULT_MODEL,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.protocol, self.address = parse_url(url)
        self.model, self.timeout_s = model, float(timeout_s)
        self.metadata: dict[str, str] = {}
        self._client: Any = None
        self._inputs: dict[str, TensorSpec] = {}
        self._outputs: dict[str, TensorSpec] = {}

    @property
    def where(self) -> str:
        """The server and model, as every error names them."""
        return f"Triton server {self.address} ({self.protocol}), model {self.model!r}"

    def _fail(self, what: str, err: BaseException | None = None) -> BackendUnavailable:
        return BackendUnavailable(f"{self.where}: {what}" + (f" ({_first_line(err)})" if err else ""))

    # -- lifecycle -------------------------------------------------------------------------------
    def _activate(self) -> None:
        self._client = self._connect()
        try:
            self._check_ready()
            self._read_model()
        except BaseException:
            self._close()
            raise

    def _connect(self) -> Any:
        try:
            if self.protocol == "grpc":
                import tritonclient.grpc as tc

                return tc.InferenceServerClient(self.address)
            import tritonclient.http as tc

            return tc.InferenceServerClient(self.address, connection_timeout=self.timeout_s,
                                            network_timeout=self.timeout_s)
        except ImportError as err:
            raise BackendUnavailable(
                f"the triton backend needs tritonclient[{self.protocol}] (pip install 'camerapose[triton]'"
                f"{'; or use http://HOST:HTTP_PORT' if self.protocol == 'grpc' else ''}): {err}") from None

    def _call(self, method: str, *args: Any, **kw: Any) -> Any:
        """A client call with the timeout (gRPC's is per call; HTTP's was set on the client)."""
        if self.protocol == "grpc":
            kw["client_timeout"] = self.timeout_s
        return getattr(self._client, method)(*args, **kw)

    def _check_ready(self) -> None:
        try:
            live = self._call("is_server_live")
        except Exception as err:  # tritonclient's and the transport's exceptions alike
            raise self._fail("unreachable", err) from None
        if not live or not self._call("is_server_ready"):
            raise self._fail("the server is not ready (a model failed to load? see the server's log)")
        try:
            ready = self._call("is_model_ready", self.model)
        except Exception as err:
            raise self._fail("cannot ask for the model", err) from None
        if not ready:
            raise self._fail(f"no such model ready; the server has: {', '.join(self._models()) or 'none'}")

    def _models(self) -> list[str]:
        try:
            index = self._call("get_model_repository_index", **({"as_json": True} if self.protocol == "grpc"
                                                                 else {}))
        except Exception:
            return []
        rows = index.get("models", []) if isinstance(index, dict) else index
        return sorted(f"{r['name']} ({r.get('state', '?').lower()})" for r in rows)

    def _read_model(self) -> None:
        as_json = {"as_json": True} if self.protocol == "grpc" else {}
        try:
            meta = self._call("get_model_metadata", self.model, **as_json)
            config = self._call("get_model_config", self.model, **as_json)
        except Exception as err:
            raise self._fail("cannot read the model's metadata", err) from None
        config = config.get("config", config)  # gRPC wraps it in {"config": ...}
        max_batch = int(config.get("max_batch_size", 0))
        self.max_batch = max_batch or None
        self._inputs = _specs(meta.get("inputs", []), max_batch > 0)
        self._outputs = _specs(meta.get("outputs", []), max_batch > 0)
        self.metadata = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}

    def _deactivate(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # a client whose server is gone may fail to close; nothing to free then
                pass
            self._client = None

    # -- the model's signature -------------------------------------------------------------------
    @property
    def inputs(self) -> dict[str, TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> dict[str, TensorSpec]:
        return self._outputs

    # -- inference -------------------------------------------------------------------------------
    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import importlib

        tc = importlib.import_module(f"tritonclient.{self.protocol}")
        inputs = []
        for name, a in feed.items():
            t = tc.InferInput(name, list(a.shape), next(k for k, v in _DTYPES.items() if a.dtype == v))
            t.set_data_from_numpy(np.ascontiguousarray(a))
            inputs.append(t)
        outputs = [tc.InferRequestedOutput(name) for name in self._outputs]
        try:
            result = self._call("infer", self.model, inputs, outputs=outputs)
        except Exception as err:
            raise self._fail("inference failed", err) from None
        return {name: result.as_numpy(name) for name in self._outputs}
