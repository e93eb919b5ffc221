"""DC-AI-C10 NeuMF on MovieLens: the leave-one-out protocol, negatives, metrics, synthesis, model and bench."""

import dataclasses
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c10_recommendation import SPEC
from aibench.benchmarks.c10_recommendation.bench import BENCHMARK, RELEASE_SIZES, ratings_file
from aibench.benchmarks.c10_recommendation.data import (
    evaluation_candidates, has_interacted, leave_one_out, list_quality, popularity_scores, ranking_quality,
    sample_negatives, synthesize_ratings, top_k_items,
)
from aibench.benchmarks.c10_recommendation.model import NeuMF
from aibench.characterize.flops import count_parameters
from aibench.datasets.movielens import FILE_1M, FILE_20M, Ratings, read_ratings
from aibench.errors import DataError
from aibench.harness.runner import synthesis_config

TINY = SPEC.scales["tiny"]
FULL = SPEC.scales["full"]


def with_dataset(config, dataset):
    return dataclasses.replace(config, hparams={**config.hparams, "dataset": dataset})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ratings(rows: list[tuple[int, int, int, int]]) -> Ratings:
    user, item, rating, timestamp = (np.array(column) for column in zip(*rows))
    return Ratings(user=user, item=item, rating=rating, timestamp=timestamp, source=Path("u.data"))


# ----- leave-one-out split -----------------------------------------------------------------------------
def test_holds_out_each_users_latest_rating_by_timestamp_not_file_order():
    split = leave_one_out(ratings([(7, 50, 5, 300), (7, 10, 3, 100), (7, 30, 4, 200),
                                   (9, 10, 1, 500), (9, 30, 2, 400)]))
    assert split.user_ids.tolist() == [7, 9] and split.item_ids.tolist() == [10, 30, 50]
    held = {int(split.user_ids[u]): int(split.item_ids[i]) for u, i in zip(split.test_user, split.test_item)}
    assert held == {7: 50, 9: 10}
    train = sorted((int(split.user_ids[u]), int(split.item_ids[i])) for u, i in zip(split.train_user, split.train_item))
    assert train == [(7, 10), (7, 30), (9, 30)]


def test_equal_timestamps_hold_out_the_later_line_and_repeats_count_once():
    split = leave_one_out(ratings([(1, 10, 5, 100), (1, 20, 5, 100), (1, 10, 4, 50), (2, 10, 3, 10)]))
    assert split.item_ids[split.test_item].tolist() == [20]  # user 2 has one item: nothing to hold out
    assert split.test_user.tolist() == [0]
    assert sorted(zip(split.train_user.tolist(), split.item_ids[split.train_item].tolist())) == [(0, 10), (1, 10)]
    assert len(split.interacted) == 3


# ----- negatives and candidates ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic_split():
    return leave_one_out(synthesize_ratings(3, n_users=60, n_items=200, n_genres=5))


def test_training_negatives_avoid_training_interactions_and_follow_the_seed(synthetic_split):
    split = synthetic_split
    negatives = sample_negatives(split, split.train_user, 4, np.random.default_rng(5))
    assert negatives.shape == (len(split.train_user), 4)
    assert not has_interacted(split, np.repeat(split.train_user, 4), negatives.reshape(-1), held_out=False).any()
    assert has_interacted(split, split.test_user, split.test_item).all()
    assert not has_interacted(split, split.test_user, split.test_item, held_out=False).any()
    # the sampler may draw held-out items: it must not know them (as the authors' code, which sees only train)
    many = sample_negatives(split, split.test_user, 2000, np.random.default_rng(0))
    assert (many == split.test_item[:, None]).any()
    assert (negatives == sample_negatives(split, split.train_user, 4, np.random.default_rng(5))).all()


