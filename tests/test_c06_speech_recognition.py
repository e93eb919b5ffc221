"""DC-AI-C6 DeepSpeech2: features, CTC decoding (greedy and beam search), WER, the model's parts, the audible tiny
set, the benchmark, the full-size reference network and its smoke data."""

import dataclasses

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c06_speech_recognition import SPEC, beam
from aibench.benchmarks.c06_speech_recognition.bench import BENCHMARK
from aibench.benchmarks.c06_speech_recognition.data import (
    BLANK, LABELS, encode, greedy_decode, spectrogram, wer,
)
from aibench.benchmarks.c06_speech_recognition.model import DeepSpeech2
from aibench.characterize.flops import count_parameters
from aibench.datasets.librispeech import read_split
from aibench.errors import DataError

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


def test_initialize_decodes_no_audio_and_prepare_data_computes_the_spectrograms(tiny_dir, monkeypatch):
    """The untimed initialize() reads transcripts and file sizes (the length-sorted batches) only; prepare_data(),
    which the harness times, decodes every utterance (training ones too, as tiny preloads) into spectrograms."""
    import soundfile

    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    with monkeypatch.context() as patch:
        patch.setattr(soundfile, "read", lambda path, *a, **k: pytest.fail(f"initialize() decoded {path}"))
        bench.initialize()
    assert not hasattr(bench, "eval_items") and not hasattr(bench, "train_features")
    assert bench.train_samples() == 18 and sum(map(len, bench.batches)) == 18 and len(bench.query_rows) == 8
    decoded = []
    real_read = soundfile.read
    monkeypatch.setattr(soundfile, "read", lambda path, *a, **k: decoded.append(path) or real_read(path, *a, **k))
    bench.prepare_data()
    assert len(decoded) == 18 + 8 and len(bench.train_features) == 18 and len(bench.eval_items) == 8
    assert bench.eval_items[0][0].shape[0] == 161 and bench.eval_items[0][1] == bench.eval_utterances[0].transcript
    batch = next(iter(bench.train_batches(0)))
    assert len(decoded) == 26 and batch.features.shape[:3] == (18, 1, 161)  # from the preloaded features


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


# ----- decoding: greedy and the reference's beam search ----------------------------------------------------
def _emission(text: str, confusions: dict[int, dict[str, float]] | None = None) -> torch.Tensor:
    """Log-probabilities saying `text` two frames a character with a blank after each; `confusions` replaces
    the frames of character i by the given probabilities."""
    rows = []
    for i, char in enumerate(text):
        for label in (char, char, BLANK):
            row = torch.full((len(LABELS),), 1e-4)
            choices = (confusions or {}).get(i) if label != BLANK else None
            for c, p in (choices or {label: 1.0}).items():
                row[LABELS.index(c)] = p
            rows.append((row / row.sum()).log())
    return torch.stack(rows)[None]


needs_beam = pytest.mark.skipif(not beam.available(), reason=f"{beam.PACKAGE} not installed")


@needs_beam
def test_beam_search_of_the_references_width_finds_a_clear_path():
    log_probs = _emission("GIVE TWO KEYS")
    decoder = beam.BeamDecoder(LABELS, beam.BeamSettings())
    lengths = torch.tensor([log_probs.shape[1]])
    assert decoder.decode(log_probs, lengths) == greedy_decode(log_probs, lengths) == ["GIVE TWO KEYS"]
    assert decoder.decode(log_probs, torch.tensor([6])) == ["GI"]  # frames past the length are ignored


def _arpa(path, words):
    """A unigram-and-bigram ARPA model over `words` (KenLM needs at least bigrams)."""
    unigrams = [f"-1.0\t{w}\t-0.3" for w in ("<s>", *words)] + ["-1.0\t</s>", "-3.0\t<unk>"]
    path.write_text("\\data\\\n" f"ngram 1={len(unigrams)}\nngram 2=1\n\n\\1-grams:\n" + "\n".join(unigrams)
                    + f"\n\n\\2-grams:\n-0.1\t<s> {words[0]}\n\n\\end\\\n")
    return path


@needs_beam
def test_language_model_turns_a_misheard_letter_into_a_known_word(tmp_path):
    text = "TAKE RED BOX"
    misheard = _emission(text, {11: {"X": 0.45, "T": 0.55}})  # the X of BOX sounds more like a T
    lengths = torch.tensor([misheard.shape[1]])
    assert greedy_decode(misheard, lengths) == ["TAKE RED BOT"]
    assert beam.BeamDecoder(LABELS, beam.BeamSettings()).decode(misheard, lengths) == ["TAKE RED BOT"]
    (tmp_path / "lm").mkdir()
    lm_path = _arpa(tmp_path / "lm" / "3-gram.arpa", ["TAKE", "RED", "BOX", "BLUE"])
    assert beam.find_language_model(tmp_path, "lm") == lm_path
    assert beam.read_vocabulary(lm_path) == ["BLUE", "BOX", "RED", "TAKE"]
    with_lm = beam.BeamDecoder(LABELS, beam.BeamSettings(), lm_path)
    assert with_lm.decode(misheard, lengths) == [text]


