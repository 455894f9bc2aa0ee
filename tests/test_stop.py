"""A stop request survives a library that swallows its KeyboardInterrupt (hala.stop): the run stops at the next
safe point — the next training step, or the end of the stage — instead of going on as if nothing happened."""

from __future__ import annotations

import os
import signal

import pytest
from pydantic import BaseModel, ConfigDict

from hala import stop
from hala.recipe import load_recipe, run_recipe
from hala.recipe.registry import StageType, register


class SwallowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def swallow(config: SwallowConfig, out_dir) -> dict:
    """Signals its own process and swallows the interrupt, as some library code does."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
    except KeyboardInterrupt:
        pass
    (out_dir / "out.txt").write_text(config.name)
    return {"outputs": {"out": "out.txt"}}


register(StageType("toy.swallow", "test_stop:SwallowConfig", "test_stop:swallow"))


def test_a_swallowed_sigterm_still_stops_the_run_after_the_stage(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: stop\nstages:\n"
        "  - name: first\n    type: toy.swallow\n    with: {name: a}\n"
        "  - name: second\n    type: toy.swallow\n    with: {name: b}\n"
    )
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        run_recipe(load_recipe(recipe), tmp_path / "run", recipe, log=lines.append)
    assert any(m.startswith("[done] first") for m in lines)
    assert any(m.startswith("[stopped] after first") for m in lines), lines
    assert not any("second" in m for m in lines), lines  # the next stage never started
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored
    stop.clear()


def test_a_training_step_raises_a_swallowed_stop():
    from hala.train.progress import ProgressCallback

    stop.clear()
    ProgressCallback().on_step_begin(None, None, None)  # no request: nothing happens
    stop.request("signal SIGINT")
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        ProgressCallback().on_step_begin(None, None, None)
    stop.clear()


def test_the_training_bar_shows_no_nan_loss_before_the_first_logged_one():
    """Before the first logging step Trainer has reported no loss: the bar says so instead of "loss nan"."""
    from types import SimpleNamespace

    from hala.train.progress import ProgressCallback

    shown = []
    callback = ProgressCallback()
    callback._bar = SimpleNamespace(advance=lambda n, info: shown.append(info))
    state = SimpleNamespace(num_input_tokens_seen=100, global_step=1)
    callback.on_step_end(None, state, None)
    callback.on_log(None, SimpleNamespace(global_step=10, is_world_process_zero=True), None, logs={"loss": 2.5})
    callback.on_step_end(None, state, None)
    assert "nan" not in shown[0] and shown[0].startswith("loss –")
    assert shown[1].startswith("loss 2.5000")
