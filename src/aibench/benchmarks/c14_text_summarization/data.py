"""Gigaword plumbing for the summarizer: the tiny synthetic corpus, vocabularies, ragged id storage, the paper's
batching, ROUGE through torchmetrics and the lead-N baseline.

The synthetic corpus is news-like first sentences with their headlines. An article names an actor (nationality,
role and surname) and one event, wrapped in one of several frames: attribution first ("officials said ..."), a
leading clause, or a relative clause about a named rival's earlier event. The headline is the actor in headline
style (`prime minister` -> `pm`) and the event in headline style (`visited the german city of X for talks ...`
-> `visits X`). So the summarizer must learn which words to keep, which to drop (the distractor, the attribution,
the day) and how to rewrite them; a lead-N extract does poorly. As in Gigaword, the words that must be copied
are named entities from a large, long-tailed vocabulary (surnames and cities drawn with Zipf weights from pools
of hundreds), so the article cannot be carried through a fixed-size summary as a handful of categories: this is
what attention is for (Bahdanau et al. 2015; Rush et al. 2015), and the benchmark's no-attention control shows it.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.text.rouge import ROUGEScore

from aibench.datasets.gigaword import write_split
from aibench.datasets.synthetic_words import pseudo_words

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)

_COUNTRIES = (("france", "french"), ("china", "chinese"), ("germany", "german"), ("japan", "japanese"),
              ("russia", "russian"), ("britain", "british"), ("india", "indian"), ("brazil", "brazilian"),
              ("egypt", "egyptian"), ("canada", "canadian"), ("mexico", "mexican"), ("italy", "italian"))
_ROLES = (("prime minister", "pm"), ("president", "president"), ("foreign minister", "fm"),
          ("finance minister", "finance minister"), ("central bank", "central bank"), ("army", "army"),
          ("opposition leader", "opposition leader"), ("police", "police"))
_THINGS = ("taxes", "interest rates", "oil prices", "fuel subsidies", "import tariffs")
_ISSUES = ("nuclear program", "border dispute", "trade deficit", "climate policy")
_DEALS = ("trade", "energy", "defense", "security")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SOURCES = ("officials said", "state media said", "a government spokesman said", "diplomats said",
            "the official news agency reported")
# Named entities as Gigaword's are: many, long-tailed (a few frequent, most rare), and the headline must name
# the actor and the place it is about. Fixed pools of made-up words, drawn with Zipf weights per article.
ENTITY_POOLS = {"surnames": 600, "cities": 300}
ZIPF_EXPONENT = 1.0


def _entity_pools() -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    rng = np.random.default_rng(14)  # fixed: the pools are part of the language, not of a seed's sample
    avoid: set[str] = set()
    pools = {}
    for kind, size in ENTITY_POOLS.items():
        words = pseudo_words(rng, size, avoid)
        avoid.update(words)
        weights = 1.0 / np.arange(1, size + 1) ** ZIPF_EXPONENT
        pools[kind] = (tuple(words), weights / weights.sum())
    return pools


_POOLS = _entity_pools()


def _entity(rng: np.random.Generator, kind: str) -> str:
    words, weights = _POOLS[kind]
    return words[int(rng.choice(len(words), p=weights))]


SYNTH_PAIRS = {"train": 4000, "valid": 200, "test": 200}


def _events(rng: np.random.Generator, own: int) -> tuple[list[str], list[str]]:
    """One event as (article words, headline words); countries other than the actor's own, a city named."""
    other = int(rng.choice([c for c in range(len(_COUNTRIES)) if c != own]))
    country, adjective = _COUNTRIES[other]
    thing, issue, deal = (str(rng.choice(x)) for x in (_THINGS, _ISSUES, _DEALS))
    role_long, role_short = _ROLES[int(rng.integers(len(_ROLES)))]
    city, person = _entity(rng, "cities"), _entity(rng, "surnames")
    events = (
        (f"visited the {adjective} city of {city} for talks with local leaders", f"visits {city}"),
        (f"announced plans in {city} to cut {thing}", f"to cut {thing}"),
        (f"raised {thing} by # percent", f"raises {thing}"),
        (f"warned {country} over its {issue} in a speech in {city}", f"warns {country} over {issue}"),
        (f"signed a {deal} agreement with {country} in {city}", f"signs {deal} deal in {city}"),
        (f"held talks with the {adjective} {role_long} {person}", f"meets {adjective} {role_short} {person}"),
        (f"rejected a {adjective} proposal on the {issue}", f"rejects {adjective} proposal on {issue}"),
    )
    article, headline = events[int(rng.integers(len(events)))]
    return article.split(), headline.split()


