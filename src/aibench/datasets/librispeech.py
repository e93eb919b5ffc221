"""LibriSpeech on disk (OpenSLR 12): reader and writer.

    <root>/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac
    <root>/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

`split` is one of the corpus's subsets (train-clean-100, train-clean-360, train-other-500, dev-clean, dev-other,
test-clean, test-other); the archives unpack into a `LibriSpeech/` folder, which may sit between the given root
and the splits. Speaker and chapter ids are decimal numbers; utterance numbers are four digits. Each chapter's
transcript file holds one line per utterance, `<speaker>-<chapter>-<utterance> TRANSCRIPT`, in upper case
letters, apostrophes and single spaces. Audio is 16 kHz mono FLAC. Nothing here knows a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from aibench.datasets.files import read_text
from aibench.errors import DataError

SAMPLE_RATE = 16_000
ALPHABET = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ "  # every character a LibriSpeech transcript may hold
LAYOUT = ("<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac with one "
          "<speaker>-<chapter>.trans.txt per chapter (LibriSpeech)")
_ID = re.compile(r"(\d+)-(\d+)-(\d+)")
_TRANSCRIPT = re.compile(r"[A-Z']+( [A-Z']+)*")
# No audio file holds more samples a byte: FLAC's best case, a constant 65535-sample block, takes about 13 bytes
_MAX_SAMPLES_PER_BYTE = 8192


@dataclass(frozen=True)
class Utterance:
    """One recording and what is said in it."""

    id: str  # "<speaker>-<chapter>-<utterance>"
    audio: Path
    transcript: str
    speaker: str
    chapter: str


def find_split(root: Path, split: str) -> Path:
    """The split's folder under root, or under root/LibriSpeech (where the archives unpack)."""
    root = Path(root)
    for candidate in (root / split, root / "LibriSpeech" / split):
        if candidate.is_dir():
            return candidate
    raise DataError(root / split, f"missing LibriSpeech split folder; expected {LAYOUT}")


def read_split(root: Path, split: str) -> list[Utterance]:
    """Every utterance of one split, sorted by id; a DataError names the file or folder that breaks the layout."""
    split_dir = find_split(root, split)
    utterances: list[Utterance] = []
    for speaker_dir in _numbered_dirs(split_dir, "speaker"):
        for chapter_dir in _numbered_dirs(speaker_dir, "chapter"):
            utterances += read_chapter(chapter_dir)
    if not utterances:
        raise DataError(split_dir, f"no speaker folders; expected {LAYOUT}")
    return utterances


