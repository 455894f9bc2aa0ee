"""`hala publish RUN_DIR STAGE --repo ORG/NAME`: a stage's model or dataset, with its card, to the Hugging Face
Hub.

Options generated from `PublishConfig` (hala.cli.generate)."""

from __future__ import annotations

from typing import Any

import typer

from hala.cli.generate import Opt, stage_command


def publish(config: Any) -> None:
    """Assemble STAGE's model (safetensors weights, tokenizer, chat template) or dataset (Parquet shards) with a
    model or dataset card built from the run (method, data, licences, evaluation results as model-index,
    provenance), then upload it with huggingface_hub. The token comes from HF_TOKEN (never printed), the server
    from HF_ENDPOINT (default the Hub). An interrupted upload resumes on rerun: files already there are
    skipped. Inputs whose licence is unknown or forbids publishing stop it, with the reason."""
    from hala.publish import publish as run

    summary = run(config, log=typer.echo)
    if summary.get("licence_overridden"):
        typer.echo("licence check overridden (recorded on the card): " + "; ".join(summary["licence_overridden"]))
    if summary["repo_type"] == "model" and not summary.get("chat_template"):
        typer.echo("note: the model folder has no chat template")


def register(app: typer.Typer) -> None:
    stage_command(
        app,
        "publish",
        "publish",
        publish,
        fields={
            "run_dir": Opt(argument=True, help="Run directory (manifest.json and the stages' directories)."),
            "stage": Opt(
                argument=True,
                help="Stage to publish: a model stage (train, merge, quantize) or a data stage "
                "(translate, filter, corpus, data.*).",
            ),
            "repo": Opt(
                help="Hub repository ORG/NAME (created when missing; model or dataset repository by the stage's kind)."
            ),
            "out": Opt(("-o",)),
        },
    )
