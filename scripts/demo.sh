#!/usr/bin/env bash
# The main job on the embedded default (the demo video), with what exists so far.
# Until the runtime lands (issue 6) this fetches and verifies the assets and shows where they are.
set -euo pipefail
out=${1:-out}
mkdir -p "$out"
cam=.venv/bin/camerapose
$cam assets list
echo "The streaming runtime is not built yet (issue 6): the assets above are what it will run on."
