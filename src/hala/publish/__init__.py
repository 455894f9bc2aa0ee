"""Publish what a run made: a model or a dataset of one stage, with its card, to the Hugging Face Hub.

    hala publish RUN_DIR STAGE --repo ORG/NAME [--private] [--dry-run] [--allow-licence]

The folder is assembled first (RUN_DIR/published/STAGE, or --out): a model stage (train, merge, quantize) gives
safetensors weights, config, tokenizer and chat template; a data stage (translate, filter, corpus, data.*) gives
Parquet shards that `datasets.load_dataset(folder)` loads. Its README.md is a model or dataset card built from
the run's manifest and stage outputs (see cards.py), `hala_provenance.json` records every stage and input, and
the run's recipe is copied as `hala_recipe.yaml`. Inputs whose licence is unknown or forbids publishing refuse
the publish with the reason (licences.py), unless `allow_licence` overrides it. Then the folder is uploaded with
huggingface_hub, resumably (upload.py); `dry_run` stops after writing the folder.

As a recipe stage (type `publish`), the folder goes into the stage's own directory:

    - name: publish_model
      type: publish
      with: {run_dir: "@run/", stage: merged, repo: me/hala-quickstart, dry_run: true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field

from hala.atomic import atomic_dir, write_json
from hala.errors import HalaError


class PublishConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_dir: str = Field(description="the run directory (holds manifest.json and the stage directories)")
    stage: str = Field(description="the stage whose model or dataset is published")
    repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="Hub repository ORG/NAME")
    private: bool = Field(False, description="create the repository as private")
    dry_run: bool = Field(False, description="write the folder and list what would be uploaded; upload nothing")
    allow_licence: bool = Field(
        False,
        description="publish even when an input's licence is unknown or forbids it (the card records the override)",
    )
    out: str | None = Field(None, description="folder to assemble into (default RUN_DIR/published/STAGE)")
    commit_bytes: int = Field(2_000_000_000, ge=1, description="largest upload commit (a bigger file goes alone)")
    shard_records: int = Field(100_000, ge=1, description="records per Parquet shard (datasets)")


def build(config: PublishConfig, folder: Path) -> dict:
    """Check licences, then write the repository folder; returns what was built (no upload)."""
    from hala.publish import assemble
    from hala.publish.cards import CardContext, dataset_card, model_card
    from hala.publish.evals import eval_rows
    from hala.publish.licences import findings, problems, published_finding
    from hala.publish.rundir import dataset_splits, lineage, model_dir, read_run

    run = read_run(config.run_dir)
    stage = run.stage(config.stage)
    if stage.status != "done":
        raise HalaError(f"stage '{stage.name}' has not finished (status: {stage.status}); run it first")
    weights, splits = model_dir(stage), dataset_splits(stage)
    if weights is None and not splits:
        raise HalaError(
            f"stage '{stage.name}' ({stage.type}) made neither a model (train, merge, quantize) nor a "
            f"dataset (translate, filter, corpus, data.*): nothing to publish"
        )
    lin = lineage(run, stage.name)
    found = findings(run, lin)
    published = None
    if weights is None:  # the published records themselves: their licences are checked too
        published = published_finding(run, lin, stage, splits, found)
        found.append(published)
    issues = problems(found)
    if issues and not config.allow_licence:
        raise HalaError(
            f"refusing to publish '{stage.name}': "
            + "; ".join(issues)
            + ". Check these licences; --allow-licence publishes anyway (the card records it)"
        )
    rows = eval_rows(run, stage)
    with atomic_dir(folder) as tmp:
        recipe = assemble.add_recipe(run, tmp)
        ctx = CardContext(run, stage, lin, found, rows, config.repo, issues, recipe)
        if weights is not None:
            files = assemble.add_model(run, weights, tmp)
            chat_template = assemble.has_chat_template(tmp)
            card = model_card(ctx)
            kind, info = "model", {"files": files, "chat_template": chat_template}
        else:
            counts, columns, record_kind = assemble.add_dataset(splits, tmp, config.shard_records)
            card = dataset_card(ctx, counts, columns, record_kind, published, assemble.span_stats(splits))
            kind, info = "dataset", {"splits": counts, "record_kind": record_kind}
        card.save(tmp / "README.md")
        write_json(tmp / "hala_provenance.json", assemble.provenance(run, stage, lin, found, rows, issues))
    return {
        "repo_type": kind,
        "folder": str(folder),
        "licence_overridden": issues,
        **info,
        "evaluations": sum(r.this for r in rows),
    }


def publish(config: PublishConfig, folder: Path | None = None, log: Callable[[str], None] = print) -> dict:
    from hala.publish.upload import local_files, upload

    folder = Path(folder or config.out or Path(config.run_dir) / "published" / config.stage)
    built = build(config, folder)
    files = local_files(folder)
    size = sum((folder / f).stat().st_size for f in files)
    built.update(files=files, bytes=size)
    if config.dry_run:
        log(
            f"dry run: {folder} holds the {built['repo_type']} repository {config.repo} "
            f"({'private' if config.private else 'public'}); nothing uploaded. It would upload {len(files)} files, "
            f"{size / 1e6:.1f} MB:"
        )
        for f in files:
            log(f"  {f}  ({(folder / f).stat().st_size:,} bytes)")
        return {**built, "uploaded": 0, "skipped": 0}
    result = upload(
        folder,
        config.repo,
        built["repo_type"],
        config.private,
        config.commit_bytes,
        f"hala publish {config.stage}",
        log=log,
    )
    log(
        f"published {config.repo}: {len(result.uploaded)} files uploaded, {len(result.skipped)} already there "
        f"({result.url})"
    )
    return {
        **built,
        "url": result.url,
        "uploaded": len(result.uploaded),
        "skipped": len(result.skipped),
        "commits": result.commits,
    }


def run(config: PublishConfig, out_dir: Path) -> dict:
    """The `publish` recipe stage: the folder is `out_dir/repo` (unless `out` is set)."""
    folder = Path(config.out) if config.out else Path(out_dir) / "repo"
    summary = publish(config, folder, log=print)
    return {
        "outputs": {
            "folder": "repo" if not config.out else str(folder),
            "card": "repo/README.md" if not config.out else str(folder / "README.md"),
        },
        "metrics": {
            "files": len(summary["files"]),
            "bytes": summary["bytes"],
            "uploaded": summary["uploaded"],
            "skipped": summary["skipped"],
            "evaluations": summary["evaluations"],
        },
        **{k: summary[k] for k in ("repo_type", "licence_overridden") if k in summary},
    }
