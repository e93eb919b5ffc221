"""DC-AI-C6 DeepSpeech2: features, CTC decoding, WER, the model's parts, the audible tiny set, the benchmark."""

import dataclasses

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c06_speech_recognition import SPEC
from aibench.benchmarks.c06_speech_recognition.bench import BENCHMARK
from aibench.benchmarks.c06_speech_recognition.data import LABELS, encode, greedy_decode, spectrogram, wer
from aibench.benchmarks.c06_speech_recognition.model import DeepSpeech2
from aibench.datasets.librispeech import read_split

TINY = SPEC.scales["tiny"]


def test_spectrogram_uses_20ms_windows_every_10ms():
    features = spectrogram(torch.randn(16_000))
    assert features.shape == (161, 101)  # n_fft 320 -> 161 bins; 1 s / 10 ms + 1 (centred frames)
    assert abs(float(features.mean())) < 1e-4 and abs(float(features.std()) - 1) < 1e-3


def test_greedy_ctc_decoding_merges_repeats_and_drops_blanks():
    path = "__HH_EE_LLL_LL_OO  _WW"  # blank-separated doubles stay double, repeats merge
    log_probs = torch.full((1, len(path), len(LABELS)), -10.0)
    for t, char in enumerate(path):
        log_probs[0, t, LABELS.index(char)] = 0.0
    assert greedy_decode(log_probs, torch.tensor([len(path)])) == ["HELLO W"]
    assert greedy_decode(log_probs, torch.tensor([8])) == ["HE"]  # frames past the length are ignored
    assert encode("A B") == [LABELS.index("A"), LABELS.index(" "), LABELS.index("B")]


def test_word_error_rate_counts_edits_over_reference_words():
    assert wer(["GO LEFT NOW", "STOP"], ["GO RIGHT NOW", "STOP HERE"]) == pytest.approx(2 / 5)


def test_model_has_conv_bidirectional_batchnorm_rnns_and_fc_to_characters():
    model = DeepSpeech2(freq_bins=161, conv_channels=8, hidden_size=16, rnn_layers=3)
    assert len(model.rnns) == 3 and all(r.rnn.bidirectional for r in model.rnns)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) >= 3
    log_probs, lengths = model(torch.randn(2, 1, 161, 120), torch.tensor([120, 80]))
    assert log_probs.shape[0] == 2 and log_probs.shape[2] == len(LABELS)
    assert lengths[0] == log_probs.shape[1] and lengths[1] < lengths[0]  # convolutions stride in time
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-4)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c06")
    hp = dict(TINY.hparams, synth_splits={"train-clean-100": [3, 1, 6], "test-clean": [2, 1, 4]})
    BENCHMARK.synthesize(path, dataclasses.replace(TINY, hparams=hp), seed=5)
    return path


def test_synthesized_speech_is_librispeech_flac_with_unseen_test_speakers(tiny_dir):
    train, test = read_split(tiny_dir, "train-clean-100"), read_split(tiny_dir, "test-clean")
    assert len(train) == 18 and len(test) == 8
    assert {u.speaker for u in train}.isdisjoint({u.speaker for u in test})
    assert all(u.audio.suffix == ".flac" for u in train) and len({u.transcript for u in train}) > 3
    summary = BENCHMARK.check_data(tiny_dir, TINY)
    assert summary["train_utterances"] == 18 and summary["eval_speakers"] == 2


def test_ctc_loss_falls_and_transcripts_are_scored(tiny_dir):
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    losses = [bench.train_step(batch).loss for _ in range(6)]
    assert losses[-1] < losses[0] and all(np.isfinite(losses))
    bench.train_mode(False)
    quality = bench.evaluate()
    assert quality.samples == 8 and quality.value >= 0 and "cer" in quality.extra
    outputs = bench.infer(list(bench.inference_samples())[:3])
    assert len(outputs) == 3 and all(isinstance(o, str) for o in outputs)