def synthesize_pair(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """One (article, headline) pair in Gigaword's style (lower case, digits as #)."""
    own = int(rng.integers(len(_COUNTRIES)))
    role_long, role_short = _ROLES[int(rng.integers(len(_ROLES)))]
    name = _entity(rng, "surnames")
    actor = ["the", _COUNTRIES[own][1], *role_long.split(), name]
    event, headline = _events(rng, own)
    day, source = str(rng.choice(_DAYS)), str(rng.choice(_SOURCES)).split()
    rival = _entity(rng, "surnames")
    distractor, _ = _events(rng, int(rng.integers(len(_COUNTRIES))))
    frames = (
        [*actor, *event, "on", day, ",", *source, "."],
        [*source, "on", day, "that", *actor, *event, "."],
        ["in", "a", "surprise", "move", "on", day, ",", *actor, *event, ",", *source, "."],
        [*actor, ",", "whose", "rival", rival, *distractor, "last", "week", ",", *event, "on", day, "."],
    )
    article = frames[int(rng.integers(len(frames)))]
    return article, [_COUNTRIES[own][1], *role_short.split(), name, *headline]


def synthesize_gigaword(root: Path, seed: int, pairs: dict[str, int] | None = None, source_words: int = 0,
                        target_words: int = 0) -> None:
    """Write the three splits in harvardnlp's layout (train gzipped, as the archive ships it).

    With `source_words` / `target_words`, extra training pairs of pseudo-words bring the article and title
    vocabularies to at least those sizes, so a model over the real vocabularies is built from a small set.
    """
    rng = np.random.default_rng(seed)
    for split, count in (pairs or SYNTH_PAIRS).items():
        examples = [synthesize_pair(rng) for _ in range(count)]
        if split == "train" and source_words:
            examples += filler_pairs(rng, source_words, target_words)
        write_split(root, split, examples, compress=split == "train")


def filler_pairs(rng: np.random.Generator, source_words: int, target_words: int, article_length: int = 30
                 ) -> list[tuple[list[str], list[str]]]:
    """Articles using `source_words` distinct pseudo-words, each once; each headline copies its article's
    first words (as Gigaword headlines mostly copy), enough of them to use at least `target_words` distinct."""
    words = pseudo_words(rng, source_words)
    articles = [words[i:i + article_length] for i in range(0, len(words), article_length)]
    title_length = min(article_length, -(-target_words // len(articles)))  # ceiling
    return [(article, article[:title_length]) for article in articles]


# ----- vocabularies and ids ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Vocab:
    """Specials first, then words by falling train frequency (ties in first-seen order)."""

    words: tuple[str, ...]

    @classmethod
    def build(cls, counts: Counter, max_size: int, min_count: int) -> Vocab:
        kept = [w for w, n in counts.most_common() if n >= min_count and w not in SPECIALS]
        return cls(SPECIALS + tuple(kept[: max_size - len(SPECIALS)]))

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, tokens: Iterable[str], index: dict[str, int]) -> list[int]:
        return [index.get(t, UNK_ID) for t in tokens]

    def save(self, path: Path) -> None:
        """One word a line in id order, specials first (a word never holds whitespace: the text is split on it)."""
        path.write_bytes("".join(w + "\n" for w in self.words).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        """The vocabulary `save` wrote."""
        words = tuple(path.read_bytes().decode("utf-8").split("\n")[:-1])
        if words[:len(SPECIALS)] != SPECIALS:
            raise ValueError(f"{path}: not a vocabulary file (it must start with {', '.join(SPECIALS)})")
        return cls(words)

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first end-of-sequence, without padding or start symbols."""
        words = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.words[i])
        return " ".join(words)


class Ragged:
    """Many id sequences in one flat int32 array with offsets (3.8M Gigaword pairs fit in memory)."""

    def __init__(self) -> None:
        self._values, self._offsets = array("i"), array("q", [0])

    def append(self, ids: list[int]) -> None:
        self._values.extend(ids)
        self._offsets.append(len(self._values))

    def freeze(self) -> Ragged:
        self.values, self.offsets = np.frombuffer(self._values, np.int32), np.frombuffer(self._offsets, np.int64)
        self.lengths = np.diff(self.offsets)
        return self

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]


# ----- batches ------------------------------------------------------------------------------------------
def epoch_batches(lengths: np.ndarray, batch_size: int, sort_window: int, rng: np.random.Generator
                  ) -> Iterator[np.ndarray]:
    """The paper's order: shuffle every epoch, then sort each run of `sort_window` batches by source length."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * sort_window
    for start in range(0, len(order), chunk):
        window = order[start:start + chunk]
        window = window[np.argsort(lengths[window], kind="stable")]
        for b in range(0, len(window), batch_size):
            yield window[b:b + batch_size]


def pad(sequences: list[np.ndarray], prefix: int | None = None, suffix: int | None = None) -> torch.Tensor:
    """Right-padded (batch, length) int64 tensor, each sequence optionally wrapped in prefix/suffix ids."""
    extra = [x for x in (prefix, suffix) if x is not None]
    out = torch.full((len(sequences), max(len(s) for s in sequences) + len(extra)), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids = ([prefix] if prefix is not None else []) + seq.tolist() + ([suffix] if suffix is not None else [])
        out[row, :len(ids)] = torch.tensor(ids)
    return out


@dataclass(frozen=True)
class Batch:
    source: torch.Tensor  # (batch, source length), padded
    source_lengths: torch.Tensor  # (batch,) on the CPU, as pack_padded_sequence wants
    target_in: torch.Tensor  # <s> y_1 .. y_n
    target_out: torch.Tensor  # y_1 .. y_n </s>

    def __len__(self) -> int:
        return self.source.size(0)


def collate(sources: list[np.ndarray], targets: list[np.ndarray], device: torch.device) -> Batch:
    lengths = torch.tensor([len(s) for s in sources])
    return Batch(pad(sources).to(device), lengths, pad(targets, prefix=BOS_ID).to(device),
                 pad(targets, suffix=EOS_ID).to(device))


# ----- quality ------------------------------------------------------------------------------------------
def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Corpus-mean ROUGE-1/2/L (F1, and L's precision and recall) by torchmetrics."""
    scores = ROUGEScore(rouge_keys=("rouge1", "rouge2", "rougeL"))(predictions, references)
    return {key: float(value) for key, value in scores.items()}


def lead_baseline(articles: list[list[str]], references: list[str], words: int | None) -> float:
    """ROUGE-L F1 of the extractive baseline that takes an article's first `words` words (all when None) as its
    headline. On the tiny set the whole article scores best of all lead-N, so it is the baseline there."""
    return rouge([" ".join(a[:words]) for a in articles], references)["rougeL_fmeasure"]
