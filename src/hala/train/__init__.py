"""Supervised fine-tuning (LoRA or full) on chat samples: `TrainConfig` + `run(config, out_dir) -> dict`."""

from hala.train.config import TrainConfig
from hala.train.stage import run

__all__ = ["TrainConfig", "run"]
