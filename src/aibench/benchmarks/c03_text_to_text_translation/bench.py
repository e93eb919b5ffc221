"""DC-AI-C3: the Transformer on WMT14 English-German; teacher-forced token accuracy on newstest2014.

One sentencepiece BPE vocabulary is trained on both sides of the training text as a cached data-set artefact
(`prepare_artefacts()`, before the clock: `aibench data prepare C3`, or the run's untimed initialization when none
is cached); it fixes the model's embedding and softmax size. Encoding the training and evaluation text with it is
timed data preparation (`prepare_data()`). Training batches group pairs of similar length up to `batch_size`
tokens a side. Evaluation scores every pair of the evaluation split teacher-forced (token accuracy, the metric of
the 55% target) and translates the first `bleu_sentences` (all by default) greedily for BLEU against the raw
references.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
import torch
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality, selected_rows_first
from aibench.benchmarks.c03_text_to_text_translation import SPEC
from aibench.benchmarks.c03_text_to_text_translation.data import (
    BOS_ID, EOS_ID, PAD_ID, UNK_ID, Ragged, bleu, copy_source_accuracy, encode_lines,
    most_frequent_token_accuracy, pad, synthesize_wmt, token_accuracy_metric, token_batches, train_sentencepiece)
from aibench.benchmarks.c03_text_to_text_translation.model import Transformer, greedy_translate, noam_lambda
from aibench.datasets.wmt_parallel import SPLIT_STEMS, has_split, iter_pairs, read_pairs, split_paths
from aibench.spec import ScaleConfig

SUBWORD_MODEL = "sentencepiece.model"  # the artefact's one file: the trained model's serialized proto


@dataclass
class Batch:
    source: torch.Tensor  # (batch, source length + 1): ids then </s>
    target_in: torch.Tensor  # (batch, target length + 1): <s> then ids
    target_out: torch.Tensor  # (batch, target length + 1): ids then </s>

    def __len__(self) -> int:
        return self.source.size(0)


@dataclass(frozen=True)
class TranslationQuery:
    """An inference query: a source sentence, and its reference (for the teacher-forced token accuracy)."""

    source: np.ndarray
    target: np.ndarray


def build_transformer(vocab_size: int, hp: dict[str, Any]) -> Transformer:
    return Transformer(vocab_size, hp["d_model"], hp["d_ff"], hp["heads"], hp["layers"], hp["dropout"],
                       max_length=hp["max_tokens"] + 1)


class TextToTextTranslation(Benchmark):
    SPEC = SPEC

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_wmt(Path(data_dir), seed, hp.get("synth_pairs"), hp.get("synth_filler_words", 0),
                       hp.get("synth_eval_max_words"))

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """Both files of every present split readable and aligned (train and test required)."""
        limit = config.hparams["max_train_pairs"]
        splits = [s for s in SPLIT_STEMS if s != "valid" or has_split(data_dir, s)]
        return {f"{split}_pairs": sum(1 for _ in iter_pairs(data_dir, split, limit if split == "train" else None))
                for split in splits}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The Transformer at the configured shared vocabulary size (37,000 at full, the paper's BPE vocabulary)."""
        return {"model": build_transformer(config.hparams["vocab_size"], config.hparams)}

    # ----- setup ------------------------------------------------------------------------------------
    def prepare_artefacts(self) -> None:
        """The shared subword model, trained on the training text's both sides once per data set and setting."""
        hp = self.hp
        settings = {"vocab_size": hp["vocab_size"], "vocab_sample": hp["vocab_sample"],
                    "max_train_pairs": hp["max_train_pairs"], "model_type": "bpe",
                    "specials": [PAD_ID, UNK_ID, BOS_ID, EOS_ID]}

        def build(folder: Path) -> None:
            train = iter_pairs(self.ctx.data_dir, "train", hp["max_train_pairs"])
            vocab = train_sentencepiece((s for pair in train for s in pair), hp["vocab_size"], hp["vocab_sample"])
            (folder / SUBWORD_MODEL).write_bytes(vocab.serialized_model_proto())

        folder = self.artefact("sentencepiece", settings, split_paths(self.ctx.data_dir, "train"), build)
        self.vocab = spm.SentencePieceProcessor(model_proto=(folder / SUBWORD_MODEL).read_bytes())

    def initialize(self) -> None:
        """The subword model (an artefact) and the Transformer over its vocabulary; no sentence is encoded."""
        hp = self.hp
        split_paths(self.ctx.data_dir, hp["eval_split"])  # a missing evaluation split fails before the clock
        self.prepare_artefacts()
        if self.vocab.get_piece_size() < hp["vocab_size"]:
            self.warn(f"WMT training text gave a subword vocabulary of {self.vocab.get_piece_size():,} pieces, "
                      f"fewer than the configured {hp['vocab_size']:,}: a smaller model than the reference")
        self.model = build_transformer(self.vocab.get_piece_size(), hp).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1.0, betas=tuple(hp["adam_betas"]),
                                          eps=hp["adam_eps"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, noam_lambda(hp["d_model"], hp["warmup_steps"], hp["lr_factor"]))
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=PAD_ID, label_smoothing=hp["label_smoothing"])

    def prepare_data(self) -> None:
        """Timed: read both splits and encode them with the subword model; choose the inference queries."""
        hp = self.hp
        train = read_pairs(self.ctx.data_dir, "train", hp["max_train_pairs"])
        evaluation = list(self.limit_eval(read_pairs(self.ctx.data_dir, hp["eval_split"])))
        self.train_sources, self.train_targets = self._encode(train)
        self.eval_sources, self.eval_targets = self._encode(evaluation)
        self.eval_references = [target for _, target in evaluation]
        rng = np.random.default_rng([self.ctx.seed, 0])
        count = min(self.config.inference_samples, len(self.eval_targets))
        self.query_rows = np.sort(rng.choice(len(self.eval_targets), count, replace=False))
        self.query_order = selected_rows_first(self.query_rows, len(self.eval_targets))  # LoadGen's whole split

    def _encode(self, pairs: list[tuple[str, str]]) -> tuple[Ragged, Ragged]:
        limit = self.hp["max_tokens"]
        return (Ragged(encode_lines(self.vocab, [s for s, _ in pairs], limit)),
                Ragged(encode_lines(self.vocab, [t for _, t in pairs], limit)))

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return len(self.train_targets)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng([self.ctx.seed, 1, epoch])
        for rows in token_batches(self.train_sources.lengths, self.train_targets.lengths, self.config.batch_size,
                                  rng):
            yield self._batch(self.train_sources, self.train_targets, rows)

    def _batch(self, sources: Ragged, targets: Ragged, rows: Sequence[int]) -> Batch:
        source_ids, target_ids = [sources[r] for r in rows], [targets[r] for r in rows]
        return Batch(pad(source_ids, suffix=EOS_ID).to(self.device), pad(target_ids, prefix=BOS_ID).to(self.device),
                     pad(target_ids, suffix=EOS_ID).to(self.device))

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """Label-smoothed cross-entropy per target token (and </s>), teacher forced."""
        logits = self.model(batch.source, batch.target_in)
        return self.loss_fn(logits.flatten(0, 1), batch.target_out.flatten()), len(batch)

    # ----- quality ----------------------------------------------------------------------------------
    def _correct_tokens(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced argmax predictions and references (padding included; the metric ignores it)."""
        return self.model(batch.source, batch.target_in).argmax(dim=-1), batch.target_out

    def translate(self, sources: Sequence[np.ndarray]) -> list[str]:
        """Greedy translations of tokenized sources, in chunks of about `eval_tokens` tokens."""
        sources = list(sources)
        out: list[str] = [""] * len(sources)
        lengths = np.array([len(s) for s in sources])
        for rows in token_batches(lengths, lengths, self.hp["eval_tokens"], None):
            source = pad([sources[r] for r in rows], suffix=EOS_ID).to(self.device)
            for row, ids in zip(rows, greedy_translate(self.model, source, self.hp["max_decode_extra"])):
                out[row] = self.vocab.decode(ids)
        return out

    def evaluate(self) -> Quality:
        metric = token_accuracy_metric(self.vocab.get_piece_size()).to(self.device)
        lengths = (self.eval_sources.lengths, self.eval_targets.lengths)
        for rows in token_batches(*lengths, self.hp["eval_tokens"], None):
            metric.update(*self._correct_tokens(self._batch(self.eval_sources, self.eval_targets, rows)))
        count = self.hp["bleu_sentences"] or len(self.eval_targets)
        translations = self.translate([self.eval_sources[i] for i in range(count)])
        return Quality(float(metric.compute()), {"bleu": bleu(translations, self.eval_references[:count])},
                       samples=len(self.eval_targets))

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[TranslationQuery]:
        return [TranslationQuery(self.eval_sources[r], self.eval_targets[r]) for r in self.query_rows]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> TranslationQuery:
        row = self.query_order[index]
        return TranslationQuery(self.eval_sources[row], self.eval_targets[row])

    def infer(self, samples: Sequence[TranslationQuery]) -> list[dict[str, Any]]:
        """Per query: its greedy translation, and how many reference tokens the model predicts teacher-forced."""
        batch = Batch(pad([s.source for s in samples], suffix=EOS_ID).to(self.device),
                      pad([s.target for s in samples], prefix=BOS_ID).to(self.device),
                      pad([s.target for s in samples], suffix=EOS_ID).to(self.device))
        predicted, reference = self._correct_tokens(batch)
        real = reference != PAD_ID
        correct = ((predicted == reference) & real).sum(dim=1).tolist()
        translations = self.translate([s.source for s in samples])
        return [{"translation": text, "correct": c, "tokens": n}
                for text, c, n in zip(translations, correct, real.sum(dim=1).tolist())]

    def score(self, indices: Sequence[int], outputs: Sequence[dict[str, Any]]) -> Quality:
        references = [self.eval_references[self.query_order[i]] for i in indices]
        accuracy = sum(o["correct"] for o in outputs) / max(1, sum(o["tokens"] for o in outputs))
        return Quality(accuracy, {"bleu": bleu([o["translation"] for o in outputs], references)},
                       samples=len(outputs))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> Batch:
        rows = token_batches(self.train_sources.lengths, self.train_targets.lengths, self.config.batch_size,
                             np.random.default_rng(0))[0]
        return self._batch(self.train_sources, self.train_targets, rows)

    def example_samples(self) -> int:
        return len(self.example_batch())

    def describe(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab.get_piece_size(), "train_pairs": len(self.train_targets),
                "eval_split": self.hp["eval_split"], "eval_pairs": len(self.eval_targets),
                "batch_tokens": self.config.batch_size, "decoding": "greedy",
                "most_frequent_token_accuracy": most_frequent_token_accuracy(self.train_targets, self.eval_targets),
                "copy_source_accuracy": float(copy_source_accuracy(self.eval_sources, self.eval_targets))}


BENCHMARK = TextToTextTranslation
