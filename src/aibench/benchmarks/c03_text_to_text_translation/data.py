"""WMT plumbing for the Transformer: the tiny synthetic language pair, the shared sentencepiece vocabulary, id
storage, token-budget batches, and the quality measures (token accuracy by torchmetrics, BLEU by sacrebleu).

The synthetic pair is a small English grammar and its deterministic German translation. German inflects
articles for gender and case (`the dog sees the cat` -> `der hund sieht die katze`, `the cat sees the dog` ->
`die katze sieht den hund`), inflects adjectives after the article (`ein kleiner hund`, `den kleinen hund`),
moves the verb second after a fronted adverb (`today the dog sees ...` -> `heute sieht der hund ...`) and to
the end of a subordinate clause (`because the dog sees the cat` -> `, weil der hund die katze sieht`), and
capitalizes its nouns and the first word of a sentence (shown lower-case here). So the
model must learn agreement over a distance and reordering, not a word-for-word dictionary.
"""

from __future__ import annotations

import io
from array import array
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import sacrebleu
import sentencepiece as spm
import torch
from torchmetrics.classification import MulticlassAccuracy

from aibench.datasets.synthetic_words import pseudo_words
from aibench.datasets.wmt_parallel import write_split

PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
SYNTH_PAIRS = {"train": 3000, "valid": 200, "test": 200}

# English noun, German noun, German gender (m / f / n)
_NOUNS = (("dog", "hund", "m"), ("cat", "katze", "f"), ("child", "kind", "n"), ("teacher", "lehrer", "m"),
          ("woman", "frau", "f"), ("man", "mann", "m"), ("car", "auto", "n"), ("house", "haus", "n"),
          ("book", "buch", "n"), ("ball", "ball", "m"), ("apple", "apfel", "m"), ("door", "tuer", "f"),
          ("garden", "garten", "m"), ("bird", "vogel", "m"), ("lamp", "lampe", "f"), ("table", "tisch", "m"))
_ADJECTIVES = (("small", "klein"), ("big", "gross"), ("red", "rot"), ("old", "alt"), ("new", "neu"),
               ("green", "gruen"), ("young", "jung"), ("fast", "schnell"))
_VERBS = (("sees", "sieht"), ("buys", "kauft"), ("finds", "findet"), ("likes", "mag"), ("paints", "malt"),
          ("carries", "traegt"), ("visits", "besucht"), ("hears", "hoert"))
_ADVERBS = (("today", "heute"), ("now", "jetzt"), ("often", "oft"), ("sometimes", "manchmal"))
_SUBORDINATORS = (("because", "weil"), ("while", "waehrend"), ("although", "obwohl"))
# article by (definite, case, gender); adjective ending after it by the same key
_ARTICLES = {(True, "nom"): {"m": "der", "f": "die", "n": "das"}, (True, "acc"): {"m": "den", "f": "die", "n": "das"},
             (False, "nom"): {"m": "ein", "f": "eine", "n": "ein"},
             (False, "acc"): {"m": "einen", "f": "eine", "n": "ein"}}
_ENDINGS = {(True, "nom"): {"m": "e", "f": "e", "n": "e"}, (True, "acc"): {"m": "en", "f": "e", "n": "e"},
            (False, "nom"): {"m": "er", "f": "e", "n": "es"}, (False, "acc"): {"m": "en", "f": "e", "n": "es"}}


def _noun_phrase(rng: np.random.Generator, case: str) -> tuple[list[str], list[str]]:
    english, german, gender = _NOUNS[rng.integers(len(_NOUNS))]
    definite = bool(rng.random() < 0.6)
    en = ["the" if definite else "a"]
    de = [_ARTICLES[definite, case][gender]]
    if rng.random() < 0.5:
        adj_en, adj_de = _ADJECTIVES[rng.integers(len(_ADJECTIVES))]
        en.append(adj_en)
        de.append(adj_de + _ENDINGS[definite, case][gender])
    return en + [english], de + [german]


