#!/usr/bin/env bash
# `make gpu-check`: the GPU half of camerapose's engines in one go (issue 25, item 4).
#
# On a machine with an NVIDIA GPU: build pycuda, the TensorRT engines of the lift model and of
# BlazePose's two networks, run every GPU test, run `camerapose bench --suite engines` and
# `--suite detector`, and write the reports, a log and a README naming the machine into
# benchmarks/results/gpu/<machine-slug>/. Each step is timed and has a timeout; a failed step is
# recorded and the next one runs; the summary table at the end gives PASS / FAIL / SKIP and why.
# Exit status: 1 if a step FAILED, else 0.
#
# Without a GPU (no nvidia-smi, or it fails), and with --dry-run anywhere: print the plan (every
# step and its commands), run nothing, write nothing, exit 0. `bash scripts/gpu_check.sh --help`
# lists the settings; docs/engines.md ("make gpu-check") says how to carry wheels and assets to a
# GPU machine without internet.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bash scripts/gpu_check.sh [--dry-run] [--help]        (or: make gpu-check)

Make the GPU half of camerapose's engines run in one go, on a machine with an NVIDIA GPU:
pycuda (built from source), the TensorRT engines of the lift model and of BlazePose's two
networks, every GPU test, `camerapose bench --suite engines` and `--suite detector`. Reports,
gpu_check.log and README.md go to benchmarks/results/gpu/<machine-slug>/ (the slug comes from the
GPU's name, e.g. nvidia-h200). Each step has a timeout; the whole run stays under the time
budget. A failed step does not stop the next ones; exit status 1 if any step FAILED, else 0.

Without an NVIDIA GPU (no nvidia-smi, or it fails) this prints the plan, runs nothing and exits 0.

Options:
  -n, --dry-run   print the plan and exit 0, even on a GPU machine (nothing is run or written)
  -h, --help      this text

Environment:
  PYTHON               the interpreter (default: .venv/bin/python if it exists, else python3)
  WHEELS               folder of carried wheels and sdists, installed with pip --no-index --no-deps
                       where their distribution is not installed yet (default: .whl)
  CAMERAPOSE_CACHE     the asset cache (default ~/.cache/camerapose): BlazePose's ONNX files,
                       the demo video; TensorRT engines are cached under its engines/ folder
  OUT                  if set (a remote runner's output folder): the log, README and reports are
                       also copied there, flat, 8 files at most
  GPU_CHECK_BUDGET_S   time budget of the whole run in seconds (default 570)
  GPU_CHECK_QUICK      1: also `--quick` for the engines suite (the detector suite always runs quick)
  TENSORRT_PIP         what `pip install` asks for when TensorRT is missing and PyPI answers
                       (default: tensorrt; on a Jetson empty: TensorRT comes from JetPack)
  NVIDIA_SMI           the nvidia-smi command (default: nvidia-smi)
EOF
}

DRY_RUN=0
while (($#)); do
    case $1 in
        -n | --dry-run) DRY_RUN=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)

# ---- settings ---------------------------------------------------------------------------------
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
WHEELS=${WHEELS:-.whl}
BUDGET_S=${GPU_CHECK_BUDGET_S:-570}
# A Jetson has TensorRT from JetPack (python3-libnvinfer): never pip's there, unless asked.
if [[ -f /etc/nv_tegra_release ]]; then TENSORRT_PIP=${TENSORRT_PIP-}; else TENSORRT_PIP=${TENSORRT_PIP-tensorrt}; fi
if [[ ! $BUDGET_S =~ ^[0-9]+$ ]] || ((BUDGET_S < 60)); then
    echo "gpu_check.sh: GPU_CHECK_BUDGET_S must be a whole number of seconds >= 60, got '$BUDGET_S'" >&2
    exit 2
fi
CACHE=${CAMERAPOSE_CACHE:-$HOME/.cache/camerapose}
CACHE=${CACHE/#\~/$HOME}
LIFT_ONNX=engines/models/pose_default.onnx
# Per-step timeouts (s), for an H100-class machine; a larger budget (a Jetson) stretches them in
# proportion. Every step is also cut to what is left of the budget.
T_PYTHON=60 T_PACKAGES=180 T_PYCUDA=300 T_CAMERAPOSE=120 T_ENGINE=240 T_TESTS=300 T_BENCH=240
if ((BUDGET_S > 570)); then
    for t in T_PACKAGES T_PYCUDA T_ENGINE T_TESTS T_BENCH; do printf -v "$t" '%d' $((${!t} * BUDGET_S / 570)); done
fi

if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON PY_WHY="from \$PYTHON"
elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python PY_WHY="the project's .venv"
else
    PY=python3 PY_WHY="no .venv here and no \$PYTHON"
fi

ENGINES_QUICK=()
if [[ ${GPU_CHECK_QUICK:-0} == 1 ]]; then ENGINES_QUICK=(--quick); fi

# Each network of BlazePose through create_image_runner(tflite, onnx, "tensorrt"): builds (or loads)
# its engine through the engine cache, runs one batch of 4 zeros, prints the engine's cache path.
BLAZEPOSE_PY='import logging, sys, time
import numpy as np
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
from camerapose.engines.build import engine_key, gpu_identity, import_tensorrt
from camerapose.engines.cache import EngineCache
from camerapose.engines.select import create_image_runner
from camerapose.engines.signature import sha256_file
tflite, onnx = sys.argv[1:3]
t0 = time.perf_counter()
runner = create_image_runner(tflite, onnx, "tensorrt")
try:
    print(f"engine ready in {time.perf_counter() - t0:.1f} s ({type(runner).__name__})")
    feed = {n: np.zeros((4, *(d if isinstance(d, int) else 1 for d in s.shape[1:])), s.dtype)
            for n, s in runner.inputs.items()}
    out = runner.infer(feed)
    print("batch of 4 zeros:", ", ".join(f"{k} {v.shape}" for k, v in out.items()),
          f"in {runner.last_inference_ms:.2f} ms")
    key = engine_key(sha256_file(onnx), runner.cfg, import_tensorrt().__version__, *gpu_identity())
    print("engine cache:", EngineCache(runner.cfg.cache_dir).paths(key)[0])
finally:
    runner.deactivate()'

# What is installed: one line per module, "name<TAB>version<TAB>details" (or "-" when missing).
PROBE_PY='import importlib, platform, sys
from importlib import metadata
print(f"python\t{platform.python_version()}\t{sys.executable}")
for mod, dist in (("numpy", "numpy"), ("torch", "torch"), ("onnxruntime", "onnxruntime"),
                  ("tensorrt", None), ("pycuda", "pycuda"), ("ai_edge_litert", "ai-edge-litert"),
                  ("matplotlib", "matplotlib"), ("zmq", "pyzmq"), ("onnx", "onnx"),
                  ("setuptools", "setuptools"), ("camerapose", "camerapose")):
    try:
        m = importlib.import_module(mod)
    except Exception as err:
        print(f"{mod}\t-\t{type(err).__name__}: {err}")
        continue
    v = getattr(m, "__version__", None) or getattr(m, "VERSION_TEXT", None)
    if v is None and dist:
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = "?"
    extra = getattr(m, "__file__", "") or ""
    if mod == "torch":
        ok = m.cuda.is_available()
        extra = f"CUDA {m.version.cuda}, cuda available: {ok}" + (f", {m.cuda.get_device_name(0)}" if ok else "")
    elif mod == "onnxruntime":
        extra = "providers " + ",".join(m.get_available_providers())
    print(f"{mod}\t{v}\t{extra}")'

# The carried files whose distribution is not installed yet (a carried numpy never replaces the
# one torch was built with): "install PATH" or "have PATH".
SELECT_PY='import re, sys
from importlib import metadata
for path in sys.argv[1:]:
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".whl"):
        name = base.split("-")[0]
    else:
        name = re.sub(r"\.(tar\.gz|tar\.bz2|zip)$", "", base).rsplit("-", 1)[0]
    try:
        metadata.distribution(name)
        print("have", path)
    except metadata.PackageNotFoundError:
        print("install", path)'

# ---- helpers ----------------------------------------------------------------------------------
LOG=/dev/null
STEP_OUT=/dev/null
now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local t=${EPOCHREALTIME//[.,]/}
        echo $((10#$t / 1000))
    else
        date +%s%3N
    fi
}
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }  # ms -> "12.3"
say() { printf '%s\n' "$*" | tee -a "$LOG"; }
quoted() {  # a command line to show: shell-quoted, a multi-line argument (python code) as <code>
    local a out=""
    for a in "$@"; do
        if [[ $a == *$'\n'* ]]; then out+="<code: ${a%%$'\n'*} ...> "; else printf -v a '%q ' "$a"; out+=$a; fi
    done
    printf '%s' "${out% }"
}
slugify() { tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//'; }

GPU_NAME=""
detect_gpu() {  # sets GPU_NAME; false without a working nvidia-smi (on a Jetson: the board's model)
    local names=""
    if command -v "$NVIDIA_SMI" >/dev/null 2>&1; then
        names=$(timeout 20 "$NVIDIA_SMI" --query-gpu=name --format=csv,noheader 2>/dev/null || true)
    fi
    if [[ -z $names && -f /etc/nv_tegra_release && -r /proc/device-tree/model ]]; then
        names=$(tr -d '\0' </proc/device-tree/model)  # JetPack without a working nvidia-smi
    fi
    GPU_NAME=$(printf '%s\n' "$names" | head -n 1 | sed -E 's/^ +| +$//g')
    [[ -n $GPU_NAME ]]
}

cuda_root() {  # the CUDA toolkit's root (for pycuda's build), or nothing
    local r
    for r in "${CUDA_ROOT:-}" "${CUDA_HOME:-}" /usr/local/cuda; do
        [[ -n $r && -x $r/bin/nvcc ]] && { echo "$r"; return; }
    done
    for r in /usr/local/cuda-*; do [[ -x $r/bin/nvcc ]] && echo "$r"; done | sort -V | tail -n 1
}

# ---- the plan -----------------------------------------------------------------------------------
STEPS=(python packages pycuda camerapose assets engine-lift engine-bp-detector engine-bp-landmark
    gpu-tests bench-engines bench-detector report)
NSTEPS=${#STEPS[@]}

print_plan() {  # $1: the results folder
    local res=$1 here_whl here_onnx here_demo f trt_pip=${TENSORRT_PIP:-"<not TensorRT: JetPack provides it>"}
    if compgen -G "$WHEELS/*.whl" >/dev/null || compgen -G "$WHEELS/*.tar.gz" >/dev/null; then
        here_whl="here: $WHEELS/ holds $(find "$WHEELS" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) | wc -l) files"
    else
        here_whl="here: no $WHEELS/ folder with packages"
    fi
    here_onnx="present"
    for f in pose_detection.onnx pose_landmark_full.onnx; do [[ -f $CACHE/$f ]] || here_onnx="missing"; done
    here_demo=$([[ -f $CACHE/demo.mp4 ]] && echo present || echo missing)
    cat <<EOF
Plan (python: $PY, $PY_WHY; time budget ${BUDGET_S} s). Each step is timed, logged and
recorded as PASS / FAIL / SKIP with its reason; a failed step does not stop the next ones.

 1. python (timeout ${T_PYTHON} s): the interpreter, numpy, torch and its CUDA, onnxruntime and its
    providers, tensorrt, pycuda, ai-edge-litert, matplotlib; the GPU and driver; nvcc.
      $PY -c <probe of each module's version>
      $NVIDIA_SMI ; nvcc --version
 2. packages (timeout ${T_PACKAGES} s): TensorRT and the other missing Python packages.
      with a $WHEELS/ folder ($here_whl): every carried wheel, then every sdist but
      pycuda's, whose distribution is not installed yet (an installed numpy or torch is never
      replaced):
      $PY -m pip install --no-index --no-deps --no-build-isolation --find-links $WHEELS <files>
      without it, if PyPI answers: $PY -m pip install $trt_pip
      (+ matplotlib, ai-edge-litert, pyzmq where missing); else SKIP with that reason.
 3. pycuda (timeout ${T_PYCUDA} s): pycuda build from source against the CUDA toolkit (nvcc),
    timed; nothing to do if pycuda imports already:
      $PY -m pip install --no-index --no-deps --no-build-isolation $WHEELS/pycuda-<ver>.tar.gz
      (no carried sdist but PyPI answers: $PY -m pip install --no-binary pycuda pycuda)
      (the sdist unpacked first: without pycuda's CURAND wrapper where the toolkit has no curand.h,
      linked against the driver's libcuda.so.1 where it has no libcuda stub)
      then: $PY -c 'import pycuda.driver as d; d.init(); print(d.Device(0).name())'
 4. camerapose (timeout ${T_CAMERAPOSE} s): the package from this checkout, if not importable yet:
      $PY -m pip install --no-index --no-deps --no-build-isolation -e .
      (if that fails, e.g. setuptools missing or too old: a symlink tree of camerapose.*, put
      first by a sitecustomize.py on PYTHONPATH; nothing is installed then)
 5. assets: the cache \$CAMERAPOSE_CACHE, else ~/.cache/camerapose (here: $CACHE):
    BlazePose's pose_detection.onnx and pose_landmark_full.onnx ($here_onnx here), demo.mp4
    ($here_demo here). Without the ONNX files the BlazePose engine steps are SKIPPED: run
    \`camerapose assets fetch --onnx\` on a machine with PyPI and carry the cache.
 6. engine-lift (timeout ${T_ENGINE} s): the TensorRT engine of the lift model (fp16, batch
    1..4096, opt 64: what the runtime asks for), into the engine cache (<cache>/engines):
      $PY -m camerapose build $LIFT_ONNX
 7. engine-bp-detector (timeout ${T_ENGINE} s): the TensorRT engine of BlazePose's person detector,
    through create_image_runner(tflite, onnx, "tensorrt") and the engine cache, then one batch of 4
    zeros; prints the engine cache path:
      $PY -c <snippet below> <cache>/pose_detection.tflite <cache>/pose_detection.onnx
 8. engine-bp-landmark (timeout ${T_ENGINE} s): the same for BlazePose's landmark network:
      $PY -c <snippet below> <cache>/pose_landmark_full.tflite <cache>/pose_landmark_full.onnx
 9. gpu-tests (timeout ${T_TESTS} s): the GPU tests (@pytest.mark.gpu: TensorRT, torch CUDA, the
    CUDA kernels, which also need cmake and nvcc), in the files that hold any:
      $PY -m pytest -q -m gpu -p no:cacheprovider $(gpu_test_files | tr '\n' ' ' | sed 's/ $//')
10. bench-engines (timeout ${T_BENCH} s): refine+lift latency and poses/s on every backend that
    runs (TensorRT, torch CUDA, onnxruntime) and the CUDA kernels:
      $PY -m camerapose bench --suite engines --out $res${ENGINES_QUICK[*]:+ ${ENGINES_QUICK[*]}}
11. bench-detector (timeout ${T_BENCH} s): BlazePose on LiteRT / onnxruntime / TensorRT on the
    same frames:
      $PY -m camerapose bench --suite detector --quick --out $res
12. report: where reports go: $res/ gets engines.md/.json/.png,
    detector.md/.json/.png, gpu_check.log (everything printed) and README.md (GPU, driver, CUDA,
    TensorRT / pycuda / onnxruntime versions, CPU, date, each step's status and time, links to
    the reports). With \$OUT set, the log, README and reports are also copied into \$OUT/, flat,
    8 files at most. A summary table at the end; exit 1 if a step FAILED, else 0.

The BlazePose snippet (steps 7, 8):
$(printf '%s\n' "$BLAZEPOSE_PY" | sed 's/^/    /')
EOF
}

gpu_test_files() { grep -rlE --include='test_*.py' 'pytest\.mark\.gpu' tests 2>/dev/null | sort || true; }

if ((DRY_RUN)) || ! detect_gpu; then
    if ((DRY_RUN)) && detect_gpu; then
        slug=$(printf '%s' "$GPU_NAME" | slugify)
        why="dry run (--dry-run): nothing was run"
        echo "gpu_check: GPU: $GPU_NAME"
    else
        slug="<machine-slug>"
        why="no NVIDIA GPU here: dry run, nothing was run"
        echo "gpu_check: no NVIDIA GPU here ('$NVIDIA_SMI' is missing or fails); the plan on a GPU machine:"
    fi
    echo
    print_plan "benchmarks/results/gpu/$slug"
    echo
    echo "$why"
    exit 0
fi

# ---- the real run ---------------------------------------------------------------------------------
SLUG=$(printf '%s' "$GPU_NAME" | slugify)
RESULTS=benchmarks/results/gpu/$SLUG
mkdir -p "$RESULTS"
LOG=$RESULTS/gpu_check.log
: >"$LOG"
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$TMPD"' EXIT
STEP_OUT=$TMPD/step.out
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
export TQDM_DISABLE=1  # no progress bars in the log
START_MS=$(now_ms)
BUDGET_MS=$((BUDGET_S * 1000))
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

declare -A STATUS=() TOOK=() WHY=()
ST="" REASON=""  # what each step function sets
STEP_DEADLINE_MS=0
TIMED_OUT=""  # set by run_cmd: the timeout (s) a command of this step ran into

left_ms() { echo $((BUDGET_MS - ($(now_ms) - START_MS))); }

run_cmd() {  # run_cmd CMD...: under the step's deadline; output to the console, the log and STEP_OUT
    local left=$(((STEP_DEADLINE_MS - $(now_ms)) / 1000)) rc=0
    if ((left < 5)); then
        say "  (no time left in this step for: $(quoted "$@"))"
        return 124
    fi
    say "  \$ $(quoted "$@")"
    timeout --kill-after=10 "$left" "$@" </dev/null 2>&1 | tee -a "$LOG" "$STEP_OUT" || rc=${PIPESTATUS[0]}
    if ((rc == 124 || rc == 137)); then say "  (timed out after ${left} s)"; TIMED_OUT=$left; fi
    return "$rc"
}

quiet_py() {  # quiet_py CODE [ARGS]: true if the interpreter runs CODE (60 s at most), nothing printed
    timeout 60 "$PY" -c "$@" >/dev/null 2>&1
}

step() {  # step N NAME TIMEOUT FUNCTION (the report step runs whatever is left of the budget)
    local n=$1 name=$2 limit=$3 fn=$4 left t0 took
    left=$(left_ms)
    say ""
    if [[ $name == report ]]; then
        left=$((limit * 1000 + 10000))
    elif ((left < 20000)); then
        STATUS[$name]=SKIP TOOK[$name]=0 WHY[$name]="time budget spent (${BUDGET_S} s)"
        say "== [$n/$NSTEPS] $name: SKIP, ${WHY[$name]}"
        return
    fi
    if ((limit * 1000 > left - 10000)); then limit=$(((left - 10000) / 1000)); fi
    say "== [$n/$NSTEPS] $name (timeout ${limit} s; $(($(left_ms) / 1000)) s of the ${BUDGET_S} s budget left) =="
    STEP_DEADLINE_MS=$(($(now_ms) + limit * 1000))
    : >"$STEP_OUT"
    ST=FAIL REASON="no status recorded" TIMED_OUT=""
    t0=$(now_ms)
    "$fn" || true
    took=$(($(now_ms) - t0))
    if [[ $ST == FAIL && -n $TIMED_OUT ]]; then REASON="timed out after $TIMED_OUT s: $REASON"; fi
    STATUS[$name]=$ST TOOK[$name]=$took WHY[$name]=$REASON
    say "-- $name: $ST in $(secs "$took") s${REASON:+: $REASON}"
}

PIP=()          # "$PY -m pip install" plus the flags this interpreter needs
PYPI=unknown
pypi_reachable() {
    if [[ $PYPI == unknown ]]; then
        local url=${PIP_INDEX_URL:-https://pypi.org/simple}
        if timeout 10 "$PY" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=8)' \
            "${url%/}/pip/" >/dev/null 2>&1; then PYPI=yes; else PYPI=no; fi
        say "  PyPI (${url}): $([[ $PYPI == yes ]] && echo reachable || echo not reachable)"
    fi
    [[ $PYPI == yes ]]
}

have() { quiet_py "import $1"; }  # have MODULE

setup_cuda_env() {  # PATH, CUDA_ROOT, CPATH, LIBRARY_PATH for building against the CUDA toolkit
    local root
    [[ -z ${CUDA_ENV_DONE:-} ]] || return 0
    CUDA_ENV_DONE=1
    root=$(cuda_root)
    [[ -n $root ]] || return 0
    export CUDA_ROOT=$root PATH=$root/bin:$PATH
    export CPATH=$root/include${CPATH:+:$CPATH}
    # libcuda.so to link against: the toolkit's stub (the driver's libcuda.so.1 is used at run time)
    export LIBRARY_PATH=$root/lib64:$root/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
}

# ---- the steps ------------------------------------------------------------------------------------
PY_OK=0
s_python() {
    say "  python: $PY ($PY_WHY)"
    if ! command -v "$PY" >/dev/null 2>&1; then
        ST=FAIL REASON="no interpreter '$PY' (set PYTHON)"
        return
    fi
    if ! run_cmd "$PY" -c "$PROBE_PY"; then
        ST=FAIL REASON="$PY does not run the probe"
        return
    fi
    PY_OK=1
    run_cmd "$NVIDIA_SMI" || true
    setup_cuda_env
    if command -v nvcc >/dev/null 2>&1; then run_cmd nvcc --version || true; else say "  nvcc: not on PATH"; fi
    if quiet_py 'import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(not (sys.prefix == sys.base_prefix and os.path.isfile(marker)))'; then
        say "  $PY is an externally managed system Python: pip runs with --break-system-packages"
        PIP=("$PY" -m pip install --break-system-packages)
    else
        PIP=("$PY" -m pip install)
    fi
    if ! quiet_py 'import pip'; then
        say "  pip: not available for $PY (the packages steps will fail)"
    fi
    local line
    line=$(awk -F'\t' '$1=="python"{p=$2} $1=="torch" && $2!="-"{t=$2" ("$3")"}
        END{print "Python " p ", torch " (t?t:"not installed")}' "$STEP_OUT")
    ST=PASS REASON=$line
}

need_python() { ((PY_OK)) || { ST=SKIP REASON="no working Python"; return 1; }; }

missing_extras() {  # the pip names of the useful packages this interpreter lacks
    local mod pkg
    for pair in tensorrt:"$TENSORRT_PIP" matplotlib:matplotlib ai_edge_litert:ai-edge-litert zmq:pyzmq; do
        mod=${pair%%:*} pkg=${pair#*:}
        if [[ -n $pkg ]] && ! have "$mod"; then echo "$pkg"; fi
    done
}

s_packages() {
    need_python || return
    local files=() wheels=() sdists=() failed=() f verdict path
    if [[ -d $WHEELS ]]; then
        while IFS= read -r f; do files+=("$f"); done < <(find "$WHEELS" -maxdepth 1 -type f \
            \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) ! -name 'pycuda-*' | sort)
    fi
    if ((${#files[@]})); then
        say "  carried: ${#files[@]} files in $WHEELS/ (pycuda's sdist, if any, is built in the next step)"
        while read -r verdict path; do
            [[ $verdict == install ]] || { say "  already installed: $(basename "$path")"; continue; }
            if [[ $path == *.whl ]]; then wheels+=("$path"); else sdists+=("$path"); fi
        done < <(timeout 60 "$PY" -c "$SELECT_PY" "${files[@]}")
        if ((${#wheels[@]})) && ! run_cmd "${PIP[@]}" --no-index --no-deps --find-links "$WHEELS" "${wheels[@]}"; then
            say "  the wheels together failed: one at a time"
            for f in "${wheels[@]}"; do
                run_cmd "${PIP[@]}" --no-index --no-deps --find-links "$WHEELS" "$f" || failed+=("$(basename "$f")")
            done
        fi
        for f in ${sdists[@]+"${sdists[@]}"}; do
            run_cmd "${PIP[@]}" --no-index --no-deps --no-build-isolation --find-links "$WHEELS" "$f" \
                || failed+=("$(basename "$f")")
        done
        if ((${#failed[@]})); then
            ST=FAIL REASON="not installed: ${failed[*]}"
        else
            ST=PASS REASON="$((${#wheels[@]} + ${#sdists[@]})) carried packages installed"
        fi
    else
        local want=()
        mapfile -t want < <(missing_extras)
        if ((${#want[@]} == 0)); then
            ST=PASS REASON="TensorRT, matplotlib, ai-edge-litert and pyzmq already installed"
        elif pypi_reachable; then
            if run_cmd "${PIP[@]}" "${want[@]}"; then
                ST=PASS REASON="installed from PyPI: ${want[*]}"
            else
                ST=FAIL REASON="pip install ${want[*]} failed (see the log)"
            fi
        else
            ST=SKIP REASON="missing ${want[*]}: no packages in $WHEELS/ and PyPI is not reachable (carry wheels, docs/engines.md)"
        fi
    fi
    have tensorrt || { [[ $ST == PASS ]] && ST=SKIP REASON="$REASON; tensorrt still not importable"; }
}

PYCUDA_SRC=""
pycuda_source() {  # pycuda_source SDIST: unpack it into PYCUDA_SRC, with a siteconf.py for what this toolkit lacks
    local root=$TMPD/pycuda-src
    rm -rf "$root" && mkdir -p "$root"
    tar xzf "$1" -C "$root" || return 1
    PYCUDA_SRC=$(find "$root" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    [[ -f $PYCUDA_SRC/setup.py ]] || return 1
    if ! compgen -G "$CUDA_ROOT/include/curand.h" >/dev/null \
        && ! compgen -G "$CUDA_ROOT/targets/*/include/curand.h" >/dev/null; then
        say "  no curand.h in $CUDA_ROOT: pycuda without its CURAND wrapper (siteconf CUDA_ENABLE_CURAND = False)"
        echo "CUDA_ENABLE_CURAND = False" >>"$PYCUDA_SRC/siteconf.py"
    fi
}

link_libcuda() {  # make -lcuda resolve: the toolkit's stub, else the driver's libcuda.so.1 by a symlink
    local d lib=""
    for d in "$CUDA_ROOT"/lib64 "$CUDA_ROOT"/lib64/stubs "$CUDA_ROOT"/lib "$CUDA_ROOT"/lib/stubs \
        /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /lib/x86_64-linux-gnu; do
        [[ -e $d/libcuda.so ]] && return 0
    done
    for d in ${LD_LIBRARY_PATH//:/ } /usr/local/nvidia/lib64 /usr/lib/wsl/lib /usr/lib/x86_64-linux-gnu \
        /usr/lib/aarch64-linux-gnu /usr/lib64; do
        if [[ -e $d/libcuda.so.1 ]]; then lib=$d/libcuda.so.1; break; fi
    done
    [[ -n $lib ]] || lib=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}' || true)
    if [[ -z $lib ]]; then
        say "  no libcuda.so (toolkit stub) nor the driver's libcuda.so.1 found: pycuda's link will likely fail"
        return 0
    fi
    mkdir -p "$TMPD/cudalib"
    ln -sf "$lib" "$TMPD/cudalib/libcuda.so"
    export LIBRARY_PATH=$TMPD/cudalib${LIBRARY_PATH:+:$LIBRARY_PATH}
    say "  no libcuda.so stub in the toolkit: linking against the driver's $lib"
}

PYCUDA_CHECK='import pycuda, pycuda.driver as d
d.init()
print("pycuda", pycuda.VERSION_TEXT, "on", d.Device(0).name(), "| CUDA driver API", d.get_driver_version())'

s_pycuda() {
    need_python || return
    if have pycuda.driver; then
        ST=PASS REASON="already installed, nothing to build"
        run_cmd "$PY" -c "$PYCUDA_CHECK" || { ST=FAIL REASON="pycuda is installed but does not see the GPU (see the log)"; }
        return
    fi
    setup_cuda_env
    if [[ -z ${CUDA_ROOT:-} ]] || ! command -v nvcc >/dev/null 2>&1; then
        ST=SKIP REASON="no CUDA toolkit (nvcc, cuda.h) to build pycuda against"
        return
    fi
    local sdist t0 built flags=(--no-index --no-deps --no-build-isolation)
    sdist=$(find "$WHEELS" -maxdepth 1 -name 'pycuda-*.tar.gz' 2>/dev/null | sort -V | tail -n 1 || true)
    t0=$(now_ms)
    if [[ -z $sdist ]]; then
        if ! pypi_reachable; then
            ST=SKIP REASON="pycuda is not installed: no $WHEELS/pycuda-*.tar.gz and PyPI is not reachable"
            return
        fi
        # What `pip install --no-binary pycuda pycuda` does, with the source unpacked first (siteconf.py)
        run_cmd "$PY" -m pip download --no-deps --no-binary pycuda -d "$TMPD/dl" pycuda \
            || { ST=FAIL REASON="pip download pycuda failed (see the log)"; return; }
        sdist=$(find "$TMPD/dl" -name 'pycuda-*.tar.gz' | head -n 1)
        flags=()  # its dependencies (pytools, platformdirs, mako) come from PyPI too
    fi
    if ! pycuda_source "$sdist"; then
        ST=FAIL REASON="could not unpack $sdist"
        return
    fi
    link_libcuda
    say "  building $(basename "$sdist") from source (CUDA_ROOT=$CUDA_ROOT)"
    run_cmd "${PIP[@]}" ${flags[@]+"${flags[@]}"} "$PYCUDA_SRC" \
        || { ST=FAIL REASON="building $(basename "$sdist") failed after $(secs $(($(now_ms) - t0))) s (see the log)"; return; }
    built=$(secs $(($(now_ms) - t0)))
    if run_cmd "$PY" -c "$PYCUDA_CHECK"; then
        ST=PASS REASON="built from source in ${built} s"
    else
        ST=FAIL REASON="built in ${built} s, but: $(grep -E '^[A-Za-z.]*(Error|Exception)' "$STEP_OUT" | tail -n 1)"
    fi
}

CP_OK=0
camerapose_here() {  # camerapose imports, from this checkout
    timeout 60 "$PY" -c 'import sys, camerapose.engines.select, camerapose.benchmarks.cli as b
from pathlib import Path
sys.exit(Path(b.__file__).resolve().parent != Path(sys.argv[1]) / "benchmarks")' "$REPO" >/dev/null 2>&1
}

s_camerapose() {
    need_python || return
    if camerapose_here; then
        CP_OK=1 ST=PASS REASON="importable from this checkout"
        return
    fi
    if run_cmd "${PIP[@]}" --no-index --no-deps --no-build-isolation -e . && camerapose_here; then
        CP_OK=1 ST=PASS REASON="installed from this checkout (pip -e .)"
        return
    fi
    # No setuptools (or pip, or one too old for pyproject.toml) to install with: pyproject.toml maps
    # the top-level folders into camerapose.*; a tree of symlinks does the same, and a sitecustomize
    # on PYTHONPATH puts it before the checkout's own camerapose/ folder (the current directory).
    say "  pip -e . did not work: a symlink tree of camerapose.* instead (sitecustomize on PYTHONPATH)"
    local root=$TMPD/pkgroot/camerapose d
    mkdir -p "$root"
    for d in "$REPO"/camerapose/*; do ln -s "$d" "$root/"; done
    for d in core models train engines runtime benchmarks; do ln -s "$REPO/$d" "$root/$d"; done
    cat >"$TMPD/pkgroot/sitecustomize.py" <<PYEOF
import importlib.util, sys
class _CameraPoseTree:  # written by scripts/gpu_check.sh
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "camerapose":
            return importlib.util.spec_from_file_location(
                name, "$root/__init__.py", submodule_search_locations=["$root"])
        return None
sys.meta_path.insert(0, _CameraPoseTree)
PYEOF
    export PYTHONPATH=$TMPD/pkgroot${PYTHONPATH:+:$PYTHONPATH}
    if camerapose_here; then
        CP_OK=1 ST=PASS REASON="on PYTHONPATH through a symlink tree (pip -e . failed, see the log)"
    else
        ST=FAIL REASON="camerapose does not import from this checkout (see the log)"
        run_cmd "$PY" -c 'import camerapose.engines.select, camerapose.benchmarks.cli' || true
    fi
}

ONNX_OK=0 DEMO_OK=0
s_assets() {
    say "  cache: $CACHE"
    local f missing=()
    for f in pose_detection.tflite pose_landmark_full.tflite pose_detection.onnx pose_landmark_full.onnx demo.mp4 manifest.json; do
        if [[ -f $CACHE/$f ]]; then say "  $f: $(du -h "$CACHE/$f" | cut -f1)"; else say "  $f: missing"; missing+=("$f"); fi
    done
    [[ -f $CACHE/pose_detection.onnx && -f $CACHE/pose_landmark_full.onnx ]] && ONNX_OK=1
    [[ -f $CACHE/demo.mp4 ]] && DEMO_OK=1
    if ((${#missing[@]} == 0)); then
        ST=PASS REASON="BlazePose (tflite + ONNX) and the demo video are in the cache"
    else
        ST=SKIP REASON="missing ${missing[*]} in $CACHE"
    fi
}

need_engines() {  # camerapose, TensorRT and pycuda importable
    need_python || return 1
    ((CP_OK)) || { ST=SKIP REASON="camerapose is not importable"; return 1; }
    have tensorrt || { ST=SKIP REASON="TensorRT is not installed (carry its wheels in $WHEELS/)"; return 1; }
    have pycuda.driver || { ST=SKIP REASON="pycuda is not installed (see the pycuda step)"; return 1; }
}

engine_path() { grep -E '\.engine$|engine cache:' "$STEP_OUT" | tail -n 1 | sed 's/^engine cache: //' || true; }

s_engine_lift() {
    need_engines || return
    if run_cmd "$PY" -m camerapose build "$LIFT_ONNX"; then
        ST=PASS REASON="$(engine_path)"
    else
        ST=FAIL REASON="camerapose build failed (see the log)"
    fi
}

blazepose_engine() {  # blazepose_engine NAME
    need_engines || return
    if ((!ONNX_OK)); then
        ST=SKIP REASON="no BlazePose ONNX in $CACHE: run \`camerapose assets fetch --onnx\` on a machine with PyPI and carry the cache"
        return
    fi
    if run_cmd "$PY" -c "$BLAZEPOSE_PY" "$CACHE/$1.tflite" "$CACHE/$1.onnx"; then
        ST=PASS REASON="$(engine_path)"
    else
        ST=FAIL REASON="the $1 engine failed (see the log)"
    fi
}
s_engine_bp_detector() { blazepose_engine pose_detection; }
s_engine_bp_landmark() { blazepose_engine pose_landmark_full; }

s_gpu_tests() {
    need_python || return
    ((CP_OK)) || { ST=SKIP REASON="camerapose is not importable"; return; }
    have pytest || { ST=SKIP REASON="pytest is not installed"; return; }
    local files=() rc=0 last
    mapfile -t files < <(gpu_test_files)
    ((${#files[@]})) || { ST=SKIP REASON="no test file holds a GPU test"; return; }
    run_cmd "$PY" -m pytest -q -m gpu -p no:cacheprovider "${files[@]}" || rc=$?
    last=$(grep -E '(passed|failed|skipped|error|deselected)' "$STEP_OUT" | tail -n 1 | sed -E 's/=+//g; s/^ +| +$//g')
    case $rc in
        0) if [[ $last == *passed* ]]; then ST=PASS; else ST=SKIP; fi; REASON=${last:-pytest exit 0} ;;
        5) ST=SKIP REASON="no GPU test collected" ;;
        124 | 137) ST=FAIL REASON="${last}" ;;
        *) ST=FAIL REASON="pytest exit $rc: ${last}" ;;
    esac
}

need_bench() {
    need_python || return 1
    ((CP_OK)) || { ST=SKIP REASON="camerapose is not importable"; return 1; }
    have matplotlib || { ST=SKIP REASON="the reports' plots need matplotlib (carry its wheels in $WHEELS/)"; return 1; }
}

s_bench_engines() {
    need_bench || return
    if run_cmd "$PY" -m camerapose bench --suite engines --out "$RESULTS" ${ENGINES_QUICK[@]+"${ENGINES_QUICK[@]}"}; then
        ST=PASS REASON="$RESULTS/engines.md"
    else
        ST=FAIL REASON="camerapose bench --suite engines failed (see the log)"
    fi
}

s_bench_detector() {
    need_bench || return
    if ((!DEMO_OK)) && ! pypi_reachable; then
        ST=SKIP REASON="no demo.mp4 in $CACHE and no PyPI to fetch it (carry the cache)"
        return
    fi
    if run_cmd "$PY" -m camerapose bench --suite detector --quick --out "$RESULTS"; then
        ST=PASS REASON="$RESULTS/detector.md"
        ((ONNX_OK)) || REASON="$REASON (LiteRT only: no BlazePose ONNX in the cache)"
    else
        ST=FAIL REASON="camerapose bench --suite detector failed (see the log)"
    fi
}

summary_rows() {  # the steps as Markdown table rows
    local i name
    for i in "${!STEPS[@]}"; do
        name=${STEPS[$i]}
        [[ $name == report ]] && continue
        printf '| %d | %s | %s | %s | %s |\n' $((i + 1)) "$name" "${STATUS[$name]:-?}" \
            "$(secs "${TOOK[$name]:-0}")" "${WHY[$name]//|/\\|}"
    done
}

version_of() { awk -F'\t' -v m="$1" '$1==m{print $2; exit}' "$TMPD/probe.tsv"; }  # "-": not installed

s_report() {
    local driver cuda_drv nvcc_v cpu cores torch_line f joined copied=0 links=()
    driver=$(timeout 20 "$NVIDIA_SMI" --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)
    cuda_drv=$(timeout 20 "$NVIDIA_SMI" 2>/dev/null | grep -oE 'CUDA Version: *[0-9.]+' | head -n 1 | grep -oE '[0-9.]+$' || true)
    nvcc_v=$(nvcc --version 2>/dev/null | grep -oE 'release [0-9.]+' | head -n 1 || true)
    cpu=$(grep -m 1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
    cores=$(nproc 2>/dev/null || echo '?')
    : >"$TMPD/probe.tsv"
    if ((PY_OK)); then timeout 90 "$PY" -c "$PROBE_PY" >"$TMPD/probe.tsv" 2>/dev/null || true; fi
    torch_line=$(awk -F'\t' '$1=="torch" && $2!="-"{print $2 " (" $3 ")"}' "$TMPD/probe.tsv")
    for f in engines.md detector.md gpu_check.log; do [[ -f $RESULTS/$f ]] && links+=("[$f]($f)"); done
    {
        echo "# GPU check: $GPU_NAME"
        echo
        echo "\`make gpu-check\` (scripts/gpu_check.sh) on $DATE; see docs/engines.md, \"make gpu-check\"."
        echo
        echo "- GPU: $GPU_NAME, driver ${driver:-?}, CUDA ${cuda_drv:-?} (driver), toolkit ${nvcc_v:-no nvcc}"
        echo "- CPU: ${cpu:-?}, $cores cores"
        echo "- Python $(version_of python) ($PY); torch ${torch_line:-not installed}"
        echo "- TensorRT $(version_of tensorrt), pycuda $(version_of pycuda), onnxruntime $(version_of onnxruntime)," \
            "numpy $(version_of numpy), ai-edge-litert $(version_of ai_edge_litert) (\"-\": not installed)"
        echo "- commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')" \
            "$([[ -n $(git -C "$REPO" status --porcelain 2>/dev/null | head -n 1) ]] && echo '(with local changes)')"
        echo
        echo "| # | step | status | took (s) | detail |"
        echo "|---|---|---|---|---|"
        summary_rows
        echo
        printf -v joined '%s, ' ${links[@]+"${links[@]}"}
        joined=${joined%, }
        echo "Reports: ${joined:-none}"
    } >"$RESULTS/README.md"
    say "  wrote $RESULTS/README.md"
    if [[ -n ${OUT:-} ]]; then
        mkdir -p "$OUT"
        for f in gpu_check.log README.md engines.md detector.md engines.json detector.json engines_latency.png \
            detector_latency.png; do
            if ((copied < 8)) && [[ -f $RESULTS/$f ]]; then cp "$RESULTS/$f" "$OUT/" && copied=$((copied + 1)); fi
        done
        say "  copied $copied files into \$OUT ($OUT)"
    fi
    ST=PASS REASON="$RESULTS/README.md"
}

# ---- run --------------------------------------------------------------------------------------------
say "gpu_check: $GPU_NAME ($SLUG), $DATE; python: $PY ($PY_WHY); reports: $RESULTS/; budget ${BUDGET_S} s"
step 1 python "$T_PYTHON" s_python
step 2 packages "$T_PACKAGES" s_packages
step 3 pycuda "$T_PYCUDA" s_pycuda
step 4 camerapose "$T_CAMERAPOSE" s_camerapose
step 5 assets 30 s_assets
step 6 engine-lift "$T_ENGINE" s_engine_lift
step 7 engine-bp-detector "$T_ENGINE" s_engine_bp_detector
step 8 engine-bp-landmark "$T_ENGINE" s_engine_bp_landmark
step 9 gpu-tests "$T_TESTS" s_gpu_tests
step 10 bench-engines "$T_BENCH" s_bench_engines
step 11 bench-detector "$T_BENCH" s_bench_detector

FAILED=0
for name in "${STEPS[@]}"; do if [[ ${STATUS[$name]:-} == FAIL ]]; then FAILED=1; fi; done
TOTAL_MS=$(($(now_ms) - START_MS))
say ""
say "== summary: $GPU_NAME, $(secs "$TOTAL_MS") s of the ${BUDGET_S} s budget =="
say "$(printf '%-3s %-19s %-6s %8s  %s' '#' step status 'took(s)' detail)"
for i in "${!STEPS[@]}"; do
    name=${STEPS[$i]}
    [[ $name == report ]] && continue
    say "$(printf '%-3s %-19s %-6s %8s  %s' $((i + 1)) "$name" "${STATUS[$name]}" "$(secs "${TOOK[$name]}")" "${WHY[$name]}")"
done
step 12 report 60 s_report
say ""
if ((FAILED)); then
    say "gpu_check: some steps FAILED (log: $LOG)"
    exit 1
fi
say "gpu_check: every step passed or was skipped with its reason (log: $LOG)"
