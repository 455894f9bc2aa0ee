"""The eval stage: translation quality (BLEU / chrF++, optional COMET) and log-likelihood multiple choice
(`acc`, `acc_norm`, OALL-v2 prompt conventions). See docs/EVAL.md.

Light to import: the model-facing modules (`mcq`, `translation`, `loglik`) import torch only when used.
"""

from hala.evaluate.stage import EvalMCQConfig, EvalTranslationConfig, run, run_mcq, run_translation

__all__ = ["EvalMCQConfig", "EvalTranslationConfig", "run", "run_mcq", "run_translation"]
