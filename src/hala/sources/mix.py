"""The `data.mix` recipe stage (`hala data mix`): concatenate chat-sample files (e.g. several translated
instruction sets) into one training file, with an optional cap per input, deduplicated by id.

Outputs in out_dir (atomic): `samples.jsonl`, and `rejects.jsonl` (unreadable or invalid records, and samples
whose id an earlier input already gave, each with its reason).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.records import RecordWriter, Reject, RejectLog, read_records


class ChatMixConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[str] = Field(
        min_length=1, description="chat-sample files, in priority order (an id seen in an earlier input wins)"
    )
    cap_per_input: int | None = Field(None, ge=1, description="at most N samples from each input")


def run(config: ChatMixConfig, out_dir: Path) -> dict:
    """Write the mix; metrics count per input *by position* (an input may be listed twice, so its reference is
    not a key): what it kept, how many of its samples repeated an id of an earlier input, and how many of its
    records were unreadable or invalid."""
    out_dir = Path(out_dir)
    seen: set[str] = set()
    per_input: list[dict] = []
    with RejectLog(out_dir / "rejects.jsonl") as rejects, RecordWriter(out_dir / "samples.jsonl") as writer:
        for ref in config.inputs:
            kept = duplicates = 0
            rejected_before = rejects.total
            for sample in read_records(ref, "chat", rejects):
                if config.cap_per_input is not None and kept >= config.cap_per_input:
                    break
                if sample.id in seen:
                    duplicates += 1
                    rejects.add(Reject(ref, None, f"duplicate id: {sample.id}"))
                    continue
                seen.add(sample.id)
                writer.write(sample)
                kept += 1
            rejected = rejects.total - rejected_before - duplicates
            per_input.append({"input": ref, "kept": kept, "duplicates": duplicates, "rejected": rejected})
        written = writer.count
    return {
        "outputs": {"samples": "samples.jsonl", "rejects": "rejects.jsonl"},
        "metrics": {
            "samples": written,
            "per_input": per_input,
            "rejected": rejects.total,
            "rejected_by_reason": dict(rejects.counts),
            "records_in": written + rejects.total,
            "records_out": written,
        },
    }
