#!/usr/bin/env bash
# Wheels for bench/gpu_run.sh on the GPU machine (Python 3.12, x86-64, torch 2.11 + CUDA 13, no
# registry there), into ./.whl (git-ignored). Run from the repository root, here:
#   bash bench/gpu_wheels.sh
# 1. the shared set of our transformers 4.57 line (../shared/gpu-wheels/prepare.sh);
# 2. what that machine lacks for training and preprocessing: bitsandbytes, prodigyopt, soundfile
#    (+ cffi, pycparser), soxr, pyloudnorm;
# 3. bitsandbytes slimmed to its CUDA 13.0 library (43 MB -> ~4 MB), so the working tree plus .whl
#    stays under the device tool's 64 MiB.
set -euo pipefail
shared=$(cd "$(dirname "$0")/../../shared/gpu-wheels" 2>/dev/null && pwd || echo /work/shared/gpu-wheels)
bash "$shared/prepare.sh" || true  # in a git worktree its .git/info/exclude step fails; .whl/ is in .gitignore
ls .whl/transformers-*.whl > /dev/null
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  bitsandbytes==0.50.2 prodigyopt==1.1.2 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 soxr==1.1.0 pyloudnorm==0.2.0
python3 - <<'PY'
import base64, hashlib, pathlib, zipfile
src = next(pathlib.Path(".whl").glob("bitsandbytes-*.whl"))
keep = ("libbitsandbytes_cuda130.so", "libbitsandbytes_cpu.so")
drop = lambda name: name.endswith(".so") and not name.endswith(keep)
tmp = src.with_suffix(".tmp")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if drop(item.filename):
            continue
        data = zin.read(item.filename)
        if item.filename.endswith(".dist-info/RECORD"):
            data = "".join(l + "\n" for l in data.decode().splitlines() if l and not drop(l.split(",")[0])).encode()
        zout.writestr(item, data)
tmp.replace(src)
print(f"slimmed {src.name} to {src.stat().st_size / 2**20:.1f} MiB")
PY
echo "$(ls .whl | wc -l) wheels in .whl ($(du -sh .whl | cut -f1))"
