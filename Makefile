# The two commands a new user needs (see README):
#   make demo   set up .venv, fetch the assets, run the main job on the demo video
#   make test   set up .venv, run the whole test suite
# Only Python 3.10+ and the package registries are needed.
# On a machine with an NVIDIA GPU (no internet needed: see docs/engines.md, "make gpu-check"):
#   make gpu-check   pycuda, the TensorRT engines, the GPU tests and the GPU benchmarks in one go,
#                    reports in benchmarks/results/gpu/<gpu>/; without a GPU it prints its plan, exit 0

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out

.PHONY: setup demo test test-fast test-browser gstreamer lint clean teacher weights gpu-check

# torch==2.13.0 goes in first: an unpinned torch (pulled by the train extra) is a 5 GB CUDA build.
$(VENV)/.setup-done: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[train,dev]'
	touch $@

setup: $(VENV)/.setup-done

demo: setup
	$(VENV)/bin/camerapose assets fetch
	bash scripts/demo.sh $(OUT)

test: setup gstreamer
	$(VENV)/bin/camerapose assets fetch --mocap --onnx
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .

# The teacher set: BlazePose's 2D + 3D on real video (Pose2Sim's multi-person demo, 4 cameras), written
# into the asset cache where train/configs/default.toml reads it.
teacher: setup
	$(VENV)/bin/camerapose assets fetch --mocap
	cache=$$(dirname "$$($(VENV)/bin/camerapose assets path video/pose2sim_multi_cam01.mp4)") && \
	mkdir -p "$$cache/../teacher" && \
	for i in 1 2 3 4; do \
	  $(VENV)/bin/camerapose detect "$$cache/pose2sim_multi_cam0$$i.mp4" --json \
	    > "$$cache/../teacher/pose2sim_multi_cam0$$i.jsonl" || exit 1; \
	done

# Retrain the default weights (about 40 min on 2 CPU cores) and re-export the shipped ONNX.
weights: setup
	$(VENV)/bin/camerapose assets fetch --mocap
	$(VENV)/bin/camerapose train --config train/configs/default.toml --export train/weights/default.pt
	$(VENV)/bin/camerapose export train/weights/default.pt

# The unit tests only (no processes, no model runs, no training; under a minute on 2 cores): the
# loop to run while changing code. `make test` runs everything, as CI does.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# The viewer in a real headless browser (`camerapose view` on the live demo): installs Debian's
# Chromium and its driver (apt, as root or through sudo) and Selenium, then runs the browser tests.
# SCREENSHOT=docs/img/viewer.png also saves the README's picture of the viewer.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
test-browser: setup
	$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver
	$(PY) -m pip install --quiet "selenium<4.40" "aiohttp>=3.9"
	$(VENV)/bin/camerapose assets fetch
	CAMERAPOSE_SCREENSHOT=$(SCREENSHOT) $(PY) -m pytest -q tests/runtime/test_viewer_browser.py tests/runtime/test_viewer_server.py

# GStreamer's gst-launch-1.0 for the gst: source's tests (tests/runtime/test_source_gst.py), as
# test-browser installs Chromium: Debian's packages, apt as root or through sudo. Nothing to do where
# gst-launch-1.0 is there; without apt (not Debian/Ubuntu) a note, and those tests skip.
GST_PACKAGES := gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer:
	@if command -v gst-launch-1.0 >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y $(GST_PACKAGES); \
	else echo "no apt-get: install GStreamer's gst-launch-1.0 yourself, else the gst: source tests skip"; fi

# scripts/gpu_check.sh: no `setup` first, a GPU machine may have no PyPI (it picks $PYTHON, else .venv,
# else python3). GPU_CHECK_ARGS=--dry-run prints the plan on a GPU machine too.
gpu-check:
	bash scripts/gpu_check.sh $(GPU_CHECK_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build $(OUT)
