"""The evaluation split as LoadGen's queries: the inference samples first, then every other sample once."""

from types import SimpleNamespace

import numpy as np

from aibench.benchmarks.base import selected_rows_first
from aibench.benchmarks.c13_3d_object_reconstruction.bench import PerspectiveTransformerNets
from aibench.benchmarks.c17_neural_architecture_search.bench import ENASSearch


def test_selected_rows_come_first_then_every_other_row_once():
    assert selected_rows_first([7, 2, 7, 5], 8) == [7, 2, 5, 0, 1, 3, 4, 6]
    assert selected_rows_first(np.array([1, 3]), 4) == [1, 3, 0, 2]
    assert selected_rows_first([], 3) == [0, 1, 2]


def _predicted_tokens(starts, bptt):
    return {t for s in starts for t in range(s + 1, s + bptt + 1)}


def test_c17_windows_predict_every_test_token_beyond_the_inference_windows():
    bptt, tokens = 35, 2000
    for inference in (4, 64, 200):  # sparse windows with gaps between them; windows that already overlap
        stub = SimpleNamespace(hp={"bptt": bptt}, corpus=SimpleNamespace(test=np.arange(tokens)),
                               config=SimpleNamespace(inference_samples=inference))
        starts = ENASSearch._query_starts(stub)
        spread = np.linspace(0, tokens - bptt - 1, num=inference).astype(np.int64).tolist()
        assert starts[:inference] == spread  # the inference samples' windows first
        assert all(0 <= s <= tokens - bptt - 1 for s in starts)  # whole windows of the split
        assert _predicted_tokens(starts, bptt) == set(range(1, tokens))  # every token after the first
        if inference == 4:  # the gaps are filled about once: overlaps only where a gap is shorter than a window
            assert len(starts) * bptt < 1.1 * tokens


def test_c13_queries_are_the_inference_pairs_then_every_evaluated_pair():
    stub = SimpleNamespace(query_pairs=[(0, 1), (1, 2), (0, 0)], test_set=[object()] * 3, eval_views=[0, 3])
    queries = PerspectiveTransformerNets._query_list(stub)
    assert queries[:3] == [(0, 1), (1, 2), (0, 0)]
    assert set(queries) == {(0, 1), (1, 2)} | {(o, v) for o in range(3) for v in (0, 3)}
    assert len(queries) == len(set(queries)) == 8
