#!/usr/bin/env bash
# What the coordinator runs on the GPU machine, from the repository root (issue 14):
#   bash bench/gpu_run.sh            # OUT set by the device tool; about 6 minutes on one H200
#   OUT=/tmp/o bash bench/gpu_run.sh --tiny   # the same on a CPU, tiny sizes (tries the script)
# 1. installs the wheels in .whl/ (our transformers 4.57 line, peft, lycoris, bitsandbytes,
#    prodigyopt, ...; made by bench/gpu_wheels.sh) into /tmp/site, ahead of the machine's own;
# 2. the smoke checks of GPU-only paths (bench/gpu_smoke.py, under a minute);
# 3. the benchmark (bench/gpu_train.py, its own time budget, partial results after each config).
# Results: $OUT/gpu_smoke.json, gpu_train.{json,md}, gpu_preprocess.{json,md}, and the two logs.
set -uo pipefail
OUT=${OUT:-$PWD/.bench-out}
mkdir -p "$OUT"
TINY=()
[ "${1:-}" = "--tiny" ] && TINY=(--tiny)
source bench/gpu_env.sh
python3 -c "import torch, transformers, peft, lycoris; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'peft', peft.__version__)"
timeout 90 python3 bench/gpu_smoke.py "${TINY[@]}" --out "$OUT" 2>&1 | tee "$OUT/gpu_smoke.log" | grep -E "^smoke|Error|error" 
timeout 360 python3 bench/gpu_train.py "${TINY[@]}" ${BUDGET:+--budget "$BUDGET"} --out "$OUT" 2>&1 | tee "$OUT/gpu_train.log" | grep -v -E "Warning|warn\(|^  "
echo "== results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
for f in gpu_smoke.json gpu_train.md gpu_preprocess.md; do [ -f "$OUT/$f" ] && { echo "== $f"; cat "$OUT/$f"; }; done
