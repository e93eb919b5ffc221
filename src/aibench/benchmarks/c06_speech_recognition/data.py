"""Speech data for DeepSpeech2: spectrograms, the character set, batching, greedy CTC decoding, WER, and the
synthetic tiny set.

Features follow the DeepSpeech2 reference (deepspeech.pytorch, which AIBench's C6 runs): a 20 ms
Hamming window every 10 ms, magnitude STFT, log(1 + |X|), normalised per utterance to zero mean and unit
variance. Targets are characters; index 0 is the CTC blank.

The synthetic set "speaks" each letter as a two-formant vowel-like sound: a (F1, F2) pair from a 4 x 7 grid,
so the 27 transcript characters other than space each have their own sound. Letters of a word are separated by
short pauses (so doubled letters stay two), words by longer ones (so the space is audible). Each speaker has
their own pitch (formants scaled by 0.95-1.05), speaking rate and loudness; there is background noise. Sentences
come from a small command grammar. What is said is therefore learnable from the audio, letter by letter, and
test speakers are not training speakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchmetrics.functional.text import word_error_rate

from aibench.datasets.librispeech import ALPHABET, SAMPLE_RATE, Utterance, read_audio, write_chapter

BLANK = "_"
LABELS = BLANK + ALPHABET  # 29 outputs: blank, apostrophe, A-Z, space
_INDEX = {char: i for i, char in enumerate(LABELS)}


# ----- features -----------------------------------------------------------------------------------------
def spectrogram(audio: torch.Tensor, sample_rate: int = SAMPLE_RATE, window_s: float = 0.02,
                stride_s: float = 0.01) -> torch.Tensor:
    """Normalised log-magnitude spectrogram (freq bins, frames) of a 1-D waveform."""
    n_fft = int(sample_rate * window_s)
    hop = int(sample_rate * stride_s)
    stft = torch.stft(audio, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                      window=torch.hamming_window(n_fft, device=audio.device), center=True, return_complex=True)
    features = torch.log1p(stft.abs())
    return (features - features.mean()) / (features.std() + 1e-5)


def freq_bins(window_s: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Frequency bins of the spectrogram: n_fft // 2 + 1 (161 for the reference's 20 ms at 16 kHz)."""
    return int(sample_rate * window_s) // 2 + 1


def encode(text: str) -> list[int]:
    return [_INDEX[char] for char in text]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Best-path CTC decoding: the most likely label per frame, repeats merged, blanks dropped.
    log_probs is (batch, frames, labels); frames past each length are ignored."""
    best = log_probs.argmax(-1).cpu()
    texts = []
    for row, length in zip(best, lengths.tolist()):
        path = row[:length].tolist()
        chars = [LABELS[k] for i, k in enumerate(path) if k != 0 and (i == 0 or k != path[i - 1])]
        texts.append("".join(chars).strip())
    return texts


def wer(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus word error rate (torchmetrics): word edits over all utterances / reference words."""
    return float(word_error_rate(list(predictions), list(references)))


# ----- batching -----------------------------------------------------------------------------------------
@dataclass
class SpeechBatch:
    features: torch.Tensor  # (batch, 1, freq, frames), zero-padded
    feature_lengths: torch.Tensor  # (batch,)
    targets: torch.Tensor  # concatenated label indices
    target_lengths: torch.Tensor  # (batch,)
    transcripts: list[str]

    def to(self, device: torch.device) -> SpeechBatch:
        return SpeechBatch(self.features.to(device), self.feature_lengths.to(device), self.targets.to(device),
                           self.target_lengths.to(device), self.transcripts)


class SpectrogramDataset(Dataset):
    """(spectrogram, transcript) per utterance, decoded from the FLAC file on each access."""

    def __init__(self, utterances: Sequence[Utterance], window_s: float = 0.02, stride_s: float = 0.01) -> None:
        self.utterances = list(utterances)
        self.window_s, self.stride_s = window_s, stride_s

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        utterance = self.utterances[index]
        audio = torch.from_numpy(read_audio(utterance.audio))
        return spectrogram(audio, window_s=self.window_s, stride_s=self.stride_s), utterance.transcript


def collate(items: Sequence[tuple[torch.Tensor, str]]) -> SpeechBatch:
    """Pad spectrograms to the longest in the batch and concatenate the encoded transcripts (CTC's format)."""
    lengths = torch.tensor([features.shape[1] for features, _ in items])
    padded = torch.zeros(len(items), 1, items[0][0].shape[0], int(lengths.max()))
    for row, (features, _) in enumerate(items):
        padded[row, 0, :, : features.shape[1]] = features
    encoded = [encode(text) for _, text in items]
    return SpeechBatch(padded, lengths, torch.tensor([k for e in encoded for k in e], dtype=torch.long),
                       torch.tensor([len(e) for e in encoded]), [text for _, text in items])


