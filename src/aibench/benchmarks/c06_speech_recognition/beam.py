"""CTC beam search for DeepSpeech2, with an optional word n-gram language model (KenLM).

The reference (deepspeech.pytorch, which AIBench's DC-AI-C6 runs) decodes with parlance's `ctcdecode`: a CTC
prefix beam search of width 10 (`--beam-width 10`), the 40 most likely characters tried per frame
(`--cutoff-top-n 40`), no probability pruning (`--cutoff-prob 1.0`) and, when the user gives a KenLM model
(`--lm-path`, none by default), the score `log p(acoustic) + alpha * ln p_LM(word) + beta` per word with
alpha 0.8 and beta 1.

Here the search is flashlight-text's decoder (the C++ decoder behind torchaudio's `ctc_decoder`; KenLM is built
into its wheels, so no other package is needed for a language model): without a model it is the lexicon-free
prefix beam search; with one, the lexicon decoder, whose lexicon is the model's vocabulary spelled letter by
letter (words outside it cannot be produced, as with any word n-gram). Its KenLM scores are log10, so alpha is
scaled by ln(10) to weigh natural-log probabilities as ctcdecode does.

The model lives in the data folder: `<data dir>/<lm_dir>/` holding one ARPA file (`*.arpa`, e.g. OpenSLR 11's
`3-gram.pruned.1e-7.arpa`, whose 1-grams give the vocabulary) or one KenLM binary (`*.bin`, `*.binary`) with a
`words.txt` beside it (one word per line).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from aibench.errors import DataError

PACKAGE = "flashlight-text"
_WORD = re.compile(r"[A-Z']+")


@dataclass(frozen=True)
class BeamSettings:
    """The reference's decoder options (deepspeech.pytorch opts.add_decoder_args)."""

    width: int = 10
    cutoff_top_n: int = 40
    alpha: float = 0.8  # language-model weight, on natural-log probabilities
    beta: float = 1.0  # bonus per word


def available() -> bool:
    """Whether flashlight-text's decoder can be imported."""
    try:
        import flashlight.lib.text.decoder  # noqa: F401
    except ImportError:
        return False
    return True


def find_language_model(data_dir: Path, lm_dir: str) -> Path | None:
    """The n-gram model file under <data_dir>/<lm_dir>, None if that folder does not exist."""
    folder = Path(data_dir) / lm_dir
    if not lm_dir or not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.suffix in (".arpa", ".bin", ".binary"))
    if len(found) != 1:
        raise DataError(folder, f"expected exactly one KenLM model (*.arpa, or *.bin with words.txt), "
                                f"found {len(found)}")
    return found[0]


def read_vocabulary(lm_path: Path) -> list[str]:
    """The words the decoder may output: words.txt beside the model, else the ARPA file's 1-grams; only words
    in LibriSpeech's alphabet (upper-case letters and apostrophes) are kept."""
    words_file = lm_path.parent / "words.txt"
    if words_file.is_file():
        words = words_file.read_text(encoding="utf-8", errors="replace").split()
    elif lm_path.suffix == ".arpa":
        words = _arpa_unigrams(lm_path)
    else:
        raise DataError(lm_path, "a binary KenLM model needs words.txt beside it (one word per line)")
    vocabulary = sorted({w for w in words if _WORD.fullmatch(w)})
    if not vocabulary:
        raise DataError(lm_path, "no words in LibriSpeech's alphabet (upper-case A-Z and ')")
    return vocabulary


def _arpa_unigrams(path: Path) -> list[str]:
    """The words of an ARPA file's \\1-grams: section (each line: log10 prob, word, optional backoff)."""
    words: list[str] = []
    inside = False
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.strip()
            if line.startswith("\\"):
                if inside:
                    break
                inside = line == "\\1-grams:"
                continue
            fields = line.split()
            if inside and len(fields) >= 2:
                words.append(fields[1])
    if not words:
        raise DataError(path, "no \\1-grams: section; not an ARPA language model")
    return words


class BeamDecoder:
    """Width-`settings.width` CTC beam search over the labels (index 0 the blank, `separator` between words)."""

    def __init__(self, labels: str, settings: BeamSettings, lm_path: Path | None = None,
                 separator: str = " ") -> None:
        from flashlight.lib.text import decoder as fl

        self.labels = labels
        self.blank, self.separator = 0, labels.index(separator)
        top_n = min(settings.cutoff_top_n, len(labels))
        self.lm_path = lm_path
        if lm_path is None:
            options = fl.LexiconFreeDecoderOptions(
                beam_size=settings.width, beam_size_token=top_n, beam_threshold=1e9, lm_weight=0.0,
                sil_score=0.0, log_add=True, criterion_type=fl.CriterionType.CTC)
            self._lm = fl.ZeroLM()
            self._decoder = fl.LexiconFreeDecoder(options, self._lm, self.separator, self.blank, [])
        else:
            self._decoder = self._lexicon_decoder(fl, settings, lm_path, top_n)

    def _lexicon_decoder(self, fl, settings: BeamSettings, lm_path: Path, top_n: int):  # noqa: ANN001, ANN202
        """The lexicon decoder: words of the model's vocabulary in a trie of their letters, KenLM-scored."""
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary

        vocabulary = read_vocabulary(lm_path)
        words = Dictionary(["<unk>", *vocabulary])
        words.set_default_index(0)
        try:
            self._lm = KenLM(str(lm_path), words)
        except RuntimeError as err:
            raise DataError(lm_path, f"KenLM cannot load it ({str(err).splitlines()[-1]})") from None
        trie = fl.Trie(len(self.labels), self.separator)
        start = self._lm.start(False)
        index = {char: i for i, char in enumerate(self.labels)}
        for word in vocabulary:
            word_index = words.get_index(word)
            trie.insert([index[c] for c in word], word_index, self._lm.score(start, word_index)[1])
        trie.smear(fl.SmearingMode.MAX)
        options = fl.LexiconDecoderOptions(
            beam_size=settings.width, beam_size_token=top_n, beam_threshold=1e9,
            lm_weight=settings.alpha * math.log(10.0), word_score=settings.beta, unk_score=-math.inf,
            sil_score=0.0, log_add=True, criterion_type=fl.CriterionType.CTC)
        return fl.LexiconDecoder(options, trie, self._lm, self.separator, self.blank, 0, [], False)

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """The best transcript of each utterance; log_probs is (batch, frames, labels), frames past each length
        ignored."""
        emissions = log_probs.detach().float().cpu()
        return [self._decode_one(emissions[row, :length].contiguous())
                for row, length in enumerate(lengths.tolist())]

    def _decode_one(self, emission: torch.Tensor) -> str:
        frames, labels = emission.shape
        if frames == 0:
            return ""
        best = self._decoder.decode(emission.data_ptr(), frames, labels)[0]
        return self._to_text(best.tokens)

    def _to_text(self, tokens: Sequence[int]) -> str:
        """CTC collapse of the best path's per-frame tokens: repeats merged, blanks dropped, spaces normalised."""
        chars, previous = [], None
        for token in tokens:
            if token != previous and 0 < token < len(self.labels):
                chars.append(self.labels[token])
            previous = token
        return " ".join("".join(chars).split())
