"""DC-AI-C6: DeepSpeech2 trained with CTC on LibriSpeech; word error rate on test-clean.

Every evaluation decodes the same network outputs twice, greedily and by CTC beam search (beam.py); both WERs are
recorded, and hparam `decoder` says which is the quality (greedy where the reference's training loop measures it,
beam search at full, where Table 3's DeepSpeech2 quality comes from). Without flashlight-text the beam search is
skipped with a recorded warning and the quality is greedy.

Minibatches hold utterances of similar length (sorted by FLAC file size, which tracks duration without
decoding): the first epoch runs them shortest first (SortaGrad, DS2 §3.1), later epochs in shuffled order.
The learning rate is divided by `lr_anneal` after every epoch and gradients are clipped to `max_grad_norm`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.functional.text import char_error_rate

from aibench.benchmarks.base import Benchmark, Quality, selected_rows_first
from aibench.benchmarks.c06_speech_recognition import SPEC, beam
from aibench.benchmarks.c06_speech_recognition.data import (
    LABELS, SpectrogramDataset, SpeechBatch, collate, freq_bins, greedy_decode, synthesize_librispeech, wer,
)
from aibench.benchmarks.c06_speech_recognition.model import DeepSpeech2
from aibench.datasets.librispeech import Utterance, find_split, read_split, spot_check_audio
from aibench.errors import DataError, UserError
from aibench.spec import ScaleConfig

DECODERS = ("greedy", "beam")


def present_train_splits(data_dir: Path, config: ScaleConfig, warn: Callable[[str], None]) -> list[str]:
    """The configured training splits found under data_dir; a missing one is warned about (training goes on with
    the others, as the reference trains on whichever manifests it is given); none at all is a DataError."""
    wanted = config.hparams["train_splits"]
    present = []
    for split in wanted:
        try:
            find_split(data_dir, split)
            present.append(split)
        except DataError:
            pass
    if not present:
        raise DataError(Path(data_dir), f"LibriSpeech has none of the training splits {', '.join(wanted)}")
    if len(present) < len(wanted):
        missing = ", ".join(s for s in wanted if s not in present)
        warn(f"LibriSpeech at {data_dir} lacks {missing}: training on {', '.join(present)} only")
    return present


def read_splits(data_dir: Path, config: ScaleConfig, warn: Callable[[str], None],
                eval_limit: int | None = None) -> tuple[list[Utterance], list[Utterance]]:
    """The training utterances (the training splits present) and the evaluation split's (its first
    `eval_limit` if given)."""
    train = [u for split in present_train_splits(data_dir, config, warn) for u in read_split(data_dir, split)]
    evaluation = read_split(data_dir, config.hparams["eval_split"])
    return train, evaluation if eval_limit is None else evaluation[:eval_limit]


def length_sorted_batches(utterances: Sequence[Utterance], batch_size: int) -> list[list[int]]:
    """Index batches of similar duration, shortest first (file size stands in for duration)."""
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].audio.stat().st_size, utterances[i].id))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


class SpeechRecognition(Benchmark):
    SPEC = SPEC

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        splits = {name: tuple(sizes) for name, sizes in config.hparams["synth_splits"].items()}
        synthesize_librispeech(data_dir, splits, seed)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        notes: list[str] = []
        train, evaluation = read_splits(data_dir, config, notes.append)
        spot_check_audio(train)
        spot_check_audio(evaluation)
        lm_path = beam.find_language_model(data_dir, config.hparams["lm_dir"])
        return {"train_utterances": len(train), "eval_utterances": len(evaluation),
                "train_speakers": len({u.speaker for u in train}),
                "eval_speakers": len({u.speaker for u in evaluation}),
                "language_model": str(lm_path) if lm_path else None, "notes": notes}

    @classmethod
    def build_model(cls, hp: dict[str, Any]) -> DeepSpeech2:
        """The network the hyperparameters describe: its input is the spectrogram the window gives (161 bins
        for 20 ms at 16 kHz), its output the 29 labels, whatever the data."""
        return DeepSpeech2(freq_bins(hp["window_s"]), hp["conv_channels"], hp["hidden_size"], hp["rnn_layers"],
                           len(LABELS))

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        return {"model": cls.build_model(config.hparams)}

    # ----- setup ------------------------------------------------------------------------------------
    def initialize(self) -> None:
        hp = self.hp
        if hp["decoder"] not in DECODERS:
            raise UserError(f"C6: hparam decoder is {hp['decoder']!r}; choose one of {', '.join(DECODERS)}")
        self.train_utterances, self.eval_utterances = read_splits(self.ctx.data_dir, self.config, self.warn,
                                                                  self.ctx.eval_limit)
        # transcripts and file sizes only: no audio is decoded before prepare_data()
        self.train_set = SpectrogramDataset(self.train_utterances, hp["window_s"], hp["stride_s"])
        self.eval_set = SpectrogramDataset(self.eval_utterances, hp["window_s"], hp["stride_s"])
        self.batches = length_sorted_batches(self.train_utterances, self.config.batch_size)
        self.eval_batches = length_sorted_batches(self.eval_utterances, hp["eval_batch_size"])
        count = len(self.eval_utterances)
        self.query_rows = np.unique(np.linspace(0, count - 1, min(self.config.inference_samples, count)).astype(int))
        self.query_order = selected_rows_first(self.query_rows, count)  # LoadGen's whole split
        self.model = self.build_model(hp).to(self.device)
        self.beam_decoder = self._beam_decoder()
        self.quality_decoder = hp["decoder"] if self.beam_decoder is not None else "greedy"
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                                         nesterov=True, weight_decay=hp["weight_decay"])
        # summed over the batch and divided by its size, as the reference; an impossible alignment counts 0
        self.ctc = nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)

    def prepare_data(self) -> None:
        """Decode the audio and compute the spectrograms: every evaluation utterance's (test-clean, 5.4 h, fits
        in memory) and, with hparam preload, every training utterance's (else the loader computes them in the
        training loop)."""
        train, evaluation = self.train_set, self.eval_set
        self.train_features = [train[i] for i in range(len(train))] if self.hp["preload"] else None
        self.eval_items = [evaluation[i] for i in range(len(evaluation))]

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return len(self.train_utterances)

    def train_batches(self, epoch: int) -> Iterator[SpeechBatch]:
        for group in self.optimizer.param_groups:  # the reference anneals after every epoch
            group["lr"] = self.hp["lr"] / self.hp["lr_anneal"] ** epoch
        order = list(self.batches)
        if epoch > 0:  # SortaGrad: shortest first in the first epoch only
            rng = np.random.default_rng([self.ctx.seed, epoch])
            order = [order[i] for i in rng.permutation(len(order))]
        if self.train_features is not None:
            for indices in order:
                yield collate([self.train_features[i] for i in indices]).to(self.device)
            return
        loader = DataLoader(self.train_set, batch_sampler=order, collate_fn=collate,
                            num_workers=self.hp["num_workers"], pin_memory=self.device.type == "cuda")
        for batch in loader:
            yield batch.to(self.device)

    def compute_loss(self, batch: SpeechBatch) -> tuple[torch.Tensor, int]:
        log_probs, lengths = self.model(batch.features, batch.feature_lengths)
        loss = self.ctc(log_probs.transpose(0, 1), batch.targets, lengths, batch.target_lengths)
        return loss / len(batch.transcripts), len(batch.transcripts)

    def max_grad_norm(self) -> float:
        return self.hp["max_grad_norm"]  # the paper's gradient clipping

    # ----- evaluation -------------------------------------------------------------------------------
    def _beam_decoder(self) -> beam.BeamDecoder | None:
        """The reference's beam search, with the user's KenLM model if the data folder has one; None (and a
        recorded warning) without flashlight-text."""
        hp = self.hp
        if not beam.available():
            self.warn(f"{beam.PACKAGE} is not installed (pip install {beam.PACKAGE}): no beam-search WER, "
                      "the quality is greedy decoding's")
            return None
        lm_path = beam.find_language_model(self.ctx.data_dir, hp["lm_dir"])
        if lm_path is None and hp["decoder"] == "beam":
            self.warn(f"no KenLM model in {Path(self.ctx.data_dir) / hp['lm_dir']}: beam search without a "
                      "language model (DeepSpeech2's 5.33% used an n-gram model)")
        settings = beam.BeamSettings(width=hp["beam_width"], cutoff_top_n=hp["beam_cutoff_top_n"],
                                     alpha=hp["lm_alpha"], beta=hp["lm_beta"])
        return beam.BeamDecoder(LABELS, settings, lm_path)

    def _outputs(self, items: Sequence[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = collate(items).to(self.device)
        with torch.no_grad():
            return self.model(batch.features, batch.feature_lengths)

    def _decode(self, log_probs: torch.Tensor, lengths: torch.Tensor, decoder: str) -> list[str]:
        if decoder == "beam":
            return self.beam_decoder.decode(log_probs, lengths)
        return greedy_decode(log_probs, lengths)

    def evaluate(self) -> Quality:
        """WER of the quality decoder; the other decoder's WER and both CERs in extra."""
        decoders = DECODERS if self.beam_decoder is not None else ("greedy",)
        predictions: dict[str, list[str]] = {name: [] for name in decoders}
        references: list[str] = []
        for indices in self.eval_batches:
            log_probs, lengths = self._outputs([self.eval_items[i] for i in indices])
            for name in decoders:
                predictions[name] += self._decode(log_probs, lengths, name)
            references += [self.eval_items[i][1] for i in indices]
        extra = {"beam_width": float(self.hp["beam_width"]) if self.beam_decoder is not None else 0.0}
        for name in decoders:
            extra[f"wer_{name}"] = wer(predictions[name], references)
            extra[f"cer_{name}"] = float(char_error_rate(predictions[name], references))
        extra["cer"] = extra[f"cer_{self.quality_decoder}"]
        return Quality(extra[f"wer_{self.quality_decoder}"], extra, samples=len(references))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[tuple[torch.Tensor, str]]:
        return [self.eval_items[row] for row in self.query_rows]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> tuple[torch.Tensor, str]:
        return self.eval_items[self.query_order[index]]

    def infer(self, samples: Sequence[tuple[torch.Tensor, str]]) -> list[str]:
        """The transcript of each utterance by the quality decoder (its reference text is not looked at)."""
        log_probs, lengths = self._outputs([(features, "") for features, _ in samples])
        return self._decode(log_probs, lengths, self.quality_decoder)

    def score(self, indices: Sequence[int], outputs: Sequence[str]) -> Quality:
        references = [self.eval_items[self.query_order[i]][1] for i in indices]
        return Quality(wer(outputs, references), {"cer": float(char_error_rate(list(outputs), references))},
                       samples=len(references))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> SpeechBatch:
        """The first (shortest) training batch; unlike train_batches, leaves the learning rate alone."""
        return collate([self.train_set[i] for i in self.batches[0]]).to(self.device)

    def constant_baseline(self) -> dict[str, float]:
        """WER of saying the same thing for every test utterance: nothing, or the most frequent training
        transcript."""
        common = Counter(u.transcript for u in self.train_utterances).most_common(1)[0][0]
        references = [u.transcript for u in self.eval_utterances]
        return {"empty_transcript_wer": wer([""] * len(references), references),
                "most_frequent_transcript_wer": wer([common] * len(references), references)}

    def describe(self) -> dict[str, Any]:
        """Sizes, baselines, and which decoder the quality is (with its beam width and language model)."""
        lm_path = self.beam_decoder.lm_path if self.beam_decoder is not None else None
        return {"train_utterances": len(self.train_utterances), "eval_utterances": len(self.eval_utterances),
                "quality_decoder": self.quality_decoder,
                "beam_search": (f"{beam.PACKAGE}, width {self.hp['beam_width']}"
                                if self.beam_decoder is not None else "not run"),
                "language_model": str(lm_path) if lm_path else None, **self.constant_baseline()}


BENCHMARK = SpeechRecognition
