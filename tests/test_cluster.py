import numpy as np

from aibench.analysis.cluster import cluster, feature_rows
from aibench.characterize.breakdown import CATEGORIES


def _profile(n: int, dominant: str, params: float, flops: float):
    shares = dict.fromkeys(CATEGORIES, 0.02)
    shares[dominant] = 1 - 0.02 * (len(CATEGORIES) - 1)
    return {"benchmark": f"DC-AI-C{n}", "mode": "profile",
            "characterization": {"params": {"total": params}, "flops_train_per_sample": flops,
                                 "breakdown": {"category_share": shares}, "counters": {"status": "unavailable"}}}


def test_three_obvious_groups_give_one_representative_each():
    rows = [_profile(1, "convolution", 2.5e7, 1e10), _profile(12, "convolution", 2.4e7, 1.1e10),
            _profile(3, "gemm", 6e7, 5e9), _profile(14, "gemm", 5e7, 6e9),
            _profile(16, "data_arrangement", 1e5, 1e5), _profile(10, "data_arrangement", 2e5, 2e5)]
    result = cluster(rows, k=3)
    groups = {}
    for name, label in zip(result.benchmarks, result.labels):
        groups.setdefault(label, set()).add(name)
    assert sorted(map(sorted, groups.values())) == [["DC-AI-C1", "DC-AI-C12"], ["DC-AI-C10", "DC-AI-C16"],
                                                    ["DC-AI-C14", "DC-AI-C3"]]
    assert len(result.subset) == 3 and len({result.labels[result.benchmarks.index(b)] for b in result.subset}) == 3
    assert result.embedding.shape == (6, 2) and np.isfinite(result.embedding).all()


def test_features_skip_ipc_when_not_measured_everywhere():
    names, columns, x = feature_rows([_profile(1, "gemm", 10, 10), _profile(2, "relu", 10, 10)])
    assert "ipc" not in columns and x.shape == (2, len(CATEGORIES) + 2)


def test_k_is_the_data_s_answer_by_silhouette_when_not_given():
    rows = [_profile(1, "convolution", 2.5e7, 1e10), _profile(12, "convolution", 2.4e7, 1.1e10),
            _profile(3, "gemm", 6e7, 5e9), _profile(14, "gemm", 5e7, 6e9),
            _profile(16, "data_arrangement", 1e5, 1e5), _profile(10, "data_arrangement", 2e5, 2e5)]
    result = cluster(rows)
    assert sorted(result.k_scores) == [2, 3, 4, 5]  # k = 2..n-1
    assert max(result.k_scores, key=result.k_scores.get) == 3 == len(set(result.labels))
    assert "silhouette" in result.k_reason and len(result.subset) == 3
    # each benchmark's distance to its own centre (the selection's last tie-break) is a number
    assert np.isfinite(result.centre_distance).all()
