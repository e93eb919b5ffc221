"""Made-up words for synthesized text corpora: a small set shaped like a real one needs its real vocabulary size
(37,000 subwords, a 10,000-word PTB, Gigaword's 119,505 source words), so the output layers are the real ones."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def pseudo_words(rng: np.random.Generator, count: int, avoid: Collection[str] = ()) -> list[str]:
    """`count` distinct lower-case pseudo-words of 5-10 letters, none in `avoid`, in a reproducible order."""
    words: dict[str, None] = {}
    while len(words) < count:
        word = "".join(rng.choice(_LETTERS, int(rng.integers(5, 11))))
        if word not in avoid:
            words[word] = None
    return list(words)
