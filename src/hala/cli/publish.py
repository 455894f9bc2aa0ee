"""`hala publish RUN_DIR STAGE --repo ORG/NAME`: a stage's model or dataset, with its card, to the Hugging Face
Hub."""

from __future__ import annotations

from pathlib import Path

import typer


def publish_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory (manifest.json and the stages' directories)."),
    stage: str = typer.Argument(..., help="Stage to publish: a model stage (train, merge, quantize) or a data "
                                          "stage (translate, filter, corpus, data.*)."),
    repo: str = typer.Option(..., "--repo", help="Hub repository ORG/NAME (created when missing; model or dataset "
                                                 "repository by the stage's kind)."),
    private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write the folder and list what would be uploaded; "
                                                          "upload nothing (no token needed)."),
    allow_licence: bool = typer.Option(False, "--allow-licence",
                                       help="Publish even when an input's licence is unknown or forbids it "
                                            "(the card records the override)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder to assemble into (default RUN_DIR/published/STAGE)."),
) -> None:
    """Assemble STAGE's model (safetensors weights, tokenizer, chat template) or dataset (Parquet shards) with a
    model or dataset card built from the run (method, data, licences, evaluation results as model-index,
    provenance), then upload it with huggingface_hub. The token comes from HF_TOKEN (never printed), the server
    from HF_ENDPOINT (default the Hub). An interrupted upload resumes on rerun: files already there are
    skipped. Inputs whose licence is unknown or forbids publishing stop it, with the reason."""
    from hala.publish import PublishConfig, publish

    config = PublishConfig(run_dir=str(run_dir), stage=stage, repo=repo, private=private, dry_run=dry_run,
                           allow_licence=allow_licence, out=str(out) if out else None)
    summary = publish(config, log=typer.echo)
    if summary.get("licence_overridden"):
        typer.echo("licence check overridden (recorded on the card): " + "; ".join(summary["licence_overridden"]))
    if summary["repo_type"] == "model" and not summary.get("chat_template"):
        typer.echo("note: the model folder has no chat template")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
