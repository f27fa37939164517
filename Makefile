# The two commands a new user needs (see README):
#   make demo   set up .venv, fetch the assets, run the main job on the demo video
#   make test   set up .venv, run the whole test suite
# Only Python 3.10+ and the package registries are needed.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
OUT    ?= out

.PHONY: setup demo test lint clean

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

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build $(OUT)
