#!/usr/bin/env bash
# Ablations of the default preset on real motion, side by side in one run: the same data, seed and
# budget (a third of the default: 100k samples, 4 end-to-end epochs), one switch changed per variant.
#   bash scripts/ablation.sh [OUT_DIR [KEY=VALUE ...]]   -> OUT_DIR/<variant>/final.pt, OUT_DIR/ablation.md
# (KEY=VALUE: config overrides for every variant, e.g. run.seed=1 to see the seed-to-seed spread)
# Needs `make teacher` (the mocap clips and the teacher files in the asset cache).
# Variants: default; no-hardness (PoseAug's feedback off); teacher (BlazePose's 3D on real frames on).
set -euo pipefail
out=${1:-runs/ablation}
shift || true
common=()
for kv in "$@"; do common+=(--set "$kv"); done
cam=.venv/bin/camerapose
budget=(--set data.synthetic.n_train=100000 --set data.synthetic.n_2d_only=25000
        --set data.synthetic.n_test=5000 --set step1.epochs=1 --set 'step1.milestones=[]'
        --set step3.epochs=4 --set 'step3.milestones=[3]')
teacher='data.teacher=["{cache}/teacher/pose2sim_multi_cam01.jsonl","{cache}/teacher/pose2sim_multi_cam02.jsonl","{cache}/teacher/pose2sim_multi_cam03.jsonl","{cache}/teacher/pose2sim_multi_cam04.jsonl"]'
declare -A variants=(
  [default]=""
  [no-hardness]="loss.hardness=false"
  [teacher]="$teacher"
)
mkdir -p "$out"
: > "$out/ablation.md"
for name in default no-hardness teacher; do
  extra=()
  [[ -n "${variants[$name]}" ]] && extra=(--set "${variants[$name]}")
  [[ $name == teacher ]] && extra+=(--set data.teacher_repeat=10)
  $cam train --config train/configs/default.toml --no-progress "${budget[@]}" "${common[@]}" "${extra[@]}" \
      --set "run.out_dir=\"$out/$name\"" > "$out/$name.log" 2>&1
  { echo "## $name ${variants[$name]}"; echo; grep -A 12 '^| set' "$out/$name.log"; echo; } >> "$out/ablation.md"
done
cat "$out/ablation.md"
