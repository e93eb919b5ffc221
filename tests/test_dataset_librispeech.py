"""The LibriSpeech reader and writer on hand-written chapters in OpenSLR's layout."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from aibench.datasets.librispeech import find_split, read_audio, read_split, spot_check_audio, write_chapter
from aibench.errors import DataError

RATE = 16_000


def flac(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate, format="FLAC", subtype="PCM_16")
    return path


def chapter(root: Path, split: str, speaker: str, chapter_id: str, lines: dict[str, str],
            audio: bool = True) -> Path:
    """A chapter folder as in the corpus: NNNN.flac files and one trans.txt (written by hand, not our writer)."""
    folder = root / split / speaker / chapter_id
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"{speaker}-{chapter_id}"
    (folder / f"{prefix}.trans.txt").write_text("".join(f"{prefix}-{n} {t}\n" for n, t in lines.items()))
    if audio:
        for n in lines:
            flac(folder / f"{prefix}-{n}.flac", np.full(800, 0.25 * (int(n) + 1), dtype=np.float32))
    return folder


@pytest.fixture
def corpus(tmp_path):
    # ids and first lines of the real test-clean
    chapter(tmp_path, "test-clean", "1089", "134686", {"0000": "HE HOPED THERE WOULD BE STEW FOR DINNER",
                                                       "0001": "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"})
    chapter(tmp_path, "test-clean", "121", "121726", {"0000": "ALSO A POPULAR CONTRIVANCE"})
    chapter(tmp_path, "test-clean", "121", "123852", {"0001": "THOUGH IT'S SMALL"})
    return tmp_path


def test_reads_every_utterance_with_its_transcript_in_numeric_order(corpus):
    utterances = read_split(corpus, "test-clean")
    assert [u.id for u in utterances] == ["121-121726-0000", "121-123852-0001", "1089-134686-0000",
                                          "1089-134686-0001"]
    assert utterances[1].transcript == "THOUGH IT'S SMALL"
    assert utterances[2].speaker == "1089" and utterances[2].chapter == "134686"
    assert utterances[3].audio == corpus / "test-clean/1089/134686/1089-134686-0001.flac"
    assert read_audio(utterances[3].audio) == pytest.approx(np.full(800, 0.5), abs=1e-4)


def test_splits_may_sit_in_a_librispeech_folder(tmp_path):
    chapter(tmp_path / "LibriSpeech", "dev-clean", "84", "121123", {"0000": "GO DO YOU HEAR"})
    assert find_split(tmp_path, "dev-clean") == tmp_path / "LibriSpeech" / "dev-clean"
    assert read_split(tmp_path, "dev-clean")[0].transcript == "GO DO YOU HEAR"


def test_missing_split_and_empty_split(tmp_path):
    with pytest.raises(DataError, match="test-clean: missing LibriSpeech split"):
        read_split(tmp_path, "test-clean")
    (tmp_path / "test-clean").mkdir()
    with pytest.raises(DataError, match="test-clean: no speaker folders"):
        read_split(tmp_path, "test-clean")


def test_folder_names_must_be_ids(corpus):
    (corpus / "test-clean" / "notes").mkdir()
    with pytest.raises(DataError, match="notes: speaker folder name is not a decimal id"):
        read_split(corpus, "test-clean")


def test_missing_transcript_file(corpus):
    (corpus / "test-clean/121/121726/121-121726.trans.txt").unlink()
    with pytest.raises(DataError, match=r"121-121726\.trans\.txt: missing transcript file"):
        read_split(corpus, "test-clean")


def test_listed_flac_missing_and_flac_without_line(corpus):
    folder = corpus / "test-clean/1089/134686"
    (folder / "1089-134686-0001.flac").unlink()
    with pytest.raises(DataError, match=r"1089-134686-0001\.flac: listed in the transcript file but missing"):
        read_split(corpus, "test-clean")
    flac(folder / "1089-134686-0001.flac", np.zeros(100, dtype=np.float32))
    flac(folder / "1089-134686-0002.flac", np.zeros(100, dtype=np.float32))
    with pytest.raises(DataError, match=r"1089-134686-0002\.flac: no line for 1089-134686-0002"):
        read_split(corpus, "test-clean")


@pytest.mark.parametrize("line, problem", [
    ("1089-999-0000 HELLO", r"line 1: utterance id '1089-999-0000' is not 1089-134686-<number>"),
    ("1089-134686-0000", r"line 1: transcript '' is not upper-case"),
    ("1089-134686-0000 hello there", r"line 1: transcript 'hello there'"),
    ("1089-134686-0000 HELLO  THERE", r"line 1: transcript 'HELLO  THERE'"),
    ("1089-134686-0000 HELLO, THERE", r"line 1: transcript 'HELLO, THERE'"),
])
def test_malformed_transcript_lines_name_the_file_and_line(tmp_path, line, problem):
    folder = chapter(tmp_path, "test-clean", "1089", "134686", {"0000": "HELLO"})
    (folder / "1089-134686.trans.txt").write_text(line + "\n")
    with pytest.raises(DataError, match=problem) as err:
        read_split(tmp_path, "test-clean")
    assert err.value.path.endswith("1089-134686.trans.txt")


def test_duplicate_line(tmp_path):
    folder = chapter(tmp_path, "test-clean", "1", "2", {"0000": "A"})
    (folder / "1-2.trans.txt").write_text("1-2-0000 A\n1-2-0000 B\n")
    with pytest.raises(DataError, match="line 2: utterance 1-2-0000 listed twice"):
        read_split(tmp_path, "test-clean")


def test_audio_that_is_not_16_khz_mono_flac(tmp_path):
    assert read_audio(flac(tmp_path / "ok.flac", np.zeros(10, dtype=np.float32))).dtype == np.float32
    with pytest.raises(DataError, match="rate.flac: sample rate 8000 Hz, expected 16000"):
        read_audio(flac(tmp_path / "rate.flac", np.zeros(10, dtype=np.float32), rate=8000))
    with pytest.raises(DataError, match="stereo.flac: 2 channels, expected mono"):
        read_audio(flac(tmp_path / "stereo.flac", np.zeros((10, 2), dtype=np.float32)))
    (tmp_path / "junk.flac").write_bytes(b"not audio at all")
    with pytest.raises(DataError, match="junk.flac: unreadable audio"):
        read_audio(tmp_path / "junk.flac")


def test_spot_check_decodes_files(corpus):
    utterances = read_split(corpus, "test-clean")
    spot_check_audio(utterances)
    utterances[0].audio.write_bytes(b"fLaC broken")
    with pytest.raises(DataError, match="121-121726-0000.flac: unreadable audio"):
        spot_check_audio(utterances)


def test_writer_round_trip(tmp_path):
    audio = [np.linspace(-0.5, 0.5, 1600, dtype=np.float32), np.zeros(800, dtype=np.float32)]
    paths = write_chapter(tmp_path, "train-clean-100", 19, 198, audio, ["NORTHANGER ABBEY", "IT'S"])
    assert [p.name for p in paths] == ["19-198-0000.flac", "19-198-0001.flac"]
    assert (tmp_path / "train-clean-100/19/198/19-198.trans.txt").read_text() == (
        "19-198-0000 NORTHANGER ABBEY\n19-198-0001 IT'S\n")
    back = read_split(tmp_path, "train-clean-100")
    assert [u.transcript for u in back] == ["NORTHANGER ABBEY", "IT'S"]
    assert read_audio(back[0].audio) == pytest.approx(audio[0], abs=1e-4)
    with pytest.raises(ValueError):
        write_chapter(tmp_path, "x", 1, 2, audio[:1], ["lower case"])
