"""DC-AI-C6: DeepSpeech2 trained with CTC on LibriSpeech; word error rate of greedy decoding on test-clean.

Minibatches hold utterances of similar length (sorted by FLAC file size, which tracks duration without
decoding): the first epoch runs them shortest first (SortaGrad, DS2 §3.1), later epochs in shuffled order.
The learning rate is divided by `lr_anneal` after every epoch and gradients are clipped to `max_grad_norm`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.functional.text import char_error_rate

from aibench.benchmarks.base import Benchmark, Quality
from aibench.benchmarks.c06_speech_recognition import SPEC
from aibench.benchmarks.c06_speech_recognition.data import (
    LABELS, SpectrogramDataset, SpeechBatch, collate, greedy_decode, synthesize_librispeech, wer,
)
from aibench.benchmarks.c06_speech_recognition.model import DeepSpeech2
from aibench.datasets.librispeech import Utterance, read_split, spot_check_audio
from aibench.spec import ScaleConfig


def read_splits(data_dir: Path, config: ScaleConfig) -> tuple[list[Utterance], list[Utterance]]:
    """The training utterances (all training splits) and the evaluation split's."""
    hp = config.hparams
    train = [u for split in hp["train_splits"] for u in read_split(data_dir, split)]
    return train, read_split(data_dir, hp["eval_split"])


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
        train, evaluation = read_splits(data_dir, config)
        spot_check_audio(train)
        spot_check_audio(evaluation)
        return {"train_utterances": len(train), "eval_utterances": len(evaluation),
                "train_speakers": len({u.speaker for u in train}),
                "eval_speakers": len({u.speaker for u in evaluation})}

    # ----- setup ------------------------------------------------------------------------------------
    def setup(self) -> None:
        hp = self.hp
        self.train_utterances, self.eval_utterances = read_splits(self.ctx.data_dir, self.config)
        self.train_set = SpectrogramDataset(self.train_utterances)
        self.train_features = [self.train_set[i] for i in range(len(self.train_set))] if hp["preload"] else None
        self.batches = length_sorted_batches(self.train_utterances, self.config.batch_size)
        eval_set = SpectrogramDataset(self.eval_utterances)
        self.eval_items = [eval_set[i] for i in range(len(eval_set))]  # test-clean: 5.4 h, fits in memory
        self.eval_batches = length_sorted_batches(self.eval_utterances, hp["eval_batch_size"])
        rows = np.linspace(0, len(self.eval_items) - 1, min(self.config.inference_samples, len(self.eval_items)))
        self.query_rows = np.unique(rows.astype(int))
        freq_bins = self.eval_items[0][0].shape[0]
        self.model = DeepSpeech2(freq_bins, hp["conv_channels"], hp["hidden_size"], hp["rnn_layers"],
                                 len(LABELS)).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                                         nesterov=True, weight_decay=hp["weight_decay"])
        # summed over the batch and divided by its size, as the reference; an impossible alignment counts 0
        self.ctc = nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)

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
    def _transcribe(self, items: Sequence[tuple[torch.Tensor, str]]) -> list[str]:
        batch = collate(items).to(self.device)
        with torch.no_grad():
            log_probs, lengths = self.model(batch.features, batch.feature_lengths)
        return greedy_decode(log_probs, lengths)

    def evaluate(self) -> Quality:
        predictions, references = [], []
        for indices in self.eval_batches:
            predictions += self._transcribe([self.eval_items[i] for i in indices])
            references += [self.eval_items[i][1] for i in indices]
        return Quality(wer(predictions, references),
                       {"cer": float(char_error_rate(predictions, references))}, samples=len(references))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[tuple[torch.Tensor, str]]:
        return [self.eval_items[row] for row in self.query_rows]

    def infer(self, samples: Sequence[tuple[torch.Tensor, str]]) -> list[str]:
        """The transcript of each utterance (its reference text is not looked at)."""
        return self._transcribe([(features, "") for features, _ in samples])

    def score(self, indices: Sequence[int], outputs: Sequence[str]) -> Quality:
        references = [self.eval_items[self.query_rows[i]][1] for i in indices]
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
        return {"train_utterances": len(self.train_utterances), "eval_utterances": len(self.eval_utterances),
                **self.constant_baseline()}


BENCHMARK = SpeechRecognition