def _clause(rng: np.random.Generator) -> tuple[list[str], list[str], list[str], str]:
    """English clause, German subject, German object and German verb (the caller orders them)."""
    subject_en, subject_de = _noun_phrase(rng, "nom")
    object_en, object_de = _noun_phrase(rng, "acc")
    verb_en, verb_de = _VERBS[rng.integers(len(_VERBS))]
    return subject_en + [verb_en] + object_en, subject_de, object_de, verb_de


def synthesize_pair(rng: np.random.Generator) -> tuple[str, str]:
    """One English sentence and its German translation."""
    main_en, subject, obj, verb = _clause(rng)
    if rng.random() < 0.35:  # fronted adverb: German verb second, subject after it
        adverb_en, adverb_de = _ADVERBS[rng.integers(len(_ADVERBS))]
        en, de = [adverb_en] + main_en, [adverb_de, verb] + subject + obj
    else:
        en, de = main_en, subject + [verb] + obj
    if rng.random() < 0.5:  # subordinate clause: German verb last, after a comma
        conj_en, conj_de = _SUBORDINATORS[rng.integers(len(_SUBORDINATORS))]
        sub_en, sub_subject, sub_obj, sub_verb = _clause(rng)
        en, de = en + [conj_en] + sub_en, de + [",", conj_de] + sub_subject + sub_obj + [sub_verb]
    # detokenized as WMT's raw text is: a capital first letter, the full stop and comma attached
    # German capitalizes its nouns
    nouns = {german for _, german, _ in _NOUNS}
    de = [w.capitalize() if w in nouns else w for w in de]
    english, german = " ".join(en) + ".", " ".join(de).replace(" ,", ",") + "."
    return english[0].upper() + english[1:], german[0].upper() + german[1:]


def synthesize_wmt(root: Path, seed: int, counts: dict[str, int] | None = None, filler_words: int = 0,
                   eval_max_words: int | None = None) -> None:
    """Write train, newstest2013 and newstest2014 files of synthetic pairs under `root`.

    `filler_words` distinct pseudo-words, in extra training pairs, give a subword trainer enough distinct text
    to reach a large vocabulary (the full scale's 37,000 pieces) from a corpus of a few thousand lines.
    `eval_max_words` keeps the evaluation splits to sentences of at most that many English words (a smoke run's
    greedy decoding then stays short).
    """
    rng = np.random.default_rng(seed)
    for split, count in (counts or SYNTH_PAIRS).items():
        limit = eval_max_words if split != "train" else None
        pairs = [_short_pair(rng, limit) for _ in range(count)]
        if split == "train" and filler_words:
            pairs += filler_pairs(rng, filler_words)
        write_split(root, split, pairs)


def _short_pair(rng: np.random.Generator, max_words: int | None) -> tuple[str, str]:
    """A grammar pair, redrawn until its English side has at most `max_words` words (any length when None)."""
    while True:
        pair = synthesize_pair(rng)
        if max_words is None or len(pair[0].split()) <= max_words:
            return pair


def filler_pairs(rng: np.random.Generator, count: int, per_line: int = 10) -> list[tuple[str, str]]:
    """Pairs of `per_line` pseudo-words each, every word once; the "German" side spells each word backwards in
    reverse order, so the pairs stay a learnable (if odd) translation."""
    words = pseudo_words(rng, count)
    pairs = []
    for start in range(0, len(words), per_line):
        chunk = words[start:start + per_line]
        pairs.append((" ".join(chunk), " ".join(w[::-1] for w in reversed(chunk))))
    return pairs


# ----- subword vocabulary ---------------------------------------------------------------------------
def train_sentencepiece(sentences: Iterable[str], vocab_size: int, sample: int | None) -> spm.SentencePieceProcessor:
    """A shared BPE vocabulary over both languages' sentences, trained in memory (the data dir may be read-only).

    Ids 0-3 are <pad>, <unk>, <s>, </s>. The vocabulary may come out smaller than asked on a tiny corpus.
    """
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type="bpe",
        character_coverage=1.0, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        hard_vocab_limit=False, input_sentence_size=sample or 0, shuffle_input_sentence=sample is not None,
        minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


