"""The LibriSpeech reader on a chapter written file by file in the corpus's layout (FLAC + trans.txt)."""

import numpy as np
import pytest
import soundfile

from aibench.datasets.librispeech import read_audio, read_split
from aibench.errors import DataError


def _chapter(root, split="test-clean", speaker="1089", chapter="134686", lines=None, rate=16_000):
    folder = root / "LibriSpeech" / split / speaker / chapter  # the archive's own top folder
    folder.mkdir(parents=True)
    lines = lines or {"0000": "HE HOPED THERE WOULD BE STEW", "0001": "STUFF IT INTO YOU"}
    for number in lines:
        tone = 0.1 * np.sin(np.arange(1600) / 5.0)
        soundfile.write(str(folder / f"{speaker}-{chapter}-{number}.flac"), tone, rate, format="FLAC")
    text = "".join(f"{speaker}-{chapter}-{n} {t}\n" for n, t in lines.items())
    (folder / f"{speaker}-{chapter}.trans.txt").write_text(text)
    return folder


def test_reads_a_chapter_through_the_librispeech_folder(tmp_path):
    _chapter(tmp_path)
    utterances = read_split(tmp_path, "test-clean")
    assert [u.id for u in utterances] == ["1089-134686-0000", "1089-134686-0001"]
    assert utterances[1].transcript == "STUFF IT INTO YOU" and utterances[0].speaker == "1089"
    audio = read_audio(utterances[0].audio)
    assert audio.dtype == np.float32 and audio.shape == (1600,) and np.abs(audio).max() <= 0.11


def test_missing_split_missing_audio_and_bad_transcript_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing LibriSpeech split"):
        read_split(tmp_path, "train-clean-100")
    folder = _chapter(tmp_path)
    (folder / "1089-134686-0001.flac").unlink()
    with pytest.raises(DataError, match="missing") as err:
        read_split(tmp_path, "test-clean")
    assert "1089-134686-0001.flac" in str(err.value)
    (folder / "1089-134686.trans.txt").write_text("1089-134686-0000 he hoped\n")
    with pytest.raises(DataError, match="upper-case") as err:
        read_split(tmp_path, "test-clean")
    assert "1089-134686.trans.txt" in str(err.value)


def test_wrong_sample_rate_and_undecodable_audio(tmp_path):
    folder = _chapter(tmp_path, rate=8_000)
    path = folder / "1089-134686-0000.flac"
    with pytest.raises(DataError, match="8000 Hz"):
        read_audio(path)
    path.write_bytes(b"fLaC but not really")
    with pytest.raises(DataError, match="unreadable audio") as err:
        read_audio(path)
    assert path.name in str(err.value)


def test_non_numeric_speaker_folder_is_rejected(tmp_path):
    _chapter(tmp_path)
    (tmp_path / "LibriSpeech" / "test-clean" / "notes").mkdir()
    with pytest.raises(DataError, match="not a decimal id"):
        read_split(tmp_path, "test-clean")
