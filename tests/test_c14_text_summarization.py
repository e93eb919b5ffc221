"""DC-AI-C14 attentional seq2seq summarization: synthesis, batching, the model's parts, beam search, ROUGE-L."""

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c14_text_summarization import data
from aibench.benchmarks.c14_text_summarization.bench import BENCHMARK
from aibench.benchmarks.c14_text_summarization.data import (
    BOS_ID, EOS_ID, PAD_ID, Vocab, collate, epoch_batches, pad, rouge)
from aibench.benchmarks.c14_text_summarization.model import Summarizer, beam_search
from aibench.datasets.gigaword import read_pairs
from aibench.harness.runner import synthesis_config

TINY = BENCHMARK.SPEC.scales["tiny"]
SMALL_SET = {"train": 300, "valid": 20, "test": 24}
FAST = dataclasses.replace(TINY, inference_samples=6, hparams={
    **TINY.hparams, "hidden": 16, "embedding": 12, "eval_batch": 10, "synth_pairs": SMALL_SET})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("giga")
    BENCHMARK.synthesize(path, FAST, seed=3)
    return path


def make_bench(data_dir, seed=0):
    torch.manual_seed(seed)
    bench = BENCHMARK(RunContext("tiny", FAST, data_dir, torch.device("cpu"), seed,
                                 cache_dir=data_dir.parent / f"{data_dir.name}-cache"))
    bench.setup()
    return bench


# ----- data ---------------------------------------------------------------------------------------------
def test_synthesis_is_deterministic_in_harvardnlp_layout(tmp_path, data_dir):
    BENCHMARK.synthesize(tmp_path, FAST, seed=3)
    for name in ("train/train.article.txt.gz", "train/train.title.txt.gz", "train/valid.article.filter.txt",
                 "train/valid.title.filter.txt", "Giga/input.txt", "Giga/task1_ref0.txt"):
        assert (tmp_path / name).read_bytes() == (data_dir / name).read_bytes(), name
    summary = BENCHMARK.check_data(data_dir, FAST)
    assert (summary["train_pairs"], summary["valid_pairs"], summary["test_pairs"]) == (300, 20, 24)


def test_headlines_come_from_their_articles_but_not_from_their_start(data_dir):
    """The actor's nationality leads the headline and is in the article; lead-N copying is not the answer."""
    pairs = read_pairs(data_dir, "train")
    assert all(p.title[0] in p.article for p in pairs)
    assert sum(p.article[:len(p.title)] == p.title for p in pairs) == 0
    assert len({tuple(p.title) for p in pairs}) > 200  # many different headlines


def test_headlines_copy_long_tailed_named_entities(data_dir):
    """Every headline names its actor's surname, taken from the article; the surnames are many and long-tailed
    (the attention the method has and its control lacks is what copies them)."""
    pairs = read_pairs(data_dir, "train")
    surnames = set(data._POOLS["surnames"][0])
    named = [[w for w in p.title if w in surnames] for p in pairs]
    assert all(names and all(n in p.article for n in names) for names, p in zip(named, pairs))
    counts = Counter(n for names in named for n in names)
    assert len(counts) > 100 and sum(c == 1 for c in counts.values()) > 30  # many, most of them rare


def test_tiny_baseline_matches_spec(tmp_path):
    BENCHMARK.synthesize(tmp_path, TINY, seed=1234)  # the seed the harness synthesizes with
    assert BENCHMARK.check_data(tmp_path, TINY)["lead_rouge_l"] == pytest.approx(TINY.baseline, abs=0.01)
    assert TINY.target > TINY.baseline + 0.3


def test_vocab_orders_by_frequency_and_decodes_to_first_eos():
    from collections import Counter
    vocab = Vocab.build(Counter({"a": 5, "b": 9, "c": 1}), max_size=6, min_count=2)
    assert vocab.words[4:] == ("b", "a")
    ids = vocab.encode(["a", "zzz", "b"], vocab.index())
    assert ids == [5, 1, 4]
    assert vocab.decode([BOS_ID, 5, 4, EOS_ID, 5]) == "a b"


