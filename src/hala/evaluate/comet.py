"""Optional learned metric (COMET): used only when the package and a local checkpoint are present.

Nothing is downloaded: a machine without `unbabel-comet` or without the checkpoint gets a result
`{"skipped": "<reason>"}` that the summary and the report show, instead of an error or a silent gap.
"""

from __future__ import annotations

from pathlib import Path


def _local_checkpoint(model: str) -> Path | None:
    path = Path(model).expanduser()
    for candidate in (path, path / "checkpoints" / "model.ckpt"):
        if candidate.is_file():
            return candidate
    if "/" in model and not path.exists():  # a hub id: only its already-downloaded snapshot counts
        try:
            from huggingface_hub import snapshot_download

            snap = Path(snapshot_download(model, local_files_only=True))
        except Exception:
            return None
        ckpt = snap / "checkpoints" / "model.ckpt"
        return ckpt if ckpt.is_file() else None
    return None


def comet_score(srcs: list[str], hyps: list[str], refs: list[str], model: str | None, batch_size: int = 8) -> dict:
    if not model:
        return {"skipped": "no COMET model configured (set comet_model to a local checkpoint to enable it)"}
    try:
        import comet
    except ImportError:
        return {"skipped": "unbabel-comet is not installed (pip install unbabel-comet)"}
    ckpt = _local_checkpoint(model)
    if ckpt is None:
        return {
            "skipped": f"COMET model '{model}' is not available locally (a .ckpt file, a directory with "
            f"checkpoints/model.ckpt, or a hub id already in the local cache)"
        }
    try:
        import torch

        scorer = comet.load_from_checkpoint(str(ckpt))
        data = [{"src": s, "mt": h, "ref": r} for s, h, r in zip(srcs, hyps, refs)]
        out = scorer.predict(
            data, batch_size=batch_size, gpus=1 if torch.cuda.is_available() else 0, progress_bar=False
        )
    except Exception as e:  # e.g. its encoder is not cached and the machine is offline
        return {"skipped": f"COMET could not run: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    return {
        "model": model,
        "score": round(float(out.system_score), 4),
        "scores": [round(float(x), 4) for x in out.scores],
    }