def _numbered_dirs(parent: Path, what: str) -> list[Path]:
    """The visible subfolders of parent, which must be named by a decimal id, sorted numerically."""
    folders = [p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for folder in folders:
        if not folder.name.isdigit():
            raise DataError(folder, f"{what} folder name is not a decimal id; expected {LAYOUT}")
    if not folders:
        raise DataError(parent, f"no {what} folders; expected {LAYOUT}")
    return sorted(folders, key=lambda p: int(p.name))


def read_chapter(chapter_dir: Path) -> list[Utterance]:
    """The utterances of one chapter folder, joined with its transcript file line by line."""
    speaker, chapter = chapter_dir.parent.name, chapter_dir.name
    prefix = f"{speaker}-{chapter}"
    transcript_file = chapter_dir / f"{prefix}.trans.txt"
    transcripts = read_transcripts(transcript_file, prefix)
    flacs = {p.stem: p for p in chapter_dir.glob("*.flac") if not p.name.startswith(".")}
    for stem, path in flacs.items():
        if stem not in transcripts:
            raise DataError(path, f"no line for {stem} in {prefix}.trans.txt")
    utterances = []
    for utterance_id, text in transcripts.items():
        if utterance_id not in flacs:
            raise DataError(chapter_dir / f"{utterance_id}.flac", f"listed in the transcript file but missing "
                                                                f"({transcript_file.name})")
        utterances.append(Utterance(utterance_id, flacs[utterance_id], text, speaker, chapter))
    return sorted(utterances, key=lambda u: u.id)


def read_transcripts(path: Path, prefix: str) -> dict[str, str]:
    """`<id> TRANSCRIPT` lines of one chapter's transcript file; ids must belong to the chapter (prefix)."""
    if not path.is_file():
        raise DataError(path, f"missing transcript file; expected {LAYOUT}")
    lines = read_text(path, "ascii", "upper-case ASCII, as LibriSpeech transcripts are").splitlines()
    transcripts: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        utterance_id, _, text = line.rstrip("\r").partition(" ")
        match = _ID.fullmatch(utterance_id)
        if not match or f"{match[1]}-{match[2]}" != prefix:
            raise DataError(path, f"line {number}: utterance id {utterance_id!r} is not {prefix}-<number>")
        if not _TRANSCRIPT.fullmatch(text):
            raise DataError(path, f"line {number}: transcript {text!r} is not upper-case words (A-Z and ') "
                                  "separated by single spaces")
        if utterance_id in transcripts:
            raise DataError(path, f"line {number}: utterance {utterance_id} listed twice")
        transcripts[utterance_id] = text
    if not transcripts:
        raise DataError(path, "holds no transcript lines")
    return transcripts


def read_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode one recording to float32 samples in [-1, 1]; a DataError if it is unreadable, not mono or
    not at the expected sample rate.

    The decoder allocates as many samples as the header claims, so the claim is checked against the file's
    size first: a damaged header may claim 2**36 samples (256 GiB) of a file holding a few thousand."""
    try:
        info = soundfile.info(str(path))
        if info.samplerate != sample_rate:
            raise DataError(path, f"sample rate {info.samplerate} Hz, expected {sample_rate} Hz")
        if info.channels != 1:
            raise DataError(path, f"{info.channels} channels, expected mono")
        size = Path(path).stat().st_size
        if info.frames > _MAX_SAMPLES_PER_BYTE * size:
            raise DataError(path, f"header claims {info.frames} samples, more than a {size}-byte audio file can "
                                  "hold: a damaged file")
        samples, _ = soundfile.read(str(path), frames=info.frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise DataError(path, f"unreadable audio ({err})") from None
    if samples.shape[0] == 0:
        raise DataError(path, "holds no audio samples")
    return samples[:, 0]


def spot_check_audio(utterances: Sequence[Utterance], count: int = 8) -> None:
    """Decode `count` recordings spread over the list, so a wrong format fails before training starts."""
    if not utterances:
        return
    for index in np.linspace(0, len(utterances) - 1, min(count, len(utterances))).astype(int):
        read_audio(utterances[index].audio)


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def write_chapter(root: Path, split: str, speaker: int, chapter: int, recordings: Sequence[np.ndarray],
                  transcripts: Sequence[str], sample_rate: int = SAMPLE_RATE) -> list[Path]:
    """Write one chapter: 16-bit FLAC files <speaker>-<chapter>-NNNN.flac and its transcript file."""
    if len(recordings) != len(transcripts):
        raise ValueError(f"{len(recordings)} recordings but {len(transcripts)} transcripts")
    chapter_dir = Path(root) / split / str(speaker) / str(chapter)
    chapter_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{speaker}-{chapter}"
    paths, lines = [], []
    for number, (audio, text) in enumerate(zip(recordings, transcripts)):
        if not _TRANSCRIPT.fullmatch(text):
            raise ValueError(f"transcript {text!r} is not in LibriSpeech's alphabet")
        path = chapter_dir / f"{prefix}-{number:04d}.flac"
        soundfile.write(str(path), np.clip(audio, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
        paths.append(path)
        lines.append(f"{prefix}-{number:04d} {text}\n")
    (chapter_dir / f"{prefix}.trans.txt").write_text("".join(lines), encoding="ascii")
    return paths
