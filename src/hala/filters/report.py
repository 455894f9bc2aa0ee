"""The filter report: counts per rule (which sum to input − kept), timings, notes, and examples — JSON and Markdown."""

from __future__ import annotations

from dataclasses import asdict

from hala.filters.chain import Chain


def build_report(
    chain: Chain,
    inputs: list[str],
    pairs_in: int,
    kept: int,
    read_errors: int,
    files: dict[str, int],
    seconds: float,
    outputs: dict[str, str],
) -> dict:
    rules = [asdict(s) for s in chain.stats]
    for r in rules:
        r["seconds"] = round(r["seconds"], 3)
        r["share_of_input"] = round(r["rejected"] / pairs_in, 4) if pairs_in else 0.0
    return {
        "inputs": inputs,
        "input_pairs": pairs_in,
        "kept": kept,
        "rejected": pairs_in - kept,
        "kept_share": round(kept / pairs_in, 4) if pairs_in else 0.0,
        "read_errors": read_errors,
        "rejected_by_rule": {r["name"]: r["rejected"] for r in rules},
        "rules": rules,
        "files": files,
        "seconds": round(seconds, 2),
        "pairs_per_second": round(pairs_in / seconds, 1) if seconds > 0 else None,
        "outputs": outputs,
    }


def _cell(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(report: dict) -> str:
    n = report["input_pairs"]
    lines = [
        "# Filter report",
        "",
        f"Inputs: {', '.join(f'`{i}`' for i in report['inputs'])}",
        "",
        f"**{n}** pairs in, **{report['kept']}** kept ({report['kept_share']:.1%}), **{report['rejected']}** "
        f"rejected; {report['read_errors']} unreadable lines/rows (also in the rejects file). "
        f"{report['seconds']} s, {report['pairs_per_second']} pairs/s.",
        "",
        "| rule | what it rejects | checked | rejected | % of input | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in report["rules"]:
        count = "skipped" if r["skipped"] else str(r["rejected"])
        lines.append(
            f"| `{r['name']}` | {r['summary']} | {r['checked']} | {count} | "
            f"{r['share_of_input']:.2%} | {r['seconds']} |"
        )
    lines.append(f"| **total** | | | **{report['rejected']}** | | |")
    for r in report["rules"]:
        if not (r["skipped"] or r["notes"] or r["examples"]):
            continue
        lines += ["", f"## `{r['name']}`", "", f"Parameters: `{r['params']}`", ""]
        if r["skipped"]:
            lines += [f"Skipped: {r['skipped']}", ""]
        lines += [f"Note: {note}" for note in r["notes"]]
        if r["examples"]:
            lines += ["| id | src | tgt | why |", "|---|---|---|---|"]
            lines += [
                f"| {_cell(e['id'], 30)} | {_cell(e['src'])} | {_cell(e['tgt'])} | {_cell(e['detail'])} |"
                for e in r["examples"]
            ]
    return "\n".join(lines) + "\n"
