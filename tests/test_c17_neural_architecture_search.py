"""DC-AI-C17 ENAS on PTB: synthesis, the search space and controller, the search/derive/train phases, metric."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c17_neural_architecture_search.bench import BENCHMARK, Step
from aibench.benchmarks.c17_neural_architecture_search.model import (
    ACTIVATIONS, Architecture, Controller, all_edges, derived_model, random_architecture, shared_model)
from aibench.datasets.ptb import UNK, read_ptb, read_sentences, write_split
from aibench.errors import DataError
from aibench.harness.runner import synthesis_config

TINY = BENCHMARK.SPEC.scales["tiny"]
# a smaller corpus and shorter phases than tiny, so every test here runs in seconds
SMALL_SET = {"train": 400, "valid": 60, "test": 60}
FAST = dataclasses.replace(TINY, batch_size=8, inference_samples=6, hparams={
    **TINY.hparams, "bptt": 12, "search_epochs": 1, "controller_steps": 4, "derive_samples": 3,
    "synth_sentences": SMALL_SET})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ptb")
    BENCHMARK.synthesize(path, FAST, seed=3)
    return path


def cache_for(data_dir):
    """A test's artefact cache: beside its data, never the working directory's."""
    return data_dir.with_name(data_dir.name + "-cache")


def make_bench(data_dir, config=FAST, seed=0):
    torch.manual_seed(seed)
    bench = BENCHMARK(RunContext("tiny", config, data_dir, torch.device("cpu"), seed, cache_dir=cache_for(data_dir)))
    bench.setup()
    return bench


def run_epoch(bench, epoch):
    bench.train_mode(True)
    return [bench.train_step(step) for step in bench.train_batches(epoch)]


# ----- data ---------------------------------------------------------------------------------------------
def test_synthesis_is_deterministic_and_in_ptb_layout(tmp_path, data_dir):
    BENCHMARK.synthesize(tmp_path / "again", FAST, seed=3)
    BENCHMARK.synthesize(tmp_path / "other", FAST, seed=4)
    for split in ("train", "valid", "test"):
        name = f"ptb.{split}.txt"
        assert (tmp_path / "again" / name).read_bytes() == (data_dir / name).read_bytes()
        assert (tmp_path / "other" / name).read_bytes() != (data_dir / name).read_bytes()
    lines = (data_dir / "ptb.train.txt").read_text().splitlines()
    assert len(lines) == SMALL_SET["train"] and all(line.startswith(" ") and line.endswith(" ") for line in lines)
    assert any(UNK in words for words in read_sentences(data_dir / "ptb.train.txt"))


def test_synthetic_grammar_keeps_agreement(data_dir):
    """Plural determiners go with plural nouns: structure a recurrent model can learn."""
    for words in read_sentences(data_dir / "ptb.train.txt"):
        for det, noun in zip(words, words[1:]):
            if det in ("these", "many", "two"):
                assert noun.endswith("s") or noun in ("children", "big", "small", "old", "new", "quick",
                                                      "happy", "large", "red"), words


def test_check_data_summarizes_and_computes_unigram_baseline(data_dir):
    summary = BENCHMARK.check_data(data_dir, FAST)
    corpus = read_ptb(data_dir)
    assert summary["vocab_size"] == len(corpus.vocab) and summary["train_tokens"] == len(corpus.train)
    assert 10 < summary["unigram_test_perplexity"] < summary["vocab_size"]


def test_tiny_set_baseline_matches_spec(tmp_path):
    BENCHMARK.synthesize(tmp_path, TINY, seed=1234)  # the seed the harness synthesizes with
    summary = BENCHMARK.check_data(tmp_path, TINY)
    assert summary["unigram_test_perplexity"] == pytest.approx(TINY.baseline, rel=0.02)
    assert TINY.target < TINY.baseline / 3


def test_check_data_rejects_a_train_file_too_short_for_one_batch(tmp_path):
    write_split(tmp_path / "ptb.train.txt", [["a", "b"]] * 10)
    write_split(tmp_path / "ptb.valid.txt", [["a", "b"]] * 200)
    write_split(tmp_path / "ptb.test.txt", [["a", "b"]] * 20)
    with pytest.raises(DataError, match=r"ptb\.train\.txt: 30 tokens; need at least"):
        BENCHMARK.check_data(tmp_path, FAST)


def test_check_data_missing_file_names_it(tmp_path, data_dir):
    for split in ("train", "valid"):
        (tmp_path / f"ptb.{split}.txt").write_bytes((data_dir / f"ptb.{split}.txt").read_bytes())
    with pytest.raises(DataError, match=r"ptb\.test\.txt: missing"):
        BENCHMARK.check_data(tmp_path, FAST)


# ----- search space and controller ----------------------------------------------------------------------
def test_architecture_encoding_and_loose_ends():
    arch = Architecture(activations=(0, 1, 2, 3), previous=(0, 0, 2))
    assert arch.encode() == [0, 0, 1, 0, 2, 2, 3]
    assert Architecture.decode(arch.encode()) == arch
    assert arch.loose_ends() == [1, 3]
    assert arch.describe()["nodes"][3] == {"node": 3, "input": 2, "activation": ACTIVATIONS[3]}
    with pytest.raises(ValueError):
        Architecture(activations=(0, 0, 0), previous=(0, 2))  # node 2 cannot read itself


def test_controller_samples_valid_architectures_reproducibly():
    controller = Controller(num_nodes=6, hidden_size=16)
    draws = [controller.sample(torch.Generator().manual_seed(5)) for _ in range(2)]
    assert draws[0].arch == draws[1].arch
    sample = controller.sample(torch.Generator().manual_seed(6))
    assert sample.arch.num_nodes == 6 and len(sample.arch.previous) == 5
    assert sample.log_prob.requires_grad and sample.log_prob < 0 and sample.entropy > 0
    assert controller.sample(greedy=True).arch == controller.sample(greedy=True).arch


def test_shared_model_holds_every_edge_and_derived_only_its_own():
    shared = shared_model(20, 8, 4, norm_momentum=0.1)
    arch = Architecture(activations=(0, 1, 2, 3), previous=(0, 1, 0))
    derived = derived_model(20, 8, arch)
    assert sorted(shared.cell.edges) == sorted(f"{l}_{j}" for l, j in all_edges(4))
    assert sorted(derived.cell.edges) == ["1_0", "2_1", "3_0"]
    tokens = torch.randint(0, 20, (5, 3))
    for model, call_arch in ((shared, arch), (derived, None)):
        logits, state = model(tokens, model.initial_state(3), call_arch)
        assert logits.shape == (5, 3, 20) and state.shape == (3, 8)


# ----- initialization and the timed data preparation ---------------------------------------------------
def test_the_vocabulary_is_an_artefact_and_the_token_streams_wait_for_the_timed_preparation(data_dir, tmp_path,
                                                                                            monkeypatch):
    """`aibench data prepare` builds the train file's vocabulary alone; initialize() loads it and sizes the
    model by it; reading, encoding and batching the three token streams happen in prepare_data()."""
    from aibench.benchmarks.c17_neural_architecture_search import bench as module
    from aibench.datasets import ptb

    def untouched(*args, **kwargs):
        raise AssertionError("token streams touched during the untimed initialization")

    monkeypatch.setattr(ptb, "encode", untouched)
    monkeypatch.setattr(module, "batchify", untouched)
    prepared = BENCHMARK(RunContext("tiny", FAST, data_dir, torch.device("cpu"), 0, cache_dir=tmp_path))
    prepared.prepare_artefacts()  # what `aibench data prepare C17` runs: no model, no token stream
    assert [a["built_in_run"] for a in prepared.ctx.artefacts] == [True]
    assert not hasattr(prepared, "shared")
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", FAST, data_dir, torch.device("cpu"), 0, cache_dir=tmp_path))
    bench.initialize()
    assert [(a["name"], a["built_in_run"]) for a in bench.ctx.artefacts] == [("vocab", False)]
    assert bench.ctx.artefacts[0]["path"] == prepared.ctx.artefacts[0]["path"]
    assert not hasattr(bench, "corpus") and not hasattr(bench, "train_data")
    monkeypatch.undo()
    vocab = read_ptb(data_dir).vocab
    assert bench.vocab == vocab and bench.shared.embedding.weight.shape[0] == len(vocab)
    bench.prepare_data()  # the same bench setup() gives: same streams, same weights
    reference = make_bench(data_dir)
    for name in ("train_data", "test_data"):
        assert torch.equal(getattr(bench, name), getattr(reference, name))
    assert bench.train_samples() == reference.train_samples() > 0
    state, expected = bench.state_dict(), reference.state_dict()
    assert all(torch.equal(state[role][k], expected[role][k]) for role in expected for k in expected[role])


# ----- training phases ---------------------------------------------------------------------------------
def test_shared_loss_falls_on_repeated_batches(data_dir):
    bench = make_bench(data_dir)
    bench.train_mode(True)
    step = next(iter(bench.train_batches(0)))
    assert step.kind == "shared"
    losses = [bench.train_step(step).loss for _ in range(10)]
    assert sum(losses[-3:]) / 3 < losses[0] - 0.3, losses


def test_reinforce_learns_which_architectures_are_rewarded(data_dir, monkeypatch):
    """Cells whose node 0 uses tanh get perplexity 1, all others 100: the controller must come to prefer tanh."""
    bench = make_bench(data_dir)
    monkeypatch.setattr(bench, "_validation_nll",
                        lambda model, window, arch: 0.0 if arch.activations[0] == 0 else math.log(100))

    def tanh_share(draws=150):
        with torch.no_grad():
            return sum(bench.controller_sample(greedy=False).arch.activations[0] == 0 for _ in range(draws)) / draws

    before = tanh_share()
    for group in bench.controller_optimizer.param_groups:
        group["lr"] = 0.02  # a larger step than tiny's, so a few updates show the trend
    rewards = [bench.train_step(Step("controller", bench.valid_windows[0])).losses["reward"] for _ in range(40)]
    assert max(rewards) == pytest.approx(FAST.hparams["reward_c"], rel=0.01)
    assert tanh_share() > before + 0.2, before


def test_search_then_derive_then_train(data_dir):
    bench = make_bench(data_dir)
    assert [bench.phase(e) for e in range(3)] == ["search", "train", "train"]
    assert [bench.eval_due(e) for e in range(3)] == [False, True, True]
    kinds = [s.kind for s in bench.train_batches(0)]
    assert kinds.count("controller") == FAST.hparams["controller_steps"] and kinds[0] == "shared"
    run_epoch(bench, 0)
    assert bench.baseline is not None and "final" not in bench.models()
    outs = run_epoch(bench, 1)
    assert outs[0].samples == 0 and "final" in bench.models()  # the derive step came first
    arch = bench.architecture()
    assert bench.describe()["architecture"]["encoding"] == arch.encode()
    assert bench.describe()["derivation"]["candidates"] == FAST.hparams["derive_samples"]
    first = outs[1].loss
    run_epoch(bench, 2)
    bench.train_mode(False)
    with torch.no_grad():
        quality = bench.evaluate()
    assert quality.value < math.exp(first)  # the derived model trains from scratch and improves
    assert quality.extra["arch_node0_prev"] == -1.0
    assert [quality.extra[f"arch_node{n}_act"] for n in range(arch.num_nodes)] == list(arch.activations)
    assert [quality.extra[f"arch_node{n}_prev"] for n in range(1, arch.num_nodes)] == list(arch.previous)

    # the checkpoint restores the derived model in a fresh instance, as `aibench run --mode infer` does
    fresh = make_bench(data_dir, seed=1)
    fresh.load_state_dict(bench.state_dict())
    fresh.train_mode(False)
    with torch.no_grad():
        assert fresh.architecture() == arch
        assert fresh.evaluate().value == pytest.approx(quality.value, rel=1e-5)
        samples = list(fresh.inference_samples())
        assert fresh.score(range(len(samples)), fresh.infer(samples)).value == pytest.approx(
            bench.score(range(len(samples)), bench.infer(samples)).value, rel=1e-5)


# ----- inference and metric ----------------------------------------------------------------------------
def test_score_is_exp_of_mean_token_nll():
    bench = BENCHMARK.__new__(BENCHMARK)
    outputs = [torch.tensor([math.log(2), math.log(2)]), torch.tensor([math.log(4)])]
    quality = bench.score([0, 1], outputs)
    assert quality.value == pytest.approx(2 ** (4 / 3))  # exp((ln2 + ln2 + ln4) / 3)
    assert quality.extra["tokens"] == 3 and quality.samples == 2


def test_infer_before_derivation_uses_controller_choice(data_dir):
    bench = make_bench(data_dir)
    samples = list(bench.inference_samples())
    assert len(samples) == FAST.inference_samples and samples[0].shape == (FAST.hparams["bptt"] + 1,)
    bench.train_mode(False)
    with torch.no_grad():
        outputs = bench.infer(samples[:3])
        quality = bench.evaluate()
    assert [o.shape for o in outputs] == [(FAST.hparams["bptt"],)] * 3
    vocab = BENCHMARK.check_data(data_dir, FAST)["vocab_size"]
    assert 0.5 * vocab < bench.score(range(3), outputs).value < 2 * vocab  # untrained: about uniform
    assert quality.extra["derived"] == 0.0


# ----- full-size smoke configuration ----------------------------------------------------------------------
FULL = BENCHMARK.SPEC.scales["full"]


def test_reference_models_are_the_search_at_ptb_sizes_on_the_meta_device():
    from aibench.characterize.flops import count_parameters

    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
        derived = derived_model(10_000, 1000, Architecture((0,) * 12, tuple(range(11))))
    counts = count_parameters(models)
    assert models["shared"].embedding.weight.shape == (10_000, 1000) and len(models["shared"].cell.edges) == 66
    assert counts["total"] == BENCHMARK.SPEC.full_size.params == 146_149_570
    assert counts["controller"] == 89_570
    assert count_parameters({"final": derived})["total"] == 36_010_000  # the note's derived-cell size
    assert "§5.1" in BENCHMARK.SPEC.full_size.note


def test_full_smoke_set_has_ptbs_vocabulary_and_builds_the_reference_size(tmp_path):
    from aibench.characterize.flops import count_parameters
    from aibench.harness.smoke import smoke_config, smoke_context

    synth = synthesis_config(FULL, "full")
    BENCHMARK.synthesize(tmp_path, synth, seed=1)
    assert BENCHMARK.check_data(tmp_path, FULL)["vocab_size"] == 10_000  # and every split is long enough
    cfg = smoke_config(FULL)
    ctx = dataclasses.replace(smoke_context("full", FULL, tmp_path), cache_dir=tmp_path / "cache")
    bench = BENCHMARK(ctx)
    bench.setup()
    assert not ctx.warnings
    assert count_parameters(bench.models())["total"] == BENCHMARK.SPEC.full_size.params
    # the smoke evaluation covers eval_limit BPTT windows' worth of test tokens, not the whole split
    assert bench.test_data.numel() <= cfg.smoke.eval_samples * FULL.hparams["bptt"] + cfg.batch_size
    assert bench.test_data.numel() < len(bench.corpus.test)


def test_a_vocabulary_other_than_ptbs_is_a_warning_at_small_and_full(data_dir):
    cfg = dataclasses.replace(FAST, hparams={**FAST.hparams, "vocab_size": 10_000})
    ctx = RunContext("full", cfg, data_dir, torch.device("cpu"), seed=0, cache_dir=cache_for(data_dir))
    BENCHMARK(ctx).setup()
    assert len(ctx.warnings) == 1 and "not the 10,000 of Mikolov's PTB" in ctx.warnings[0]


# ----- the control (`--controls`): a random cell ----------------------------------------------------------
def test_random_architectures_cover_the_search_space_and_repeat_per_seed():
    draws = [random_architecture(6, np.random.default_rng([s, 17])) for s in range(200)]
    assert draws[3] == random_architecture(6, np.random.default_rng([3, 17]))
    assert {a for d in draws for a in d.activations} == set(range(len(ACTIVATIONS)))
    assert {d.previous[4] for d in draws} == set(range(5))  # node 5 reads any of nodes 0..4
    assert len({tuple(d.encode()) for d in draws}) > 190  # ~490k cells: draws rarely repeat


def test_the_control_skips_the_search_and_trains_a_random_cell_in_the_same_epochs(data_dir):
    torch.manual_seed(0)
    ctx = RunContext("tiny", FAST, data_dir, torch.device("cpu"), 5, cache_dir=cache_for(data_dir), control=True)
    control = BENCHMARK(ctx)
    control.setup()
    assert list(control.train_batches(0)) == [] and control.final is None  # the search epoch trains nothing
    outs = run_epoch(control, 1)
    assert all(o.samples > 0 for o in outs)  # no derive step: every step trains the cell
    assert control.architecture() == random_architecture(FAST.hparams["num_nodes"], np.random.default_rng([5, 17]))
    assert control.describe()["derivation"] == {"candidates": 1, "random": True}
    assert BENCHMARK.SPEC.control
