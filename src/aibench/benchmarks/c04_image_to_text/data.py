"""COCO plumbing for Show and Tell: the tiny synthetic captioned shapes, caption tokens and vocabulary, image
loading, and the quality measures (perplexity and BLEU-4 by torchmetrics, and the unigram baseline).

A synthetic image shows one or two coloured shapes (circle, square or triangle; small or large) on a plain
light grey background. Its three captions follow a grammar: one shape is `a large red circle.` / `there is a large red
circle.` / `a picture of a large red circle.`; two shapes in a spatial relation are `a small blue square above a
large red circle.` / `a large red circle below a small blue square.` / `a small blue square and a large red
circle.`. So the captioner must see colour, size, shape and where the shapes lie, and learn the grammar.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchmetrics.text import BLEUScore

from aibench.datasets.coco_captions import image_name, write_captions

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

_COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 220), "yellow": (230, 210, 40),
            "purple": (150, 60, 190)}
_SHAPES = ("circle", "square", "triangle")
_BACKGROUND = (235, 235, 235)  # plain: at 32 x 32 a from-scratch CNN has few steps to learn to ignore clutter
# relation of the first shape to the second, and the inverse relation
_RELATIONS = {"above": "below", "below": "above", "left of": "right of", "right of": "left of"}
_RELATION_WORDS = {"above": "above", "below": "below", "left of": "to the left of", "right of": "to the right of"}


# ----- captions ----------------------------------------------------------------------------------------
def tokenize(caption: str) -> list[str]:
    """Lower-cased words; punctuation dropped (COCO's captions end with or without a full stop at random)."""
    return re.findall(r"[a-z0-9]+", caption.lower())


class Vocab:
    """Words of the training captions seen at least `min_count` times, after four specials."""

    def __init__(self, words: list[str]) -> None:
        self.words = [PAD, UNK, BOS, EOS] + words
        self.index = {w: i for i, w in enumerate(self.words)}
        self.seen = len(words)  # words above the count threshold before any cap

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int, max_words: int | None = None) -> Vocab:
        """Words seen at least `min_count` times; the `max_words` most frequent of them if given (ties
        alphabetically), as a softmax of fixed size (im2txt's vocab_size) holds no more."""
        counts = Counter(w for caption in captions for w in tokenize(caption))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        vocab = cls(sorted(kept[:max_words]))
        vocab.seen = len(kept)
        return vocab

    def save(self, path: Path) -> None:
        """The words after the specials, and how many passed the count before any cap, as JSON."""
        Path(path).write_text(json.dumps({"words": self.words[4:], "seen": self.seen}), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocab:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        vocab = cls(list(data["words"]))
        vocab.seen = int(data["seen"])
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str) -> list[int]:
        return [self.index.get(w, UNK_ID) for w in tokenize(caption)]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[i] for i in ids if i >= 4 or i == UNK_ID)


# ----- synthetic images ---------------------------------------------------------------------------------
def _describe(size: str, colour: str, shape: str) -> str:
    return f"{size} {colour} {shape}"


def _draw(draw: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], radius: float, colour: str) -> None:
    x, y = centre
    box = (x - radius, y - radius, x + radius, y + radius)
    fill = _COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)], fill=fill)


def _random_object(rng: np.random.Generator) -> tuple[str, str, str]:
    return (str(rng.choice(("small", "large"))), str(rng.choice(list(_COLOURS))), str(rng.choice(_SHAPES)))


