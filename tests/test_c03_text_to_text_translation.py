"""DC-AI-C3 Transformer on WMT en-de: the synthetic language, vocabulary, batching, model parts, schedule, metrics."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c03_text_to_text_translation import SPEC
from aibench.benchmarks.c03_text_to_text_translation.bench import BENCHMARK
from aibench.benchmarks.c03_text_to_text_translation.data import (
    EOS_ID, PAD_ID, Ragged, bleu, copy_source_accuracy, most_frequent_token_accuracy, synthesize_pair,
    token_accuracy_metric, token_batches)
from aibench.benchmarks.c03_text_to_text_translation.model import (
    Transformer, greedy_translate, noam_lambda, sinusoidal_encoding)
from aibench.harness.runner import synthesis_config

TINY = SPEC.scales["tiny"]
GERMAN_VERBS = {"sieht", "kauft", "findet", "mag", "malt", "traegt", "besucht", "hoert"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("wmt")
    BENCHMARK.synthesize(root, TINY, seed=3)
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", TINY, root, torch.device("cpu"), seed=0,
                             cache_dir=tmp_path_factory.mktemp("cache")))
    b.setup()
    return b


# ----- data ---------------------------------------------------------------------------------------------
def test_synthetic_german_reorders_verbs_and_inflects_articles():
    rng = np.random.default_rng(0)
    for _ in range(300):
        english, german = synthesize_pair(rng)
        en, de = english.lower().rstrip(".").split(), german.lower().rstrip(".").replace(",", "").split()
        if en[0] in ("today", "now", "often", "sometimes"):
            assert de[1] in GERMAN_VERBS, (english, german)  # verb second after the fronted adverb
        if any(w in en for w in ("because", "while", "although")):
            assert de[-1] in GERMAN_VERBS and ", " in german, (english, german)  # verb last in the clause
    assert synthesize_pair(np.random.default_rng(5)) == synthesize_pair(np.random.default_rng(5))


def test_synth_check_data_round_trip_and_shared_vocabulary(bench, tmp_path):
    assert BENCHMARK.check_data(bench.ctx.data_dir, TINY) == {"train_pairs": 3000, "valid_pairs": 200,
                                                              "test_pairs": 200}
    assert bench.vocab.id_to_piece(PAD_ID) == "<pad>" and bench.vocab.id_to_piece(EOS_ID) == "</s>"
    assert 4 < bench.vocab.get_piece_size() <= TINY.hparams["vocab_size"]
    line = "Heute sieht der kleine Hund den roten Ball."
    assert bench.vocab.decode(bench.vocab.encode(line)) == line


def test_subword_model_is_a_cached_artefact_and_encoding_waits_for_timed_data_preparation(tmp_path, monkeypatch):
    """initialize() trains (or loads) the sentencepiece model and builds the model over it but encodes no
    sentence; a second run on the same data loads the cached model instead of training it; prepare_data()
    encodes both splits, after which the bench trains and evaluates."""
    from aibench.benchmarks.c03_text_to_text_translation import bench as bench_module

    small = {"train": 300, "valid": 10, "test": 12}
    cfg = dataclasses.replace(TINY, inference_samples=4,
                              hparams={**TINY.hparams, "synth_pairs": small, "max_decode_extra": 2})
    BENCHMARK.synthesize(tmp_path / "wmt", cfg, seed=4)
    trained, encoded = [], []
    real_train, real_encode = bench_module.train_sentencepiece, bench_module.encode_lines
    monkeypatch.setattr(bench_module, "train_sentencepiece", lambda *a: trained.append(1) or real_train(*a))
    monkeypatch.setattr(bench_module, "encode_lines", lambda *a: encoded.append(1) or real_encode(*a))

    def initialized():
        ctx = RunContext("tiny", cfg, tmp_path / "wmt", torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
        b = BENCHMARK(ctx)
        b.initialize()
        return b, ctx

    first, ctx = initialized()
    assert (len(trained), encoded) == (1, []) and not hasattr(first, "train_sources")
    [artefact] = ctx.artefacts
    assert artefact["name"] == "sentencepiece" and artefact["built_in_run"] is True
    folder = Path(artefact["path"])
    assert folder.parent.parent == tmp_path / "cache" / "artefacts" and (folder / "sentencepiece.model").is_file()
    assert first.model.embedding.num_embeddings == first.vocab.get_piece_size() > 4  # the artefact sizes the model

    second, ctx = initialized()
    assert len(trained) == 1 and encoded == []  # loaded, not trained again
    assert ctx.artefacts == [{**artefact, "built_in_run": False, "build_s": None}]
    assert second.vocab.serialized_model_proto() == first.vocab.serialized_model_proto()

    second.prepare_data()
    assert len(encoded) == 4  # train and evaluation text, both sides
    assert second.train_samples() == small["train"] and len(second.eval_targets) == small["test"]
    line = "Der kleine Hund sieht die Katze."
    assert second.vocab.decode(second.vocab.encode(line)) == line
    second.train_mode(True)
    assert math.isfinite(second.train_step(next(iter(second.train_batches(0)))).loss)
    second.train_mode(False)
    with torch.no_grad():
        quality = second.evaluate()
    assert 0.0 <= quality.value <= 1.0 and quality.samples == small["test"]


def test_token_batches_respect_the_budget_and_cover_every_row_once():
    rng = np.random.default_rng(0)
    sources, targets = rng.integers(1, 30, 500), rng.integers(1, 30, 500)
    batches = token_batches(sources, targets, 200, rng)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))
    for batch in batches:
        assert (np.maximum(sources[batch], targets[batch]).max() + 1) * len(batch) <= 200
    assert [b.tolist() for b in token_batches(sources, targets, 200, None)] == \
        [b.tolist() for b in token_batches(sources, targets, 200, None)]


# ----- model --------------------------------------------------------------------------------------------
def test_sinusoidal_encoding_matches_the_formula():
    table = sinusoidal_encoding(50, 8)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0] * 4))
    assert math.isclose(table[7, 0], math.sin(7), abs_tol=1e-6)
    assert math.isclose(table[7, 3], math.cos(7 / 10000 ** (2 / 8)), abs_tol=1e-6)


def test_model_is_the_base_layout_with_tied_embeddings_and_causal_decoder():
    torch.manual_seed(0)
    model = Transformer(vocab_size=40, d_model=32, d_ff=64, heads=4, layers=3, dropout=0.1).eval()
    assert len(model.core.encoder.layers) == 3 and len(model.core.decoder.layers) == 3
    layer = model.core.decoder.layers[0]
    assert layer.self_attn.num_heads == 4 and layer.multihead_attn.num_heads == 4  # self + encoder-decoder
    assert layer.linear1.out_features == 64 and not layer.norm_first  # post-norm as in the paper
    assert not any(p.shape == (40, 32) for n, p in model.named_parameters() if n != "embedding.weight")
    source, target = torch.tensor([[5, 6, 7, EOS_ID]]), torch.tensor([[2, 8, 9, 10]])
    logits = model(source, target)
    assert logits.shape == (1, 4, 40)
    changed = target.clone()
    changed[0, 3] = 11  # a later target token must not change earlier predictions
    assert torch.allclose(model(source, changed)[0, :3], logits[0, :3], atol=1e-5)
    logits.sum().backward()
    assert model.embedding.weight.grad is not None


def test_padding_does_not_change_a_translation():
    torch.manual_seed(0)
    model = Transformer(vocab_size=30, d_model=16, d_ff=32, heads=2, layers=1, dropout=0.0).eval()
    alone = greedy_translate(model, torch.tensor([[5, 6, EOS_ID]]), max_extra=4)
    padded = greedy_translate(model, torch.tensor([[5, 6, EOS_ID, PAD_ID, PAD_ID], [7, 8, 9, 10, EOS_ID]]), 4)
    assert padded[0] == alone[0]
    assert len(padded[1]) <= 5 + 4 and all(EOS_ID not in t for t in padded)


def test_loss_is_label_smoothed_cross_entropy(bench):
    batch = bench.example_batch()
    bench.model.eval()  # no dropout, so the two computations see the same logits
    logits = bench.model(batch.source, batch.target_in).flatten(0, 1)
    target = batch.target_out.flatten()
    real = target != PAD_ID
    log_p = torch.log_softmax(logits[real], dim=-1)
    expected = (0.9 * -log_p.gather(1, target[real, None]).squeeze(1) - 0.1 * log_p.mean(dim=1)).mean()
    assert bench.loss_fn.label_smoothing == 0.1
    assert torch.isclose(bench.compute_loss(batch)[0], expected, atol=1e-4)
    bench.model.train()


def test_noam_schedule_warms_up_linearly_then_decays_as_inverse_sqrt():
    rate = noam_lambda(512, 4000, 1.0)
    assert math.isclose(rate(4000), 512 ** -0.5 * 4000 ** -0.5)
    assert math.isclose(rate(2000), rate(4000) / 2)
    assert math.isclose(rate(16000), rate(4000) / 2)


# ----- metrics ------------------------------------------------------------------------------------------
def test_token_accuracy_ignores_padding_and_bleu_is_sacrebleus():
    metric = token_accuracy_metric(20)
    metric.update(torch.tensor([[5, 6, 4, 9]]), torch.tensor([[5, 7, 4, PAD_ID]]))
    assert math.isclose(float(metric.compute()), 2 / 3, rel_tol=1e-6)
    assert bleu(["Der Hund sieht die Katze."], ["Der Hund sieht die Katze."]) == pytest.approx(100.0)
    assert bleu(["Ein Apfel."], ["Der Hund sieht die Katze."]) < 5


def test_baselines_by_hand():
    train = Ragged([[7, 7, 5], [7, 9]])  # 7 is most frequent (3 times; </s> twice)
    evaluation = Ragged([[7, 5], [9]])  # 5 tokens with </s>: one 7
    assert most_frequent_token_accuracy(train, evaluation) == pytest.approx(1 / 5)
    assert copy_source_accuracy(Ragged([[7, 6], [9, 9]]), evaluation) == pytest.approx(3 / 5)


def test_inference_scores_the_teacher_forced_tokens_of_its_queries(bench):
    bench.train_mode(False)
    with torch.no_grad():
        outputs = bench.infer(bench.inference_samples()[:3])
    assert all(isinstance(o["translation"], str) and 0 <= o["correct"] <= o["tokens"] for o in outputs)
    assert outputs[0]["tokens"] == len(bench.inference_samples()[0].target) + 1
    quality = bench.score(range(3), outputs)
    assert quality.value == pytest.approx(sum(o["correct"] for o in outputs) / sum(o["tokens"] for o in outputs))
    bench.train_mode(True)


# ----- full-size smoke configuration ----------------------------------------------------------------------
FULL = SPEC.scales["full"]


def test_greedy_decoding_projects_only_the_newest_position_and_matches_full_logits():
    torch.manual_seed(0)
    model = Transformer(vocab_size=30, d_model=16, d_ff=32, heads=2, layers=1, dropout=0.0).eval()
    source, prefix = torch.tensor([[5, 6, EOS_ID]]), torch.tensor([[2, 7, 8]])
    memory = model.encode(source)
    last = model.project(model.decode_states(prefix, memory, source)[:, -1])
    assert torch.allclose(last, model.decode(prefix, memory, source)[:, -1], atol=1e-6)


def test_reference_model_is_transformer_base_at_37000_pieces_on_the_meta_device():
    from aibench.characterize.flops import count_parameters

    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
    assert FULL.hparams["vocab_size"] == 37_000
    assert count_parameters(models)["total"] == SPEC.full_size.params == 63_084_544


def test_full_smoke_set_gives_the_whole_vocabulary_and_the_reference_size(tmp_path):
    from aibench.characterize.flops import count_parameters
    from aibench.harness.smoke import smoke_config, smoke_context

    synth_config = synthesis_config(FULL, "full")
    BENCHMARK.synthesize(tmp_path, synth_config, seed=1)
    counts = BENCHMARK.check_data(tmp_path, FULL)
    assert counts["test_pairs"] == FULL.smoke.synth["synth_pairs"]["test"]
    assert counts["train_pairs"] > FULL.smoke.synth["synth_filler_words"] // 10
    cfg = smoke_config(FULL)
    ctx = dataclasses.replace(smoke_context("full", FULL, tmp_path), cache_dir=tmp_path / "cache")
    b = BENCHMARK(ctx)
    b.setup()
    assert b.vocab.get_piece_size() == 37_000 and not ctx.warnings
    assert count_parameters(b.models())["total"] == SPEC.full_size.params
    assert len(b.eval_targets) == cfg.smoke.eval_samples  # the smoke run's evaluation limit
    assert b.hp["max_decode_extra"] == 2


def test_a_corpus_too_small_for_the_vocabulary_is_a_warning_not_an_error(tmp_path):
    BENCHMARK.synthesize(tmp_path, TINY, seed=2)
    cfg = dataclasses.replace(TINY, hparams={**TINY.hparams, "vocab_size": 5000})
    ctx = RunContext("tiny", cfg, tmp_path, torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
    BENCHMARK(ctx).setup()
    assert len(ctx.warnings) == 1 and "fewer than the configured 5,000" in ctx.warnings[0]


def test_choices_say_what_the_55_percent_measures():
    assert "teacher-forced" in SPEC.choices["target"] and "newstest2014" in SPEC.choices["target"]