def test_evaluation_candidates_hold_the_item_and_99_distinct_unrated_ones(synthetic_split):
    split = synthetic_split
    candidates = evaluation_candidates(split, 99, np.random.default_rng(0))
    assert candidates.shape == (len(split.test_user), 100)
    for user, item, row in zip(split.test_user, split.test_item, candidates):
        assert len(set(row.tolist())) == 100 and (row == item).sum() == 1
        others = row[row != item]
        assert not has_interacted(split, np.full(99, user), others).any()
    positions = (candidates == split.test_item[:, None]).argmax(1)
    assert len(set(positions.tolist())) > 10  # shuffled: the held-out item is not always first
    assert (candidates == evaluation_candidates(split, 99, np.random.default_rng(0))).all()
    assert (candidates != evaluation_candidates(split, 99, np.random.default_rng(1))).any()


def test_too_few_unrated_items_is_a_data_error():
    split = leave_one_out(ratings([(1, i, 4, i) for i in range(1, 51)] + [(2, 1, 4, 1), (2, 2, 4, 2)]))
    with pytest.raises(DataError, match="u.data: user id 1 has rated all"):
        evaluation_candidates(split, 99, np.random.default_rng(0))


# ----- metrics -----------------------------------------------------------------------------------------
def test_hit_rate_and_ndcg_against_hand_computed_values():
    scores = torch.tensor([[0.9, 0.1, 0.2, 0.3] + [0.0] * 8,  # relevant item ranked 1st
                           [0.5, 0.9, 0.8, 0.1] + [0.0] * 8,  # ranked 3rd
                           [0.0, 0.9, 0.8, 0.7] + [0.5] * 8])  # ranked 12th: outside the top 10
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    relevant[:, 0] = True
    result = ranking_quality(scores, relevant, k=10)
    assert result["hr_at_10"] == pytest.approx(2 / 3)
    assert result["ndcg_at_10"] == pytest.approx((1.0 + 1 / math.log2(3 + 1) + 0.0) / 3)


def test_list_quality_against_hand_computed_values():
    ranked = torch.tensor([[5, 6, 7], [6, 5, 7], [7, 6, 9], [1, 2, 3]])
    held_out = torch.tensor([5, 5, 9, 4])  # positions 0, 1, 2 and unlisted
    result = list_quality(ranked, held_out, k=3)
    assert result["hr_at_3"] == pytest.approx(3 / 4)
    assert result["ndcg_at_3"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(4)) / 4)
    assert list_quality(ranked, held_out, k=1)["hr_at_1"] == pytest.approx(1 / 4)


def test_a_top_k_list_scores_like_the_scores_it_came_from():
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 100, generator=generator)
    candidates = torch.stack([torch.randperm(1000, generator=generator)[:100] for _ in range(50)])
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    relevant[torch.arange(50), torch.randint(0, 100, (50,), generator=generator)] = True
    ranked = top_k_items(scores, candidates, 10)
    assert ranked[0, 0] == candidates[0, scores[0].argmax()]
    from_list = list_quality(ranked, candidates[relevant], 10)
    assert from_list == pytest.approx(ranking_quality(scores, relevant, 10))
    assert 0 < from_list["hr_at_10"] < 1


def test_popularity_counts_training_interactions_only():
    split = leave_one_out(ratings([(1, 10, 5, 1), (1, 20, 5, 2), (2, 10, 5, 1), (2, 30, 5, 2)]))
    assert popularity_scores(split).tolist() == [2.0, 0.0, 0.0]


# ----- synthesis ---------------------------------------------------------------------------------------
def test_synthesis_is_deterministic_and_in_the_u_data_layout(tmp_path):
    for name in ("a", "b"):
        BENCHMARK.synthesize(tmp_path / name, TINY, seed=11)
    BENCHMARK.synthesize(tmp_path / "c", TINY, seed=12)
    assert (tmp_path / "a" / "u.data").read_bytes() == (tmp_path / "b" / "u.data").read_bytes()
    assert (tmp_path / "a" / "u.data").read_bytes() != (tmp_path / "c" / "u.data").read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["u.data"]
    first = (tmp_path / "a" / "u.data").read_text().splitlines()[0].split("\t")
    assert len(first) == 4 and all(field.isdigit() for field in first)
    data = read_ratings(tmp_path / "a")
    assert len(np.unique(data.user)) == TINY.hparams["synth_users"]
    assert set(np.unique(data.rating).tolist()) <= {1, 2, 3, 4, 5}


