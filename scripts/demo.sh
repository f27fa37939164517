#!/usr/bin/env bash
# The main job on the embedded default: the demo video (two people) through the whole pipeline
# (BlazePose 2D -> refine + lift + camera -> ZeroMQ), every frame, with an annotated video and a
# subscriber writing what was published to a JSON-lines file.
#   bash scripts/demo.sh [OUT_DIR]        (`make demo` runs it after fetching the assets)
set -euo pipefail
out=${1:-out}
mkdir -p "$out"
cam=.venv/bin/camerapose
video=$($cam assets path demo.mp4)
endpoint=${CAMERAPOSE_DEMO_ENDPOINT:-tcp://127.0.0.1:5555}

# A subscriber first (the runtime waits for it, so no frame is missed): one JSON object per message.
$cam subscribe --endpoint "$endpoint" --json --timeout 60 > "$out/poses.jsonl" &
sub=$!
trap 'kill $sub 2>/dev/null || true' EXIT

$cam run --source "$video" --every-frame --publish "$endpoint" --wait-subscriber 20 \
    --annotate "$out/demo_annotated.mp4" ${CAMERAPOSE_MODEL:+--model "$CAMERAPOSE_MODEL"}
sleep 1  # the subscriber takes the last messages
kill $sub 2>/dev/null || true
wait $sub 2>/dev/null || true

n=$(wc -l < "$out/poses.jsonl")
cat <<MSG

Done. Where to look:
  $out/demo_annotated.mp4   the video with 2D skeletons, track ids and a small 3D view (top right)
  $out/poses.jsonl          the $n messages the runtime published (schema: docs/schema.md), e.g.
                            jq -c '{frame, n: (.persons|length), fx: .persons[0].camera.fx}' $out/poses.jsonl | head
Live, in two terminals:
  $cam run --source $video --loop          # or --source 0 for the webcam
  $cam subscribe                           # one line per message (--json for everything)
MSG