def test_vocabulary_file_round_trip(tmp_path):
    from collections import Counter
    vocab = Vocab.build(Counter({"é#": 3, "b": 2, "UNK": 2, "a-b": 1}), max_size=10, min_count=1)
    vocab.save(tmp_path / "v")
    assert Vocab.load(tmp_path / "v") == vocab
    (tmp_path / "bad").write_text("b\na\n")
    with pytest.raises(ValueError, match="not a vocabulary file"):
        Vocab.load(tmp_path / "bad")


def test_vocabularies_are_a_cached_artefact_and_encoding_waits_for_timed_data_preparation(data_dir, tmp_path,
                                                                                         monkeypatch):
    """initialize() counts (or loads) both vocabularies and builds the model over them but encodes no pair; a
    second run on the same data loads the cached vocabularies instead of counting again; prepare_data() encodes
    the splits and scores the lead baseline, after which the bench trains and evaluates."""
    from aibench.benchmarks.c14_text_summarization import bench as bench_module

    counted, encoded = [], []
    real_build, real_encode = bench_module.build_vocabs, bench_module.encode_train
    monkeypatch.setattr(bench_module, "build_vocabs", lambda *a: counted.append(1) or real_build(*a))
    monkeypatch.setattr(bench_module, "encode_train", lambda *a: encoded.append(1) or real_encode(*a))

    def initialized():
        ctx = RunContext("tiny", FAST, data_dir, torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
        b = BENCHMARK(ctx)
        b.initialize()
        return b, ctx

    first, ctx = initialized()
    assert (len(counted), encoded) == (1, []) and not hasattr(first, "eval_sources")
    assert not hasattr(first, "lead_rouge_l")
    [artefact] = ctx.artefacts
    assert artefact["name"] == "vocabularies" and artefact["built_in_run"] is True
    source, target = real_build(data_dir, FAST.hparams)  # what the artefact must hold
    assert (first.source_vocab, first.target_vocab) == (source, target)
    assert first.model.encoder.embedding.num_embeddings == len(source)  # the artefact sizes the model
    assert first.model.output.out_features == len(target)

    second, ctx = initialized()
    assert len(counted) == 1 and encoded == []  # loaded, not counted again
    assert ctx.artefacts == [{**artefact, "built_in_run": False, "build_s": None}]
    assert (second.source_vocab, second.target_vocab) == (source, target)

    second.prepare_data()
    assert len(encoded) == 1 and second.train_samples() == SMALL_SET["train"]
    assert len(second.eval_sources) == SMALL_SET["test"] and 0.0 < second.lead_rouge_l < 1.0
    second.train_mode(True)
    assert np.isfinite(second.train_step(next(iter(second.train_batches(0)))).loss)
    second.train_mode(False)
    with torch.no_grad():
        quality = second.evaluate()
    assert 0.0 <= quality.value <= 1.0 and quality.samples == SMALL_SET["test"]


def test_epoch_batches_cover_every_pair_once_sorted_within_windows():
    lengths = np.random.default_rng(0).integers(1, 40, size=95)
    batches = list(epoch_batches(lengths, batch_size=10, sort_window=3, rng=np.random.default_rng(1)))
    assert sorted(np.concatenate(batches).tolist()) == list(range(95))
    window = np.concatenate(batches[:3])  # the first 30 shuffled rows, sorted by source length
    assert (np.diff(lengths[window]) >= 0).all()


def test_collate_wraps_targets_in_start_and_end():
    batch = collate([np.array([7, 8, 9]), np.array([5])], [np.array([4]), np.array([6, 7])], torch.device("cpu"))
    assert batch.source.tolist() == [[7, 8, 9], [5, PAD_ID, PAD_ID]]
    assert batch.source_lengths.tolist() == [3, 1]
    assert batch.target_in.tolist() == [[BOS_ID, 4, PAD_ID], [BOS_ID, 6, 7]]
    assert batch.target_out.tolist() == [[4, EOS_ID, PAD_ID], [6, 7, EOS_ID]]


# ----- model --------------------------------------------------------------------------------------------
def small_model():
    torch.manual_seed(0)
    return Summarizer(source_vocab=30, target_vocab=20, embedding=8, hidden=10).eval()


def test_bidirectional_encoder_and_attention_ignore_padding():
    model = small_model()
    source = pad([np.array([5, 6, 7, 8]), np.array([9, 10])])
    memory, state = model.encode(source, torch.tensor([4, 2]))
    assert memory.values.shape == (2, 4, 20) and state.shape == (2, 10)  # forward + backward states
    context, weights = model.attention(state, memory)
    assert context.shape == (2, 20)
    assert weights[1, 2:].abs().sum() == 0 and torch.allclose(weights.sum(-1), torch.ones(2))
    # padding must not change the short sequence's encoding
    alone, _ = model.encode(source[1:, :2], torch.tensor([2]))
    assert torch.allclose(alone.values[0], memory.values[1, :2], atol=1e-6)


def test_the_control_has_no_attention_and_reads_only_the_final_encoder_states(data_dir):
    attentive = small_model()
    plain = Summarizer(source_vocab=30, target_vocab=20, embedding=8, hidden=10, attention=False).eval()
    names = {name for name, _ in plain.named_parameters()}
    assert not any(name.startswith("attention.") for name in names)
    assert names == {name for name, _ in attentive.named_parameters() if not name.startswith("attention.")}
    source = pad([np.array([5, 6, 7, 8]), np.array([9, 10])])
    lengths = torch.tensor([4, 2])
    memory, state = plain.encode(source, lengths)
    _, final = plain.encoder(source, lengths)
    assert memory.values.shape == (2, 1, 20) and torch.equal(memory.values[:, 0], final)
    # every step's context is that one summary, whatever the decoder state
    context, _ = plain.attention(torch.randn_like(state), memory)
    assert torch.equal(context, final)
    # the same weights without attention decode differently
    plain.load_state_dict({k: v for k, v in attentive.state_dict().items() if not k.startswith("attention.")})
    target_in = torch.tensor([[1, 5, 6], [1, 7, 8]])
    assert not torch.allclose(plain(source, lengths, target_in), attentive(source, lengths, target_in))
    # the benchmark builds it when its context asks for the control
    torch.manual_seed(0)
    control = BENCHMARK(RunContext("tiny", FAST, data_dir, torch.device("cpu"), 0, control=True,
                                   cache_dir=data_dir.parent / f"{data_dir.name}-cache"))
    control.setup()
    assert not control.model.attends and not list(control.model.attention.parameters())


def test_training_loss_is_cross_entropy_of_reference_words(data_dir):
    bench = make_bench(data_dir)
    batch = next(iter(bench.train_batches(0)))
    loss, samples = bench.compute_loss(batch)
    logits = bench.model(batch.source, batch.source_lengths, batch.target_in)
    real = batch.target_out != PAD_ID
    by_hand = -F.log_softmax(logits, -1).gather(-1, batch.target_out[..., None]).squeeze(-1)[real].mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5) and samples == len(batch)
    bench.train_mode(True)
    losses = [bench.train_step(batch).loss for _ in range(15)]  # Adadelta with the paper's clipping
    assert losses[-1] < losses[0] - 0.3, losses


