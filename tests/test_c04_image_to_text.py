"""DC-AI-C4 Show and Tell on COCO: synthetic captions, vocabulary, batching, the model's parts and the metrics."""

import math

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c04_image_to_text import SPEC
from aibench.benchmarks.c04_image_to_text.bench import BENCHMARK, image_batches
from aibench.benchmarks.c04_image_to_text.data import (
    BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab, bleu4, normalize, synthesize_image, tokenize, unigram_perplexity)
from aibench.benchmarks.c04_image_to_text.model import ShowAndTell

TINY = SPEC.scales["tiny"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    BENCHMARK.synthesize(root, TINY, seed=3)
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", TINY, root, torch.device("cpu"), seed=0))
    b.setup()
    return b


# ----- data ---------------------------------------------------------------------------------------------
def test_synthetic_captions_name_what_is_drawn():
    rng = np.random.default_rng(0)
    for _ in range(50):
        image, captions = synthesize_image(rng, 32, one_shape=0.5)
        pixels = np.asarray(image).reshape(-1, 3)
        words = tokenize(captions[0])
        colours = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 220), "yellow": (230, 210, 40),
                   "purple": (150, 60, 190)}
        for word in set(words) & set(colours):  # every colour named is painted
            assert (np.abs(pixels.astype(int) - colours[word]).sum(axis=1) < 30).any(), captions
        if "above" in words:  # the shape named first lies higher
            first = np.array(colours[words[2]])  # a <size> <colour> <shape> above ...
            rows = np.nonzero((np.abs(np.asarray(image).astype(int) - first).sum(axis=2) < 30))[0]
            assert len(captions) == 3 and rows.min() < 16


def test_synth_check_data_round_trip_and_vocabulary(bench):
    summary = BENCHMARK.check_data(bench.ctx.data_dir, TINY)
    assert summary == {"train_images": 1200, "val_images": 150, "train_captions": 3600, "val_captions": 450}
    pairs = sum(" and " in item.captions[2] for item in bench.train_set.items)
    assert 0.2 < pairs / 1200 < 0.3  # a quarter of the images show two shapes, as the spec asks
    assert bench.vocab.encode("A LARGE red Circle.") == [bench.vocab.index[w] for w in ("a", "large", "red", "circle")]
    assert bench.vocab.encode("a zebra") == [bench.vocab.index["a"], UNK_ID]
    assert bench.vocab.decode([bench.vocab.index["a"], EOS_ID, bench.vocab.index["circle"]]) == "a circle"


def test_vocabulary_keeps_words_seen_min_count_times():
    vocab = Vocab.build(["a dog.", "A dog runs", "a cat"], min_count=2)
    assert vocab.words[4:] == ["a", "dog"]


def test_the_cnn_learns_at_its_own_rate_and_the_rest_at_lr(bench):
    encoder, rest = bench.optimizer.param_groups
    assert encoder["lr"] == TINY.hparams["encoder_lr"] and rest["lr"] == TINY.hparams["lr"]
    assert {id(p) for p in encoder["params"]} == {id(p) for p in bench.model.encoder.parameters()}
    assert len(encoder["params"]) + len(rest["params"]) == len(list(bench.model.parameters()))
    next(bench.train_batches(TINY.hparams["lr_decay_epochs"]))  # the step decay halves both
    assert encoder["lr"] == TINY.hparams["encoder_lr"] / 2 and rest["lr"] == TINY.hparams["lr"] / 2
    next(bench.train_batches(0))


def test_image_batches_hold_about_the_pair_budget_and_every_image_once():
    batches = image_batches(np.arange(23), 5.0, 32)
    assert sorted(i for b in batches for i in b) == list(range(23))
    assert all(len(b) >= 2 for b in batches) and len(batches[0]) == 6