def test_synthetic_users_follow_their_taste():
    """Structure a model can learn: a user's held-out item shares a genre-mate with their training items far
    more often than a random item does (co-rating with the same users is the signal NeuMF picks up)."""
    split = leave_one_out(synthesize_ratings(0))
    co_rated = np.zeros((split.n_items, split.n_items))
    for user in range(split.n_users):
        items = split.train_item[split.train_user == user]
        co_rated[np.ix_(items, items)] += 1
    rng = np.random.default_rng(0)
    affinity = [co_rated[split.test_item[u], split.train_item[split.train_user == split.test_user[u]]].mean()
                for u in range(len(split.test_user))]
    random_affinity = [co_rated[rng.integers(split.n_items), split.train_item[split.train_user == u]].mean()
                       for u in split.test_user]
    assert statistics.fmean(affinity) > 2 * statistics.fmean(random_affinity)


# ----- model -------------------------------------------------------------------------------------------
def test_neumf_fuses_gmf_and_a_separate_mlp_tower():
    model = NeuMF(5, 7, factors=8, mlp_layers=(64, 32, 16, 8))
    assert model.gmf_user.embedding_dim == 8 and model.mlp_user.embedding_dim == 32
    assert model.gmf_user.weight.data_ptr() != model.mlp_user.weight.data_ptr()
    assert [m.out_features for m in model.tower if isinstance(m, torch.nn.Linear)] == [32, 16, 8]
    assert model.predict.in_features == 8 + 8
    users, items = torch.tensor([0, 4, 2]), torch.tensor([6, 0, 3])
    logits = model(users, items)
    assert logits.shape == (3,) and logits.dtype == torch.float32
    probability = model.probability(users, items)
    assert ((probability > 0) & (probability < 1)).all()
    assert torch.allclose(probability, torch.sigmoid(logits))
    with pytest.raises(ValueError):
        NeuMF(5, 7, mlp_layers=(63, 8))


# ----- the benchmark -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c10-tiny")
    BENCHMARK.synthesize(path, TINY, seed=1234)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("c10-cache")  # the id-map artefacts: never the working folder's cache


@pytest.fixture
def bench(tiny_dir, cache):
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache))
    b.setup()
    return b


def test_check_data_summarises_and_rejects_missing_data(tiny_dir, tmp_path):
    summary = BENCHMARK.check_data(tiny_dir, TINY)
    assert summary["users"] == summary["test_users"] == TINY.hparams["synth_users"]
    assert summary["file"].endswith("u.data")
    with pytest.raises(DataError, match=r"no u\.data here or in ml-100k/"):
        BENCHMARK.check_data(tmp_path, TINY)


def test_check_data_rejects_a_set_too_small_for_100_candidates(tmp_path):
    (tmp_path / FILE_1M).write_text("".join(f"{u}::{i}::4::{u * 100 + i}\n" for u in (1, 2) for i in range(1, 41)))
    with pytest.raises(DataError, match=r"ratings\.dat: too small for the protocol"):
        BENCHMARK.check_data(tmp_path, with_dataset(TINY, "ml-1m"))


def test_a_root_with_several_releases_reads_the_scales_data_set(tmp_path):
    for name, file in (("ml-100k", "u.data"), ("ml-1m", FILE_1M)):
        (tmp_path / name).mkdir()
        (tmp_path / name / file).write_text("")
    assert ratings_file(tmp_path, FULL) == tmp_path / "ml-1m" / FILE_1M
    assert ratings_file(tmp_path, SPEC.scales["small"]) == tmp_path / "ml-100k" / "u.data"
    with pytest.raises(DataError, match="no ratings.csv here or in ml-20m/"):
        ratings_file(tmp_path, with_dataset(FULL, "ml-20m"))


