"""DC-AI-C16 learning to rank: preprocessing, Caser, the distillation weights, the metrics and a short run."""

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest
import torch
from torchmetrics.retrieval import RetrievalMAP, RetrievalNormalizedDCG, RetrievalPrecision, RetrievalRecall

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c16_learning_to_rank import SPEC
from aibench.benchmarks.c16_learning_to_rank.bench import (
    BENCHMARK, GOWALLA_LOCATIONS, GOWALLA_USERS, WindowBatch,
)
from aibench.benchmarks.c16_learning_to_rank.data import (
    RankingMetrics, average_precision, build_sequences, item_mask, keep_frequent, last_items, ranking_preds,
    sample_unseen, sliding_windows, synthesize_checkins, synthesize_shaped_checkins, top_k_preds,
)
from aibench.benchmarks.c16_learning_to_rank.model import (
    Caser, discrepancy_weights, distillation_loss, position_weights, ranking_loss,
)
from aibench.characterize.flops import count_parameters
from aibench.datasets.gowalla import CHECKINS_FILE, CheckIns, write_checkins
from aibench.errors import DataError
from aibench.harness.runner import synthesis_config

TINY = SPEC.scales["tiny"]
# a smaller synthetic set than tiny's, so the short run below takes seconds
SMALL_SYNTH = dataclasses.replace(TINY, batch_size=64, inference_samples=16, hparams={
    **TINY.hparams, "synth_regions": 2, "synth_users_per_region": 20, "synth_loop_locations": 30})


def _checkins(rows):
    """CheckIns from (user, time, location) rows."""
    user, time, location = (np.array(c, dtype=np.int64) for c in zip(*rows))
    zeros = np.zeros(len(rows))
    return CheckIns(user=user, time=time, latitude=zeros, longitude=zeros, location=location)


# ----- data ---------------------------------------------------------------------------------------------
def test_synthesis_is_deterministic_and_in_snap_layout(tmp_path):
    for name in ("a", "b"):
        BENCHMARK.synthesize(tmp_path / name, SMALL_SYNTH, seed=3)
    first = (tmp_path / "a" / CHECKINS_FILE).read_bytes()
    assert first == (tmp_path / "b" / CHECKINS_FILE).read_bytes()
    BENCHMARK.synthesize(tmp_path / "c", SMALL_SYNTH, seed=4)
    assert first != (tmp_path / "c" / CHECKINS_FILE).read_bytes()
    line = first.decode().splitlines()[0]
    assert re.fullmatch(r"\d+\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\t-?\d+\.\d+\t-?\d+\.\d+\t\d+", line), line


def test_synthetic_check_ins_have_sequential_structure():
    """The next location follows from the current one: a most-frequent-successor table built on some users
    predicts the other users' next check-in far better than the most popular location does."""
    data = synthesize_checkins(seed=0, regions=2, users_per_region=20, loop_locations=30, casual_users=0)
    walks = [data.location[data.user == u][np.argsort(data.time[data.user == u])] for u in np.unique(data.user)]
    successors: dict[int, Counter] = {}
    for walk in walks[:30]:
        for here, there in zip(walk[:-1], walk[1:]):
            successors.setdefault(here, Counter())[there] += 1
    popular = Counter(np.concatenate(walks[:30]).tolist()).most_common(1)[0][0]
    pairs = [(here, there) for walk in walks[30:] for here, there in zip(walk[:-1], walk[1:])]
    by_successor = np.mean([successors.get(h, Counter({-1: 1})).most_common(1)[0][0] == t for h, t in pairs])
    by_popularity = np.mean([popular == t for _, t in pairs])
    assert by_successor > 0.3 and by_popularity < 0.1, (by_successor, by_popularity)


def test_keep_frequent_iterates_to_a_fixpoint():
    users = np.array([1, 1, 1, 2, 2, 3, 3, 3])
    items = np.array([10, 11, 12, 10, 11, 10, 11, 13])
    keep = keep_frequent(users, items, min_user=2, min_item=2)
    # items 12 and 13 are rare; dropping them leaves users 1 and 3 with 2 check-ins each, still enough
    assert keep.tolist() == [True, True, False, True, True, True, True, False]
    keep = keep_frequent(users, items, min_user=3, min_item=2)
    # now every user falls below 3 once the rare items go, then every item: nothing is left
    assert not keep.any()


