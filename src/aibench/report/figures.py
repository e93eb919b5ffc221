"""The paper's figures for the user's own results (matplotlib), returned as PNG bytes for the report to embed."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from aibench.characterize.breakdown import ALL_CATEGORIES  # noqa: E402


def label_colours(labels: list[str]) -> dict[str, str]:
    """One colour per label, the same in every figure of a report."""
    palette = plt.get_cmap("tab10").colors
    return {label: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, label in enumerate(sorted(labels))}


def quality_curve_figure(title: str, metric: str, runs: list[dict[str, Any]], target: float | None,
                         controls: list[tuple[str, float]], colours: dict[str, str]) -> bytes:
    """Quality per epoch for each training run of one benchmark (one colour per label), the target as a solid
    grey line and each label's control quality (the same model untrained or a trivial baseline) dashed.

    runs: [{"label", "points": [(epoch, quality, counts)]}]; points that may not meet the target (a teacher
    phase, an evaluation past the time budget) are drawn hollow."""
    fig, ax = plt.subplots(figsize=(4.2, 2.9))
    for run in runs:
        pts = run["points"]
        colour = colours.get(run["label"], "C0")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, linewidth=1, alpha=0.75)
        for epoch, quality, counts in pts:
            ax.scatter([epoch], [quality], s=12, color=colour, facecolors=colour if counts else "none", zorder=3)
    if target is not None:
        ax.axhline(target, color="0.35", linewidth=1)
    for label, quality in controls:
        ax.axhline(quality, color=colours.get(label, "0.5"), linestyle="--", linewidth=1)
    handles = [Line2D([], [], color=colours[lab], label=lab) for lab in sorted({r["label"] for r in runs})]
    if target is not None:
        handles.append(Line2D([], [], color="0.35", label=f"target {target:.3g}"))
    if controls:
        handles.append(Line2D([], [], color="0.5", linestyle="--", label="control"))
    ax.legend(handles=handles, fontsize=6, loc="best")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def breakdown_figure(profiles: dict[str, dict[str, Any]]) -> bytes:
    """Fig. 5: runtime share of each kernel category, one stacked bar per benchmark."""
    names = list(profiles)
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.35 * len(names) + 3)), 4.5))
    bottom = [0.0] * len(names)
    colours = plt.get_cmap("tab20").colors
    for i, cat in enumerate(ALL_CATEGORIES):  # the kernels not split further (an RNN, attention) too: bars sum to 100
        vals = [100 * (profiles[n]["breakdown"]["category_share"].get(cat) or 0.0) for n in names]
        if any(vals):
            ax.bar(names, vals, bottom=bottom, label=cat, color=colours[i % len(colours)])
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of profiled time (%)")
    ax.set_title("Runtime breakdown by kernel category")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.margins(x=0.01)
    return _png(fig)


def model_figure(points: dict[str, dict[str, float]]) -> bytes:
    """Fig. 2: parameters against FLOPs per sample; marker size grows with epochs to quality."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, p in points.items():
        size = 20 + 15 * (p.get("epochs") or 1)
        ax.scatter(p["params"], p["flops"], s=size, alpha=0.7)
        ax.annotate(name, (p["params"], p["flops"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    _log_axes(ax, [p["params"] for p in points.values()], [p["flops"] for p in points.values()])
    ax.set_xlabel("learnable parameters")
    ax.set_ylabel("training FLOPs per sample")
    ax.set_title("Model characteristics (marker size: epochs to quality)")
    return _png(fig)


def cluster_figure(clustering: Any) -> bytes:
    """Fig. 4 as PNG (see cluster_plot)."""
    return _png(cluster_plot(clustering))


def cluster_plot(clustering: Any) -> Any:
    """Fig. 4: the t-SNE embedding coloured by cluster, the chosen subset circled. t-SNE's two axes have no
    units (only nearness means something), so they are named as such; each name is placed on the side of its
    point that faces the middle of the plot, and the margins leave room, so no name is cut at the edge."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    xy = clustering.embedding
    cmap = plt.get_cmap("tab10")
    ax.scatter(xy[:, 0], xy[:, 1], c=[cmap(c % 10) for c in clustering.labels], s=60, zorder=2)
    middle = (xy[:, 0].min() + xy[:, 0].max()) / 2
    for (x, y), name in zip(xy, clustering.benchmarks):
        right_half = x > middle
        ax.annotate(name.removeprefix("DC-AI-"), (x, y), fontsize=8, xytext=(-7 if right_half else 7, 5),
                    textcoords="offset points", ha="right" if right_half else "left", annotation_clip=True)
        if name in clustering.subset:
            ax.scatter([x], [y], s=250, facecolors="none", edgecolors="black", zorder=3)
    ax.margins(0.2)
    ax.set_xlabel("t-SNE dimension 1 (no unit)")
    ax.set_ylabel("t-SNE dimension 2 (no unit)")
    clusters = sorted(set(clustering.labels))
    handles = [Line2D([], [], marker="o", linestyle="", color=cmap(c % 10), label=f"cluster {c + 1}")
               for c in clusters]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                          markersize=12, label="in the subset"))
    ax.legend(handles=handles, fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title("Benchmarks clustered by their characterization (t-SNE)", fontsize=10)
    fig.tight_layout()
    return fig


def server_figure(curves: dict[str, dict[str, Any]]) -> bytes:
    """Latency against offered load: each Server search step's p99 at its target QPS (filled: VALID), one line
    per benchmark and label, its p99 bound dashed."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, c in curves.items():
        steps = sorted(c["search"], key=lambda s: s["target_qps"])
        pts = [(s["target_qps"], s["p99_ms"], s["valid"]) for s in steps if s.get("p99_ms") is not None]
        if not pts:
            continue
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="", label=name)
        for x, y, valid in pts:
            ax.scatter([x], [y], color=line.get_color(), facecolors=line.get_color() if valid else "none", s=30)
        if c.get("bound_ms"):
            ax.axhline(c["bound_ms"], color=line.get_color(), linestyle="--", linewidth=0.8)
    steps = [s for c in curves.values() for s in c["search"] if s.get("p99_ms") is not None]
    if steps:
        bounds = [c["bound_ms"] for c in curves.values() if c.get("bound_ms")]
        _log_axes(ax, [s["target_qps"] for s in steps], [s["p99_ms"] for s in steps] + bounds, plain=True)
    ax.set_xlabel("offered load: Server target QPS")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("Server: p99 vs offered QPS (filled: VALID; dashed: bound)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _png(fig)


def _log_axes(ax: Any, xs: list[float], ys: list[float], plain: bool = False) -> None:
    """Log axes padded by a factor of 4 each side: every axis then spans at least one power of ten (a labelled
    major tick; matplotlib otherwise labels every minor tick, overlapping) and names near the edge stay inside.
    `plain`: ticks as ordinary numbers (10, 100, 1000) rather than powers of ten."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(min(xs) / 4, max(xs) * 4)
    ax.set_ylim(min(ys) / 4, max(ys) * 4)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if plain:
            axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:,g}"))


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