def test_the_ml_20m_layout_is_synthesized_and_read(tmp_path):
    config = with_dataset(TINY, "ml-20m")
    BENCHMARK.synthesize(tmp_path, config, seed=3)
    assert [p.name for p in tmp_path.iterdir()] == [FILE_20M]
    assert BENCHMARK.check_data(tmp_path, config)["users"] == TINY.hparams["synth_users"]


# ----- the full-size configuration ---------------------------------------------------------------------
def test_reference_model_is_neumf_at_ml_1m_size_on_the_meta_device():
    with torch.device("meta"):
        model = BENCHMARK.reference_models(FULL)["model"]
    assert (model.gmf_user.num_embeddings, model.gmf_item.num_embeddings) == RELEASE_SIZES["ml-1m"] == (6040, 3706)
    assert count_parameters({"model": model})["total"] == SPEC.full_size.params == 392_601
    assert set(SPEC.choices) >= {"dataset", "target"}


@pytest.mark.parametrize("scale", ["small", "full"])
def test_the_smoke_set_has_the_releases_users_and_items_and_builds_the_reference_model(tmp_path, scale):
    """synth at small/full writes every user and item of the release, so the smoke run builds the reference
    model's embedding tables; evaluation honours the smoke run's limit."""
    config = SPEC.scales[scale]
    synth = synthesis_config(config, scale)
    BENCHMARK.synthesize(tmp_path, synth, seed=0)
    summary = BENCHMARK.check_data(tmp_path, config)
    assert (summary["users"], summary["items"]) == RELEASE_SIZES[config.hparams["dataset"]]
    ctx = RunContext(scale, config, tmp_path, torch.device("cpu"), seed=0, smoke=True,
                     eval_limit=config.smoke.eval_samples, cache_dir=tmp_path / "cache")
    bench = BENCHMARK(ctx)
    bench.setup()
    with torch.device("meta"):
        reference = BENCHMARK.reference_models(config)
    assert count_parameters(bench.models())["total"] == count_parameters(reference)["total"]
    assert bench.evaluate().samples == config.smoke.eval_samples
    assert ctx.warnings == []


def test_a_file_unlike_the_release_builds_its_own_tables_with_a_warning(tiny_dir, cache):
    ctx = RunContext("small", with_dataset(TINY, "ml-100k"), tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache)
    BENCHMARK(ctx).setup()
    assert len(ctx.warnings) == 1 and "MovieLens ml-100k has 943 users" in ctx.warnings[0]
    tiny = RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache)
    BENCHMARK(tiny).setup()
    assert tiny.warnings == []  # tiny's synthetic set is small by design


def test_popularity_baseline_matches_the_spec_and_sits_well_below_the_target(bench):
    popularity = bench.describe()["popularity_hr_at_10"]
    assert popularity == pytest.approx(TINY.baseline, abs=0.02)
    assert TINY.target > TINY.baseline + 0.25


def test_epoch_pairs_have_four_fresh_negatives_per_positive(bench):
    users, items, labels = (torch.cat(parts) for parts in zip(*bench.train_batches(0)))
    positives = int(labels.sum())
    assert positives == len(bench.split.train_user) and len(labels) == 5 * positives == bench.train_samples()
    negative = labels == 0
    assert not has_interacted(bench.split, users[negative].numpy(), items[negative].numpy(), held_out=False).any()
    again = torch.cat([b[1] for b in bench.train_batches(0)])
    other_epoch = torch.cat([b[1] for b in bench.train_batches(1)])
    assert torch.equal(items, again) and not torch.equal(items, other_epoch)


def test_loss_falls_over_a_few_steps(bench):
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    losses = [bench.train_step(batch).loss for _ in range(10)]
    assert losses[-1] < losses[0] - 0.02, losses


def test_one_epoch_of_training_beats_random_ranking(bench):
    bench.train_mode(True)
    for batch in bench.train_batches(0):
        bench.train_step(batch)
    bench.train_mode(False)
    quality = bench.evaluate()
    assert quality.samples == TINY.hparams["synth_users"]
    assert quality.value > 0.2 and 0 < quality.extra["ndcg_at_10"] < quality.value