# ----- synthesis ----------------------------------------------------------------------------------------
GRAMMAR = (
    ("TAKE", "MOVE", "FIND", "DROP", "GIVE"),
    ("ONE", "TWO", "SIX", "TEN", "NINE"),
    ("RED", "BLUE", "GREEN", "PINK", "BLACK"),
    ("BOX", "CUP", "HAT", "KEY", "JAR", "PEN"),
)
OPTIONAL_SLOT = 1  # the number is left out of some sentences, so lengths vary
_F1 = (350.0, 600.0, 950.0, 1400.0)
_F2 = tuple(1800.0 * (7000.0 / 1800.0) ** (i / 6) for i in range(7))
FORMANTS = {char: (_F1[i % 4], _F2[i // 4]) for i, char in enumerate(ALPHABET.strip())}


def random_sentence(rng: np.random.Generator) -> str:
    words = [slot[rng.integers(len(slot))] for slot in GRAMMAR]
    if rng.random() < 0.3:
        del words[OPTIONAL_SLOT]
    return " ".join(words)


@dataclass(frozen=True)
class Voice:
    pitch: float  # formant scale
    rate: float  # duration scale
    loudness: float


def random_voice(rng: np.random.Generator) -> Voice:
    return Voice(pitch=rng.uniform(0.95, 1.05), rate=rng.uniform(0.85, 1.15), loudness=rng.uniform(0.3, 0.6))


# durations in seconds (before the speaker's rate): letters, pauses inside words, between words, at the ends
LETTER_S, LETTER_GAP_S, WORD_GAP_S, EDGE_S = (0.04, 0.06), (0.015, 0.03), (0.08, 0.14), (0.03, 0.08)


def speak(text: str, voice: Voice, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A waveform saying `text` letter by letter: formant pairs, short gaps in words, long gaps between."""
    pieces = [_silence(rng.uniform(*EDGE_S), rate)]
    for w, word in enumerate(text.split(" ")):
        if w:
            pieces.append(_silence(rng.uniform(*WORD_GAP_S) * voice.rate, rate))
        for c, char in enumerate(word):
            if c:
                pieces.append(_silence(rng.uniform(*LETTER_GAP_S) * voice.rate, rate))
            pieces.append(_letter(char, rng.uniform(*LETTER_S) * voice.rate, voice, rng, rate))
    pieces.append(_silence(rng.uniform(*EDGE_S), rate))
    audio = np.concatenate(pieces) * voice.loudness
    return (audio + rng.normal(0.0, 0.01, audio.shape)).astype(np.float32)  # about 25 dB SNR


def _silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate))


def _letter(char: str, seconds: float, voice: Voice, rng: np.random.Generator, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    f1, f2 = (f * voice.pitch for f in FORMANTS[char])
    phase = rng.uniform(0, 2 * np.pi, 2)
    tone = np.sin(2 * np.pi * f1 * t + phase[0]) + 0.6 * np.sin(2 * np.pi * f2 * t + phase[1])
    ramp = min(len(t) // 2, int(0.008 * rate))  # raised-cosine attack and decay, so no clicks
    rise = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    envelope = np.ones(len(t))
    envelope[:ramp] = rise
    envelope[len(t) - ramp:] = rise[::-1]
    return tone * envelope / 1.6


def synthesize_librispeech(root: Path, splits: dict[str, tuple[int, int, int]], seed: int) -> None:
    """Write each split as `speakers x chapters x utterances` synthetic recordings in LibriSpeech's layout.
    Speaker and chapter ids are drawn without repeats across splits, as in the corpus."""
    rng = np.random.default_rng(seed)
    total_speakers = sum(s for s, _, _ in splits.values())
    total_chapters = sum(s * c for s, c, _ in splits.values())
    speaker_ids = iter(rng.choice(np.arange(10, 9000), total_speakers, replace=False).tolist())
    chapter_ids = iter(rng.choice(np.arange(100, 200000), total_chapters, replace=False).tolist())
    for split, (speakers, chapters, utterances) in splits.items():
        for _ in range(speakers):
            speaker, voice = next(speaker_ids), random_voice(rng)
            for _ in range(chapters):
                texts = [random_sentence(rng) for _ in range(utterances)]
                write_chapter(root, split, speaker, next(chapter_ids), [speak(t, voice, rng) for t in texts], texts)
