"""DC-AI-C4 Show and Tell on COCO: synthetic captions, vocabulary, batching, the model's parts and the metrics."""

import dataclasses
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
    b = BENCHMARK(RunContext("tiny", TINY, root, torch.device("cpu"), seed=0,
                             cache_dir=tmp_path_factory.mktemp("coco_cache")))
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


def test_the_vocabulary_is_an_artefact_and_captions_and_images_wait_for_the_timed_preparation(bench, tmp_path,
                                                                                              monkeypatch):
    """initialize() loads (or builds once) the vocabulary and sizes the model by it; reading and encoding the
    captions, decoding the images and the unigram baseline happen in prepare_data(), inside the clock."""
    from aibench.benchmarks.c04_image_to_text import bench as module
    from aibench.datasets.coco_captions import read_captions

    def untouched(*args, **kwargs):
        raise AssertionError("samples touched during the untimed initialization")

    for target, name in ((module, "load_image"), (module, "unigram_perplexity"), (Vocab, "encode")):
        monkeypatch.setattr(target, name, untouched)
    contexts = [RunContext("tiny", TINY, bench.ctx.data_dir, torch.device("cpu"), seed=0, cache_dir=tmp_path)
                for _ in range(2)]
    torch.manual_seed(0)
    first = BENCHMARK(contexts[0])
    first.initialize()
    assert [a["built_in_run"] for a in contexts[0].artefacts] == [True]
    assert not hasattr(first, "train_set") and not hasattr(first, "eval_references")
    assert "train_images" not in first.describe()  # a run stopped before prepare_data() still describes its model
    second = BENCHMARK(contexts[1])
    second.initialize()
    assert [(a["name"], a["built_in_run"], a["path"]) for a in contexts[1].artefacts] == \
        [("vocab", False, contexts[0].artefacts[0]["path"])]
    train = read_captions(bench.ctx.data_dir, "train")
    built = Vocab.build((c for item in train for c in item.captions), TINY.hparams["min_word_count"])
    assert second.vocab.words == built.words == bench.vocab.words
    assert first.model.output.out_features == first.model.embedding.num_embeddings == len(built)
    monkeypatch.undo()
    first.prepare_data()  # the same bench setup() gives: same vocabulary, weights, data and baseline
    assert first.unigram == bench.unigram and np.array_equal(first.query_rows, bench.query_rows)
    assert torch.equal(first.train_set.images, bench.train_set.images)
    assert first.train_set.captions == bench.train_set.captions and first.train_samples() == 3600
    state, reference = first.model.state_dict(), bench.model.state_dict()
    assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_vocabulary_keeps_words_seen_min_count_times():
    vocab = Vocab.build(["a dog.", "A dog runs", "a cat"], min_count=2)
    assert vocab.words[4:] == ["a", "dog"]