def test_infer_returns_ranked_movielens_ids_and_score_agrees_with_evaluate(bench):
    bench.train_mode(False)
    samples = list(bench.inference_samples())
    assert len(samples) == TINY.inference_samples
    outputs = bench.infer(samples)
    assert all(len(out) == 10 and len(set(out)) == 10 for out in outputs)
    ids = bench.split.item_ids
    assert all(set(out) <= set(ids[s.candidates.numpy()].tolist()) for s, out in zip(samples, outputs))
    rows = bench.query_rows
    scores = bench._candidate_scores(bench.eval_users[rows], bench.eval_candidates[rows])
    expected = ranking_quality(scores, bench.eval_relevant[rows])
    quality = bench.score(range(len(samples)), outputs)
    assert quality.value == pytest.approx(expected["hr_at_10"])
    assert quality.extra["ndcg_at_10"] == pytest.approx(expected["ndcg_at_10"])


def test_score_of_the_held_out_item_first_is_perfect(bench):
    held = bench.split.item_ids[bench.split.test_item[bench.query_rows]]
    outputs = [[int(h)] + [-1] * 9 for h in held]
    quality = bench.score(range(len(outputs)), outputs)
    assert quality.value == 1.0 and quality.extra["ndcg_at_10"] == 1.0
    missed = bench.score([0, 1], [[-1] * 10, [-1] * 10])
    assert missed.value == 0.0 and missed.extra["ndcg_at_10"] == 0.0 and missed.samples == 2


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_initialize_sizes_the_model_from_the_id_map_artefact_without_reading_the_ratings(tiny_dir, tmp_path,
                                                                                         monkeypatch):
    from aibench.benchmarks.c10_recommendation import bench as bench_module
    cache = tmp_path / "cache"
    first = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache))
    first.prepare_artefacts()  # what `aibench data prepare C10` does
    assert [a["name"] for a in first.ctx.artefacts] == ["id-map"] and first.ctx.artefacts[0]["built_in_run"]

    def no_reading(*args, **kwargs):
        raise AssertionError("initialize() read the ratings: that belongs to the timed prepare_data()")

    monkeypatch.setattr(bench_module, "read_ratings", no_reading)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache))
    bench.initialize()
    assert not hasattr(bench, "split") and bench.ctx.artefacts[0]["built_in_run"] is False  # cached
    split = leave_one_out(read_ratings(tiny_dir))  # indexed on its own: the map must agree with it
    assert (bench.model.gmf_user.num_embeddings, bench.model.gmf_item.num_embeddings) == (split.n_users,
                                                                                        split.n_items)
    monkeypatch.undo()
    bench.prepare_data()
    for field in ("train_user", "train_item", "test_user", "test_item", "user_ids", "item_ids", "interacted"):
        assert np.array_equal(getattr(bench.split, field), getattr(split, field)), field
    assert bench.describe()["popularity_hr_at_10"] == pytest.approx(TINY.baseline, abs=0.02)


def test_data_preparation_parses_the_ratings_anew_not_the_copy_the_data_check_parsed(tiny_dir, cache,
                                                                                     monkeypatch):
    from aibench.datasets import movielens
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, cache_dir=cache))
    bench.initialize()
    BENCHMARK.check_data(tiny_dir, TINY)  # the runner's untimed check, right before the run: parses the file
    lines = []
    parse = movielens._parse_line
    monkeypatch.setattr(movielens, "_parse_line", lambda *args: lines.append(1) or parse(*args))
    bench.prepare_data()
    assert len(lines) == len(read_ratings(tiny_dir)) > 0  # every line parsed inside the clock


def test_a_ratings_id_missing_from_the_id_map_is_a_data_error():
    data = ratings([(1, 10, 5, 100), (2, 20, 4, 200)])
    with pytest.raises(DataError, match="item id 20 is not in the id map"):
        leave_one_out(data, (np.array([1, 2]), np.array([10, 30])))