# ----- model --------------------------------------------------------------------------------------------
def test_image_is_the_first_lstm_input_and_captions_are_teacher_forced():
    torch.manual_seed(0)
    model = ShowAndTell(vocab_size=12, embedding=16, hidden=24, dropout=0.0, init_scale=0.08).eval()
    images = torch.randn(2, 3, 32, 32)
    captions_in = torch.tensor([[BOS_ID, 5, 6], [BOS_ID, 7, PAD_ID]])
    logits = model(images, captions_in)
    assert logits.shape == (2, 3, 12) and model.lstm.num_layers == 1 and model.lstm.hidden_size == 24
    embedded = model.encoder(images)
    assert embedded.shape == (2, 16)  # W_I maps the CNN's pooled features into the word-embedding space
    # by hand: the LSTM run over [image, <s>, w1, w2], its outputs after the image step
    steps = torch.cat([embedded[:, None], model.embedding(captions_in)], dim=1)
    states, _ = model.lstm(steps)
    assert torch.allclose(logits, model.output(states[:, 1:]), atol=1e-5)
    changed = captions_in.clone()
    changed[0, 2] = 8  # a later word never changes an earlier prediction
    assert torch.allclose(model(images, changed)[0, :2], logits[0, :2], atol=1e-5)
    # the paper's uniform initialization, plus im2txt's forget bias of 1 (gates ordered input, forget, cell, output)
    assert all(w.abs().max() <= 0.08 for w in (model.lstm.weight_ih_l0, model.lstm.weight_hh_l0, model.lstm.bias_ih_l0))
    forget = model.lstm.bias_hh_l0[24:48]
    assert forget.min() >= 0.92 and forget.max() <= 1.08 and model.lstm.bias_hh_l0[:24].abs().max() <= 0.08


def test_greedy_captions_stop_at_the_end_word_and_respect_the_limit():
    torch.manual_seed(0)
    model = ShowAndTell(vocab_size=10, embedding=8, hidden=8, dropout=0.0, init_scale=0.08).eval()
    captions = model.caption(model.encoder(torch.randn(3, 3, 32, 32)), max_length=5)
    assert len(captions) == 3 and all(len(c) <= 5 and EOS_ID not in c and BOS_ID not in c for c in captions)


def test_loss_is_the_mean_word_negative_log_likelihood(bench):
    batch = bench.example_batch()
    bench.model.eval()  # no dropout, so both computations see the same logits
    loss, pairs = bench.compute_loss(batch)
    embedded = bench.model.encoder(normalize(batch.images))
    log_p = torch.log_softmax(bench.model.describe(embedded[batch.owners], batch.captions_in), dim=-1)
    real = batch.captions_out != PAD_ID
    expected = -log_p.gather(2, batch.captions_out[..., None]).squeeze(2)[real].mean()
    bench.model.train()
    assert pairs == len(batch.owners) == 3 * len(batch.images)
    assert torch.isclose(loss, expected, atol=1e-4)


# ----- metrics ------------------------------------------------------------------------------------------
def test_unigram_perplexity_and_bleu_by_hand():
    # train words 4 x2, 5 x1 and </s> x2, add-one over 6 ids: p(4) = 3/11, p(</s>) = 3/11
    assert unigram_perplexity([[4, 4], [5]], [[4]], vocab_size=6) == pytest.approx(11 / 3)
    assert bleu4(["a large red circle above a small blue square"],
                 [["a large red circle above a small blue square", "x"]]) == pytest.approx(1.0)
    assert bleu4(["a circle"], [["a large red circle above a small blue square"]]) == 0.0


def test_inference_perplexity_is_exp_of_mean_reference_nll(bench):
    bench.train_mode(False)
    with torch.no_grad():
        outputs = bench.infer(bench.inference_samples()[:3])
    quality = bench.score(range(3), outputs)
    words = sum(o["words"] for o in outputs)
    assert words == sum(len(c) + 1 for s in bench.inference_samples()[:3] for c in s.references)
    assert quality.value == pytest.approx(math.exp(sum(o["nll"] for o in outputs) / words))
    assert all(isinstance(o["caption"], str) for o in outputs)
    bench.train_mode(True)