def synthesize_image(rng: np.random.Generator, size: int, one_shape: float) -> tuple[Image.Image, list[str]]:
    """One image of one shape (with probability `one_shape`) or two, and its three captions."""
    image = Image.new("RGB", (size, size), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    radius = {"small": size * 0.13, "large": size * 0.22}
    first = _random_object(rng)
    if rng.random() < one_shape:  # one shape somewhere near the middle
        centre = tuple(size / 2 + rng.uniform(-0.15, 0.15, 2) * size)
        _draw(draw, first[2], centre, radius[first[0]], first[1])
        text = _describe(*first)
        return image, [f"A {text}.", f"There is a {text}.", f"A picture of a {text}."]
    second = _random_object(rng)
    relation = str(rng.choice(list(_RELATIONS)))
    # the first shape in one half of the image, the second in the other, along the relation's axis
    near, far, jitter = size * 0.27, size * 0.73, rng.uniform(-0.06, 0.06, 4) * size
    axis_first = near if relation in ("above", "left of") else far
    axis_second = far if axis_first == near else near
    across = size / 2
    if relation in ("above", "below"):
        centres = ((across + jitter[0], axis_first + jitter[1]), (across + jitter[2], axis_second + jitter[3]))
    else:
        centres = ((axis_first + jitter[0], across + jitter[1]), (axis_second + jitter[2], across + jitter[3]))
    _draw(draw, first[2], centres[0], radius[first[0]], first[1])
    _draw(draw, second[2], centres[1], radius[second[0]], second[1])
    a, b = _describe(*first), _describe(*second)
    return image, [f"A {a} {_RELATION_WORDS[relation]} a {b}.", f"A {b} {_RELATION_WORDS[_RELATIONS[relation]]} a {a}.",
                   f"A {a} and a {b}."]


def grammar_words() -> list[str]:
    """Every word the shape grammar writes."""
    words = {"a", "small", "large", "there", "is", "picture", "of", "and", *_COLOURS, *_SHAPES}
    words.update(w for phrase in _RELATION_WORDS.values() for w in phrase.split())
    return sorted(words)


def filler_words(count: int, seed: int) -> list[str]:
    """`count` distinct made-up three-syllable words (none a grammar word), in a seeded order: a synthetic set
    carries a real-sized vocabulary with them."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    taken = set(grammar_words())
    words = [a + b + c for a in syllables for b in syllables for c in syllables]
    rng = np.random.default_rng([seed, 7])  # its own stream: the images and captions stay the same
    order = rng.permutation(len(words))
    chosen = [words[i] for i in order[:count + len(taken)] if words[i] not in taken][:count]
    if len(chosen) < count:
        raise ValueError(f"at most {len(words) - len(taken)} filler words, {count} asked")
    return chosen


def filler_tails(words: list[str], repeats: int, captions: int, seed: int) -> list[list[str]]:
    """Each word `repeats` times, shuffled and dealt out over `captions` caption tails."""
    tokens = np.repeat(np.array(words, dtype=object), repeats)
    np.random.default_rng([seed, 8]).shuffle(tokens)
    return [list(chunk) for chunk in np.array_split(tokens, captions)]


def synthesize_coco(root: Path, seed: int, counts: dict[str, int], size: int, one_shape: float,
                    vocab_words: int = 0, word_repeats: int = 1) -> None:
    """Write train2014/, val2014/ and their caption JSON files under `root`.

    With `vocab_words` above the grammar's own words, made-up words are appended to the training captions, each
    `word_repeats` times, so the training split holds exactly `vocab_words` words seen `word_repeats` times or
    more (COCO's vocabulary size at im2txt's count threshold); the validation captions stay plain.
    """
    rng = np.random.default_rng(seed)
    extra = max(0, vocab_words - len(grammar_words()))
    tails = filler_tails(filler_words(extra, seed), word_repeats, 3 * counts.get("train", 0), seed) if extra else []
    next_id = 1
    for split, count in counts.items():
        folder = Path(root) / f"{split}2014"
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for _ in range(count):
            image, captions = synthesize_image(rng, size, one_shape)
            if split == "train" and tails:
                captions = [f"{c.rstrip('.')} {' '.join(tails.pop())}." for c in captions]
            next_id += int(rng.integers(1, 5))  # COCO's ids are sparse
            image.save(folder / image_name(split, next_id), quality=95)
            rows.append((next_id, size, size, captions))
        write_captions(root, split, rows)


# ----- images -------------------------------------------------------------------------------------------
def load_image(path: Path, size: int) -> torch.Tensor:
    """An RGB image resized to size x size, as uint8 (3, size, size); normalization happens on the device."""
    with Image.open(path) as image:
        image = image.convert("RGB").resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (batch, 3, H, W) to ImageNet-normalized floats, as torchvision's CNNs expect."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=images.device)[:, None, None]
    return (images.float() / 255 - mean) / std


# ----- quality ------------------------------------------------------------------------------------------
def bleu4(hypotheses: list[str], references: list[list[str]]) -> float:
    """Corpus BLEU-4 of generated captions against each image's reference captions (torchmetrics)."""
    return float(BLEUScore(n_gram=4)(hypotheses, references))


def unigram_perplexity(train_captions: list[list[int]], eval_captions: list[list[int]], vocab_size: int) -> float:
    """Perplexity of the training words' unigram distribution (add-one smoothed; </s> counted) on eval words."""
    counts = np.ones(vocab_size)
    for ids in train_captions:
        np.add.at(counts, ids + [EOS_ID], 1)
    log_p = np.log(counts / counts.sum())
    eval_ids = [i for ids in eval_captions for i in ids + [EOS_ID]]
    return math.exp(-float(log_p[eval_ids].mean()))
