"""Penn Treebank in Mikolov's preprocessed layout: reader and writer.

    ptb.train.txt  ptb.valid.txt  ptb.test.txt

One sentence a line, words separated by spaces (Mikolov's files begin and end each line with a space), numbers
as `N`, and every word outside the 10,000-word vocabulary already replaced by `<unk>`. The vocabulary is closed:
every word of the valid and test files occurs in the train file. A reader appends `<eos>` to every line, as
the usual PTB language-model setups (Zaremba et al., ENAS) do. The user may point at the folder holding the
three files, at its parent `simple-examples` (the files sit in `data/`), or at the folder holding that.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aibench.datasets.files import read_text
from aibench.errors import DataError

SPLITS: tuple[str, ...] = ("train", "valid", "test")
EOS = "<eos>"
UNK = "<unk>"
LAYOUT = "ptb.train.txt, ptb.valid.txt and ptb.test.txt (one sentence a line, words separated by spaces)"


def split_file(split: str) -> str:
    return f"ptb.{split}.txt"


def find_ptb_dir(path: Path) -> Path:
    """The folder holding the three PTB files: `path` itself, `path/data` or `path/simple-examples/data`."""
    path = Path(path)
    for candidate in (path, path / "data", path / "simple-examples" / "data"):
        if (candidate / split_file("train")).is_file():
            return candidate
    if not path.exists():
        raise DataError(path, f"missing: expected {LAYOUT}")
    return path  # the per-file checks name what is missing


def read_sentences(path: Path) -> list[list[str]]:
    """The words of each line of one PTB file (without `<eos>`); DataError if missing, empty or not text."""
    text = read_text(path, "utf-8", LAYOUT)
    sentences = [line.split() for line in text.splitlines()]
    if not any(sentences):
        raise DataError(path, f"empty: no words in the file; expected {LAYOUT}")
    for number, words in enumerate(sentences, start=1):
        if EOS in words:
            raise DataError(path, f"line {number} contains {EOS}; the files hold plain sentences and readers add it")
    return sentences


def read_tokens(path: Path) -> list[str]:
    """The token stream of one PTB file: each line's words followed by `<eos>`."""
    return [token for words in read_sentences(path) for token in (*words, EOS)]


@dataclass(frozen=True)
class Vocabulary:
    """Word <-> id, in order of first appearance in the train file (so ids are reproducible)."""

    words: tuple[str, ...]

    @classmethod
    def from_tokens(cls, tokens: Iterable[str]) -> Vocabulary:
        return cls(tuple(dict.fromkeys(tokens)))

    def __len__(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.words)}

    def save(self, path: Path) -> None:
        """One word a line, in id order (PTB's words hold no whitespace)."""
        Path(path).write_text("".join(f"{word}\n" for word in self.words), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls(tuple(read_text(path, "utf-8", "a vocabulary file, one word a line").splitlines()))


@dataclass(frozen=True)
class PTBCorpus:
    """The three splits as int64 id streams over the train vocabulary."""

    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def split(self, name: str) -> np.ndarray:
        return {"train": self.train, "valid": self.valid, "test": self.test}[name]


def encode(tokens: Sequence[str], vocab: Vocabulary, path: Path) -> np.ndarray:
    """Token ids; words outside the train vocabulary are a DataError naming the file (PTB is closed-vocabulary)."""
    index = vocab.index()
    unknown = sorted({t for t in tokens if t not in index})
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise DataError(path, f"{len(unknown)} word(s) not in ptb.train.txt ({shown}); PTB's vocabulary is "
                              f"closed: rare words must be {UNK} in every split")
    return np.fromiter((index[t] for t in tokens), dtype=np.int64, count=len(tokens))


def read_ptb(path: Path, vocab: Vocabulary | None = None) -> PTBCorpus:
    """Read and validate the three splits; the vocabulary is the train file's (`vocab`: one already read from
    it, which every split, the train file included, must stay within)."""
    root = find_ptb_dir(path)
    tokens = {split: read_tokens(root / split_file(split)) for split in SPLITS}
    vocab = Vocabulary.from_tokens(tokens["train"]) if vocab is None else vocab
    ids = {split: encode(tokens[split], vocab, root / split_file(split)) for split in SPLITS}
    return PTBCorpus(vocab=vocab, **ids)


def unigram_perplexity(train: np.ndarray, test: np.ndarray, vocab_size: int) -> float:
    """Perplexity on `test` of the unigram model fitted on `train` (word frequencies, no context)."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64)
    log_probs = np.log(counts / counts.sum())
    return math.exp(-float(log_probs[test].mean()))


def write_split(path: Path, sentences: Iterable[Sequence[str]]) -> None:
    """Write sentences in Mikolov's format: a space before and after each line's words."""
    lines = [f" {' '.join(words)} \n" for words in sentences]
    Path(path).write_text("".join(lines), encoding="utf-8")


def replace_rare_words(splits: dict[str, list[list[str]]], min_count: int) -> dict[str, list[list[str]]]:
    """Map words seen fewer than `min_count` times in train to `<unk>` in every split, as PTB was built."""
    counts = Counter(word for words in splits["train"] for word in words)
    keep = {word for word, n in counts.items() if n >= min_count}
    return {name: [[w if w in keep else UNK for w in words] for words in sentences]
            for name, sentences in splits.items()}
