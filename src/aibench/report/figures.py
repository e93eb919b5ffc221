"""The paper's figures for the user's own results (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402

from aibench.characterize.breakdown import CATEGORIES  # noqa: E402


def breakdown_figure(profiles: dict[str, dict[str, Any]], path: Path) -> Path:
    """Fig. 5: runtime share of each kernel category, one stacked bar per benchmark."""
    names = list(profiles)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 3), 4))
    bottom = [0.0] * len(names)
    for cat in CATEGORIES:
        vals = [100 * profiles[n]["breakdown"]["category_share"][cat] for n in names]
        ax.bar(names, vals, bottom=bottom, label=cat)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("share of profiled time (%)")
    ax.set_title("Runtime breakdown by kernel category")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, path)


def model_figure(points: dict[str, dict[str, float]], path: Path) -> Path:
    """Fig. 2: parameters against FLOPs per sample; marker size grows with epochs to quality."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, p in points.items():
        size = 20 + 15 * (p.get("epochs") or 1)
        ax.scatter(p["params"], p["flops"], s=size, alpha=0.7)
        ax.annotate(name, (p["params"], p["flops"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learnable parameters")
    ax.set_ylabel("training FLOPs per sample")
    ax.set_title("Model characteristics (marker size: epochs to quality)")
    return _save(fig, path)


def cluster_figure(clustering: Any, path: Path) -> Path:
    """Fig. 4: the t-SNE embedding coloured by cluster, the chosen subset circled."""
    fig, ax = plt.subplots(figsize=(6, 4))
    xy = clustering.embedding
    ax.scatter(xy[:, 0], xy[:, 1], c=clustering.labels, cmap="tab10", s=60)
    for (x, y), name in zip(xy, clustering.benchmarks):
        ax.annotate(name.removeprefix("DC-AI-"), (x, y), fontsize=8)
        if name in clustering.subset:
            ax.scatter([x], [y], s=250, facecolors="none", edgecolors="black")
    ax.set_title("Benchmarks clustered (t-SNE); circled: representative subset")
    return _save(fig, path)


def server_figure(curves: dict[str, dict[str, Any]], path: Path) -> Path:
    """Latency against offered load: each Server search step's p99 at its target QPS (filled: VALID), one line
    per benchmark, its p99 bound dashed."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load: Server target QPS")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("Server: p99 vs offered QPS (filled: VALID; dashed: bound)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
