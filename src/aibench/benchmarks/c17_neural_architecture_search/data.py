"""PTB plumbing for ENAS: the tiny synthetic corpus, id streams batched for truncated BPTT, query windows.

The synthetic corpus comes from a small probabilistic grammar with number agreement (determiner-noun,
subject-verb, also across a relative clause), Zipf-distributed word choices and a long tail of rare names that
become `<unk>`, as PTB's rare words did. A recurrent model can learn the agreement and the phrase structure, so
its perplexity falls well below that of a unigram model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aibench.datasets.ptb import EOS, SPLITS, replace_rare_words, split_file, write_split
from aibench.datasets.synthetic_words import pseudo_words

_DETERMINERS = {"sg": ("the", "a", "this", "every"), "pl": ("the", "some", "these", "many", "two")}
_NOUNS = (("dog", "dogs"), ("company", "companies"), ("investor", "investors"), ("teacher", "teachers"),
          ("bank", "banks"), ("child", "children"), ("market", "markets"), ("farmer", "farmers"),
          ("city", "cities"), ("car", "cars"), ("bird", "birds"), ("analyst", "analysts"))
_TRANSITIVE = (("sees", "see"), ("buys", "buy"), ("likes", "like"), ("helps", "help"), ("finds", "find"),
               ("chases", "chase"), ("sells", "sell"))
_INTRANSITIVE = (("sleeps", "sleep"), ("rises", "rise"), ("waits", "wait"), ("falls", "fall"),
                 ("runs", "run"), ("laughs", "laugh"))
_ADJECTIVES = ("big", "small", "old", "new", "quick", "happy", "large", "red")
_ADVERBS = ("today", "again", "quickly", "slowly")
_PREPOSITIONS = ("in", "near", "with", "from")
# a long tail of proper names: the rarest fall under the <unk> threshold, like PTB's rare words
_NAMES = tuple(a + b for a in ("bar", "kel", "mor", "tan", "vi", "zo")
               for b in ("ton", "ley", "ski", "son", "ra", "mo"))

SENTENCES = {"train": 3000, "valid": 300, "test": 300}
UNK_MIN_COUNT = 5


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


class _Grammar:
    """Samples sentences; every choice is drawn from the given numpy generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, options: tuple) -> object:
        return options[self.rng.choice(len(options), p=_zipf(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def number(self) -> str:
        return "sg" if self.chance(0.55) else "pl"

    def noun_phrase(self, number: str, depth: int = 0) -> list[str]:
        if number == "sg" and self.chance(0.15):
            return [str(self.pick(_NAMES))]
        words = [str(self.pick(_DETERMINERS[number]))]
        if self.chance(0.3):
            words.append(str(self.pick(_ADJECTIVES)))
        words.append(self.pick(_NOUNS)[0 if number == "sg" else 1])
        if depth == 0 and self.chance(0.2):  # relative clause: its verb agrees with this noun
            words += ["that", *self.verb_phrase(number, depth + 1)]
        return words

    def verb_phrase(self, number: str, depth: int = 0) -> list[str]:
        form = 0 if number == "sg" else 1
        if self.chance(0.55):
            return [self.pick(_TRANSITIVE)[form], *self.noun_phrase(self.number(), depth + 1)]
        words = [self.pick(_INTRANSITIVE)[form]]
        if self.chance(0.35):
            words.append(str(self.pick(_ADVERBS)))
        return words

    def sentence(self) -> list[str]:
        number = self.number()
        words = self.noun_phrase(number) + self.verb_phrase(number)
        if self.chance(0.25):
            words += [str(self.pick(_PREPOSITIONS)), *self.noun_phrase(self.number(), 1)]
        return words


def synthesize_ptb(data_dir: Path, seed: int, sentences: dict[str, int] | None = None,
                   vocab_size: int | None = None) -> None:
    """Write ptb.{train,valid,test}.txt from the grammar, rare words (< UNK_MIN_COUNT in train) as <unk>.

    With `vocab_size`, extra training lines of distinct pseudo-words (added after the rare-word pass, so they
    stay words) bring the train vocabulary, `<eos>` included, to exactly that size: PTB's 10,000 at full.
    """
    sizes = sentences or SENTENCES
    rng = np.random.default_rng(seed)
    grammar = _Grammar(rng)
    splits = {split: [grammar.sentence() for _ in range(sizes[split])] for split in SPLITS}
    splits = replace_rare_words(splits, UNK_MIN_COUNT)
    if vocab_size:
        known = {word for words in splits["train"] for word in words} | {EOS}
        splits["train"] += filler_sentences(rng, vocab_size - len(known), known)
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, lines in splits.items():
        write_split(data_dir / split_file(split), lines)


def filler_sentences(rng: np.random.Generator, count: int, avoid: set[str], per_line: int = 10
                     ) -> list[list[str]]:
    """`count` distinct pseudo-words not in `avoid`, each once, `per_line` to a line."""
    ordered = pseudo_words(rng, count, avoid)
    return [ordered[i:i + per_line] for i in range(0, len(ordered), per_line)]


def batchify(ids: np.ndarray, batch_size: int, device: torch.device) -> torch.Tensor:
    """The id stream cut into `batch_size` parallel streams, time-major (length, batch), remainder dropped."""
    length = len(ids) // batch_size
    data = torch.from_numpy(ids[: length * batch_size].copy()).view(batch_size, length)
    return data.t().contiguous().to(device)


@dataclass(frozen=True)
class Window:
    """One BPTT window of a batched stream: inputs and next-token targets (time, batch)."""

    inputs: torch.Tensor
    targets: torch.Tensor


def windows(data: torch.Tensor, bptt: int) -> Iterator[Window]:
    """Consecutive BPTT windows covering the batched stream (the last one may be shorter)."""
    for start in range(0, data.size(0) - 1, bptt):
        length = min(bptt, data.size(0) - 1 - start)
        yield Window(data[start:start + length], data[start + 1:start + 1 + length])


def window_count(data: torch.Tensor, bptt: int) -> int:
    return (data.size(0) - 2) // bptt + 1


def query_windows(ids: np.ndarray, count: int, length: int) -> list[torch.Tensor]:
    """`count` evenly spaced token windows of `length` ids (context and the tokens to predict)."""
    last_start = len(ids) - length
    starts = np.linspace(0, last_start, num=count).astype(np.int64)
    return [torch.from_numpy(ids[s:s + length].copy()) for s in starts]
