"""The `data.chat` recipe stage: turn an instruction dataset in any common layout into hala chat samples.

Instruction datasets come in three layouts; one small mapping per layout covers the paper's sources:

* `messages`  — a list of `{"role", "content"}` (Tulu-3, hala's own files);
* `sharegpt`  — a list of `{"from", "value"}` with roles human/gpt/system (Hermes-3 and many others; GAIR's
                ReAlign sets keep that list in `items`: `messages_field: items`);
* `columns`   — one column per turn, named in `columns` (OpenOrca: system_prompt/question/response; Alpaca-style
                instruction/input/output; LaMini: instruction/response).

Rows that cannot be mapped are rejected with `source:row: reason`, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hala.errors import HalaError
from hala.records import (
    ChatSample,
    RecordWriter,
    Reject,
    RejectLog,
    describe_validation_error,
    iter_rows,
    stable_id,
)

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "chatgpt": "assistant",
    "bing": "assistant",
    "tool": "tool",
    "function_call": "assistant",
    "observation": "tool",
}


class ChatDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = Field(description="JSONL/Parquet file, saved dataset directory, or hf:NAME[:CONFIG][@SPLIT]")
    layout: Literal["messages", "sharegpt", "columns"] = "messages"
    messages_field: str = Field("messages", description="the list column for the messages/sharegpt layouts")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="columns layout: role -> column, e.g. {system: system_prompt, user: question, assistant: response}",
    )
    join_columns: dict[str, list[str]] = Field(
        default_factory=dict, description="columns joined (blank line) into one turn, e.g. {user: [instruction, input]}"
    )
    id_field: str | None = Field(None, description="column holding a record id (default: a content hash)")
    name: str = Field("dataset", description="recorded in meta.source")
    license: str | None = None
    limit: int | None = Field(None, ge=1, description="keep the first N valid samples")


def _from_messages(row: dict, config: ChatDataConfig) -> list[dict]:
    msgs = row.get(config.messages_field)
    if not isinstance(msgs, list):
        raise ValueError(f"missing field '{config.messages_field}' (a list of messages)")
    if config.layout == "messages":
        return [{"role": m.get("role"), "content": m.get("content")} for m in msgs]
    out = []
    for i, m in enumerate(msgs):
        role = SHAREGPT_ROLES.get(str(m.get("from", "")).lower())
        if role is None:
            raise ValueError(f"field '{config.messages_field}.{i}.from': unknown role {m.get('from')!r}")
        out.append({"role": role, "content": m.get("value")})
    return out


def _from_columns(row: dict, config: ChatDataConfig) -> list[dict]:
    if not config.columns and not config.join_columns:
        raise ValueError("layout 'columns' needs 'columns' (role -> column) or 'join_columns'")
    out = []
    for role in ("system", "user", "assistant"):
        cols = config.join_columns.get(role) or ([config.columns[role]] if role in config.columns else [])
        missing = [c for c in cols if c not in row]
        if missing:
            raise ValueError(f"missing field '{missing[0]}'")
        text = "\n\n".join(str(row[c]).strip() for c in cols if row[c] not in (None, ""))
        if text:
            out.append({"role": role, "content": text})
    return out


def to_sample(row: dict, config: ChatDataConfig) -> ChatSample:
    messages = _from_columns(row, config) if config.layout == "columns" else _from_messages(row, config)
    if not any(m["role"] == "assistant" for m in messages):
        raise ValueError("no assistant turn")
    rid = (
        str(row[config.id_field])
        if config.id_field and row.get(config.id_field) is not None
        else stable_id(*(m["content"] or "" for m in messages), prefix=f"{config.name}-")
    )
    meta = {"source": config.name, **({"license": config.license} if config.license else {})}
    return ChatSample.model_validate({"id": rid, "messages": messages, "meta": meta})


def iter_samples(config: ChatDataConfig, rejects: RejectLog) -> Iterator[ChatSample]:
    kept = 0
    for line, row in iter_rows(config.input, rejects):
        if config.limit is not None and kept >= config.limit:
            return
        try:
            sample = to_sample(row, config)
        except ValidationError as e:
            rejects.add(Reject(config.input, line, f"invalid record: {describe_validation_error(e)}", row))
            continue
        except ValueError as e:
            rejects.add(Reject(config.input, line, f"invalid record: {e}", row))
            continue
        kept += 1
        yield sample


def run(config: ChatDataConfig, out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    try:
        with RejectLog(out_dir / "rejects.jsonl") as rejects, RecordWriter(out_dir / "samples.jsonl") as writer:
            n = writer.write_all(iter_samples(config, rejects))
    except Exception as e:
        from hala.sources.hub import gated_message, is_gated_error

        if config.input.startswith("hf:") and is_gated_error(e):  # e.g. Hermes-3: a token, not "offline"
            repo = config.input[3:].split("@")[0].split(":")[0]
            raise HalaError(f"{config.input}: {gated_message(repo, 'dataset')}") from None
        raise
    # records_in/records_out: the runner fails the stage when the mapping matched no row (or lost most of them)
    return {
        "outputs": {"samples": "samples.jsonl", "rejects": "rejects.jsonl"},
        "metrics": {
            "samples": n,
            "rejected": rejects.total,
            "rejected_by_reason": rejects.counts,
            "records_in": n + rejects.total,
            "records_out": n,
        },
    }