def hypothesis_score(model, source, length, ids, max_length):
    """The beam's objective: sum of log-probabilities of the words, and of </s> if the headline ended."""
    targets = [*ids, EOS_ID] if len(ids) < max_length else list(ids)
    logits = model(source, torch.tensor([length]), torch.tensor([[BOS_ID, *targets[:-1]]]))
    return F.log_softmax(logits, -1).gather(-1, torch.tensor([targets])[..., None]).sum().item()


def greedy(model, source, length, max_length):
    memory, state = model.encode(source, torch.tensor([length]))
    token, out = torch.tensor([BOS_ID]), []
    for _ in range(max_length):
        logits, state = model.step(token, state, memory)
        logits[:, [PAD_ID, BOS_ID]] = float("-inf")
        token = logits.argmax(-1)
        if token.item() == EOS_ID:
            break
        out.append(token.item())
    return out


def test_beam_one_is_greedy_and_wider_beams_score_no_worse():
    model = small_model()
    gains = []
    with torch.no_grad():
        model.output.weight.mul_(8)  # peaked word distributions, so that greedy choices can be regretted
        for seed in range(6):
            source = torch.randint(4, 30, (1, 6), generator=torch.Generator().manual_seed(seed))
            one = beam_search(model, source, torch.tensor([6]), beam=1, max_length=8)[0]
            five = beam_search(model, source, torch.tensor([6]), beam=5, max_length=8)[0]
            assert one == greedy(model, source, 6, 8)
            gains.append(hypothesis_score(model, source, 6, five, 8) - hypothesis_score(model, source, 6, one, 8))
    assert min(gains) >= -1e-4 and max(gains) > 0.5, gains


