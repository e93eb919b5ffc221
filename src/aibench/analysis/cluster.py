"""Clustering benchmarks by their characterization and choosing a representative subset (paper §5.4.3, Fig. 4).

Features per benchmark: the runtime share of each kernel category, log-parameters, log-FLOPs per sample and, where
counted, IPC. They are standardized, embedded in 2-D with t-SNE (scikit-learn) for the figure, and clustered with
k-means on the standardized features. The number of clusters is the data's answer, not the paper's: the k in
2..n-1 with the highest mean silhouette (a smaller k on a tie), since the paper's three clusters came from its own
GPU measurements. `subset` here is the benchmark nearest each cluster's centre; the selection by the paper's
criteria (variation, accepted metric, diversity, cost) is analysis/subset.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aibench.characterize.breakdown import CATEGORIES


@dataclass
class Clustering:
    benchmarks: list[str]
    features: list[str]
    standardized: np.ndarray  # (n, features) the clustered values
    labels: list[int]
    subset: list[str]  # one representative per cluster (nearest its centre)
    centre_distance: list[float]  # each benchmark's distance to its cluster's centre (standardized features)
    k_scores: dict[int, float]  # mean silhouette of each k tried (empty when k was given or n < 3)
    k_reason: str  # how k was chosen, in words
    seed: int = 0
    _embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def embedding(self) -> np.ndarray:
        """(n, 2) t-SNE coordinates for the figure; computed on first use, since t-SNE is the slow part (tens of
        seconds on a busy 2-core machine) and only the figure needs it."""
        if self._embedding is None:
            from sklearn.manifold import TSNE

            perplexity = max(1.0, min(5.0, len(self.benchmarks) - 1.0))
            self._embedding = TSNE(n_components=2, perplexity=perplexity, random_state=self.seed,
                                   init="random").fit_transform(self.standardized)
        return self._embedding


def feature_rows(profiles: list[dict[str, Any]]) -> tuple[list[str], list[str], np.ndarray]:
    """The latest profile record of each benchmark as a feature vector."""
    latest: dict[str, dict[str, Any]] = {}
    for r in profiles:
        if r["mode"] == "profile":
            latest[r["benchmark"]] = r
    names = sorted(latest, key=_number)
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


SILHOUETTE_TIE = 1e-9  # silhouettes this close count as equal: the smaller k wins


def choose_k(z: np.ndarray, seed: int = 0) -> tuple[int, dict[int, float], str]:
    """The k in 2..n-1 with the highest mean silhouette of its k-means clustering, and every k's score.

    A silhouette needs at least two clusters and one cluster with two members, hence at most n-1; k is also
    kept at most the number of distinct rows (k-means cannot split identical points).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(z)
    distinct = len(np.unique(np.round(z, 12), axis=0))
    top = min(n - 1, distinct)
    if top < 2:
        k = min(n, max(1, distinct))
        return k, {}, f"{n} benchmarks ({distinct} distinct): too few for a silhouette, k = {k}"
    scores = {}
    for k in range(2, top + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
        scores[k] = float(silhouette_score(z, labels))
    best = max(scores.values())
    k = min(k for k, s in scores.items() if s >= best - SILHOUETTE_TIE)
    return k, scores, f"highest mean silhouette ({best:.3f}) over k = 2..{top}"


def cluster(profiles: list[dict[str, Any]], k: int | None = None, seed: int = 0) -> Clustering:
    """Cluster the profiled benchmarks; k None chooses it by silhouette (see choose_k), an int fixes it."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    names, columns, x = feature_rows(profiles)
    if len(names) < 2:
        raise ValueError("clustering needs profiles of at least two benchmarks (run `aibench profile all`)")
    z = StandardScaler().fit_transform(x)
    z = np.nan_to_num(z)  # a constant column (e.g. no pooling anywhere) standardizes to 0/0
    if k is None:
        k, scores, reason = choose_k(z, seed)
    else:
        k, scores, reason = min(k, len(names)), {}, f"k = {k} given"
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    distance = np.linalg.norm(z - km.cluster_centers_[km.labels_], axis=1)
    subset = []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        subset.append(names[members[int(np.argmin(distance[members]))]])
    return Clustering(names, columns, z, [int(l) for l in km.labels_], sorted(subset, key=_number),
                      [float(d) for d in distance], scores, reason, seed)


def _number(benchmark: str) -> int:
    return int(benchmark.rsplit("C", 1)[1])
