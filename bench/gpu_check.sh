#!/usr/bin/env bash
# GPU check for a lent GPU machine with no internet, sized to one call of <= 10 minutes (tiny random models built
# in-process; see bench/gpu_check.py for the steps). Usage, from the repository root:
#   bash bench/gpu_check.sh            # on the GPU machine: writes $OUT/gpu_check.json (or bench/results/)
#   bash bench/gpu_check.sh --cpu      # smoke mode on any machine: the same steps on the CPU
#                                      # (GPU_CHECK_TIMEOUT=1800 on a slow shared CPU; default 540 s)
#
# Python packages it needs (the GPU machine has no index): torch with CUDA, transformers, trl, peft, accelerate,
# datasets, safetensors, tokenizers, sacrebleu, compressed-tensors, llmcompressor, pydantic, typer, rich, pyyaml,
# filelock, numpy, psutil, and hala itself (this tree, `pip install --no-deps -e .`). If a `wheels/` directory
# of those wheels is carried next to the tree, they are installed from it first, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if [ -d wheels ]; then
  "$PY" -m pip install --no-index --find-links wheels --quiet -r <(ls wheels | sed 's/-[0-9].*//' | sort -u) || true
fi
"$PY" -c "import hala" 2>/dev/null || "$PY" -m pip install --no-deps --no-build-isolation --quiet -e . || true
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
RESULT=${OUT:-bench/results}/gpu_check$( [ "${1:-}" = "--cpu" ] && echo "_cpu_smoke" ).json
timeout "${GPU_CHECK_TIMEOUT:-540}" "$PY" bench/gpu_check.py "$@" --json "$RESULT"
echo "wrote $RESULT"
