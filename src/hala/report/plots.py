"""The report's matplotlib figures, each returned as PNG bytes (embedded in the HTML, written beside the Markdown)."""

from __future__ import annotations

import io


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and none is available on servers
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return buf.getvalue()


def grouped_bars(
    groups: list[str],
    series: dict[str, list[float | None]],
    ylabel: str,
    title: str,
    ylim: tuple[float, float | None] | None = None,
) -> bytes:
    """One cluster of bars per group (x), one bar per series in each; values printed on the bars."""
    plt = _plt()
    n = max(1, len(series))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) * n * 0.6 + 2), 3.6))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name)
        for bar, v in zip(bars, values):
            if v is not None:
                ax.annotate(
                    f"{v:.3g}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    xytext=(0, 1),
                    textcoords="offset points",
                )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if ylim:
        bottom, top = ylim
        if top is None:  # headroom above the tallest bar for its label; all-zero data still gets a real axis
            top = max([v for vals in series.values() for v in vals if v is not None] + [0]) * 1.15 or 1.0
        ax.set_ylim(bottom, top)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def horizontal_bars(labels: list[str], values: list[float], xlabel: str, title: str) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.4))
    ax.barh(range(len(labels)), values, color="tab:orange")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.annotate(f"{v:g}", (v, i), va="center", fontsize=7, xytext=(2, 0), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def line(
    xs: list[float], ys: list[float], xlabel: str, ylabel: str, title: str, best: tuple[float, float] | None = None
) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(xs, ys, "o-")
    if best:
        ax.plot([best[0]], [best[1]], "*", markersize=16, color="tab:red", label=f"best {xlabel} = {best[0]:g}")
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


def curves(series: dict[str, tuple[list[float], list[float]]], xlabel: str, ylabel: str, title: str) -> bytes:
    """Several y(x) series on one axis: a line for series with several points, a marker for single points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, "-" if len(xs) > 1 else "D", label=name, markersize=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def bar_panels(panels: dict[str, tuple[list[str], list[float]]], title: str) -> bytes:
    """One small horizontal-bar panel per unit (tokens/s, sentences/s, ...): rates in different units never
    share an axis."""
    plt = _plt()
    heights = [0.3 * len(labels) + 0.8 for labels, _ in panels.values()]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(7, sum(heights) + 0.6), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, (unit, (labels, values)) in zip(axes[:, 0], panels.items()):
        ax.barh(range(len(labels)), values, height=0.55, color="tab:green")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_ylim(len(labels) - 0.5, -0.5)  # first stage on top, even for a one-bar panel
        ax.margins(x=0.12)  # room for the value printed after the longest bar
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3g}", (v, i), va="center", fontsize=7, xytext=(2, 0), textcoords="offset points")
        ax.set_xlabel(unit, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_title(title, fontsize=10)
    return _png(fig)
