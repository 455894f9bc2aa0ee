"""Toy stage types for recipe-runner tests (cheap, deterministic, observable)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.recipe.registry import StageType, register


class WriteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    repeat: int = 1


def write(config: WriteConfig, out_dir: Path) -> dict:
    (out_dir / "out.txt").write_text(config.text * config.repeat)
    return {"outputs": {"text": "out.txt"}, "metrics": {"chars": len(config.text) * config.repeat}}


class JoinConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str]
    # if set and the file does not exist: create it, then fail (a side effect, so not an input of the key)
    fail_once_marker: str | None = Field(None, json_schema_extra={"input": False})


def join(config: JoinConfig, out_dir: Path) -> dict:
    parts = [Path(p).read_text() for p in config.inputs]
    (out_dir / "partial.txt").write_text(parts[0])  # work finished before a crash, found again on resume
    if config.fail_once_marker and not Path(config.fail_once_marker).exists():
        Path(config.fail_once_marker).write_text("failed")
        raise RuntimeError("simulated crash")
    (out_dir / "joined.txt").write_text("+".join(parts))
    return {"outputs": {"joined": "joined.txt"}, "metrics": {"parts": len(parts)}}


register(StageType("toy.write", "recipe_toy:WriteConfig", "recipe_toy:write"))
register(StageType("toy.join", "recipe_toy:JoinConfig", "recipe_toy:join"))
