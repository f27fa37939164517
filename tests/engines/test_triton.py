"""Triton (docs/scale-out.md): the model repository writer and the runner's errors (fast); then a
real tritonserver, the one `camerapose serve` starts from its side environment, serving the
repository exported from train/weights/default.pt, and BlazePose's two ONNX networks beside it
where the asset cache has them (slow): the runner against onnxruntime, whole runs of the demo
against a local run, two runtimes batched together, the server killed mid-run, `detect` with its
networks on the server against onnxruntime.

One server for the module; its side environment is made once in the asset cache (skipped, with
the reason, when pip cannot reach PyPI)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from camerapose.cli import main
from camerapose.core.errors import InputError
from camerapose.engines.runner import BackendUnavailable, OnnxRuntimeRunner
from camerapose.engines.select import create_runner
from camerapose.engines.triton_repo import MODEL_PY, RepoConfig, config_pbtxt, write_repo
from camerapose.engines.triton_runner import parse_url

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "engines" / "models" / "pose_default.onnx"
RECORDING = REPO / "tests" / "data" / "demo_two_people.cprec"  # 140 persons the runtime detected
# The test repository's queue delay: long enough that two runtimes' requests (one per frame each,
# tens of ms apart on 2 cores) meet in the batcher many times a run, short enough to cost ~2 s a run.
QUEUE_DELAY_US = 10_000


def _cached(name: str) -> Path:
    from camerapose.assets import cache_dir

    return cache_dir() / name


BLAZEPOSE = [(_cached("pose_detection.onnx"), "blazepose_detector"),
             (_cached("pose_landmark_full.onnx"), "blazepose_landmark")]


def free_ports(n: int) -> list[int]:
    """n distinct loopback TCP ports nothing listens on."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _config(text: str):
    """A config.pbtxt parsed with Triton's own ModelConfig message (a typo would not parse)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


# -- the repository (fast) ------------------------------------------------------------------------
def test_the_repository_has_three_variants_with_batching_dims_and_the_onnx_metadata(tmp_path):
    pytest.importorskip("tritonclient.grpc")
    write_repo(SHIPPED, tmp_path, RepoConfig(max_batch=256, preferred=(8, 32), queue_delay_us=700))
    with OnnxRuntimeRunner(SHIPPED) as ort_runner:
        meta = ort_runner.metadata
    heads = {"python": ("backend", "python"), "onnxruntime": ("platform", "onnxruntime_onnx"),
             "tensorrt": ("platform", "tensorrt_plan")}
    for variant, head in heads.items():
        folder = tmp_path / variant / "camerapose_pose"
        cfg = _config((folder / "config.pbtxt").read_text())
        assert getattr(cfg, head[0]) == head[1] and cfg.name == "camerapose_pose"
        assert cfg.max_batch_size == 256
        assert [(t.name, list(t.dims)) for t in cfg.input] == [("kp2d", [17, 2]), ("conf", [17])]
        assert [(t.name, list(t.dims)) for t in cfg.output] == [
            ("kp2d_refined", [17, 2]), ("kp3d", [17, 3]), ("focal", [2]), ("center", [2]), ("t", [3])]
        assert all(t.data_type == 11 for t in [*cfg.input, *cfg.output])  # TYPE_FP32
        assert list(cfg.dynamic_batching.preferred_batch_size) == [8, 32]
        assert cfg.dynamic_batching.max_queue_delay_microseconds == 700
        assert {k: v.string_value for k, v in cfg.parameters.items() if k in meta} == meta  # JSON included
        assert (folder / "1" / "model.onnx").is_file() is (variant != "tensorrt")
    python = tmp_path / "python" / "camerapose_pose" / "1" / "model.py"
    assert python.read_text() == MODEL_PY.read_text() and "import camerapose" not in python.read_text()
    assert "trtexec --onnx=" in (tmp_path / "README.md").read_text()


def test_repository_settings_and_names_are_checked():
    with pytest.raises(InputError, match="letters, digits"):
        RepoConfig(name="my model")
    with pytest.raises(InputError, match=r"preferred batch sizes \[64\] are outside 1..32"):
        RepoConfig(max_batch=32, preferred=(16, 64))
    with pytest.raises(InputError, match="unknown Triton variant"):
        config_pbtxt("tflite", RepoConfig(), {}, {}, {})


def test_export_writes_a_repository_from_a_shipped_onnx_without_torch(tmp_path, capsys):
    out = tmp_path / "repo"
    assert main(["export", str(SHIPPED), "--triton-repo", str(out), "--triton-model", "lift",
                 "--triton-max-batch", "8", "--triton-queue-delay-us", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = (out / "python" / "lift" / "config.pbtxt").read_text()
    assert 'name: "lift"' in text and "max_batch_size: 8" in text and "preferred_batch_size" not in text
    assert main(["export", str(tmp_path / "no.onnx"), "--triton-repo", str(out)]) == 2


def test_blazepose_networks_are_exported_beside_the_pose_model_into_one_repository(tmp_path, detector_onnx,
                                                                                 capsys):
    """A non-pose ONNX is taken with --triton-repo (max batch 64 by default); a second and third export
    add models and README sections, and exporting the pose model again keeps the others."""
    pytest.importorskip("tritonclient.grpc")
    out = tmp_path / "repo"
    exports = [(SHIPPED, "camerapose_pose"), (detector_onnx[0], "blazepose_detector"),
               (detector_onnx[1], "blazepose_landmark"), (SHIPPED, "camerapose_pose")]
    for onnx, name in exports:
        assert main(["export", str(onnx), "--triton-repo", str(out), "--triton-model", name]) == 0
    readme = (out / "README.md").read_text()
    for name, max_batch, size in [("camerapose_pose", 1024, None), ("blazepose_detector", 64, 224),
                                  ("blazepose_landmark", 64, 256)]:
        for variant in ("python", "onnxruntime", "tensorrt"):
            cfg = _config((out / variant / name / "config.pbtxt").read_text())
            assert cfg.name == name and cfg.max_batch_size == max_batch
            assert list(cfg.dynamic_batching.preferred_batch_size) == [16, 64]
            if size:
                assert [(t.name, list(t.dims)) for t in cfg.input] == [("input_1", [size, size, 3])]
        shapes = f"--maxShapes={'input_1' if size else 'kp2d'}:{max_batch}x"
        assert readme.count(f"## `{name}`") == 1 and shapes in readme
    assert main(["export", str(REPO / "pyproject.toml"), "--triton-repo", str(out)]) == 2  # not an ONNX


def test_detect_with_an_unreachable_triton_server_is_one_line_and_exit_2(tmp_path, capsys):
    """No .tflite or ONNX is read with backend_runtime triton: the server's error comes first."""
    pytest.importorskip("tritonclient.grpc")
    import cv2

    clip = tmp_path / "black.mp4"
    out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    for _ in range(3):
        out.write(np.zeros((64, 64, 3), np.uint8))
    out.release()
    (port,) = free_ports(1)
    start = time.monotonic()
    assert main(["detect", str(clip), "--json", "--set", "detector.backend_runtime=triton",
                 "--set", f"detector.triton_url=127.0.0.1:{port}",
                 "--set", "detector.landmark_model=/no/such.tflite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert time.monotonic() - start < 5.0
    assert len(err) == 1 and err[0].startswith(f"camerapose detect: error: Triton server 127.0.0.1:{port} "
                                                "(grpc), model 'blazepose_landmark': unreachable"), err


def test_the_python_model_runs_many_requests_as_one_call_and_splits_them_back(rng):
    """triton_model.run_batched: what dynamic batching hands `execute`, against one call per request."""
    from camerapose.engines.triton_model import run_batched

    with OnnxRuntimeRunner(SHIPPED) as r:
        feeds = [{"kp2d": rng.normal(0, 0.4, (b, 17, 2)).astype(np.float32),
                  "conf": rng.random((b, 17), dtype=np.float32)} for b in (1, 3, 2)]
        names = list(r.outputs)
        got = run_batched(r._session, ["kp2d", "conf"], names, feeds)
        for feed, outs in zip(feeds, got, strict=True):
            want = r.infer(feed)
            for name, a in zip(names, outs, strict=True):
                assert a.shape == want[name].shape and np.abs(a - want[name]).max() < 1e-5


# -- the runner's errors (fast) -------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["", "grpc://", "http://"])
def test_an_unreachable_server_is_one_line_naming_it(scheme):
    pytest.importorskip("tritonclient.grpc")
    (port,) = free_ports(1)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as err:
        create_runner("", "triton", url=f"{scheme}127.0.0.1:{port}", timeout_s=2.0)
    text = str(err.value)
    assert time.monotonic() - start < 3.0 and "\n" not in text
    assert text.startswith(f"Triton server 127.0.0.1:{port} (") and "unreachable" in text


def test_the_lift_stage_passes_its_triton_settings_and_reports_the_server():
    pytest.importorskip("tritonclient.grpc")
    from camerapose.runtime.lift_engine import LiftConfig, LiftEngine

    (port,) = free_ports(1)
    cfg = LiftConfig(backend="triton", triton_url=f"127.0.0.1:{port}", triton_model="other",
                     model="/no/such.onnx")  # not read with the triton backend
    with pytest.raises(BackendUnavailable, match=rf"^Triton server 127.0.0.1:{port} \(grpc\), model 'other'"):
        LiftEngine(cfg)


@pytest.mark.parametrize("url", ["localhost", "127.0.0.1:", "tcp://127.0.0.1:8001", "h:99999", "a b:1"])
def test_a_malformed_triton_url_is_refused_when_the_config_is_read(url, capsys):
    with pytest.raises(InputError, match="expected HOST:PORT"):
        parse_url(url)
    assert main(["run", "--print-config", "--set", f"lift.triton_url={url!r}"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_parse_url_picks_the_protocol():
    assert parse_url("10.0.0.5:8001") == ("grpc", "10.0.0.5:8001")
    assert parse_url("grpc://gpu-box:9001") == ("grpc", "gpu-box:9001")
    assert parse_url("http://[::1]:8000") == ("http", "[::1]:8000")


# -- `camerapose serve`'s checks (fast: before any server or environment) --------------------------
def test_serve_refuses_a_port_in_use_and_a_folder_without_models(tmp_path, capsys):
    (tmp_path / "python" / "m").mkdir(parents=True)
    (tmp_path / "python" / "m" / "config.pbtxt").write_text('name: "m"\n')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(tmp_path), "--grpc-port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"port {port} on 127.0.0.1 is in use" in err[0] and "--grpc-port N" in err[0]
    assert main(["serve", str(tmp_path / "python" / "m")]) == 2
    assert "not a Triton model repository" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--http-port", "9000", "--grpc-port", "9000"]) == 2
    assert "must differ" in capsys.readouterr().err


# -- a real server (slow) -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def triton_env():
    pytest.importorskip("tritonclient.grpc")
    from camerapose.assets import SideEnvUnavailable
    from camerapose.engines.serve import side_env

    try:
        return side_env()
    except SideEnvUnavailable as err:
        pytest.skip(f"no Triton side environment ({err})")


@pytest.fixture(scope="session")
def triton_repo(tmp_path_factory) -> Path:
    """`camerapose export train/weights/default.pt --triton-repo DIR` (needs torch)."""
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("triton") / "repo"
    code = main(["export", str(REPO / "train" / "weights" / "default.pt"), "--triton-repo", str(out),
                 "--triton-queue-delay-us", str(QUEUE_DELAY_US), "-q"])
    assert code == 0
    for onnx, name in BLAZEPOSE:  # the 2D detector's networks, where `assets fetch --onnx` made them
        if onnx.is_file():
            assert main(["export", str(onnx), "--triton-repo", str(out), "--triton-model", name, "-q"]) == 0
    return out


class Serve:
    """`camerapose serve DIR` in a child process, on free loopback ports; `url` is its gRPC HOST:PORT."""

    def __init__(self, repo: Path) -> None:
        self.http, self.grpc, self.metrics = free_ports(3)
        self.url = f"127.0.0.1:{self.grpc}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "camerapose", "serve", str(repo), "--http-port", str(self.http),
             "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics), "--ready-timeout", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "serving ..." once ready; EOF if it gave up
        if not (line.startswith("serving ") and "camerapose_pose" in line.split(": gRPC")[0]):
            self.proc.kill()
            pytest.fail(f"camerapose serve did not start: {line}{self.proc.communicate()[1][-2000:]}")

    def server_pid(self) -> int:
        """The tritonserver process `serve` started."""
        (pid,) = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(pid)

    def stats(self, model: str = "camerapose_pose") -> dict:
        import tritonclient.grpc as tc

        client = tc.InferenceServerClient(self.url)
        try:
            return client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        finally:
            client.close()


@pytest.fixture(scope="module")
def served(triton_env, triton_repo):
    """One server for this module's tests; stopped with SIGTERM at its end, which must exit 0."""
    serve = Serve(triton_repo)
    yield serve
    server = serve.server_pid()
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.proc.wait(20) == 0, serve.proc.stderr.read()[-2000:]  # stopped cleanly, exit 0
    assert not Path(f"/proc/{server}").exists()  # and the server with it (reaped)


def _real_feed() -> dict[str, np.ndarray]:
    """The 140 persons of the demo recording, as the lift stage feeds them: (140, 17, 2), (140, 17)."""
    from camerapose.core.camera import normalize_screen
    from camerapose.runtime.files.messages import read_messages

    persons = [(p, m["image_size"]) for m in read_messages(RECORDING) for p in m["persons"]]
    kp = np.array([normalize_screen(np.asarray(p["kp2d"], np.float32), *size) for p, size in persons])
    return {"kp2d": kp.astype(np.float32), "conf": np.array([p["conf"] for p, _ in persons], np.float32)}


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["", "http://"])
def test_the_triton_runner_gives_what_onnxruntime_gives(served, triton_repo, scheme, rng):
    onnx = triton_repo / "python" / "camerapose_pose" / "1" / "model.onnx"
    url = f"{scheme}127.0.0.1:{served.http if scheme else served.grpc}"
    runner = create_runner("", "triton", url=url)
    try:
        with OnnxRuntimeRunner(onnx) as local:
            assert {k: runner.metadata[k] for k in local.metadata} == local.metadata
            assert runner.max_batch == 1024 and list(runner.outputs) == list(local.outputs)
            feeds = [{"kp2d": rng.normal(0, 0.5, (b, 17, 2)).astype(np.float32),
                      "conf": rng.random((b, 17), dtype=np.float32)} for b in (1, 7, 256)]
            for feed in [*feeds, _real_feed()]:
                got, want = runner.infer(feed), local.infer(feed)
                assert max(float(np.abs(got[k] - want[k]).max()) for k in want) <= 1e-5
        bad = [{"kp2d": np.zeros((2, 17, 2)), "conf": np.zeros((2, 17), np.float32)},  # float64
               {"kp2d": np.zeros((2, 16, 2), np.float32), "conf": np.zeros((2, 17), np.float32)},
               {"kp2d": np.zeros((1025, 17, 2), np.float32), "conf": np.zeros((1025, 17), np.float32)},
               {"kp2d": np.zeros((2, 17, 2), np.float32)}]
        for feed in bad:  # refused here, before a request goes out
            with pytest.raises(InputError, match=r"^triton: "):
                runner.infer(feed)
    finally:
        runner.deactivate()


def _run(demo: Path, save: Path, port: int, *sets: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "camerapose", "run", "--source", str(demo), "--every-frame",
           "--save", str(save), "--publish", f"tcp://127.0.0.1:{port}", "--stats-every", "0"]
    return subprocess.Popen([*cmd, *(a for s in sets for a in ("--set", s))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def demo_runs(served, triton_repo, demo_video, tmp_path_factory):
    """The demo, every frame, three runs at once: onnxruntime on the repository's ONNX, and two
    runtimes on the server. -> ({name: messages}, the server's statistics before, after)."""
    tmp = tmp_path_factory.mktemp("runs")
    onnx = triton_repo / "python" / "camerapose_pose" / "1" / "model.onnx"
    before = served.stats()
    ports = free_ports(3)
    triton = ("lift.backend=triton", f"lift.triton_url={served.url}")
    procs = {"local": _run(demo_video, tmp / "local.jsonl", ports[0], "lift.backend=onnxruntime",
                           f"lift.model={onnx}"),
             "a": _run(demo_video, tmp / "a.jsonl", ports[1], *triton),
             "b": _run(demo_video, tmp / "b.jsonl", ports[2], *triton)}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {err[-2000:]}"
    after = served.stats()
    runs = {n: [json.loads(s) for s in (tmp / f"{n}.jsonl").read_text().splitlines()] for n in procs}
    return runs, before, after


def _differences(mine: dict, theirs: dict) -> tuple[float, float]:
    """Two persons of one frame -> (largest difference in metres: kp3d, camera t; largest relative
    difference of the camera's fx, fy, cx, cy in pixels); every other field must be identical."""
    cam, other = mine["camera"], theirs["camera"]
    assert {k: v for k, v in mine.items() if k not in ("kp3d", "camera")} == \
        {k: v for k, v in theirs.items() if k not in ("kp3d", "camera")}  # the 2D, ids, boxes: detect's
    assert cam["source"] == other["source"]
    metres = max(float(np.abs(np.subtract(mine["kp3d"], theirs["kp3d"])).max()),
                 float(np.abs(np.subtract(cam["t"], other["t"])).max()))
    pixels = max(abs(cam[k] - other[k]) / abs(other[k]) for k in ("fx", "fy", "cx", "cy"))
    return metres, pixels


@pytest.mark.slow
@pytest.mark.assets
def test_a_run_on_the_server_publishes_the_local_runs_poses(demo_runs):
    """Within 1e-5 m: the JSONL keeps 5 decimals, so one unit of the last one is as close as the
    file shows. Requests batched with the other runtime's can change a float32's last bit, which
    is 1e-4 px on a focal length of ~1100 px: the camera's pixels are compared relatively (1e-6)."""
    runs, _, _ = demo_runs
    local = runs["local"]
    assert len(local) == 230 and sum(len(m["persons"]) for m in local) > 230
    for name in ("a", "b"):
        assert [m["frame"] for m in runs[name]] == list(range(230))
        worst = np.zeros(2)
        for mine, theirs in zip(runs[name], local, strict=True):
            assert [p["id"] for p in mine["persons"]] == [p["id"] for p in theirs["persons"]]
            for p, q in zip(mine["persons"], theirs["persons"], strict=True):
                worst = np.maximum(worst, _differences(p, q))
        assert worst[0] <= 1e-5 + 1e-12 and worst[1] <= 1e-6, f"{name}: {worst}"


@pytest.mark.slow
@pytest.mark.assets
def test_two_runtimes_at_once_are_batched_together_by_the_server(demo_runs):
    """Each runtime's lift stage has one request in flight at a time (offline: one per frame with
    persons), so an execution that served more than one request served both runtimes."""
    runs, before, after = demo_runs

    def delta(*keys: str) -> int:
        return int(_get(after, *keys)) - int(_get(before, *keys))

    requests = sum(1 for n in ("a", "b") for m in runs[n] if m["persons"])
    rows = sum(len(m["persons"]) for n in ("a", "b") for m in runs[n])
    assert delta("inference_stats", "success", "count") == requests
    assert delta("inference_count") == rows
    executions = delta("execution_count")
    assert executions < requests, (executions, requests)


def _get(stats: dict, *keys: str) -> str:
    for k in keys:
        stats = stats.get(k, {})
    return stats or "0"  # an empty counter is left out of the JSON


@pytest.mark.slow
@pytest.mark.assets
def test_the_server_killed_mid_run_stops_the_run_within_10_s_with_one_line(triton_env, triton_repo,
                                                                           demo_video, tmp_path):
    serve = Serve(triton_repo)
    save = tmp_path / "out.jsonl"
    (port,) = free_ports(1)
    run = _run(demo_video, save, port, "lift.backend=triton", f"lift.triton_url={serve.url}")
    try:
        deadline = time.monotonic() + 120
        while not (save.is_file() and save.read_text().count("\n") >= 10):  # well into the run
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[1][-2000:]
            time.sleep(0.1)
        killed = time.monotonic()
        os.kill(serve.server_pid(), signal.SIGKILL)
        _, err = run.communicate(timeout=30)
        took = time.monotonic() - killed
    except BaseException:
        run.kill()
        serve.proc.kill()
        raise
    assert run.returncode not in (0, None) and took < 10.0, (run.returncode, took)
    assert "Traceback" not in err
    errors = [s for s in err.splitlines() if "error: " in s.lower()]
    assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err  # one line, the last
    assert errors[0].startswith(f"camerapose run: error: Triton server {serve.url} (grpc)"), err
    _, serve_err = serve.proc.communicate(timeout=10)
    assert serve.proc.returncode == 2 and "stopped by itself (killed by SIGKILL" in serve_err


def _detect(clip: Path, *sets: str) -> list[dict]:
    cmd = [sys.executable, "-m", "camerapose", "detect", str(clip), "--json"]
    proc = subprocess.run([*cmd, *(a for s in sets for a in ("--set", s))], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(s) for s in proc.stdout.splitlines()]


@pytest.mark.slow
@pytest.mark.assets
def test_detect_with_blazepose_on_the_server_finds_what_onnxruntime_finds(served, detector_onnx, demo_clip):
    """Both networks on the server (the person detector in batches: all views of a frame in one
    request) give the persons, ids and 2D of onnxruntime on the same ONNX, within 1e-3 px."""
    clip = demo_clip(40)
    local = _detect(clip, "detector.backend_runtime=onnxruntime")
    models = ("blazepose_detector", "blazepose_landmark")
    before = {m: served.stats(m) for m in models}
    remote = _detect(clip, "detector.backend_runtime=triton", f"detector.triton_url={served.url}")
    after = {m: served.stats(m) for m in models}
    requests, rows = ({m: int(_get(after[m], *k)) - int(_get(before[m], *k)) for m in models}
                      for k in (("inference_stats", "success", "count"), ("inference_count",)))
    assert all(requests[m] > 0 for m in models), requests  # both networks ran on the server
    assert rows["blazepose_detector"] > requests["blazepose_detector"], (rows, requests)  # views batched
    assert len(remote) == len(local) == 40 and sum(len(m["persons"]) for m in local) >= 40
    worst = 0.0
    for mine, theirs in zip(remote, local, strict=True):
        assert [p["id"] for p in mine["persons"]] == [p["id"] for p in theirs["persons"]]
        for p, q in zip(mine["persons"], theirs["persons"], strict=True):
            worst = max(worst, float(np.abs(np.subtract(p["kp2d"], q["kp2d"])).max()))
    print(f"largest 2D difference {worst:.2e} px")
    assert worst <= 1e-3, worst
