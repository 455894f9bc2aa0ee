"""Training progress on the shared rich bar (steps, loss, real tokens/s, ETA), and the numbers for the summary.

Trainer's own tqdm bar is disabled in favour of this callback so every hala stage shows progress the same way.
Tokens are the non-pad input tokens Trainer counts (`include_num_input_tokens_seen="non_padding"`), over all
processes; the rate covers this session only, so a resumed run reports its own speed.
"""

from __future__ import annotations

import contextlib
import time

from transformers import TrainerCallback

from hala import stop
from hala.progress import console, progress_bar


class ProgressCallback(TrainerCallback):
    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._bar = None
        self.losses: list[dict] = []
        self.eval_losses: list[dict] = []
        self.session_start = 0.0
        self.session_seconds = 0.0
        self.session_tokens = 0
        self.session_steps = 0
        self._tokens_at_start = 0
        self._steps_at_start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.session_start = time.time()
        self._tokens_at_start = state.num_input_tokens_seen
        self._steps_at_start = state.global_step
        if state.is_world_process_zero:
            self._bar = self._stack.enter_context(progress_bar(state.max_steps, "train", unit="steps"))
            if state.global_step:
                self._bar.advance(state.global_step, info=f"resumed at step {state.global_step}")

    def _tokens_per_second(self, state) -> float:
        seconds = max(time.time() - self.session_start, 1e-9)
        return (state.num_input_tokens_seen - self._tokens_at_start) / seconds

    def on_step_begin(self, args, state, control, **kwargs):
        stop.check()  # a SIGTERM/SIGINT swallowed while data or model loaded stops the run here (hala.stop)

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            # before the first logging step there is no loss yet: say so rather than print "nan"
            loss = f"{self.losses[-1]['loss']:.4f}" if self.losses else "– (first at logging_steps)"
            self._bar.advance(1, info=f"loss {loss}  {self._tokens_per_second(state):.0f} tok/s")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.losses.append({"step": state.global_step, "loss": logs["loss"]})
        if "eval_loss" in logs:
            self.eval_losses.append({"step": state.global_step, "eval_loss": logs["eval_loss"]})
            if state.is_world_process_zero:
                console.print(f"step {state.global_step}: eval loss {logs['eval_loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.session_seconds = time.time() - self.session_start
        self.session_tokens = state.num_input_tokens_seen - self._tokens_at_start
        self.session_steps = state.global_step - self._steps_at_start
        self.close()

    def close(self) -> None:
        """Stop the live display (also when training raised, so the next bar can start)."""
        self._stack.close()
        self._bar = None
