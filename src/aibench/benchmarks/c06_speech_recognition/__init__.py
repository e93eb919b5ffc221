"""DC-AI-C6 speech recognition: DeepSpeech2 on LibriSpeech, trained with CTC; quality is the word error rate on
test-clean, of greedy CTC decoding or of CTC beam search (hparam `decoder`; both are always recorded)."""

from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

# The reference: AIBench's own DC-AI-C6 code (BenchCouncil AIBench_Training_Component, PyTorch/Speech_to_Text),
# which is deepspeech.pytorch (SeanNaren) run with its defaults (train.py, opts.py, model.py there):
# features: a 20 ms Hamming window every 10 ms at 16 kHz (161 bins), log(1 + |STFT|), each utterance
# normalised to zero mean and unit variance; model: two conv layers of 32 channels ((41, 11) stride (2, 2),
# (21, 11) stride (2, 1)), 5 bidirectional GRU layers of 800 units (sums of both directions), batch norm and a
# bias-free linear map to 29 labels (labels.json: blank, apostrophe, A-Z, space): 41.19 M parameters;
# training: SGD with Nesterov momentum 0.9, lr 3e-4 divided by 1.1 after every epoch, weight decay 1e-5,
# gradient norm clipped at 400, batch 20, 70 epochs, SortaGrad in the first epoch, on all 960 h of
# LibriSpeech training speech; decoding: greedy during training (train.py validates with GreedyDecoder), beam
# search of width 10 (top 40 characters per frame, alpha 0.8, beta 1, an optional KenLM model) in test.py.
# (MLPerf v0.5's speech_recognition, the same network at 3 x 2560 units, 217 M parameters, lies in the same
# repository under PyTorch/recommendation/ but is not the code AIBench's C6 documents.)
_REFERENCE = {
    "train_splits": ["train-clean-100", "train-clean-360", "train-other-500"], "eval_split": "test-clean",
    "window_s": 0.02, "stride_s": 0.01, "conv_channels": 32, "hidden_size": 800, "rnn_layers": 5,
    "lr": 3e-4, "momentum": 0.9, "lr_anneal": 1.1, "max_grad_norm": 400.0, "weight_decay": 1e-5,
    "eval_batch_size": 32, "preload": False, "num_workers": 8,
    # CTC beam search (reference opts.add_decoder_args); the KenLM model, when given, is <data dir>/lm/ (beam.py)
    "decoder": "greedy", "beam_width": 10, "beam_cutoff_top_n": 40, "lm_alpha": 0.8, "lm_beta": 1.0, "lm_dir": "lm",
}
# `aibench data synth C6 --scale small|full`: every split the scale reads, by its real name, with a few short
# synthetic utterances each (speakers x chapters x utterances); the output layer is the full 29-label alphabet
# whatever the data. One utterance a step and two queries, as a step of the 41 M-parameter network takes seconds
# on a CPU; no data-loader workers, as a smoke run loads a handful of files.
_SMOKE = SmokeConfig(
    batch_size=1, steps=2, eval_samples=2, queries=2, hparams={"num_workers": 0},
    synth={"synth_splits": {"train-clean-100": [1, 1, 2], "train-clean-360": [1, 1, 1],
                            "train-other-500": [1, 1, 1], "test-clean": [2, 1, 2]}},
)

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 300, "small": 1000, "full": 1000},
    server_latency_basis=("small/full: MLPerf Inference's Server bound for speech recognition (RNN-T, 1000 ms); tiny: derived, about 10x the tiny DeepSpeech2's latency on 2 cores (28 ms loaded)"),
    card=card("C6"),
    no_control="DeepSpeech2's gains come from many parts (depth, batch-normalised RNNs, SortaGrad, data), each a few percent of WER in the paper; no single one removed leaves the same model clearly short",
    data_layout="LibriSpeech (OpenSLR 12): <split>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac "
                "(16 kHz mono) with <speaker>-<chapter>.trans.txt per chapter, splits train-clean-100, "
                "train-clean-360, train-other-500 and test-clean (directly under the folder or in LibriSpeech/); "
                "optionally a KenLM model for beam search in lm/ (one *.arpa, or *.bin with words.txt)",
    scales={
        # baseline: WER of the most frequent training transcript said for every test utterance, measured on
        # the harness's tiny set (synthesize seed 1234); the empty transcript scores 1.0
        "tiny": ScaleConfig(
            target=0.10, max_epochs=30, batch_size=32, baseline=0.90,
            baseline_kind="constant (most frequent training transcript)",
            time_budget_s=170, eval_every=1, inference_samples=64,
            hparams={**_REFERENCE, "train_splits": ["train-clean-100"], "conv_channels": 8, "hidden_size": 64,
                     "rnn_layers": 2, "lr": 3e-3, "weight_decay": 0.0, "preload": True, "num_workers": 0,
                     "synth_splits": {"train-clean-100": [12, 2, 20], "test-clean": [4, 1, 25]}},
            shrink="synthetic LibriSpeech-layout FLAC set: a 21-word command grammar spoken letter by letter "
                   "(each character a two-formant sound), 16 speakers, 480 train / 100 test utterances of about "
                   "1.3 s, instead of 960 h of read English; 8 conv channels instead of 32, 2 bidirectional GRU "
                   "layers of 64 units instead of 5 of 800 (0.22M parameters instead of 41.2M); batch 32 "
                   "at lr 3e-3 without weight decay instead of batch 20 at 3e-4 with 1e-5 (same optimizer, "
                   "annealing and clipping); quality from greedy decoding, the beam-search WER beside it",
        ),
        # small: the paper's convergence quality for C6 (§5: 23.5% WER), as the reference's training loop measures
        # it (greedy decoding); Table 6's 42.78 h at 14,326.86 s per epoch is 10.75 epochs, so 16 is the cap
        "small": ScaleConfig(
            target=0.235, max_epochs=16, batch_size=20, eval_every=1, inference_samples=1024,
            hparams=dict(_REFERENCE), smoke=_SMOKE,
        ),
        # full: Table 3's quality, DeepSpeech2's own 5.33% on test-clean, which DS2 reached with beam search and
        # an n-gram language model: quality from the beam search (with the user's KenLM model in lm/ if given),
        # for the reference's full 70 epochs
        "full": ScaleConfig(
            target=0.0533, max_epochs=70, batch_size=20, eval_every=1, inference_samples=2620,
            hparams={**_REFERENCE, "decoder": "beam"}, smoke=_SMOKE,
        ),
    },
    default_data_subdir="librispeech",
    # flops_per_sample: the full smoke run's measurement (FlopCounterMode) on its synthesized test-clean
    # utterances of about 1.4 s; a DeepSpeech2 forward pass grows linearly with duration (about 53 M-FLOPs per
    # 10 ms frame), so test-clean's mean utterance of 7.4 s costs about five times as much
    full_size=ModelSize(
        params=41_187_968, flops_per_sample=7.539e9,
        source="AIBench's DC-AI-C6 code (BenchCouncil AIBench_Training_Component, PyTorch/Speech_to_Text), i.e. "
               "deepspeech.pytorch with its train.py defaults: 161-bin 20 ms spectrogram, 2 conv layers of 32 "
               "channels, 5 bidirectional GRU layers of 800 units, batch-normed bias-free FC to 29 labels",
    ),
)
