"""System turns for chat templates that have no system role.

Gemma-2's template (Fanar-1-9B, recipes/hala-9b.yaml) raises "System role not supported" on a `system` message, so
every instruction record that carries one (Hermes-3 style data opens many conversations with a system prompt) would
become an SFT reject: at paper scale a silent loss of a large share of the data. `fold` does what the Gemma family's
own later template does (Gemma 3 writes the system text, then a blank line, at the start of the first user turn): the
model is trained on the instruction it was given, inside the only roles its template knows.

Modes (`TrainConfig.system_turns`):
- `auto` (default): `keep` when the tokenizer's template renders a system turn, else `fold`;
- `keep`: pass system turns to the template as they are (a template that refuses them makes the record a reject);
- `fold`: each system turn is joined to the start of the next user turn (or becomes a user turn when none follows);
- `drop`: system turns are removed.
"""

from __future__ import annotations

from typing import Literal

SystemTurns = Literal["auto", "keep", "fold", "drop"]
SEPARATOR = "\n\n"  # between the system text and the user's, as Gemma 3's template writes it


def template_takes_system(tokenizer, template: str | None = None) -> bool:
    """Whether `template` (None: the tokenizer's own) renders a conversation that opens with a system turn. The
    probe is the template the records are rendered with, which for TRL's marked training twins is not the
    tokenizer's own. No template at all: nothing refuses a role."""
    if not (template or getattr(tokenizer, "chat_template", None)):
        return True
    probe = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    try:
        tokenizer.apply_chat_template(probe, chat_template=template, tokenize=False)
    except Exception:  # noqa: BLE001 - jinja's raise_exception() and template errors share no base class
        return False
    return True


def resolve(mode: SystemTurns, tokenizer, template: str | None = None) -> Literal["keep", "fold", "drop"]:
    """The mode records are prepared with: `auto` decided by probing `template` (None: the tokenizer's own)."""
    if mode != "auto":
        return mode
    return "keep" if template_takes_system(tokenizer, template) else "fold"


def apply(messages: list[dict], mode: Literal["keep", "fold", "drop"]) -> tuple[list[dict], bool]:
    """(messages as the template gets them, whether a system turn was folded or dropped)."""
    if mode == "keep" or not any(m["role"] == "system" for m in messages):
        return messages, False
    if mode == "drop":
        return [m for m in messages if m["role"] != "system"], True
    out: list[dict] = []
    pending: list[str] = []
    for m in messages:
        if m["role"] == "system":
            pending.append(m["content"])
            continue
        if pending and m["role"] == "user":
            m = {**m, "content": SEPARATOR.join([*pending, m["content"]])}
        elif pending:  # no user turn to join: the system text becomes one, before this turn
            out.append({"role": "user", "content": SEPARATOR.join(pending)})
        pending = []
        out.append(m)
    if pending:
        out.append({"role": "user", "content": SEPARATOR.join(pending)})
    return out, True