def test_language_model_folder_errors_name_the_problem(tmp_path):
    assert beam.find_language_model(tmp_path, "lm") is None  # no folder: no language model
    (tmp_path / "lm").mkdir()
    with pytest.raises(DataError, match="exactly one KenLM model"):
        beam.find_language_model(tmp_path, "lm")
    binary = tmp_path / "lm" / "4-gram.bin"
    binary.write_bytes(b"\0")
    with pytest.raises(DataError, match="words.txt"):
        beam.read_vocabulary(beam.find_language_model(tmp_path, "lm"))
    not_arpa = tmp_path / "lm.arpa"
    not_arpa.write_text("hello\n")
    with pytest.raises(DataError, match="1-grams"):
        beam.read_vocabulary(not_arpa)


@needs_beam
def test_evaluation_records_greedy_and_beam_wer_and_which_is_the_quality(bench):
    bench.train_mode(False)
    quality = bench.evaluate()
    assert {"wer_greedy", "wer_beam", "cer_greedy", "cer_beam"} <= set(quality.extra)
    assert quality.extra["beam_width"] == 10 == SPEC.scales["full"].hparams["beam_width"]
    assert quality.value == quality.extra["wer_greedy"] and bench.describe()["quality_decoder"] == "greedy"


def _evaluate_with_beam_decoder(tiny_dir):
    """A tiny benchmark configured to take its quality from the beam decoder, set up and evaluated once."""
    config = dataclasses.replace(TINY, hparams={**TINY.hparams, "decoder": "beam"})
    ctx = RunContext("tiny", config, tiny_dir, torch.device("cpu"), seed=0)
    b = BENCHMARK(ctx)
    b.setup()
    b.train_mode(False)
    return ctx, b, b.evaluate()


@needs_beam
def test_full_scale_quality_is_the_beam_search_and_says_it_has_no_language_model(tiny_dir):
    ctx, b, quality = _evaluate_with_beam_decoder(tiny_dir)
    assert quality.value == quality.extra["wer_beam"] and b.describe()["quality_decoder"] == "beam"
    assert any("no KenLM model" in w for w in ctx.warnings)
    assert SPEC.scales["full"].hparams["decoder"] == "beam" and SPEC.scales["small"].hparams["decoder"] == "greedy"


def test_without_flashlight_text_the_quality_is_greedy_with_a_warning(tiny_dir, monkeypatch):
    monkeypatch.setattr(beam, "available", lambda: False)
    ctx, b, quality = _evaluate_with_beam_decoder(tiny_dir)
    assert "wer_beam" not in quality.extra and quality.value == quality.extra["wer_greedy"]
    assert any(beam.PACKAGE in w for w in ctx.warnings) and b.describe()["quality_decoder"] == "greedy"


# ----- full size: the reference network, the smoke run's data ---------------------------------------------
FULL = SPEC.scales["full"]
FULL_PARAMS = 41_187_968  # deepspeech.pytorch defaults: 161 bins, 2 x 32-channel conv, 5 x 800 bi-GRU, 29 labels


def test_reference_models_are_deepspeech_pytorch_defaults_built_on_the_meta_device():
    with torch.device("meta"):
        model = BENCHMARK.reference_models(FULL)["model"]
    assert count_parameters({"model": model})["total"] == FULL_PARAMS == SPEC.full_size.params
    assert len(model.rnns) == 5 and model.rnns[0].rnn.hidden_size == 800 and model.rnns[0].rnn.input_size == 41 * 32
    assert model.fc.out_features == 29 and SPEC.scales["small"].hparams["hidden_size"] == 800
    with torch.device("meta"):
        assert count_parameters(BENCHMARK.reference_models(TINY))["total"] == 221_768


def test_full_smoke_data_has_the_real_splits_and_builds_the_reference_network(tmp_path):
    from aibench.harness.runner import synthesis_config
    from aibench.harness.smoke import smoke_context

    BENCHMARK.synthesize(tmp_path, synthesis_config(FULL, "full"), 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FULL.hparams["train_splits"], "test-clean"])
    assert BENCHMARK.check_data(tmp_path, FULL)["notes"] == []
    ctx = smoke_context("full", FULL, tmp_path)
    b = BENCHMARK(ctx)
    b.setup()
    assert count_parameters(b.models())["total"] == FULL_PARAMS
    assert len(b.eval_items) == FULL.smoke.eval_samples and b.eval_items[0][0].shape[0] == 161
    assert b.hp["num_workers"] == 0 and b.config.batch_size == FULL.smoke.batch_size


def test_missing_training_splits_are_warned_and_none_is_a_data_error(tiny_dir):
    config = dataclasses.replace(TINY, hparams={**TINY.hparams,
                                                "train_splits": ["train-clean-100", "train-other-500"]})
    notes = BENCHMARK.check_data(tiny_dir, config)["notes"]
    assert notes == [f"LibriSpeech at {tiny_dir} lacks train-other-500: training on train-clean-100 only"]
    config = dataclasses.replace(TINY, hparams={**TINY.hparams, "train_splits": ["train-other-500"]})
    with pytest.raises(DataError, match="none of the training splits train-other-500"):
        BENCHMARK.check_data(tiny_dir, config)
