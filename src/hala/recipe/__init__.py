"""Recipes: one YAML file runs the whole pipeline, cached and resumable (see `hala run --help`)."""

from hala.recipe.runner import plan, run_recipe
from hala.recipe.schema import Recipe, load_recipe

__all__ = ["Recipe", "load_recipe", "plan", "run_recipe"]
