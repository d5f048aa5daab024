#!/usr/bin/env bash
# A short follow-up of bench/gpu_run.sh on the GPU machine (issue 14), from the repository root, in
# under 4 minutes on one H200: the LoKr rows of bench/gpu_train.py and one compiled config.
#   bash bench/gpu_followup.sh                  # compiled LoKr (default)
#   bash bench/gpu_followup.sh checkpointing    # compiled LoRA with gradient checkpointing instead
#   bash bench/gpu_followup.sh kernels          # LoKr on LyCORIS's own kernel choice instead
#   OUT=/tmp/o bash bench/gpu_followup.sh --tiny   # the default set at tiny sizes on the CPU
# Always: engine LoRA bs 1 (the baseline), LoKr factor 8 / dim 64 on the studio's structured
# forward, and the same LoKr on LyCORIS's own forward (torch body), all eager. Then the one extra
# config: a cold compile costs ~160 s there and two of them do not fit; these have no graph in
# common, so they cannot share Inductor's cache. That config's two steps after its measured ones are
# profiled (GPU busy against wall time per step, kernels per step, top operations).
# Needs .whl/ (bench/gpu_wheels.sh). Results: $OUT/gpu_train.{json,md}, $OUT/gpu_train.log,
# $OUT/profile_<config>.txt.
set -uo pipefail
OUT=${OUT:-$PWD/.bench-out}
mkdir -p "$OUT"
TINY=()
EXTRA=compiled
for arg in "$@"; do
  case "$arg" in
    --tiny) TINY=(--tiny) ;;
    checkpointing|kernels|compiled) EXTRA=$arg ;;
    *) echo "usage: bash bench/gpu_followup.sh [compiled|checkpointing|kernels] [--tiny]"; exit 2 ;;
  esac
done
case "$EXTRA" in
  compiled) LAST="engine, LoKr f8 d64, bs 1, compiled" ;;
  checkpointing) LAST="engine, LoRA, bs 1, checkpointing, compiled" ;;
  kernels) LAST="engine, LoKr f8 d64, bs 1, LyCORIS forward, auto kernels" ;;
esac
source bench/gpu_env.sh
# The budget stops the script from starting a config that would not end in time (the table is
# rewritten after every row); the timeout is the hard stop: wheels ~15 s + 220 s < 4 minutes.
timeout 220 python3 bench/gpu_train.py "${TINY[@]}" --budget "${BUDGET:-205}" --no-preprocess --out "$OUT" \
  --only "engine, LoRA, bs 1" --only "engine, LoKr f8 d64, bs 1" \
  --only "engine, LoKr f8 d64, bs 1, LyCORIS forward" --only "$LAST" --profile "$LAST" \
  2>&1 | tee "$OUT/gpu_train.log" | grep -v -E "Warning|warn\(|^  "
[ -f "$OUT/gpu_train.md" ] && { echo "== gpu_train.md"; cat "$OUT/gpu_train.md"; }
for f in "$OUT"/profile_*.txt; do [ -f "$f" ] && { echo "== $(basename "$f")"; head -c 6000 "$f"; }; done
