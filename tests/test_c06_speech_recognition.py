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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


# ----- the model's named parts, in detail --------------------------------------------------------------
def test_conv_front_end_is_the_references_two_layers_with_clipped_relu():
    model = DeepSpeech2(freq_bins=161, conv_channels=32, hidden_size=16, rnn_layers=2)
    first, second = (layer[0] for layer in model.conv.layers)
    assert (first.kernel_size, first.stride, second.kernel_size, second.stride) == (
        (41, 11), (2, 2), (21, 11), (2, 1))
    hardtanh = model.conv.layers[0][2]
    assert isinstance(hardtanh, torch.nn.Hardtanh) and (hardtanh.min_val, hardtanh.max_val) == (0, 20)
    assert model.conv.out_features(161) == 41 * 32  # 161 -> 81 -> 41 frequency rows of 32 channels
    assert model.rnns[0].batch_norm is None and model.rnns[1].batch_norm is not None  # DS2: not before the 1st
    assert model.fc.bias is None and model.fc.out_features == 29


def test_padding_does_not_change_an_utterances_output():
    """Conv masking and packed GRUs: an utterance padded in a batch gives what it gives alone."""
    torch.manual_seed(0)
    model = DeepSpeech2(freq_bins=81, conv_channels=4, hidden_size=16, rnn_layers=2).eval()
    short = torch.randn(1, 1, 81, 50)
    batch = torch.zeros(2, 1, 81, 90)
    batch[0, :, :, :50] = short[0]
    batch[1] = torch.randn(1, 81, 90)
    alone, alone_len = model(short, torch.tensor([50]))
    padded, lengths = model(batch, torch.tensor([50, 90]))
    assert lengths.tolist() == [25, 45] and alone_len.tolist() == [25]
    assert torch.allclose(padded[0, :25], alone[0], atol=1e-5)


def test_bidirectional_directions_are_summed_not_concatenated():
    model = DeepSpeech2(freq_bins=81, conv_channels=4, hidden_size=12, rnn_layers=2)
    assert model.rnns[1].rnn.input_size == 12 and model.fc_norm.num_features == 12


# ----- the benchmark's training and inference ------------------------------------------------------------
@pytest.fixture(scope="module")
def bench(tiny_dir):
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    b.setup()
    return b


def test_loss_is_ctc_summed_over_the_batch_and_divided_by_its_size(bench):
    bench.train_mode(False)
    batch = bench.example_batch()
    with torch.no_grad():
        loss, samples = bench.compute_loss(batch)
        log_probs, lengths = bench.model(batch.features, batch.feature_lengths)
    expected = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), batch.targets, lengths,
                                            batch.target_lengths, blank=0, reduction="sum") / samples
    assert samples == len(batch.transcripts) and float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_sortagrad_first_epoch_runs_shortest_first_and_lr_anneals(bench):
    first = [b.feature_lengths.max().item() for b in bench.train_batches(0)]
    assert first == sorted(first)
    assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(TINY.hparams["lr"])
    later = [b.transcripts for b in bench.train_batches(2)]
    assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(TINY.hparams["lr"] / 1.1 ** 2)
    assert sorted(map(tuple, later)) == sorted(tuple(b.transcripts) for b in bench.train_batches(0))


def test_score_is_wer_against_the_reference_transcripts(bench):
    samples = list(bench.inference_samples())
    references = [text for _, text in samples]
    assert bench.score(range(len(samples)), references).value == 0.0
    assert bench.score(range(len(samples)), [""] * len(samples)).value == 1.0
    bench.train_mode(False)
    outputs = bench.infer(samples)
    assert bench.score(range(len(samples)), outputs).value == pytest.approx(wer(outputs, references))


def test_constant_transcript_baseline_is_far_from_the_target(bench):
    baseline = bench.constant_baseline()
    assert baseline["empty_transcript_wer"] == 1.0
    assert baseline["most_frequent_transcript_wer"] > 0.5 > TINY.target


# ----- the synthetic speech is audible letter by letter ---------------------------------------------------
def test_every_character_has_its_own_formant_pair_and_is_heard_there():
    from aibench.benchmarks.c06_speech_recognition.data import FORMANTS, Voice, speak

    assert len(set(FORMANTS.values())) == len(FORMANTS) == 27
    voice = Voice(pitch=1.0, rate=1.0, loudness=0.5)
    for char in "AQ'":
        audio = torch.from_numpy(speak(char, voice, np.random.default_rng(0)))
        spectrum = torch.fft.rfft(audio).abs()
        freqs = torch.fft.rfftfreq(len(audio), 1 / 16_000)
        f1, f2 = FORMANTS[char]
        low, high = spectrum[freqs < 1600].argmax(), spectrum[freqs > 1600].argmax() + int((freqs <= 1600).sum())
        assert abs(float(freqs[low]) - f1) < 40 and abs(float(freqs[high]) - f2) < 80
