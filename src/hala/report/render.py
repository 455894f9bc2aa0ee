"""Render report sections to Markdown (figures as PNG files beside it) and to one self-contained HTML page
(figures embedded as base64 PNG, inline CSS, no scripts, nothing fetched)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union


@dataclass
class Text:
    text: str


@dataclass
class Note:
    text: str  # a skipped section or a caveat: shown greyed


@dataclass
class Table:
    headers: list[str]
    rows: list[list]


@dataclass
class Figure:
    name: str
    png: bytes
    caption: str


Block = Union[Text, Note, Table, Figure]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _md_cell(value) -> str:
    return " ".join(fmt(value).split()).replace("|", "\\|")


def to_markdown(title: str, intro: str, sections: list[Section], figures_dir: Path) -> str:
    out = [f"# {title}", "", intro, ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                out += [b.text, ""]
            elif isinstance(b, Note):
                out += [f"> {b.text}", ""]
            elif isinstance(b, Table):
                out.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
                out.append("|" + "---|" * len(b.headers))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                out.append("")
            elif isinstance(b, Figure):
                out += [f"![{b.caption}]({figures_dir.name}/{b.name}.png)", "", f"*{b.caption}*", ""]
    return "\n".join(out)


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Naskh Arabic", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #1d232a; line-height: 1.45; }
h1 { font-size: 1.7em; border-bottom: 2px solid #2a6f97; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; color: #2a6f97; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #cfd6dd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #eef3f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #6b7580; font-style: italic; border-left: 3px solid #cfd6dd; padding-left: .7em; }
figure { margin: 1em 0; } figcaption { color: #4a5560; font-size: .85em; }
img { max-width: 100%; }
"""


def _html_cell(value, header: bool = False) -> str:
    tag = "th" if header else "td"
    num = not header and isinstance(value, (int, float)) and not isinstance(value, bool)
    cls = ' class="num"' if num else ""
    return f'<{tag}{cls} dir="auto">{html.escape(fmt(value))}</{tag}>'


def to_html(title: str, intro: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(intro)}</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, Text):
                parts.append(f'<p dir="auto">{html.escape(b.text)}</p>')
            elif isinstance(b, Note):
                parts.append(f'<p class="note">{html.escape(b.text)}</p>')
            elif isinstance(b, Table):
                head = "".join(_html_cell(h, header=True) for h in b.headers)
                body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in b.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(b, Figure):
                data = base64.b64encode(b.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                )
    parts.append("</body></html>")
    return "\n".join(parts)
