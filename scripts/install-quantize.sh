#!/usr/bin/env bash
# Install llm-compressor beside hala's core stack without letting its pins downgrade that stack.
#
# llmcompressor 0.14.0.1 declares transformers<=5.17 and compressed-tensors==0.19.0; hala's core runs
# transformers 5.23 and compressed-tensors 0.20. Its FP8 path works unchanged with the newer versions
# (verified bit-identical FP8 output; the hala quantize tests prove it in CI), so it is installed with
# --no-deps, followed by the runtime dependencies it really imports. Not installed on purpose:
#   auto-round    only imported by llmcompressor.modifiers.autoround (a different scheme; heavy deps)
#   nvidia-ml-py  declared but never imported by llmcompressor 0.14.0.1
# torch==2.13.0 is passed as a constraint so no resolver can swap in a multi-GB CUDA build.
#
# Usage: scripts/install-quantize.sh [PYTHON]   (default: the python on PATH, e.g. an activated venv)
set -euo pipefail

PY="${1:-python}"
LLMCOMPRESSOR="llmcompressor==0.14.0.1"

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"

"$PY" -m pip install --no-deps "$LLMCOMPRESSOR"
"$PY" -m pip install -c "$constraints" \
  "loguru>=0.7.2" "pyyaml>=6.0.1" "numpy>=2.0.0" "requests>=2.32.2" "tqdm>=4.66.3" "pillow>=10.4.0" \
  "datasets>=4.8.4" "accelerate>=1.15.0" "compressed-tensors>=0.19,<0.21" "torch==2.13.0"

# Prove the combination imports (the quantize entry points hala uses) and transformers still works.
"$PY" - <<'PY'
import compressed_tensors, llmcompressor, torch, transformers
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import QuantizationModifier
print(f"llmcompressor {llmcompressor.__version__} OK with transformers {transformers.__version__}, "
      f"compressed-tensors {compressed_tensors.__version__}, torch {torch.__version__}")
PY
