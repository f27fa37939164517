# The two commands a new user needs (see README):
#   make demo   set up .venv, fetch the assets, run the main job on the demo video
#   make test   set up .venv, run the whole test suite
# Only Python 3.10+ and the package registries are needed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out

.PHONY: setup demo test test-fast test-browser lint clean teacher weights

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

test: setup
	$(VENV)/bin/camerapose assets fetch --mocap
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

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build $(OUT)
