#!/usr/bin/env bash
# GPU benchmark for a bare GPU box (no network, no venv): installs the missing wheels of
# benchmarks/gpu-wheels.txt from a local folder, puts this repository on PYTHONPATH and runs
# benchmarks/gpu_bench.py, which prints its figures as it goes (under 8 minutes on one H200).
#
#   bash benchmarks/gpu.sh [--small] [--wheels DIR] [gpu_bench.py options]
#
# --small: the same code on the CPU at toy sizes (a couple of minutes), for CI-like machines.
# --wheels DIR: the wheel folder (default: $MINERALS_WHEELS or benchmarks/wheels).
# PYTHON: the interpreter (default: python3).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
wheels="${MINERALS_WHEELS:-$repo/benchmarks/wheels}"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

missing=$("$python" - "$repo/benchmarks/gpu-wheels.txt" <<'PY'
import sys
from importlib import metadata
for line in open(sys.argv[1], encoding="utf-8"):
    name = line.split("#")[0].strip()
    if name:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            print(name)
PY
)
if [[ -n "$missing" ]]; then
  if [[ ! -d "$wheels" ]]; then
    echo "gpu.sh: missing packages ($(echo $missing)) and no wheel folder $wheels; fill it as benchmarks/gpu-wheels.txt says" >&2
    exit 2
  fi
  echo "installing from $wheels: $(echo $missing)"
  # shellcheck disable=SC2086
  "$python" -m pip install --quiet --no-index --find-links "$wheels" $missing
fi

export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
cd "$repo"
exec "$python" "$repo/benchmarks/gpu_bench.py" "${args[@]+"${args[@]}"}"
