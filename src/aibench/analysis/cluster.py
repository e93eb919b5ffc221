"""Clustering benchmarks by their characterization and choosing a representative subset (paper §5.4.3, Fig. 4).

Features per benchmark: the runtime share of each kernel category, log-parameters, log-FLOPs per sample and, where
counted, IPC. They are standardized, embedded in 2-D with t-SNE (scikit-learn) for the figure, and clustered with
k-means on the standardized features; the subset is the benchmark nearest each cluster's centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aibench.characterize.breakdown import CATEGORIES


@dataclass
class Clustering:
    benchmarks: list[str]
    features: list[str]
    embedding: np.ndarray  # (n, 2) t-SNE coordinates
    labels: list[int]
    subset: list[str]  # one representative per cluster


def feature_rows(profiles: list[dict[str, Any]]) -> tuple[list[str], list[str], np.ndarray]:
    """The latest profile record of each benchmark as a feature vector."""
    latest: dict[str, dict[str, Any]] = {}
    for r in profiles:
        if r["mode"] == "profile":
            latest[r["benchmark"]] = r
    names = sorted(latest, key=lambda b: int(b.rsplit("C", 1)[1]))
    with_ipc = all(latest[b]["characterization"].get("counters", {}).get("status") == "measured" for b in names)
    columns = [f"share_{c}" for c in CATEGORIES] + ["log10_params", "log10_train_flops"] + (["ipc"] if with_ipc else [])
    rows = []
    for b in names:
        ch = latest[b]["characterization"]
        row = [ch["breakdown"]["category_share"][c] for c in CATEGORIES]
        row += [math.log10(max(1, ch["params"]["total"])), math.log10(max(1.0, ch["flops_train_per_sample"]))]
        if with_ipc:
            row.append(ch["counters"]["ipc"])
        rows.append(row)
    return names, columns, np.asarray(rows, dtype=float)


def cluster(profiles: list[dict[str, Any]], k: int = 3, seed: int = 0) -> Clustering:
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    names, columns, x = feature_rows(profiles)
    if len(names) < 2:
        raise ValueError("clustering needs profiles of at least two benchmarks (run `aibench profile all`)")
    z = StandardScaler().fit_transform(x)
    z = np.nan_to_num(z)  # a constant column (e.g. no pooling anywhere) standardizes to 0/0
    k = min(k, len(names))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    perplexity = max(1.0, min(5.0, len(names) - 1.0))
    embedding = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="random").fit_transform(z)
    subset = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        dist = np.linalg.norm(z[members] - km.cluster_centers_[c], axis=1)
        subset.append(names[members[int(np.argmin(dist))]])
    return Clustering(names, columns, embedding, [int(l) for l in km.labels_], sorted(subset))