def test_build_sequences_orders_by_time_and_holds_out_the_last_fifth():
    rows = [(7, t, 100 + (t // 10) % 5) for t in (50, 10, 40, 20, 30, 60, 70, 80, 90, 100)]  # times shuffled
    rows += [(8, t, 100 + t) for t in range(5)] + [(9, 1, 999)]  # user 9 and location 999 are too rare
    data = build_sequences(_checkins(rows), min_user=3, min_item=2, test_fraction=0.2)
    assert data.n_users == 2 and data.user_ids.tolist() == [7, 8]
    assert data.location_ids[0] == -1 and 999 not in data.location_ids
    locations = [data.location_ids[np.concatenate([tr, te])] for tr, te in zip(data.train, data.test)]
    assert locations[0].tolist() == [101, 102, 103, 104, 100, 101, 102, 103, 104, 100]
    assert [len(t) for t in data.test] == [2, 1]


def test_too_sparse_data_is_a_data_error(tmp_path):
    write_checkins(tmp_path / CHECKINS_FILE, _checkins([(1, 1, 5), (1, 2, 6), (2, 3, 5)]))
    with pytest.raises(DataError, match=CHECKINS_FILE):
        BENCHMARK.check_data(tmp_path, TINY)
    with pytest.raises(DataError, match="missing-dir"):
        BENCHMARK.check_data(tmp_path / "missing-dir", TINY)


def test_sliding_windows_and_query_sequences():
    users, sequences, targets = sliding_windows([np.arange(1, 10), np.array([4, 5, 6])], L=5, T=3)
    assert users.tolist() == [0, 0, 1]
    assert sequences.tolist() == [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [0, 0, 0, 0, 0]]
    assert targets.tolist() == [[6, 7, 8], [7, 8, 9], [4, 5, 6]]
    assert last_items([np.arange(1, 10), np.array([4, 5])], L=5).tolist() == [[5, 6, 7, 8, 9], [0, 0, 0, 4, 5]]


def test_negative_samples_avoid_seen_items_and_padding():
    seen = item_mask([np.array([1, 2, 3, 4]), np.array([5])], n_items=7)
    g = torch.Generator().manual_seed(0)
    samples = sample_unseen(seen, torch.tensor([0, 0, 1]), n=200, generator=g)
    assert set(samples[:2].flatten().tolist()) == {5, 6}
    assert set(samples[2].tolist()) == {1, 2, 3, 4, 6}


# ----- model and losses ---------------------------------------------------------------------------------
def test_caser_scores_agree_between_sampled_items_and_full_ranking():
    torch.manual_seed(0)
    model = Caser(n_users=3, n_items=11, d=6, L=5, nv=2, nh=4, dropout=0.5).eval()
    seqs, users = torch.tensor([[1, 2, 3, 4, 5], [0, 0, 7, 8, 9]]), torch.tensor([0, 2])
    items = torch.tensor([[3, 10], [1, 4]])
    full = model.score_all(seqs, users)
    assert full.shape == (2, 11)
    assert torch.allclose(model(seqs, users, items), full.gather(1, items), atol=1e-6)


def test_position_and_discrepancy_weights():
    w = position_weights(K=4, lam=1.0)
    expected = torch.exp(-torch.arange(1.0, 5.0))
    assert torch.allclose(w, expected / expected.sum())
    candidates = torch.tensor([[5.0, 0.0]])  # teacher ranks: 0 and 1
    samples = torch.tensor([[1.0, 2.0, 3.0, -1.0]])  # the student puts candidate 1 below 3 of 4 samples
    weights = discrepancy_weights(candidates, samples, n_items=100, mu=0.1)
    # candidate 0: student rank 0 <= teacher rank 0, weight 0; candidate 1: rank 75 vs 1, tanh(7.4)
    assert torch.allclose(weights, torch.tensor([[0.0, float(np.tanh(7.4))]]), atol=1e-5)


def test_losses_hand_values():
    loss = ranking_loss(torch.tensor([[0.0]]), torch.tensor([[0.0, 0.0]]))
    assert loss.item() == pytest.approx(3 * np.log(2))
    distill = distillation_loss(torch.tensor([[0.0, 100.0]]), torch.tensor([[0.5, 0.5]]))
    assert distill.item() == pytest.approx(0.5 * np.log(2), rel=1e-4)


# ----- metrics ------------------------------------------------------------------------------------------
def _hand_case():
    """Two users over items 1..14. User 0 saw 1, 2; the rest rank 3, 4, ..., 14; held out 3, 5, 14.
    User 1 saw 3; the rest rank 14, 13, ..., 4, 2, 1; held out 1 (last of 13)."""
    ids = torch.arange(15, dtype=torch.float32)
    scores = torch.stack([-ids, ids])
    seen = item_mask([np.array([1, 2]), np.array([3])], 15)
    heldout = item_mask([np.array([3, 5, 14]), np.array([1])], 15)
    return scores, seen, heldout


def test_metrics_against_hand_computed_values():
    scores, seen, heldout = _hand_case()
    metrics = RankingMetrics(10)
    metrics.update(ranking_preds(scores, seen), heldout[:, 1:])
    got = metrics.result()
    # user 0: hits at ranks 1 and 3 of the top 10; user 1: no hit
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3) + 1 / np.log2(4))
    ap0, ap1 = (1 / 1 + 2 / 3 + 3 / 12) / 3, 1 / 13  # full-ranking average precision
    assert got["precision_at_10"] == pytest.approx((0.2 + 0.0) / 2)
    assert got["recall_at_10"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert got["ndcg_at_10"] == pytest.approx(ndcg0 / 2, rel=1e-5)
    assert got["map"] == pytest.approx((ap0 + ap1) / 2, rel=1e-5)


def test_top_10_lists_score_like_full_rankings_and_batches_average():
    scores, seen, heldout = _hand_case()
    masked = scores.masked_fill(seen, float("-inf"))
    masked[:, 0] = float("-inf")  # the padding item is never recommended
    top = masked.topk(10).indices
    from_lists = RankingMetrics(10, full_map=False)
    for row in range(2):  # one user per batch: the average over batches weighs users equally
        from_lists.update(top_k_preds(top[row:row + 1], 15), heldout[row:row + 1, 1:])
    full = RankingMetrics(10)
    full.update(ranking_preds(scores, seen), heldout[:, 1:])
    a, b = from_lists.result(), full.result()
    for name in ("precision_at_10", "recall_at_10", "ndcg_at_10"):
        assert a[name] == pytest.approx(b[name], rel=1e-6)
    assert a["map_at_10"] == pytest.approx((1 + 2 / 3) / 2 / 2)  # hits in the top 10 only


def test_metrics_equal_torchmetrics_over_the_whole_catalogue():
    """Handing torchmetrics only the top 10 and the relevant items, and the batched average precision, give
    the values torchmetrics computes over every item."""
    g = torch.Generator().manual_seed(0)
    scores, seen = torch.randn(6, 40, generator=g), torch.rand(6, 40, generator=g) < 0.2
    relevant = (torch.rand(6, 39, generator=g) < 0.15) & ~seen[:, 1:]
    relevant[0] = False  # a user with nothing held out scores 0
    preds = ranking_preds(scores, seen)
    ours = RankingMetrics(10)
    ours.update(preds, relevant)
    indexes = torch.arange(6)[:, None].expand_as(preds).reshape(-1)
    reference = {"precision_at_10": RetrievalPrecision(top_k=10), "recall_at_10": RetrievalRecall(top_k=10),
                 "ndcg_at_10": RetrievalNormalizedDCG(top_k=10), "map": RetrievalMAP()}
    for name, metric in reference.items():
        expected = metric(preds.reshape(-1), relevant.reshape(-1), indexes=indexes).item()
        assert ours.result()[name] == pytest.approx(expected, rel=1e-5), name
    assert average_precision(preds, relevant)[0] == 0


# ----- the benchmark ------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("c16")
    BENCHMARK.synthesize(root, SMALL_SYNTH, seed=0)
    summary = BENCHMARK.check_data(root, SMALL_SYNTH)
    assert summary["kept_users"] == 40 and summary["users"] > 40  # casual users are filtered out
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", SMALL_SYNTH, root, torch.device("cpu"), seed=0, cache_dir=root / "cache"))
    b.setup()
    return b


def test_spec_target_is_well_above_the_popularity_baseline():
    assert TINY.baseline is not None and TINY.target >= 5 * TINY.baseline
    assert SPEC.scales["full"].target == pytest.approx(0.1458)
    assert SPEC.scales["full"].hparams["teacher_d"] > SPEC.scales["full"].hparams["student_d"]


def test_phases_and_evaluation_schedule(bench):
    teacher_epochs = bench.hp["teacher_epochs"]
    assert bench.phase(0) == "teacher" and not bench.eval_due(teacher_epochs - 1)
    assert bench.phase(teacher_epochs) == "student" and bench.eval_due(teacher_epochs)
    first_student = next(iter(bench.train_batches(teacher_epochs)))
    assert first_student.phase == "student" and first_student.rank_samples is None
    hybrid = teacher_epochs + bench.hp["dynamic_start_epoch"]  # the paper's hybrid weights: timed as a phase
    assert bench.phase(hybrid - 1) == "student" and bench.phase(hybrid) == "student-hybrid" and bench.eval_due(hybrid)
    later = next(iter(bench.train_batches(hybrid)))
    assert later.phase == "student" and later.rank_samples is not None


def test_teacher_top_k_leaves_out_the_window_targets(bench):
    batch = bench.example_batch()
    top = bench._teacher_top_k(batch)
    assert top.shape == (len(batch.users), bench.hp["K"])
    assert not (top.unsqueeze(2) == batch.targets.unsqueeze(1)).any()
    assert not (top == 0).any()


@pytest.mark.parametrize("phase", ["teacher", "student"])
def test_loss_falls_over_a_few_steps(bench, phase):
    torch.manual_seed(1)
    batch: WindowBatch = dataclasses.replace(bench.example_batch(), phase=phase)
    bench.train_mode(True)
    losses = [bench.train_step(batch).loss for _ in range(15)]
    assert np.mean(losses[-3:]) < losses[0] - 0.05, losses


def test_evaluate_infer_and_score_agree(bench):
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0.0 <= quality.value <= 1.0 and quality.samples == 40
    assert {"recall_at_10", "ndcg_at_10", "map", "teacher_precision_at_10"} <= set(quality.extra)
    samples = bench.inference_samples()
    assert len(samples) == 16 and len({s.user for s in samples}) == 16
    outputs = bench.infer(samples)
    assert all(len(out) == 10 and len(set(out)) == 10 for out in outputs)
    seen_locations = {int(loc) for loc in bench.data.location_ids[bench.data.train[samples[0].user]]}
    assert not seen_locations & set(outputs[0])  # training check-ins are excluded from the ranking
    scored = bench.score(range(len(samples)), outputs)
    # the same users through evaluate's path give the same precision
    users = torch.tensor([s.user for s in samples])
    metrics = RankingMetrics(10)
    metrics.update(ranking_preds(bench.student.score_all(bench.recent[users], users), bench.seen[users]),
                   bench.heldout[users][:, 1:])
    assert scored.value == pytest.approx(metrics.result()["precision_at_10"])


# ----- the full-size configuration ---------------------------------------------------------------------
FULL = SPEC.scales["full"]


def test_reference_models_are_both_casers_at_the_reference_gowalla_size_on_the_meta_device():
    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
    assert [m.item_embeddings.embedding_dim for m in models.values()] == [100, 50]
    assert {m.user_embeddings.num_embeddings for m in models.values()} == {GOWALLA_USERS} == {13_149}
    assert {m.W2.num_embeddings for m in models.values()} == {GOWALLA_LOCATIONS + 1} == {14_010}
    counts = count_parameters(models)
    assert (counts["teacher"], counts["student"]) == (5_584_102, 2_794_102)
    assert counts["total"] == SPEC.full_size.params
    assert set(SPEC.choices) >= {"metric", "data", "models"}


def test_shaped_check_ins_all_pass_the_cold_start_filter():
    data = build_sequences(synthesize_shaped_checkins(0, users=700, locations=750), 15, 15, 0.2)
    assert (data.n_users, data.n_items - 1) == (700, 750)


def test_smoke_run_builds_the_reference_models_steps_every_phase_and_limits_evaluation(tmp_path):
    config = dataclasses.replace(FULL, batch_size=FULL.smoke.batch_size)
    BENCHMARK.synthesize(tmp_path, synthesis_config(FULL, "full"), 0)
    ctx = RunContext("full", config, tmp_path, torch.device("cpu"), seed=0, smoke=True,
                     eval_limit=config.smoke.eval_samples, cache_dir=tmp_path / "cache")
    bench = BENCHMARK(ctx)
    bench.setup()
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params and ctx.warnings == []
    batches = [b for _, b in zip(range(4), bench.train_batches(0))]
    assert [(b.phase, b.rank_samples is not None) for b in batches] == [
        ("teacher", False), ("student", False), ("student", True), ("teacher", False)]
    assert bench.evaluate().samples == config.smoke.eval_samples


def test_a_full_run_on_other_counts_warns(tmp_path):
    BENCHMARK.synthesize(tmp_path, SMALL_SYNTH, seed=0)
    ctx = RunContext("full", SMALL_SYNTH, tmp_path, torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
    BENCHMARK(ctx).setup()
    assert len(ctx.warnings) == 1 and "reference's preprocessed files have 13,149 and 14,009" in ctx.warnings[0]


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_the_id_map_sizes_the_models_and_the_timed_preparation_rebuilds_the_same_sequences(tmp_path, monkeypatch):
    from aibench.benchmarks.c16_learning_to_rank import bench as bench_module
    from aibench.datasets import gowalla
    BENCHMARK.synthesize(tmp_path, SMALL_SYNTH, seed=0)
    BENCHMARK.check_data(tmp_path, SMALL_SYNTH)  # the runner's untimed check: parses the file
    hp = SMALL_SYNTH.hparams
    reference = build_sequences(gowalla.read_checkins(tmp_path), hp["min_user_checkins"], hp["min_item_checkins"],
                                hp["test_fraction"])
    ctx = RunContext("tiny", SMALL_SYNTH, tmp_path, torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
    BENCHMARK(ctx).prepare_artefacts()  # `aibench data prepare C16`
    assert [(a["name"], a["built_in_run"]) for a in ctx.artefacts] == [("id-map", True)]

    def not_before_the_clock(*args, **kwargs):
        raise AssertionError("initialize() read the check-ins: that belongs to the timed prepare_data()")

    monkeypatch.setattr(bench_module, "read_checkins", not_before_the_clock)
    bench = BENCHMARK(ctx)
    bench.initialize()
    assert not hasattr(bench, "data") and not hasattr(bench, "windows") and not ctx.artefacts[0]["built_in_run"]
    for model in bench.models().values():
        assert (model.user_embeddings.num_embeddings, model.W2.num_embeddings) == (40, reference.n_items)
    monkeypatch.undo()
    lines = []
    parse = gowalla._parse_line
    monkeypatch.setattr(gowalla, "_parse_line", lambda *args: lines.append(1) or parse(*args))
    bench.prepare_data()
    assert len(lines) == len(gowalla.read_checkins(tmp_path))  # parsed inside the clock, not the cached copy
    assert np.array_equal(bench.data.location_ids, reference.location_ids)
    assert all(np.array_equal(a, b) for a, b in zip(bench.data.train + bench.data.test,
                                                    reference.train + reference.test))
    assert bench.train_samples() == len(sliding_windows(reference.train, hp["L"], hp["T"])[0])


@pytest.mark.parametrize("max_users", [None, 25])
def test_the_id_map_selects_exactly_the_check_ins_the_cold_start_filter_keeps(max_users):
    from aibench.benchmarks.c16_learning_to_rank.data import kept_ids
    checkins = synthesize_checkins(1, regions=2, users_per_region=20, loop_locations=30)
    chosen = np.ones(len(checkins), bool)
    if max_users is not None:
        chosen = np.isin(checkins.user, np.unique(checkins.user)[:max_users])
    keep = np.zeros(len(checkins), bool)
    keep[chosen] = keep_frequent(checkins.user[chosen], checkins.location[chosen], 12, 6)
    users, locations = kept_ids(checkins, 12, 6, max_users)
    assert 0 < keep.sum() < chosen.sum()  # the filter drops some check-ins here
    assert np.array_equal(np.isin(checkins.user, users) & np.isin(checkins.location, locations), keep)


# ----- the control (`--controls`): the student alone -----------------------------------------------------
def test_the_control_trains_only_the_student_on_the_ranking_loss_for_the_students_epochs(bench, tmp_path):
    torch.manual_seed(0)
    ctx = RunContext("tiny", SMALL_SYNTH, bench.ctx.data_dir, torch.device("cpu"), seed=0,
                     cache_dir=bench.ctx.cache_dir, control=True)
    control = BENCHMARK(ctx)
    control.setup()
    assert SPEC.control  # the spec names what the control removes
    # the paper's comparison: as many student epochs as the method's student gets after its teacher's
    assert control.control_max_epochs(TINY.max_epochs) == TINY.max_epochs - TINY.hparams["teacher_epochs"]
    assert TINY.max_epochs - TINY.hparams["teacher_epochs"] == TINY.hparams["student_epochs"]
    last = control.hp["teacher_epochs"] + control.hp["dynamic_start_epoch"] + 1
    assert all(control.phase(e) == "student" and control.eval_due(e) for e in (0, last))
    batch = next(iter(control.train_batches(last)))
    assert batch.phase == "student" and batch.rank_samples is None  # no discrepancy weights: no teacher
    teacher_before = [p.detach().clone() for p in control.teacher.parameters()]
    control.train_mode(True)
    out = control.train_step(batch)
    assert set(out.losses) == {"ranking"}  # no distillation term
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, control.teacher.parameters()))
    control.train_mode(False)
    quality = control.evaluate()
    assert "teacher_precision_at_10" not in quality.extra  # its teacher is never trained, so never reported