def test_the_cnn_learns_at_its_own_rate_and_the_rest_at_lr(bench):
    encoder, w_i, rest = bench.optimizer.param_groups
    assert encoder["lr"] == w_i["lr"] == TINY.hparams["encoder_lr"] and rest["lr"] == TINY.hparams["lr"]
    assert {id(p) for p in encoder["params"]} == {id(p) for p in bench.model.encoder.parameters()}
    assert {id(p) for p in w_i["params"]} == {id(p) for p in bench.model.image_embedding.parameters()}
    assert len(encoder["params"]) + len(w_i["params"]) + len(rest["params"]) == len(list(bench.model.parameters()))
    assert bench.phase(0) == "cnn_trained" and not bench.cnn_frozen  # from scratch: no frozen phase at tiny
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
    model = ShowAndTell(vocab_size=12, embedding=16, hidden=24, dropout=0.0, init_scale=0.08,
                        encoder_divisor=8).eval()
    images = torch.randn(2, 3, 75, 75)
    captions_in = torch.tensor([[BOS_ID, 5, 6], [BOS_ID, 7, PAD_ID]])
    logits = model(images, captions_in)
    assert logits.shape == (2, 3, 12) and model.lstm.num_layers == 1 and model.lstm.hidden_size == 24
    embedded = model.embed_images(images)
    assert model.encoder(images).shape == (2, 2048 // 8)  # Inception-v3's pooled features, an eighth as wide
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
    model = ShowAndTell(vocab_size=10, embedding=8, hidden=8, dropout=0.0, init_scale=0.08,
                        encoder_divisor=8).eval()
    embedded = model.embed_images(torch.randn(3, 3, 75, 75))
    captions = model.caption(embedded, max_length=5)
    assert len(captions) == 3 and all(len(c) <= 5 and EOS_ID not in c and BOS_ID not in c for c in captions)
    with torch.no_grad():  # rows no vocabulary word fills are never chosen, however likely
        model.output.bias[6:] = 100.0
    assert all(w < 6 for c in model.caption(embedded, max_length=5, words=6) for w in c)


def test_the_blind_control_never_reads_the_image(bench):
    """The control's caption scores and captions are the same whatever the image, and its CNN never runs."""
    torch.manual_seed(0)
    model = ShowAndTell(vocab_size=12, embedding=16, hidden=24, dropout=0.0, init_scale=0.08,
                        encoder_divisor=8, blind=True).eval()
    model.encoder.forward = None  # calling the CNN would raise
    captions_in = torch.tensor([[BOS_ID, 5, 6], [BOS_ID, 7, PAD_ID]])
    images, others = torch.randn(2, 3, 75, 75), torch.randn(2, 3, 75, 75) * 3
    assert torch.equal(model.embed_images(images), torch.zeros(2, 16))
    assert torch.equal(model(images, captions_in), model(others, captions_in))
    assert model.caption(model.embed_images(images), 5) == model.caption(model.embed_images(others), 5)
    # the benchmark builds it under `--controls`, and the method otherwise
    control = BENCHMARK(dataclasses.replace(bench.ctx, control=True))
    control.initialize()
    assert control.model.blind and not bench.model.blind
    batch = bench.example_batch()
    assert torch.equal(control.model.embed_images(batch.images.float()), torch.zeros(len(batch.images), 256))


def test_loss_is_the_mean_word_negative_log_likelihood(bench):
    batch = bench.example_batch()
    bench.model.eval()  # no dropout, so both computations see the same logits
    loss, pairs = bench.compute_loss(batch)
    embedded = bench.model.embed_images(normalize(batch.images))
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


# ----- small/full: the full-shaped synthetic set, the reference size, im2txt's phases, pretrained weights -----
FULL = SPEC.scales["full"]


@pytest.fixture(scope="module")
def full_bench(tmp_path_factory):
    """The full configuration as `--smoke` runs it, on `aibench data synth C4 --scale full` data."""
    from aibench.harness.runner import synthesis_config
    from aibench.harness.smoke import smoke_context

    root = tmp_path_factory.mktemp("coco_full")
    BENCHMARK.synthesize(root, synthesis_config(FULL, "full"), seed=1)
    torch.manual_seed(0)
    b = BENCHMARK(dataclasses.replace(smoke_context("full", FULL, root),
                                      cache_dir=tmp_path_factory.mktemp("coco_full_cache")))
    b.setup()
    return b


def test_vocabulary_cap_keeps_the_most_frequent_words():
    vocab = Vocab.build(["b b b a", "a c c", "c d"], min_count=2, max_words=2)
    assert vocab.words[4:] == ["b", "c"] and vocab.seen == 3  # a, b, c pass the count; a ties c and loses


def test_reference_model_is_im2txt_sized_on_the_meta_device():
    from aibench.benchmarks.c04_image_to_text import COCO_VOCAB
    from aibench.characterize.flops import count_parameters

    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
    model = models["model"]
    assert model.output.out_features == model.embedding.num_embeddings == COCO_VOCAB == 12_000
    assert model.lstm.hidden_size == 512 and model.image_embedding.in_features == 2048
    assert count_parameters(models)["total"] == SPEC.full_size.params == 37_235_904


def test_full_shaped_synthetic_set_builds_the_reference_model(full_bench):
    from aibench.characterize.flops import count_parameters

    summary = BENCHMARK.check_data(full_bench.ctx.data_dir, FULL)
    assert summary["train_images"] == 1200 and summary["val_images"] == 8
    assert len(full_bench.vocab) == 12_000 and full_bench.ctx.warnings == []  # every softmax row a word seen 4 times
    assert count_parameters(full_bench.models())["total"] == SPEC.full_size.params
    assert len(full_bench.eval_items) == FULL.smoke.eval_samples == 4  # the smoke run's evaluation limit
    assert full_bench.train_set.images is None  # full reads images on demand


def test_full_runs_im2txts_frozen_then_fine_tuning_phases(full_bench):
    b, hp = full_bench, FULL.hparams
    assert [b.phase(e) for e in (0, hp["freeze_epochs"] - 1, hp["freeze_epochs"])] == \
        ["cnn_frozen", "cnn_frozen", "cnn_trained"]
    batch = next(b.train_batches(0))
    assert [g["lr"] for g in b.optimizer.param_groups] == [0.0, hp["lr"], hp["lr"]]
    b.train_mode(True)
    assert not b.model.encoder.training and b.model.lstm.training  # frozen batch norm keeps its statistics
    b.train_step(batch)
    assert all(p.grad is None for p in b.model.encoder.parameters())
    assert b.model.image_embedding.weight.grad is not None  # W_I learns from the start, as in im2txt
    next(b.train_batches(hp["freeze_epochs"] + hp["lr_decay_epochs"]))  # fine-tuning: one constant small rate
    assert [g["lr"] for g in b.optimizer.param_groups] == [hp["fine_tune_lr"]] * 3 == [5e-4] * 3
    assert b.model.encoder.training and b.optimizer.param_groups[0]["weight_decay"] == hp["cnn_weight_decay"]
    b.optimizer.zero_grad(set_to_none=True)
    next(b.train_batches(0))


def _torchvision_inception_state() -> dict[str, torch.Tensor]:
    from torchvision.models import inception_v3

    torch.manual_seed(1)  # as torchvision's IMAGENET1K_V1 file: aux and 1000-way heads included
    return inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict()


def test_pretrained_torchvision_and_wrapped_state_dicts_load_into_the_cnn(full_bench, tmp_path):
    from aibench.harness.pretrained import load_state_file

    state = _torchvision_inception_state()
    plain, wrapped = tmp_path / "inception_v3_google.pth", tmp_path / "checkpoint.pth"
    torch.save(state, plain)
    torch.save({"model": state, "epoch": 3}, wrapped)
    for path in (plain, wrapped):
        full_bench.ctx.pretrained = path
        full_bench.model.encoder.Conv2d_1a_3x3.conv.weight.data.zero_()
        full_bench._load_pretrained()
        assert full_bench.pretrained_missing == []
        assert torch.equal(full_bench.model.encoder.Mixed_7c.branch_pool.conv.weight,
                           state["Mixed_7c.branch_pool.conv.weight"])
        assert torch.equal(full_bench.model.encoder.Conv2d_1a_3x3.conv.weight, state["Conv2d_1a_3x3.conv.weight"])
    assert set(load_state_file(wrapped)) == set(state)
    full_bench.ctx.pretrained = None


def test_a_wrong_pretrained_file_is_one_clear_line(full_bench, tmp_path):
    from aibench.errors import DataError

    narrow = ShowAndTell(10, 8, 8, 0.0, 0.08, encoder_divisor=8).encoder.state_dict()  # right names, wrong shapes
    torch.save(narrow, tmp_path / "narrow.pth")
    (tmp_path / "notes.pth").write_text("not weights")
    for name, message in (("narrow.pth", "not weights of this architecture"), ("notes.pth", "not a PyTorch")):
        full_bench.ctx.pretrained = tmp_path / name
        with pytest.raises(DataError, match=message) as err:
            full_bench._load_pretrained()
        assert name in str(err.value) and "\n" not in str(err.value)
    full_bench.ctx.pretrained = None
