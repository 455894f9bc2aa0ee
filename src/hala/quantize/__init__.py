"""`hala quantize`: FP8 teacher compression with llm-compressor, verified against the original before use.

    from hala.quantize import QuantizeConfig, run
    run(QuantizeConfig(model="embedded:gemma-3-270m", scheme="fp8-dynamic"), Path("runs/q"))

See docs/QUANTIZE.md.
"""

from hala.quantize.checks import DriftError
from hala.quantize.config import SCHEMES, DriftThresholds, QuantizeConfig
from hala.quantize.stage import run

__all__ = ["SCHEMES", "DriftError", "DriftThresholds", "QuantizeConfig", "run"]