class Ragged:
    """Many id sequences in one flat int32 array with offsets (WMT's 9M sentences fit in memory)."""

    def __init__(self, sequences: Iterable[list[int]] = ()) -> None:
        values, offsets = array("i"), array("q", [0])
        for ids in sequences:
            values.extend(ids)
            offsets.append(len(values))
        self.values, self.offsets = np.frombuffer(values, np.int32), np.frombuffer(offsets, np.int64)
        self.lengths = np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]


def encode_lines(vocab: spm.SentencePieceProcessor, lines: list[str], max_tokens: int) -> list[list[int]]:
    """Subword ids of each line, cut to `max_tokens` (room left for </s>)."""
    return [ids[:max_tokens - 1] for ids in vocab.encode(lines)]


# ----- batches ----------------------------------------------------------------------------------------
def token_batches(source_lengths: np.ndarray, target_lengths: np.ndarray, max_tokens: int,
                  rng: np.random.Generator | None) -> list[np.ndarray]:
    """Rows grouped by length so each batch holds at most `max_tokens` padded tokens on either side.

    As in the paper ("batched together by approximate sequence length"): sort by length, cut into batches by
    token budget, and shuffle the batch order every epoch (rng None keeps file order, for evaluation).
    """
    longest = np.maximum(source_lengths, target_lengths) + 1  # + </s> (or <s>)
    order = np.arange(len(longest)) if rng is None else rng.permutation(len(longest))
    order = order[np.argsort(longest[order], kind="stable")]
    batches, start, widest = [], 0, 0
    for i, row in enumerate(order):
        widest_with_row = max(widest, int(longest[row]))
        if i > start and widest_with_row * (i - start + 1) > max_tokens:
            batches.append(order[start:i])
            start, widest_with_row = i, int(longest[row])
        widest = widest_with_row
    batches.append(order[start:])
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad(sequences: list[np.ndarray], prefix: int | None = None, suffix: int | None = None) -> torch.Tensor:
    """A (batch, longest) tensor of ids, each row optionally framed by <s> / </s>, padded with <pad>."""
    extra = (prefix is not None) + (suffix is not None)
    out = torch.full((len(sequences), max(len(s) for s in sequences) + extra), PAD_ID, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids = ([prefix] if prefix is not None else []) + list(seq) + ([suffix] if suffix is not None else [])
        out[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


# ----- quality ----------------------------------------------------------------------------------------
def token_accuracy_metric(vocab_size: int) -> MulticlassAccuracy:
    """Share of reference target tokens (and </s>) predicted exactly, padding excluded: the tensor2tensor
    "accuracy" that the 55% target refers to."""
    return MulticlassAccuracy(num_classes=vocab_size, average="micro", ignore_index=PAD_ID)


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU of detokenized translations by sacrebleu (its default 13a tokenization)."""
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def most_frequent_token_accuracy(train_targets: Ragged, eval_targets: Ragged) -> float:
    """Token accuracy of predicting the training set's most frequent target token (</s> included) everywhere."""
    counts = Counter(train_targets.values.tolist())
    counts[EOS_ID] += len(train_targets)
    token = counts.most_common(1)[0][0]
    hits = int((eval_targets.values == token).sum()) + (len(eval_targets) if token == EOS_ID else 0)
    return hits / (len(eval_targets.values) + len(eval_targets))


def copy_source_accuracy(eval_sources: Ragged, eval_targets: Ragged) -> float:
    """Token accuracy of predicting target position i as source token i (</s> after the source ends)."""
    hits = total = 0
    for i in range(len(eval_targets)):
        source = list(eval_sources[i]) + [EOS_ID]
        target = list(eval_targets[i]) + [EOS_ID]
        hits += sum(s == t for s, t in zip(source, target))
        total += len(target)
    return hits / total

