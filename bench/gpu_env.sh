# Sourced by bench/gpu_run.sh and bench/gpu_followup.sh: the GPU machine's python gets our 4.57-line
# wheels from .whl/ (bench/gpu_wheels.sh) in /tmp/site, ahead of its own; without .whl/ it runs as is.
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