def test_beam_search_decodes_a_batch_like_one_by_one():
    model = small_model()
    sources = [np.array([5, 6, 7, 8, 9]), np.array([10, 11]), np.array([12, 13, 14])]
    with torch.no_grad():
        together = beam_search(model, pad(sources), torch.tensor([5, 2, 3]), beam=3, max_length=6)
        alone = [beam_search(model, pad([s]), torch.tensor([len(s)]), beam=3, max_length=6)[0] for s in sources]
    assert together == alone


# ----- metric and inference -----------------------------------------------------------------------------
def test_rouge_l_hand_computed():
    # LCS of "a b c d" and "a c d e" is "a c d": precision 3/4, recall 3/4, F1 3/4
    scores = rouge(["a b c d"], ["a c d e"])
    assert scores["rougeL_fmeasure"] == pytest.approx(0.75)
    assert rouge(["x y"], ["a b"])["rougeL_fmeasure"] == 0.0


def test_infer_and_score_use_the_chosen_test_pairs(data_dir):
    bench = make_bench(data_dir)
    samples = list(bench.inference_samples())
    assert len(samples) == FAST.inference_samples
    bench.train_mode(False)
    with torch.no_grad():
        outputs = bench.infer(samples)
        quality = bench.evaluate()
    assert all(isinstance(o, str) for o in outputs)
    references = [bench.eval_references[r] for r in bench.query_rows]
    assert bench.score(range(len(samples)), references).value == pytest.approx(1.0)  # perfect headlines
    assert 0.0 <= quality.value <= 1.0 and quality.samples == SMALL_SET["test"]
    assert bench.describe()["eval_pairs"] == SMALL_SET["test"]


# ----- full-size smoke configuration ----------------------------------------------------------------------
FULL = BENCHMARK.SPEC.scales["full"]


def test_reference_model_has_nallapatis_sizes_on_the_meta_device():
    from aibench.characterize.flops import count_parameters

    with torch.device("meta"):
        model = BENCHMARK.reference_models(FULL)["model"]
    assert model.encoder.embedding.weight.shape == (119_505, 200)
    assert model.output.weight.shape == (68_885, 400) and model.cell.hidden_size == 400
    assert count_parameters({"model": model})["total"] == BENCHMARK.SPEC.full_size.params == 70_350_085
    assert BENCHMARK.SPEC.full_size.note  # above the paper's 68.4 M: said why


def test_full_smoke_set_fills_both_vocabularies_and_builds_the_reference_size(tmp_path):
    from aibench.characterize.flops import count_parameters
    from aibench.harness.smoke import smoke_config, smoke_context

    synth = synthesis_config(FULL, "full")
    BENCHMARK.synthesize(tmp_path, synth, seed=1)
    assert BENCHMARK.check_data(tmp_path, FULL)["test_pairs"] == FULL.smoke.synth["synth_pairs"]["test"]
    cfg = smoke_config(FULL)
    ctx = dataclasses.replace(smoke_context("full", FULL, tmp_path), cache_dir=tmp_path / "cache")
    bench = BENCHMARK(ctx)
    bench.setup()
    assert (len(bench.source_vocab), len(bench.target_vocab)) == (119_505, 68_885) and not ctx.warnings
    assert count_parameters(bench.models())["total"] == BENCHMARK.SPEC.full_size.params
    assert len(bench.eval_sources) == cfg.smoke.eval_samples


def test_smaller_vocabularies_than_configured_are_a_warning_at_small_and_full(data_dir, tmp_path):
    cfg = dataclasses.replace(FULL, hparams={**FAST.hparams, "source_vocab": 119_505, "target_vocab": 68_885})
    ctx = RunContext("full", cfg, data_dir, torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache")
    BENCHMARK(ctx).setup()
    assert len(ctx.warnings) == 2 and "instead of the configured 119,505" in ctx.warnings[0]
    assert "instead of the configured 68,885" in ctx.warnings[1]


def test_choices_say_the_full_target_is_beyond_published_systems():
    choices = BENCHMARK.SPEC.choices
    assert "ROUGE-L F1 x 100" in choices["target"] and "no published system reaches 0.41" in choices["target"]
