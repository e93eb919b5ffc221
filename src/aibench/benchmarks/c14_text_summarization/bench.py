"""DC-AI-C14: attentional seq2seq headline generation on Gigaword; ROUGE-L F1 of beam-search headlines.

Vocabularies come from the train split (separate source and target vocabularies, as in the paper, each the
most frequent words up to its size); words outside them are <unk>. They fix the model's embedding and softmax
sizes, so they are a cached data-set artefact built before the clock (`prepare_artefacts()`: `aibench data
prepare C14`, or the run's untimed initialization when none is cached); encoding the articles and titles with
them is timed data preparation (`prepare_data()`). Evaluation decodes every pair of the evaluation split (Giga/
test by default) with beam search and scores the headlines against the reference titles as written in the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aibench.benchmarks.base import Benchmark, Quality, selected_rows_first
from aibench.benchmarks.c14_text_summarization import SPEC
from aibench.benchmarks.c14_text_summarization.data import (
    PAD_ID, Batch, Ragged, Vocab, collate, epoch_batches, lead_baseline, pad, rouge, synthesize_gigaword)
from aibench.benchmarks.c14_text_summarization.model import Summarizer, beam_search
from aibench.datasets.gigaword import SPLITS, find_sumdata_dir, iter_pairs, read_pairs, split_paths
from aibench.spec import ScaleConfig

VOCAB_FILES = ("source.vocab", "target.vocab")  # the artefact: one word a line, specials first
_OPTIMIZERS = {"adadelta": torch.optim.Adadelta, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def build_vocabs(root: Path, hp: dict[str, Any]) -> tuple[Vocab, Vocab]:
    """Source and target vocabularies from one pass over the train split."""
    source, target = Counter(), Counter()
    for pair in iter_pairs(root, "train", hp["max_train_pairs"]):
        source.update(pair.article)
        target.update(pair.title)
    return (Vocab.build(source, hp["source_vocab"], hp["min_count"]),
            Vocab.build(target, hp["target_vocab"], hp["min_count"]))


def encode_train(root: Path, hp: dict[str, Any], source: Vocab, target: Vocab) -> tuple[Ragged, Ragged]:
    """The train split as source and target id sequences (a second pass, so the text is never all in memory)."""
    src_index, tgt_index = source.index(), target.index()
    articles, titles = Ragged(), Ragged()
    for pair in iter_pairs(root, "train", hp["max_train_pairs"]):
        articles.append(source.encode(pair.article, src_index))
        titles.append(target.encode(pair.title, tgt_index))
    return articles.freeze(), titles.freeze()


class TextSummarization(Benchmark):
    SPEC = SPEC

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_gigaword(Path(data_dir), seed, hp.get("synth_pairs"), hp.get("synth_source_words", 0),
                            hp.get("synth_target_words", 0))

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """Every split's files present and aligned; the lead baseline's ROUGE-L on the evaluation split."""
        root = find_sumdata_dir(data_dir)
        hp = config.hparams
        counts = {split: sum(1 for _ in iter_pairs(root, split, hp["max_train_pairs"] if split == "train"
                                                   else None)) for split in SPLITS}
        evaluation = read_pairs(root, hp["eval_split"])
        lead = lead_baseline([p.article for p in evaluation], [p.title_text for p in evaluation],
                             hp["lead_words"])
        return {**{f"{split}_pairs": n for split, n in counts.items()}, "lead_words": hp["lead_words"],
                "lead_rouge_l": lead}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The summarizer over the configured vocabularies (Nallapati et al.'s 119,505 and 68,885 at full)."""
        hp = config.hparams
        return {"model": Summarizer(hp["source_vocab"], hp["target_vocab"], hp["embedding"], hp["hidden"])}

    # ----- setup ------------------------------------------------------------------------------------
    def prepare_artefacts(self) -> None:
        """The source and target vocabularies, counted over the train split once per data set and setting."""
        hp = self.hp
        root = find_sumdata_dir(self.ctx.data_dir)
        settings = {key: hp[key] for key in ("source_vocab", "target_vocab", "min_count", "max_train_pairs")}

        def build(folder: Path) -> None:
            for vocab, name in zip(build_vocabs(root, hp), VOCAB_FILES):
                vocab.save(folder / name)

        folder = self.artefact("vocabularies", settings, split_paths(root, "train"), build)
        self.source_vocab, self.target_vocab = (Vocab.load(folder / name) for name in VOCAB_FILES)

    def initialize(self) -> None:
        """The vocabularies (an artefact) and the summarizer over them; no article is encoded."""
        hp = self.hp
        split_paths(find_sumdata_dir(self.ctx.data_dir), hp["eval_split"])  # missing: fails before the clock
        self.prepare_artefacts()
        self._check_vocab_sizes()
        # the control (`--controls`): no attention, the decoder reads only the encoder's final states
        self.model = Summarizer(len(self.source_vocab), len(self.target_vocab), hp["embedding"],
                                hp["hidden"], attention=not self.ctx.control).to(self.device)
        self.optimizer = _OPTIMIZERS[hp["optimizer"]](self.model.parameters(), lr=hp["lr"])

    def prepare_data(self) -> None:
        """Timed: encode the train and evaluation splits, score the lead baseline, choose the inference queries."""
        hp = self.hp
        root = find_sumdata_dir(self.ctx.data_dir)
        self.train_articles, self.train_titles = encode_train(root, hp, self.source_vocab, self.target_vocab)
        evaluation = list(self.limit_eval(read_pairs(root, hp["eval_split"])))
        index = self.source_vocab.index()
        self.eval_sources = [torch.tensor(self.source_vocab.encode(p.article, index)) for p in evaluation]
        self.eval_references = [p.title_text for p in evaluation]
        self.lead_rouge_l = lead_baseline([p.article for p in evaluation], self.eval_references, hp["lead_words"])
        rng = np.random.default_rng([self.ctx.seed, 0])
        count = min(self.config.inference_samples, len(evaluation))
        self.query_rows = np.sort(rng.choice(len(evaluation), count, replace=False))
        self.query_order = selected_rows_first(self.query_rows, len(evaluation))  # LoadGen's whole split

    def _check_vocab_sizes(self) -> None:
        """Fewer training words than a vocabulary's configured size: a smaller model, said so (tiny's small
        vocabularies are its documented shrink, not an adaptation)."""
        if self.ctx.scale == "tiny":
            return
        for side, vocab, key in (("article", self.source_vocab, "source_vocab"),
                                 ("title", self.target_vocab, "target_vocab")):
            if len(vocab) < self.hp[key]:
                self.warn(f"Gigaword training {side}s have {len(vocab) - 4:,} words seen at least "
                          f"{self.hp['min_count']} time(s): a {side} vocabulary of {len(vocab):,} instead of the "
                          f"configured {self.hp[key]:,} (a smaller model than the reference)")

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    # ----- training ---------------------------------------------------------------------------------
    def train_samples(self) -> int:
        return len(self.train_articles)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng([self.ctx.seed, 1, epoch])
        for rows in epoch_batches(self.train_articles.lengths, self.config.batch_size, self.hp["sort_window"], rng):
            yield self._batch(rows)

    def _batch(self, rows: np.ndarray) -> Batch:
        return collate([self.train_articles[r] for r in rows], [self.train_titles[r] for r in rows], self.device)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy per reference word (and </s>), teacher forced."""
        logits = self.model(batch.source, batch.source_lengths, batch.target_in)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=PAD_ID)
        return loss, len(batch)

    def max_grad_norm(self) -> float:
        return self.hp["clip_norm"]  # the paper's gradient clipping

    # ----- decoding and quality ---------------------------------------------------------------------
    def summarize(self, sources: Sequence[torch.Tensor]) -> list[str]:
        """Beam-search headlines for tokenized articles, in chunks of `eval_batch`."""
        headlines = []
        for start in range(0, len(sources), self.hp["eval_batch"]):
            chunk = [s.numpy() for s in sources[start:start + self.hp["eval_batch"]]]
            lengths = torch.tensor([len(s) for s in chunk])
            with torch.no_grad():
                ids = beam_search(self.model, pad(chunk).to(self.device), lengths, self.hp["beam"],
                                  self.hp["max_decode"])
            headlines += [self.target_vocab.decode(seq) for seq in ids]
        return headlines

    def _quality(self, headlines: list[str], references: list[str]) -> Quality:
        scores = rouge(headlines, references)
        extra = {k: scores[k] for k in ("rouge1_fmeasure", "rouge2_fmeasure", "rougeL_precision", "rougeL_recall")}
        return Quality(scores["rougeL_fmeasure"], extra=extra, samples=len(references))

    def evaluate(self) -> Quality:
        return self._quality(self.summarize(self.eval_sources), self.eval_references)

    # ----- inference --------------------------------------------------------------------------------
    def inference_samples(self) -> Sequence[torch.Tensor]:
        return [self.eval_sources[r] for r in self.query_rows]

    def query_count(self) -> int:
        return len(self.query_order)

    def load_query(self, index: int) -> torch.Tensor:
        return self.eval_sources[self.query_order[index]]

    def infer(self, samples: Sequence[torch.Tensor]) -> list[str]:
        return self.summarize(list(samples))

    def score(self, indices: Sequence[int], outputs: Sequence[str]) -> Quality:
        return self._quality(list(outputs), [self.eval_references[self.query_order[i]] for i in indices])

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> Batch:
        return self._batch(np.arange(min(self.config.batch_size, len(self.train_articles))))

    def describe(self) -> dict[str, Any]:
        hp = self.hp
        return {"source_vocab": len(self.source_vocab), "target_vocab": len(self.target_vocab),
                "train_pairs": len(self.train_articles), "eval_split": hp["eval_split"],
                "eval_pairs": len(self.eval_references), "beam": hp["beam"], "max_decode": hp["max_decode"],
                "lead_words": hp["lead_words"], "lead_rouge_l": self.lead_rouge_l}


BENCHMARK = TextSummarization
